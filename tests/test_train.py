import numpy as np
import pytest

keras = pytest.importorskip("keras")

import dataclasses  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402

import mer_lib.train as train_module  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402
from mer_lib.models import two_stream  # noqa: E402
from mer_lib.train import (RECIPES, CollapseWarning, Recipe, augment, class_weights, flip_horizontal,  # noqa: E402
                           train)


def _data(n=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    x = {"frames": rng.random((n, 8, size, size, 1), dtype=np.float32),
         "flow": rng.random((n, 16, size, size, 1), dtype=np.float32)}
    return x, rng.integers(0, 3, n)


def _build(normalization=None):
    """The paper's two-stream network at 16 x 16 with 8 filters a stream, not 32 (a step a quarter of the cost)."""
    return two_stream("paper", frames_shape=(8, 16, 16, 1), flow_shape=(16, 16, 16, 1), filters=8,
                      normalization=normalization)


def _max_diff(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a.get_weights(), b.get_weights()))


def test_a_run_killed_after_an_epoch_and_resumed_ends_with_the_same_weights(tmp_path, monkeypatch):
    x, y = _data()
    full = train(_build, x, y, epochs=3, batch_size=4, seed=1, checkpoint_dir=tmp_path / "full", verbose=0)
    real = train_module._save_checkpoint

    def killed_after_epoch_1(model, folder, epoch, *args, **kwargs):
        real(model, folder, epoch, *args, **kwargs)
        if epoch == 1:
            raise KeyboardInterrupt   # the Colab runtime disconnects

    monkeypatch.setattr(train_module, "_save_checkpoint", killed_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        train(_build, x, y, epochs=3, batch_size=4, seed=1, checkpoint_dir=tmp_path / "part", checkpoint_every=1,
              verbose=0)
    monkeypatch.setattr(train_module, "_save_checkpoint", real)
    resumed = train(_build, x, y, epochs=3, batch_size=4, seed=1, checkpoint_dir=tmp_path / "part", verbose=0)
    assert resumed.resumed_from == 1
    assert resumed.history["loss"] == pytest.approx(full.history["loss"])
    assert _max_diff(full.model, resumed.model) == 0.0
    assert sorted(p.name for p in (tmp_path / "part").iterdir()) == ["checkpoint-0003.npz", "state.json"]


# the stable recipe, also picking its epoch on an inner validation set: every ingredient at once
STABLE_BEST = dataclasses.replace(RECIPES["stable"], name="stable-best", validation_fraction=0.25, restore_best=True)


def test_the_stable_recipe_resumes_to_the_same_weights_too(tmp_path, monkeypatch):
    """Augmentation, the cosine schedule, AdamW, batch normalisation and the best epoch all survive a resume."""
    x, y = _data(n=16)
    build = lambda: _build("batch")  # noqa: E731
    kw = dict(recipe=STABLE_BEST, epochs=4, batch_size=4, seed=2, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        full = train(build, x, y, checkpoint_dir=tmp_path / "full", **kw)
        real = train_module._save_checkpoint

        def killed_after_epoch_2(model, folder, epoch, *args, **kwargs):
            real(model, folder, epoch, *args, **kwargs)
            if epoch == 2:
                raise KeyboardInterrupt

        monkeypatch.setattr(train_module, "_save_checkpoint", killed_after_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            train(build, x, y, checkpoint_dir=tmp_path / "part", checkpoint_every=1, **kw)
        monkeypatch.setattr(train_module, "_save_checkpoint", real)
        resumed = train(build, x, y, checkpoint_dir=tmp_path / "part", **kw)
    assert resumed.resumed_from == 2 and resumed.best_epoch == full.best_epoch
    assert resumed.history["val_loss"] == pytest.approx(full.history["val_loss"])
    assert _max_diff(full.model, resumed.model) == 0.0


def test_automatic_checkpoints_cost_at_most_a_tenth_of_the_training(tmp_path, monkeypatch):
    """When a checkpoint takes far longer than an epoch, "auto" writes one after the first epoch and the last."""
    import time
    import types

    x, y = _data(n=6)
    saved = []
    real = train_module._save_checkpoint
    # the trainer's clock, on which each checkpoint takes 100 s more than it does (no real wait)
    clock = types.SimpleNamespace(perf_counter=lambda: time.perf_counter() + 100.0 * len(saved))

    def slow(model, folder, epoch, *args, **kwargs):
        saved.append(epoch)
        real(model, folder, epoch, *args, **kwargs)

    monkeypatch.setattr(train_module, "time", clock)
    monkeypatch.setattr(train_module, "_save_checkpoint", slow)
    train(_build, x, y, epochs=5, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    assert saved == [1, 5]
    saved.clear()
    train(_build, x, y, epochs=3, batch_size=3, checkpoint_dir=tmp_path / "every", checkpoint_every=1, verbose=0)
    assert saved == [1, 2, 3]


def test_the_same_seed_repeats_a_cpu_run_exactly():
    x, y = _data()
    a = train(_build, x, y, epochs=2, batch_size=4, seed=3, verbose=0)
    b = train(_build, x, y, epochs=2, batch_size=4, seed=3, verbose=0)
    c = train(_build, x, y, epochs=2, batch_size=4, seed=4, verbose=0)
    assert _max_diff(a.model, b.model) == 0.0
    assert _max_diff(a.model, c.model) > 0.0


@pytest.mark.usefixtures("steps_eager")
def test_without_a_gpu_the_run_says_so_and_shortens_when_asked(monkeypatch):
    monkeypatch.setattr(train_module, "gpu_names", lambda: [])
    x, y = _data(n=6)
    with pytest.warns(train_module.DeviceNotice) as notices:
        result = train(_build, x, y, epochs=50, cpu_epochs=1, batch_size=3, verbose=0)
    said = [str(n.message) for n in notices if n.category is train_module.DeviceNotice]
    assert any("No GPU" in m for m in said) and "Shortened run on the CPU: 1 epochs instead of 50." in said
    assert result.shortened and result.epochs == 1 and len(result.history["loss"]) == 1


@pytest.mark.usefixtures("steps_eager")
def test_class_weights_balance_the_classes():
    w = class_weights(np.array([0, 0, 0, 1, 2, 2]))
    assert w == pytest.approx({0: 6 / 9, 1: 2.0, 2: 1.0})
    x, y = _data(n=6)
    assert train(_build, x, y, epochs=1, batch_size=3, class_weight="balanced", verbose=0).history["loss"]


@pytest.mark.usefixtures("steps_eager")
def test_a_checkpoint_of_another_run_is_not_silently_reused(tmp_path):
    x, y = _data(n=6)
    train(_build, x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    with pytest.raises(UserInputError, match="another run.*batch_size"):
        train(_build, x, y, epochs=1, batch_size=2, checkpoint_dir=tmp_path, verbose=0)
    other, _ = _data(n=6, seed=5)           # same shapes, same labels, other clips
    with pytest.raises(UserInputError, match="another run.*data"):
        train(_build, other, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    with pytest.raises(ValueError, match="another run.*model"):
        train(lambda: _build("batch"), x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    with pytest.raises(ValueError, match="another run.*recipe"):
        train(_build, x, y, recipe=Recipe("mine", learning_rate=1e-4), epochs=1, batch_size=3,
              checkpoint_dir=tmp_path, verbose=0)


@pytest.mark.usefixtures("steps_eager")
def test_asking_for_more_epochs_extends_a_run_and_for_fewer_keeps_the_longer_run(tmp_path):
    x, y = _data(n=6)
    train(_build, x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    longer = train(_build, x, y, epochs=2, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    assert longer.resumed_from == 1 and len(longer.history["loss"]) == 2
    with pytest.raises(UserInputError, match="holds 2 epochs, more than the 1 asked for"):
        train(_build, x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-0002.npz", "state.json"]


@pytest.mark.usefixtures("steps_eager")
@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "state.json").write_text('{"epoch": 1, "file"'), "state.json is not a checkpoint state"),
    (lambda d: (d / "checkpoint-0001.npz").write_bytes(b"PK\x03\x04 truncated"), "checkpoint-0001.npz is unreadable"),
    (lambda d: (d / "checkpoint-0001.npz").unlink(), "missing"),
])
def test_a_damaged_checkpoint_is_a_one_line_error_naming_the_file(tmp_path, damage, match):
    x, y = _data(n=6)
    train(_build, x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    damage(tmp_path)
    with pytest.raises(UserInputError, match=match) as err:
        train(_build, x, y, epochs=2, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


@pytest.mark.usefixtures("steps_eager")
def test_checkpoint_files_get_the_users_usual_permissions(tmp_path):
    import os
    import stat

    x, y = _data(n=6)
    old = os.umask(0o022)
    try:
        train(_build, x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    finally:
        os.umask(old)
    for name in ("state.json", "checkpoint-0001.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_the_stable_recipe_starts_from_uniform_predictions_and_can_return_its_best_epoch():
    x, y = _data(n=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        result = train(lambda: _build("batch"), x, y, recipe="stable", epochs=3, batch_size=4, verbose=0)
        best = train(lambda: _build("batch"), x, y, recipe=STABLE_BEST, epochs=3, batch_size=4, verbose=0)
    assert result.initial_loss == pytest.approx(math.log(3), abs=1e-5)
    assert result.best_epoch == 3 and "val_loss" not in result.history      # trains to the end of its schedule
    assert len(result.history["learning_rate"]) == 3
    assert result.history["learning_rate"][0] < result.history["learning_rate"][1]   # the warm-up
    assert best.best_epoch == int(np.argmin(best.history["val_loss"])) + 1


def test_the_collapse_detector_fires_on_a_broken_run_and_stays_quiet_on_a_healthy_one():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 8)
    frames = rng.normal(0, 0.1, (24, 8, 16, 16, 1)).astype(np.float32)
    frames[:, :, :, :5][y == 0] += 1.0           # the class is where the face is bright: easy to learn
    frames[:, :, :, 11:][y == 1] += 1.0
    flow = np.zeros((24, 16, 16, 16, 1), np.float32)
    x = {"frames": frames, "flow": flow}

    def dead():
        """Every hidden unit dead from the start (negative for every clip): what the paper's recipe does
        to most of them in its first steps (chapter 10)."""
        model = _build()
        for name in ("dense_1", "dense_2"):
            bias = model.get_layer(name).bias
            bias.assign(np.full(bias.shape, -1e3, dtype="float32"))
        return model

    with pytest.warns(CollapseWarning, match="one class"):
        broken = train(dead, x, y, epochs=4, batch_size=8, verbose=0)
    assert broken.warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        healthy = train(lambda: _build("batch"), x, y, recipe="stable", epochs=12, batch_size=8, verbose=0)
    assert healthy.warnings == [] and healthy.history["loss"][-1] < math.log(3)


def test_a_horizontal_flip_negates_the_horizontal_flow_only():
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(2, 4, 3, 5, 1))      # (N, 2T, H, W, 1): u maps then v maps, T = 2
    flipped = flip_horizontal(flow, "flow")
    assert np.array_equal(flipped[:, :2], -flow[:, :2, :, ::-1])
    assert np.array_equal(flipped[:, 2:], flow[:, 2:, :, ::-1])
    assert np.array_equal(flip_horizontal(flipped, "flow"), flow)
    frames = rng.normal(size=(3, 5, 1))[None, None]
    assert np.array_equal(flip_horizontal(frames), frames[..., ::-1, :])
    with pytest.raises(ValueError, match="even"):
        flip_horizontal(rng.normal(size=(3, 4, 4, 1)), "flow")
    with pytest.raises(ValueError, match="kind"):
        flip_horizontal(flow, "optical")


def test_augmentation_flips_a_clip_and_its_flow_together():
    rng = np.random.default_rng(1)
    frames = rng.normal(size=(64, 2, 4, 6, 1)).astype(np.float32)
    flow = rng.normal(size=(64, 4, 4, 6, 1)).astype(np.float32)
    out = augment({"frames": frames, "flow": flow}, np.random.default_rng(3), shift=0)
    flipped = np.array([not np.array_equal(out["frames"][i], frames[i]) for i in range(64)])
    assert 16 < flipped.sum() < 48
    assert np.array_equal(out["flow"][flipped], flip_horizontal(flow[flipped], "flow"))
    assert np.array_equal(out["flow"][~flipped], flow[~flipped])
    shifted = augment(frames, np.random.default_rng(3), shift=2)
    assert shifted.shape == frames.shape and not np.array_equal(shifted, frames)


def test_the_precision_policy_is_restored_even_when_training_fails():
    x, y = _data(n=4)
    before = keras.mixed_precision.global_policy().name

    def broken():
        raise RuntimeError("no model today")

    with pytest.raises(RuntimeError):
        train(broken, x, y, epochs=1, mixed_precision=True, verbose=0)
    assert keras.mixed_precision.global_policy().name == before


def test_recipes_are_checked():
    assert set(RECIPES) == {"paper", "stable"}
    assert RECIPES["paper"] == Recipe("paper")         # the paper's recipe is Adam at 1e-3 and nothing else
    with pytest.raises(ValueError, match="schedule"):
        Recipe("x", schedule="step")
    with pytest.raises(ValueError, match="recipe"):
        train(_build, *_data(n=2), recipe="fast")


@pytest.mark.parametrize("kwargs, match", [(dict(epochs=0), "epochs"), (dict(labels=np.array([0, 5])), "labels")])
def test_bad_arguments(kwargs, match):
    x, y = _data(n=2)
    labels = kwargs.pop("labels", y)
    with pytest.raises(ValueError, match=match):
        train(_build, x, labels, **kwargs)


@pytest.mark.usefixtures("steps_eager")
def test_training_leaves_the_process_as_it_found_it():
    """TensorFlow's logger level and its op-determinism switch are set for the run and set back after."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's switches")
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    tf.get_logger().setLevel("INFO")
    determinism = tf_config.is_op_determinism_enabled()
    x, y = _data(n=6)
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    train(_build, x, y, epochs=1, batch_size=3, verbose=0)
    assert tf.get_logger().level == 20 and tf_config.is_op_determinism_enabled() == determinism
    assert np.random.random() == expected          # NumPy's global random state is the caller's again


@pytest.mark.usefixtures("steps_eager")
def test_training_data_of_one_class_is_refused_and_a_missing_class_is_said():
    x, _ = _data(n=6)
    with pytest.raises(UserInputError, match="one class only"):
        train(_build, x, np.zeros(6, int), epochs=1, batch_size=3, verbose=0)
    with pytest.warns(train_module.DataWarning, match="class 2 of 3 has no clip in the training data"):
        result = train(_build, x, np.array([0, 1, 0, 1, 0, 1]), epochs=1, batch_size=3, verbose=0)
    assert result.data_warnings == ["class 2 of 3 has no clip in the training data: the model cannot learn to "
                                    "predict it"]
    assert class_weights([0, 1, 0, 1], 3)[2] == 0.0          # documented: an absent class weighs nothing

