"""The batched trainer against Keras' own loop, on the JAX backend (started by tests/test_batched.py)."""

import dataclasses
import gc
import math
import warnings
import weakref

import numpy as np
import pytest

keras = pytest.importorskip("keras")
jax = pytest.importorskip("jax")

from keras import layers  # noqa: E402

import mer_lib.batched.trainer as batched_trainer  # noqa: E402
from mer_lib.batched import Run, train_many  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402
from mer_lib.models import two_stream  # noqa: E402
from mer_lib.train import RECIPES, CollapseWarning, train  # noqa: E402

assert keras.backend.backend() == "jax"

#: Every ingredient of the stable recipe, and picking the best epoch on a validation set carved out of the clips.
STABLE_BEST = dataclasses.replace(RECIPES["stable"], name="stable-best", validation_fraction=0.25, restore_best=True)


def _clips(n, seed, t=4, size=8):
    rng = np.random.default_rng(seed)
    x = {"frames": rng.normal(size=(n, t, size, size, 1)).astype(np.float32),
         "flow": rng.normal(size=(n, 2 * t, size, size, 1)).astype(np.float32)}
    return x, rng.integers(0, 3, n)


def _tiny_two_stream(normalization=None):
    return lambda: two_stream("paper", (4, 8, 8, 1), (8, 8, 8, 1), filters=3, kernel_size=(3, 3, 3), dense_units=4,
                              normalization=normalization)


def _mlp(normalization=None, built=None):
    """A small model with the two-stream network's inputs, batch normalisation and dropout (compiles fast)."""
    def build():
        frames = keras.Input((4, 8, 8, 1), name="frames")
        flow = keras.Input((8, 8, 8, 1), name="flow")
        x = layers.Concatenate()([layers.Flatten()(frames), layers.Flatten()(flow)])
        if normalization:
            x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Dense(16, activation="relu")(x)
        x = layers.Dropout(0.5)(x)
        model = keras.Model({"frames": frames, "flow": flow}, layers.Dense(3, activation="softmax")(x))
        if built is not None:
            built.append(weakref.ref(model))
        return model
    return build


def _relative(a, b):
    """||a - b|| / ||a|| over all the weights of two models, and the largest per-tensor difference."""
    wa, wb = a.get_weights(), b.get_weights()
    total = math.sqrt(sum(float(np.sum((x - y) ** 2)) for x, y in zip(wa, wb)))
    return total / math.sqrt(sum(float(np.sum(x ** 2)) for x in wa)), max(
        float(np.abs(x - y).max()) for x, y in zip(wa, wb))


