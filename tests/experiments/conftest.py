"""The fixtures of the experiments' tests: a tiny dataset and one results folder trained once for the session."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mer_lib import experiments as ex  # noqa: E402

ROWS = (ex.TABLE3[2], ex.CONTROLS[2])          # the two-stream network and its flow stream alone
#: The plan of the session's results folder (``results``).
PLAN = dict(rows=ROWS, recipes=("paper", "stable"), protocols=("paper", "loso"), repeats=2, n_folds=2, epochs=1,
            batch_size=4)


@pytest.fixture(scope="module", autouse=True)
def _eager(keras_steps_eager):
    """These tests check what is done with trainings, not their compiled steps (tests/conftest.py)."""


@pytest.fixture(scope="session")
def tiny():
    """12 clips of 16 x 16 from 4 subjects, frames and two flow inputs."""
    rng = np.random.default_rng(0)
    n = 12
    frames = rng.normal(size=(n, 8, 16, 16, 1)).astype(np.float32)
    flows = {"pbvm": rng.normal(size=(n, 16, 16, 16, 1)).astype(np.float32),
             "flow": rng.normal(size=(n, 16, 16, 16, 1)).astype(np.float32)}
    labels = np.tile([0, 1, 2], 4)
    subjects = np.repeat(["s1", "s2", "s3", "s4"], 3)
    return frames, flows, labels, subjects


@pytest.fixture(scope="session")
def results(tiny, tmp_path_factory):
    from tests.keras_eager import keras_steps_run_eagerly

    out = tmp_path_factory.mktemp("results")
    frames, flows, labels, subjects = tiny
    with keras_steps_run_eagerly():        # a session fixture is made before the module's _eager
        table = ex.reproduce(out, frames, flows, labels, subjects, **PLAN,
                             class_names=["negative", "positive", "surprise"], progress=False, command="pytest")
    return out, table


@pytest.fixture
def results_copy(results, tmp_path):
    """A copy of the session's results folder, to change."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(results[0], copy)
    return copy
