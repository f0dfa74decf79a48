import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mer_lib import diagnostics  # noqa: E402
from mer_lib.models import compile_model, two_stream  # noqa: E402


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return ({"frames": rng.random((n, 8, 16, 16, 1), dtype=np.float32),
             "flow": rng.random((n, 16, 16, 16, 1), dtype=np.float32)}, np.tile([0, 1, 2], n // 3))


def _model(normalization=None):
    keras.utils.set_random_seed(0)
    return compile_model(two_stream("paper", (8, 16, 16, 1), (16, 16, 16, 1), normalization=normalization),
                         jit_compile=False)


def test_the_loss_of_uniform_predictions_is_ln_k():
    x, y = _data()
    model = _model()
    head = model.get_layer("softmax")
    head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
    assert diagnostics.initial_loss(model, x, y) == pytest.approx(math.log(3), abs=1e-6)


def test_dead_units_are_counted():
    x, _ = _data()
    model = _model()
    bias = model.get_layer("dense_1").bias
    bias.assign(np.full(bias.shape, -1e3, "float32"))
    dead = diagnostics.dead_fraction(model, x)
    assert dead["dense_1"] == 1.0 and dead["dense_2"] < 1.0


def test_detect_collapse_reads_the_history_and_the_predictions():
    assert diagnostics.detect_collapse({"loss": [1.0, 0.8, 0.5, 0.3, 0.2]}, 3, [0, 1, 2, 1]) == []
    found = diagnostics.detect_collapse({"loss": [9.0, 4.0, 2.0, 1.5, 1.2]}, 3, [2, 2, 2])
    assert len(found) == 2 and "one class (2)" in found[0] and "above ln 3" in found[1]
    assert diagnostics.detect_collapse({"loss": [9.0, 4.0]}, 3) == []         # too early to say
    assert "nan" in diagnostics.detect_collapse({"loss": [1.0] * 4 + [float("nan")]}, 3)[0]
    with pytest.raises(ValueError, match="loss"):
        diagnostics.detect_collapse({}, 3)


def test_the_first_steps_are_recorded_layer_by_layer():
    x, y = _data()
    model = _model()
    steps = diagnostics.step_diagnostics(model, x, y, steps=2, batch_size=4)
    assert sorted(set(steps["step"])) == [0, 1, 2]
    assert {"dense_1", "dense_2", "softmax"} <= set(steps["layer"])
    first = steps[steps["step"] == 0]
    assert (first["grad_norm"] > 0).all() and (first["update_norm"] > 0).all()
    assert steps[steps["step"] == 2]["update_norm"].isna().all()
    assert first["loss"].iloc[0] == pytest.approx(diagnostics.initial_loss(_model(), x, y), rel=1e-5)
    norms = diagnostics.gradient_norms(model, {k: v[:4] for k, v in x.items()}, keras.utils.to_categorical(y[:4], 3))
    assert set(norms) >= {"dense_1", "dense_2", "softmax"} and all(v >= 0 for v in norms.values())


def test_the_diagnosed_steps_run_eagerly_train_as_the_compiled_steps_and_leave_the_model_compiled():
    x, y = _data()
    diagnosed, compiled = _model(), _model()
    steps = diagnostics.step_diagnostics(diagnosed, x, y, steps=2, batch_size=4, seed=3)
    order = np.random.default_rng(3).permutation(len(y))
    for step in range(2):       # the same batches and gradients (which draw dropout masks), Keras' traced step
        batch = order[step * 4:][:4]
        xb, yb = {k: v[batch] for k, v in x.items()}, keras.utils.to_categorical(y[batch], 3)
        diagnostics.gradient_norms(compiled, xb, yb)
        compiled.train_on_batch(xb, yb)
    assert compiled.train_function is not None                 # the traced side traced its step
    assert not diagnosed.run_eagerly and diagnosed.train_function is None
    for a, b in zip(diagnosed.get_weights(), compiled.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    probe = diagnostics.initial_loss(compiled, x, y)
    assert steps["loss"].iloc[-1] == pytest.approx(probe, rel=1e-5)    # the last row: after the two steps