def test_three_runs_at_once_end_as_three_runs_of_keras_fit():
    """The two-stream network with the stable recipe (batch norm, augmentation with flow flips, AdamW, label
    smoothing, class weights, cosine warm-up), three seeds: the weights, histories and predictions of the batch are
    those of train(trainer="fit") run once per seed."""
    sets = [_clips(12, seed=10 + s) for s in range(3)]
    test_x, _ = _clips(5, seed=99)
    build = _tiny_two_stream("batch")
    kw = dict(recipe="stable", epochs=2, batch_size=4, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Keras' loop compiled by XLA, as train compiles it on a GPU (eager it gives the same, three times slower)
        reference = [train(build, x, y, seed=s, trainer="fit", jit_compile=True, **kw) for s, (x, y) in enumerate(sets)]
        batch = train_many(build, [Run(x, y, seed=s, recipe="stable", predict=test_x) for s, (x, y) in enumerate(sets)],
                           epochs=2, batch_size=4, verbose=0)
    for ref, res in zip(reference, batch):
        relative, largest = _relative(ref.model, res.model)
        assert relative <= 1e-3 and largest < 1e-3, (relative, largest)
        assert sorted(res.history) == sorted(ref.history) == ["accuracy", "learning_rate", "loss"]
        for key in ref.history:
            assert res.history[key] == pytest.approx(ref.history[key], rel=1e-4, abs=1e-6), key
        assert res.initial_loss == pytest.approx(ref.initial_loss, abs=1e-6)
        expected = ref.model.predict(test_x, verbose=0)
        assert np.abs(res.predictions - expected).max() < 1e-4
        assert np.array_equal(res.predictions.argmax(1), expected.argmax(1))
        assert (res.trainer, res.batch_runs, res.precision) == ("batched", 3, "float32")
        assert ref.trainer == "keras fit"


def test_runs_of_different_sizes_and_recipes_in_one_batch_end_as_keras_fit_runs():
    """Training sets of 13 and 11 clips (3 and 2 full batches, last batches of 1 and 3 clips: a run skips the steps
    it does not have), the stable recipe picking its best epoch on a carved-out validation set beside the paper's
    recipe (the test above covers same-size runs without a last partial batch)."""
    sets = [_clips(n, seed=20 + n) for n in (13, 11)]
    recipes = [STABLE_BEST, "paper"]
    build = _mlp("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = [train(build, x, y, recipe=r, epochs=3, batch_size=4, seed=s, trainer="fit", jit_compile=True,
                           verbose=0) for s, ((x, y), r) in enumerate(zip(sets, recipes))]
        batch = train_many(build, [Run(x, y, seed=s, recipe=r) for s, ((x, y), r) in enumerate(zip(sets, recipes))],
                           epochs=3, batch_size=4, verbose=0)
    for ref, res in zip(reference, batch):
        assert res.best_epoch == ref.best_epoch
        assert sorted(res.history) == sorted(ref.history)
        for key in ref.history:
            assert res.history[key] == pytest.approx(ref.history[key], rel=1e-4, abs=1e-6), key
        assert _relative(ref.model, res.model)[0] <= 1e-3


def test_on_the_jax_backend_train_is_the_batched_trainer_with_one_run():
    x, y = _clips(12, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(_mlp(), x, y, epochs=2, batch_size=4, seed=5, verbose=0)
    assert result.trainer == "batched" and result.batch_runs == 1 and len(result.history["loss"]) == 2
    assert result.model.predict(x, verbose=0).shape == (12, 3)


def test_a_collapsed_run_is_flagged_in_its_batch_and_its_neighbours_are_not():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 8)
    frames = rng.normal(0, 0.1, (24, 4, 8, 8, 1)).astype(np.float32)
    frames[y == 0, :, :, :3] += 1.0              # the class is where the face is bright: easy to learn
    frames[y == 1, :, :, 5:] += 1.0
    x = {"frames": frames, "flow": np.zeros((24, 8, 8, 8, 1), np.float32)}
    runs = [Run(x, y, seed=0, name="healthy 0"), Run(x, y, seed=1, learning_rate=1e3, name="huge rate"),
            Run(x, y, seed=2, name="healthy 2")]
    with pytest.warns(CollapseWarning, match="huge rate") as caught:
        results = train_many(_mlp(), runs, epochs=8, batch_size=8, verbose=0)
    assert results[1].warnings
    assert results[0].warnings == [] and results[2].warnings == []
    assert results[0].history["loss"][-1] < math.log(3) and results[2].history["loss"][-1] < math.log(3)
    assert all("huge rate" in str(w.message) for w in caught if w.category is CollapseWarning)


