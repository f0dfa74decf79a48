"""mer_lib.attribution.gradient_maps against closed forms: integrated gradients of linear and logistic models, completeness, Grad-CAM of a global-average-pooling model (the class activation map)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from mer_lib import attribution as at  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402
from tests.jax_child import jax_child_env  # noqa: E402

from ._models import linear_softmax, small_conv_net, two_input_model  # noqa: E402


def test_integrated_gradients_of_a_logit_of_a_linear_model_are_weight_times_input_for_any_step_count():
    rng = np.random.default_rng(9)
    w, b = rng.normal(size=(12, 3)), rng.normal(size=3)
    model = linear_softmax((3, 4, 1), w, b)
    x = rng.normal(size=(2, 3, 4, 1))
    result = at.integrated_gradients(model, x, [2, 0], steps=1, score="logit")
    expected = np.stack([x[0].ravel() * w[:, 2], x[1].ravel() * w[:, 0]]).reshape(x.shape)
    np.testing.assert_allclose(result.attributions["input"], expected, atol=1e-5)
    np.testing.assert_allclose(result.gap, 0, atol=1e-5)


def test_integrated_gradients_of_a_two_class_probability_match_the_closed_form():
    # p = sigmoid(z), z = d.x + e linear: along the path z moves linearly, so
    # IG_i = (x_i - x'_i) d_i (p(x) - p(x')) / (z(x) - z(x'))
    rng = np.random.default_rng(10)
    w, b = rng.normal(0, 0.5, size=(8, 2)), np.array([0.3, -0.2])
    model = linear_softmax((8,), w, b)
    x = rng.normal(size=(3, 8))
    base = rng.normal(size=(3, 8)) * 0.1
    d, e = w[:, 1] - w[:, 0], b[1] - b[0]
    z1, z0 = x @ d + e, base @ d + e
    p1, p0 = 1 / (1 + np.exp(-z1)), 1 / (1 + np.exp(-z0))
    expected = (x - base) * d * ((p1 - p0) / (z1 - z0))[:, None]
    result = at.integrated_gradients(model, x, 1, baseline=base, steps=256, rule="midpoint")
    np.testing.assert_allclose(result.attributions["input"], expected, atol=2e-5)
    np.testing.assert_allclose(result.score_input, p1, atol=1e-6)
    np.testing.assert_allclose(result.score_baseline, p0, atol=1e-6)
    coarse = at.integrated_gradients(model, x, 1, baseline=base, steps=4, rule="right")
    assert np.abs(coarse.gap).max() > 10 * np.abs(result.gap).max()   # a coarse right sum is visibly off


def test_completeness_gap_shrinks_faster_with_the_midpoint_rule_on_a_network():
    model = small_conv_net(2)
    x = np.random.default_rng(11).normal(size=(2, 3, 6, 6, 1))
    gaps = {}
    for rule in ("right", "midpoint"):
        gaps[rule] = [np.abs(at.integrated_gradients(model, x, [0, 2], steps=m, rule=rule).gap).max()
                      for m in (4, 16, 64)]
    assert gaps["right"][2] < gaps["right"][0]
    assert gaps["midpoint"][2] < gaps["midpoint"][0]
    assert gaps["midpoint"][2] < gaps["right"][2]


def test_completeness_holds_on_a_relu_network_with_enough_steps_and_fails_with_too_few():
    """The attributions add up to F(x) - F(x') (completeness) within 1% once the steps suffice; one step misses."""
    keras.utils.set_random_seed(5)
    inp = keras.Input((4, 8, 8, 1), name="flow")
    h = keras.layers.Conv3D(6, 3, padding="same", activation="relu")(inp)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(8, activation="relu")(h)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    x = 2.0 * np.random.default_rng(3).normal(size=(3, 4, 8, 8, 1))
    target = [0, 1, 2]
    by_steps = at.completeness_by_steps(model, x, target, steps=(1, 128))
    assert set(by_steps) == {1, 128} and by_steps[128].shape == (3,)
    assert np.nanmax(by_steps[128]) < 0.01                      # completeness, measured
    assert np.nanmax(by_steps[1]) > 10 * np.nanmax(by_steps[128])  # a single gradient is far from it
    ig = at.integrated_gradients(model, x, target, steps=128)
    np.testing.assert_allclose(ig.total(), ig.score_input - ig.score_baseline,
                               atol=0.01 * np.abs(ig.score_input - ig.score_baseline).max())
    np.testing.assert_allclose(ig.relative_gap(), by_steps[128], rtol=1e-6)
    with pytest.raises(UserInputError, match="steps"):
        at.completeness_by_steps(model, x, target, steps=(16, 8))
    # with a tolerance the search stops at the first count that meets it
    assert list(at.completeness_by_steps(model, x, target, steps=(1, 128, 256), tolerance=0.01)) == [1, 128]


def test_integrated_gradients_split_the_total_between_streams():
    keras.utils.set_random_seed(3)
    model = two_input_model()
    rng = np.random.default_rng(12)
    inputs = {"frames": rng.normal(size=(2, 2, 4, 4, 1)), "flow": rng.normal(size=(2, 4, 4, 4, 1))}
    result = at.integrated_gradients(model, inputs, [1, 2], baseline={"frames": 0.0, "flow": 0.0}, steps=128)
    assert set(result.attributions) == {"frames", "flow"}
    np.testing.assert_allclose(result.total(), result.score_input - result.score_baseline, atol=2e-4)
    with pytest.raises(UserInputError, match="baseline"):
        at.integrated_gradients(model, inputs, [1, 2], baseline={"frames": 0.0})


def test_riemann_alphas():
    np.testing.assert_allclose(at.riemann_alphas(4), [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(at.riemann_alphas(2, "midpoint"), [0.25, 0.75])
    with pytest.raises(UserInputError, match="rule"):
        at.riemann_alphas(2, "left")
    with pytest.raises(UserInputError, match="steps"):
        at.riemann_alphas(0)


# ------------------------------------------------------------------------------------------------ Grad-CAM
def test_grad_cam_of_a_global_average_pooling_model_is_the_class_activation_map():
    # y_c = sum_k w_kc mean(A_k) + b_c: dy_c/dA_k = w_kc / Z at every position, so Grad-CAM is ReLU(sum_k w_kc A_k) / Z
    keras.utils.set_random_seed(4)
    x = keras.Input((5, 6, 1))
    conv = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    out = layers.Dense(3, activation="softmax", name="softmax")(layers.GlobalAveragePooling2D()(conv))
    model = keras.Model(x, out)
    images = np.random.default_rng(13).normal(size=(3, 5, 6, 1)).astype(np.float32)
    target = np.array([0, 1, 2])
    cam = at.grad_cam(model, images, target, "conv")
    acts = np.asarray(keras.Model(x, conv)(images))
    w = model.get_layer("softmax").get_weights()[0]
    expected = np.maximum(np.einsum("nhwk,kn->nhw", acts, w[:, target]), 0) / (5 * 6)
    assert cam.shape == (3, 5, 6)
    np.testing.assert_allclose(cam, expected, atol=1e-6)
    with pytest.raises(UserInputError, match="no layer named"):
        at.grad_cam(model, images, target, "conv3d")


def test_grad_cam_takes_the_named_streams_and_the_paper_layer_layout():
    from mer_lib.models import two_stream

    keras.utils.set_random_seed(5)
    model = two_stream("paper", (4, 12, 12, 1), (8, 12, 12, 1), filters=4, kernel_size=(3, 3, 5), dense_units=8)
    rng = np.random.default_rng(14)
    inputs = {"frames": rng.normal(size=(2, 4, 12, 12, 1)), "flow": rng.normal(size=(2, 8, 12, 12, 1))}
    cam = at.grad_cam(model, inputs, [0, 1], "conv3d_channels_last_2")
    assert cam.shape == (2, 12, 12, 8)                 # (H, W, T) of the flow stream's convolution
    assert np.all(cam >= 0)
    assert at.spatial_map(cam, time_axis=3).shape == (2, 12, 12)


def test_a_coarse_map_is_stretched_to_the_inputs_size_keeping_where_its_mass_lies():
    coarse = np.zeros((2, 4, 4))
    coarse[0, :, :2] = 1.0                 # clip 0: the left half
    coarse[1] = 3.0                        # clip 1: flat
    fine = at.spatial_map(coarse, size=16)
    assert fine.shape == (2, 16, 16)
    np.testing.assert_allclose(fine[1], 3.0)                      # a flat map stays flat
    # pixel centres aligned: the fine pixels whose centres lie left of the second coarse centre (x < 6) keep 1,
    # those right of the third (x >= 10) keep 0, the ones between blend
    assert fine[0, :, :6].min() == 1.0 and fine[0, :, 10:].max() == 0.0
    assert np.all(np.diff(fine[0, 0, 5:11]) < 0)
    np.testing.assert_allclose(fine[0], np.broadcast_to(fine[0, :1], (16, 16)))   # the same on every row
    np.testing.assert_array_equal(at.spatial_map(coarse, size=4), coarse)
    with pytest.raises(UserInputError, match="size"):
        at.spatial_map(coarse, size=0)


def test_attribution_runs_under_jax_as_under_tensorflow(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, keras
        from keras import layers
        from mer_lib import attribution as at
        from mer_lib.env import seed_keras
        seed_keras(0)       # as keras.utils.set_random_seed, which would import TensorFlow under JAX too (12 s)
        x = keras.Input((5, 6, 1), name="images")
        conv = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
        out = layers.Dense(3, activation="softmax", name="softmax")(layers.GlobalAveragePooling2D()(conv))
        model = keras.Model(x, out)
        w = np.random.default_rng(0).normal(size=(3, 3, 1, 4)).astype("float32")
        model.get_layer("conv").set_weights([w, np.zeros(4, "float32")])
        model.get_layer("softmax").set_weights([np.random.default_rng(1).normal(size=(4, 3)).astype("float32"),
                                                np.zeros(3, "float32")])
        images = np.random.default_rng(2).normal(size=(2, 5, 6, 1)).astype("float32")
        ig = at.integrated_gradients(model, images, [0, 1], steps=8)
        cam = at.grad_cam(model, images, [0, 1], "conv")
        occ = at.occlusion_space(model, images, [0, 1], patch=2)
        np.savez(OUT, ig=ig.attributions["images"], cam=cam, occ=occ)
    """)
    results = {}
    for backend in ("tensorflow", "jax"):
        out = tmp_path / f"{backend}.npz"
        code = f"OUT = {str(out)!r}\n" + script
        if backend == keras.backend.backend():      # this process's backend (TensorFlow, the course's): run here,
            exec(compile(code, "<attribution script>", "exec"), {"__name__": "attribution_script"})  # no 12 s start
        else:
            path = os.pathsep.join(sys.path)
            env = jax_child_env(PYTHONPATH=path) if backend == "jax" else dict(os.environ, KERAS_BACKEND=backend,
                                                                                     PYTHONPATH=path)
            run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, run.stderr[-2000:]
        results[backend] = np.load(out)
    for key in ("ig", "cam", "occ"):
        np.testing.assert_allclose(results["jax"][key], results["tensorflow"][key], atol=1e-5)


