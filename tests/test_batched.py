"""The batched trainer (mer_lib.batched): its arithmetic here, its training in a process on Keras' JAX backend.

This process imports Keras with the TensorFlow backend (the course's default); the trainer needs JAX, so
``test_the_batched_trainer_on_the_jax_backend`` runs the tests of ``tests/jax/`` in child processes with
``KERAS_BACKEND=jax`` (on the CPU: JAX's CPU wheel is a test dependency), one per file, each a test of its own
that pytest-xdist may give to either worker (tests/conftest.py, ``ALONE``).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mer_lib import nn  # noqa: E402
from mer_lib.batched import Run, forward_macs, step_flops, train_many  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402
from mer_lib.models import cnn_rnn, two_stream  # noqa: E402
from mer_lib.train import augment, augmentation_draws, epoch_augmentation, epoch_order, train  # noqa: E402
from tests.jax_child import jax_child_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install jax)")
@pytest.mark.parametrize("module", sorted(p.name for p in (ROOT / "tests" / "jax").glob("test_*.py")))
def test_the_batched_trainer_on_the_jax_backend(module, tmp_path):
    # jax_child_env: the JAX backend on the CPU, XLA's fast compilation (tests/jax_child.py)
    env = jax_child_env(
        # the tests compile the same programs several times (Keras' loop once per seed, a batch and its resumed
        # copy): XLA's persistent cache, new for this run, compiles each once (measured: 80 s down to 55 s)
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "xla-cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5",
        # JAX's default (partitionable) Threefry compiles dropout on the networks' 5-D tensors very slowly on a
        # CPU (50 s for one draw, against 3 s): both trainers draw with the other, as the equivalence needs
        JAX_THREEFRY_PARTITIONABLE="false")
    # -n 0: one process (pyproject's addopts start two pytest-xdist workers; this test already runs in one of them)
    done = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests" / "jax" / module), "-q",
                           "-p", "no:cacheprovider", "-n", "0", "-W", "ignore::UserWarning"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1], done.stdout[-2000:]


def test_the_arithmetic_of_a_step_is_counted_from_the_layers():
    model = two_stream()
    expected = (nn.conv3d_macs((64, 64, 8, 1), 32, (3, 3, 15), padding="same")
                + nn.conv3d_macs((64, 64, 16, 1), 32, (3, 3, 15), padding="same")
                + 35280 * 128 + 70560 * 128 + 256 * 3)
    assert forward_macs(model) == expected
    assert 0.4e9 < expected < 0.5e9                  # the 0.44 G multiply-adds per clip
    assert step_flops(model, 8) == 6 * 8 * expected
    rnn = cnn_rnn((8, 16, 16, 1), filters=(4, 8), dense_units=16, lstm_units=8)
    per_frame = (nn.conv3d_macs((16, 16, 1, 1), 4, (3, 3, 1), padding="same")
                 + nn.conv3d_macs((8, 8, 1, 4), 8, (3, 3, 1), padding="same") + 4 * 4 * 8 * 16)
    assert forward_macs(rnn) == 8 * per_frame + 8 * 4 * 8 * (16 + 8) + 8 * 3


def test_the_epoch_tables_are_the_draws_train_makes():
    """The batched trainer draws each epoch's order, flips and shifts with the functions train uses."""
    rng = np.random.default_rng(1)
    clips = rng.normal(size=(10, 2, 5, 6, 1)).astype(np.float32)
    flips, moves = augmentation_draws(10, np.random.default_rng(7), 2)
    assert flips.dtype == bool and moves.shape == (10, 2) and np.abs(moves).max() <= 2
    out = augment(clips, np.random.default_rng(7), shift=2)
    assert np.array_equal(out[~flips & ~moves.any(axis=1)], clips[~flips & ~moves.any(axis=1)])
    assert np.array_equal(epoch_order(3, 4, 10), np.random.default_rng([3, 4]).permutation(10))
    f, m = epoch_augmentation(3, 4, 10, 2)
    f2, m2 = augmentation_draws(10, np.random.default_rng([3, 4, 1]), 2)
    assert np.array_equal(f, f2) and np.array_equal(m, m2)