def test_an_interrupted_batch_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    sets = [_clips(n, seed=30 + n) for n in (14, 9)]
    build = _mlp("batch")
    runs = lambda: [Run(x, y, seed=s, recipe=STABLE_BEST) for s, (x, y) in enumerate(sets)]  # noqa: E731
    kw = dict(epochs=4, batch_size=4, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = train_many(build, runs(), checkpoint_dir=tmp_path / "full", **kw)
        real = batched_trainer._save

        def killed_after_epoch_2(path, state, meta):
            real(path, state, meta)
            if meta["epoch"] == 2:
                raise KeyboardInterrupt          # the runtime disconnects

        monkeypatch.setattr(batched_trainer, "_save", killed_after_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            train_many(build, runs(), checkpoint_dir=tmp_path / "part", checkpoint_every=1, **kw)
        monkeypatch.setattr(batched_trainer, "_save", real)
        assert sorted(p.name for p in (tmp_path / "part").iterdir()) == ["batch-000.npz"]    # one file, no debris
        resumed = train_many(build, runs(), checkpoint_dir=tmp_path / "part", **kw)
    for a, b in zip(full, resumed):
        assert b.resumed_from == 2 and b.best_epoch == a.best_epoch
        assert b.history == a.history
        assert _relative(a.model, b.model)[1] == 0.0
    other = [Run(x, y, seed=s + 1, recipe=STABLE_BEST) for s, (x, y) in enumerate(sets)]
    with pytest.raises(UserInputError, match="another run.*seed"):
        train_many(build, other, checkpoint_dir=tmp_path / "part", **kw)


def test_runs_given_rows_of_shared_data_train_as_runs_given_copies_and_release_their_memory():
    """Rows of one pool of clips on the device, or each run's own copies: the same training. After each batch,
    every model it built is freed and no device array is left behind."""
    x, y = _clips(20, seed=6)
    rows = [np.arange(0, 12), np.arange(5, 20), np.arange(2, 14)]
    built = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shared = train_many(_mlp("batch", built), [Run(index=r, seed=s, predict=np.arange(20))
                                                   for s, r in enumerate(rows)],
                            data=(x, y), epochs=2, batch_size=4, verbose=0, keep_models=False)
        gc.collect()
        after_one = len(jax.live_arrays())
        copies = train_many(_mlp("batch", built), [Run({k: v[r] for k, v in x.items()}, y[r], seed=s,
                                                       predict={k: v for k, v in x.items()})
                                                   for s, r in enumerate(rows)],
                            epochs=2, batch_size=4, verbose=0, keep_models=False)
        gc.collect()
    assert len(built) == 6 and all(ref() is None for ref in built)      # every model built was freed
    assert len(jax.live_arrays()) <= after_one                          # nothing accumulates on the device
    for a, b in zip(shared, copies):
        assert a.model is None and a.predictions.shape == (20, 3)
        assert np.array_equal(a.predictions, b.predictions)
        assert a.history == b.history


@pytest.mark.parametrize("runs, match", [
    ([], "nothing to train"),
    ([Run(index=[0, 1])], "data"),
    ([Run(np.zeros((4, 3)), [0, 1, 2, 0])], "inputs"),
    ([Run({"frames": np.zeros((4, 4, 8, 8, 1)), "flow": np.zeros((4, 8, 8, 8, 1))}, [0, 1, 2, 5])], "labels"),
])
def test_bad_runs_are_one_line_errors(runs, match):
    with pytest.raises(UserInputError, match=match) as err:
        train_many(_mlp(), runs, epochs=1, batch_size=4, verbose=0)
    assert "\n" not in str(err.value)


def test_seed_keras_seeds_as_keras_own_function_without_importing_tensorflow(monkeypatch):
    """Compared with Keras' own function as it runs where TensorFlow is not installed: on this backend TensorFlow's
    seed draws nothing, and Keras would otherwise import TensorFlow to set it (12 s of CPU on a 2-core machine)."""
    import sys

    from keras.src.utils import module_utils

    from mer_lib.env import seed_keras

    def drawn(seed_with, seed):
        seed_with(seed)
        model = _mlp("batch")()          # its initial weights and its dropout's seed come from the seeded state
        x, _ = _clips(4, seed=0)
        out = model(x, training=True)    # dropout draws from the layer's seed generator
        return [np.array(w) for w in model.get_weights()], np.asarray(out), np.random.rand()

    assert "tensorflow" not in sys.modules
    ours = drawn(seed_keras, 7)
    assert "tensorflow" not in sys.modules
    assert all(np.array_equal(a, b) for a, b in zip(ours[0], drawn(seed_keras, 7)[0]))
    assert not all(np.array_equal(a, b) for a, b in zip(ours[0], drawn(seed_keras, 8)[0]))
    monkeypatch.setattr(module_utils.tensorflow, "_available", False)   # Keras' check of an installed TensorFlow
    theirs = drawn(keras.utils.set_random_seed, 7)
    assert "tensorflow" not in sys.modules
    assert all(np.array_equal(a, b) for a, b in zip(ours[0], theirs[0]))
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[2] == theirs[2]
