"""An epoch of Keras' compiled step called batch by batch (mer_lib.epochs), against Keras' own fit."""

import types

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mer_lib.epochs import epoch_by_batches  # noqa: E402
from mer_lib.models import two_stream  # noqa: E402
from mer_lib.recipes import RECIPES, compile_with_recipe  # noqa: E402


def _data(n, size=16):
    rng = np.random.default_rng(0)
    x = {"frames": rng.random((n, 8, size, size, 1), dtype=np.float32),
         "flow": rng.random((n, 16, size, size, 1), dtype=np.float32)}
    return x, rng.integers(0, 3, n)


def _build():
    return two_stream("paper", frames_shape=(8, 16, 16, 1), flow_shape=(16, 16, 16, 1))


def test_an_epoch_by_batches_is_an_epoch_of_keras_fit():
    """train's epoch (the compiled step once per batch) logs and updates what model.fit's epoch does."""
    x, y = _data(n=10)
    onehot = keras.utils.to_categorical(y, 3)
    val = ({k: v[:4] for k, v in x.items()}, onehot[:4])
    models = []
    for _ in range(2):
        keras.utils.set_random_seed(4)
        models.append(compile_with_recipe(_build(), RECIPES["paper"], 3, 1, None, False))
    weights = {0: 1.0, 1: 2.0, 2: 0.5}
    fitted = models[0].fit(x, onehot, batch_size=4, epochs=1, shuffle=False, class_weight=weights,
                           validation_data=val, verbose=0).history
    run = types.SimpleNamespace(batch_size=4, class_weight=weights, validation=val, verbose=0, epochs=1)
    logs = epoch_by_batches(models[1], x, onehot, run, 0)
    assert sorted(logs) == sorted(fitted) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, values in fitted.items():
        assert logs[key] == pytest.approx(values[0], rel=1e-6), key
    # 3 steps, the last of 2 clips, with the class weights: the same updates
    assert all(np.array_equal(a, b) for a, b in zip(models[0].get_weights(), models[1].get_weights()))