def test_on_another_backend_the_batched_trainer_says_what_it_needs():
    if keras.backend.backend() == "jax":
        pytest.skip("this process runs Keras on JAX")
    with pytest.raises(UserInputError, match="KERAS_BACKEND=jax"):
        train_many(lambda: None, [Run(np.zeros((2, 1)), [0, 1])])
    with pytest.raises(UserInputError, match="trainer"):
        train(lambda: None, np.zeros((2, 1)), np.array([0, 1]), trainer="fast")
    with pytest.raises(UserInputError, match="KERAS_BACKEND=jax"):
        train(lambda: None, np.zeros((2, 1)), np.array([0, 1]), trainer="batched", verbose=0)


def _fake_repo(tmp_path):
    """A git repository holding tools/gpu_run.sh, committed."""
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    (repo / "tools" / "gpu_run.sh").write_text((ROOT / "tools" / "gpu_run.sh").read_text())
    (repo / "README.md").write_text("a repository\n")
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "."], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "x"], cwd=repo, check=True)
    return repo


@pytest.mark.skipif(not (Path("/usr/bin/git").exists() or Path("/bin/git").exists()), reason="needs git")
def test_gpu_run_prepare_gathers_the_wheels_and_the_commit(tmp_path):
    repo = _fake_repo(tmp_path)
    fake = tmp_path / "download.sh"          # stands for `pip download` (no network in the tests)
    fake.write_text('#!/bin/sh\nfor w in keras-3.15.1 namex-0.1.0 optree-0.17.0; do touch "$1/$w-py3-none-any.whl"; '
                    'done\n')
    fake.chmod(0o755)
    env = {**os.environ, "MER_WHEEL_DOWNLOAD": str(fake)}
    done = subprocess.run(["bash", "tools/gpu_run.sh", "prepare"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert (repo / ".whl" / "COMMIT").read_text().strip() == head
    assert len(list((repo / ".whl").glob("*.whl"))) == 3
    (repo / "README.md").write_text("changed\n")          # uncommitted: the results could not say what ran
    done = subprocess.run(["bash", "tools/gpu_run.sh", "prepare"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "commit your changes first" in done.stderr


def test_gpu_run_prepare_fails_when_a_wheel_is_missing(tmp_path):
    repo = _fake_repo(tmp_path)
    fake = tmp_path / "download.sh"
    fake.write_text('#!/bin/sh\ntouch "$1/keras-3.15.1-py3-none-any.whl"\n')
    fake.chmod(0o755)
    done = subprocess.run(["bash", "tools/gpu_run.sh", "prepare"], cwd=repo,
                          env={**os.environ, "MER_WHEEL_DOWNLOAD": str(fake)}, capture_output=True, text=True)
    assert done.returncode == 1 and "no namex wheel" in done.stderr
    assert not (repo / ".whl" / "COMMIT").exists()


def test_gpu_run_run_needs_its_output_folder():
    done = subprocess.run(["bash", str(ROOT / "tools" / "gpu_run.sh"), "run"], env={
        k: v for k, v in os.environ.items() if k != "OUT"}, capture_output=True, text=True)
    assert done.returncode != 0 and "OUT" in done.stderr


def test_an_inner_score_kept_under_other_settings_is_not_reused(tmp_path):
    """A nested job's inner score (kept under checkpoints/nested/ between batches) counts only for the identity it
    was kept with: a folder interrupted before its first record and restarted with other settings trains again."""
    import json

    from mer_lib.experiments.batched_runs import _kept_score

    ident = {"row_key": "frames_stream-frames", "epochs": 100, "data": "abc"}
    (tmp_path / "job__inner-paper.json").write_text(json.dumps({"identity": ident, "score": {"uf1": 0.5}}))
    (tmp_path / "job__inner-stable.json").write_text("{not json")
    assert _kept_score(tmp_path, "job__inner-paper", ident)["score"] == {"uf1": 0.5}
    assert _kept_score(tmp_path, "job__inner-paper", {**ident, "epochs": 1}) is None
    assert _kept_score(tmp_path, "job__inner-stable", ident) is None          # damaged: trained again
    assert _kept_score(tmp_path, "job__inner-other", ident) is None           # never kept
