import numpy as np
import pytest

keras = pytest.importorskip("keras")

import mer_lib.train as train_module  # noqa: E402
from mer_lib.models import two_stream  # noqa: E402
from mer_lib.train import class_weights, train  # noqa: E402


def _data(n=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    x = {"frames": rng.random((n, 8, size, size, 1), dtype=np.float32),
         "flow": rng.random((n, 16, size, size, 1), dtype=np.float32)}
    return x, rng.integers(0, 3, n)


def _build():
    return two_stream("paper", frames_shape=(8, 16, 16, 1), flow_shape=(16, 16, 16, 1))


def _max_diff(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a.get_weights(), b.get_weights()))


def test_a_run_killed_after_an_epoch_and_resumed_ends_with_the_same_weights(tmp_path, monkeypatch):
    x, y = _data()
    full = train(_build, x, y, epochs=3, batch_size=4, seed=1, checkpoint_dir=tmp_path / "full", verbose=0)
    real = train_module._save_checkpoint

    def killed_after_epoch_1(model, folder, epoch, history, fingerprint):
        real(model, folder, epoch, history, fingerprint)
        if epoch == 1:
            raise KeyboardInterrupt   # the Colab runtime disconnects

    monkeypatch.setattr(train_module, "_save_checkpoint", killed_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        train(_build, x, y, epochs=3, batch_size=4, seed=1, checkpoint_dir=tmp_path / "part", verbose=0)
    monkeypatch.setattr(train_module, "_save_checkpoint", real)
    resumed = train(_build, x, y, epochs=3, batch_size=4, seed=1, checkpoint_dir=tmp_path / "part", verbose=0)
    assert resumed.resumed_from == 1
    assert resumed.history["loss"] == pytest.approx(full.history["loss"])
    assert _max_diff(full.model, resumed.model) == 0.0
    assert sorted(p.name for p in (tmp_path / "part").iterdir()) == ["model-0003.keras", "state.json"]


def test_the_same_seed_repeats_a_cpu_run_exactly():
    x, y = _data()
    a = train(_build, x, y, epochs=2, batch_size=4, seed=3, verbose=0)
    b = train(_build, x, y, epochs=2, batch_size=4, seed=3, verbose=0)
    c = train(_build, x, y, epochs=2, batch_size=4, seed=4, verbose=0)
    assert _max_diff(a.model, b.model) == 0.0
    assert _max_diff(a.model, c.model) > 0.0


def test_without_a_gpu_the_run_says_so_and_shortens_when_asked(capsys, monkeypatch):
    monkeypatch.setattr(train_module, "gpu_names", lambda: [])
    monkeypatch.setattr(train_module, "_TOLD", set())
    x, y = _data(n=6)
    result = train(_build, x, y, epochs=50, cpu_epochs=1, batch_size=3, verbose=0)
    out = capsys.readouterr().out
    assert "No GPU" in out and "Shortened run on the CPU: 1 epochs instead of 50" in out
    assert result.shortened and result.epochs == 1 and len(result.history["loss"]) == 1


def test_class_weights_balance_the_classes():
    w = class_weights(np.array([0, 0, 0, 1, 2, 2]))
    assert w == pytest.approx({0: 6 / 9, 1: 2.0, 2: 1.0})
    x, y = _data(n=6)
    assert train(_build, x, y, epochs=1, batch_size=3, class_weight="balanced", verbose=0).history["loss"]


def test_a_checkpoint_of_another_run_is_not_silently_reused(tmp_path):
    x, y = _data(n=6)
    train(_build, x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    with pytest.raises(ValueError, match="another run"):
        train(_build, x, y, epochs=1, batch_size=2, checkpoint_dir=tmp_path, verbose=0)


def test_asking_for_more_epochs_extends_a_run_and_for_fewer_starts_again(tmp_path, capsys):
    x, y = _data(n=6)
    train(_build, x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    longer = train(_build, x, y, epochs=2, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    assert longer.resumed_from == 1 and len(longer.history["loss"]) == 2
    shorter = train(_build, x, y, epochs=1, batch_size=3, checkpoint_dir=tmp_path, verbose=0)
    assert shorter.resumed_from == 0 and len(shorter.history["loss"]) == 1
    assert "training again from the start" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, match", [(dict(epochs=0), "epochs"), (dict(labels=np.array([0, 5])), "labels")])
def test_bad_arguments(kwargs, match):
    x, y = _data(n=2)
    labels = kwargs.pop("labels", y)
    with pytest.raises(ValueError, match=match):
        train(_build, x, labels, **kwargs)
