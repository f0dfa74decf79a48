import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from mer_lib import experiments as ex
from mer_lib.errors import UserInputError
from tests.experiments.conftest import PLAN, ROWS


def test_an_interrupted_reproduction_continues_without_retraining_what_is_done(results, tiny, monkeypatch):
    from mer_lib.experiments import runner

    out, table = results
    frames, flows, labels, subjects = tiny
    (out / "runs" / sorted(p.name for p in (out / "runs").iterdir())[0]).unlink()    # one fold lost
    trained = []
    real = runner._train_fold

    def counting(*args, **kwargs):
        trained.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "_train_fold", counting)
    again = ex.reproduce(out, frames, flows, labels, subjects, rows=ROWS, recipes=("paper", "stable"),
                         protocols=("paper", "loso"), repeats=2, n_folds=2, epochs=1, batch_size=4,
                         progress=False, command="pytest")
    assert len(trained) == 1 and len(again) == len(table)
    ex.validate_results(out)
    with pytest.raises(ValueError, match="other data or settings"):
        ex.reproduce(out, frames, flows, labels, subjects, rows=ROWS, recipes=("paper",), protocols=("paper",),
                     repeats=2, epochs=2, batch_size=4, progress=False)


@pytest.mark.parametrize("kwargs, match", [(dict(recipes=("fast",)), "recipe"), (dict(protocols=("lopo",)), "protocol"),
                                           (dict(repeats=0), "repeats"), (dict(workers=0), "workers"),
                                           (dict(rows=(ex.TABLE4[3],)), "evm")])
def test_reproduce_checks_its_arguments_before_training(tiny, tmp_path, kwargs, match):
    frames, flows, labels, subjects = tiny
    with pytest.raises(ValueError, match=match):
        ex.reproduce(tmp_path, frames, flows, labels, subjects, **{"rows": ROWS, **kwargs}, progress=False)


def test_loso_can_be_limited_to_some_rows_and_one_recipe(tiny, tmp_path):
    frames, flows, labels, subjects = tiny
    out = tmp_path / "subset"
    ex.reproduce(out, frames, flows, labels, subjects, rows=ROWS, recipes=("paper", "stable"),
                 protocols=("paper", "loso"), repeats=1, n_folds=2, epochs=1, batch_size=4, progress=False,
                 loso_rows=[ROWS[0].label], loso_recipes=["stable"], command="pytest")
    prov = ex.validate_results(out)
    assert prov["loso_rows"] == [ROWS[0].key] and prov["loso_recipes"] == ["stable"]
    runs = pd.read_csv(out / "runs.csv")
    loso = runs[runs["protocol"] == "subject-kfold"]          # 2 folds of 4 subjects
    assert list(loso["row_key"]) == [ROWS[0].key] and list(loso["recipe"]) == ["stable"]
    assert len(runs[runs["protocol"] == "paper"]) == 4            # 2 rows x 2 recipes
    with pytest.raises(ValueError, match="loso_rows: 'nope'"):
        ex.reproduce(tmp_path / "bad", frames, flows, labels, subjects, rows=ROWS, loso_rows=["nope"], epochs=1,
                     progress=False)
    with pytest.raises(ValueError, match="loso_recipes"):
        ex.reproduce(tmp_path / "bad", frames, flows, labels, subjects, rows=ROWS, recipes=("paper",),
                     loso_recipes=["stable"], epochs=1, progress=False)


@pytest.mark.parametrize("change, named", [(dict(n_folds=3), "n_folds"), (dict(repeats=1), "repeats: 2 there, 1"),
                                           (dict(epochs=2), "epochs: 1 there, 2")])
def test_a_folder_of_another_plan_is_refused_before_any_training(results_copy, tiny, change, named, monkeypatch):
    from mer_lib.experiments import runner

    frames, flows, labels, subjects = tiny
    monkeypatch.setattr(runner, "_train_fold", lambda *a, **k: pytest.fail("trained in a refused folder"))
    before = sorted(p.name for p in (results_copy / "runs").iterdir())
    with pytest.raises(UserInputError, match=named):
        ex.reproduce(results_copy, frames, flows, labels, subjects, **{**PLAN, **change}, progress=False)
    assert sorted(p.name for p in (results_copy / "runs").iterdir()) == before
    ex.validate_results(results_copy)            # the folder is as it was


def test_a_stray_record_in_the_folder_is_refused_before_any_training(results_copy, tiny, monkeypatch):
    from mer_lib.experiments import runner

    frames, flows, labels, subjects = tiny
    runs = results_copy / "runs"
    record = json.loads(next(runs.glob("two_stream-pbvm__paper__paper__r0__f0.json")).read_text())
    record["identity"]["batch_size"] = 16
    (runs / "two_stream-pbvm__paper__paper__r0__f0.json").write_text(json.dumps(record))
    monkeypatch.setattr(runner, "_train_fold", lambda *a, **k: pytest.fail("trained beside a stray record"))
    with pytest.raises(UserInputError, match=r"r0__f0.json is a record of other settings \(batch_size is 16"):
        ex.reproduce(results_copy, frames, flows, labels, subjects, **PLAN, progress=False)


def test_more_repeats_extend_a_folder_training_only_the_new_runs(results_copy, tiny, monkeypatch):
    from mer_lib.experiments import runner

    frames, flows, labels, subjects = tiny
    trained = []
    real = runner._train_fold

    def counting(*args, **kwargs):
        trained.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "_train_fold", counting)
    table = ex.reproduce(results_copy, frames, flows, labels, subjects, **{**PLAN, "recipes": ("paper", "stable"),
                                                                            "repeats": 3}, progress=False)
    assert len(trained) == 4                   # 2 rows x 2 recipes, one more run of the paper's split each
    prov = ex.validate_results(results_copy)
    assert prov["repeats"] == 3 and prov["runs"] == 20
    assert set(table.loc[table["protocol"] == "paper", "runs"]) == {3}


def test_cpu_epochs_shortens_every_run_and_the_folder_says_so(tiny, tmp_path, monkeypatch):
    import mer_lib.env

    frames, flows, labels, subjects = tiny
    monkeypatch.setattr(mer_lib.env, "gpu_names", lambda: [])
    with pytest.warns(UserWarning, match="Shortened run on the CPU: 1 epochs instead of 3"):
        ex.reproduce(tmp_path / "short", frames, flows, labels, subjects, rows=ROWS[1:], recipes=("paper",),
                     protocols=("paper",), repeats=1, epochs=3, cpu_epochs=1, batch_size=4, progress=False)
    prov = ex.validate_results(tmp_path / "short")
    assert prov["epochs"] == 1 and prov["shortened_from"] == 3
    records = [json.loads(p.read_text()) for p in (tmp_path / "short" / "runs").glob("*.json")]
    assert [r["epochs"] for r in records] == [1] and [len(r["history"]["loss"]) for r in records] == [1]


def test_a_one_class_dataset_and_too_many_folds_are_refused_before_any_work(tiny, tmp_path):
    frames, flows, labels, subjects = tiny
    with pytest.raises(UserInputError, match="one class only"):
        ex.reproduce(tmp_path / "a", frames, flows, np.zeros(12, int), subjects, rows=ROWS, progress=False)
    with pytest.raises(UserInputError, match=r"n_folds must be between 2 and the number of subjects \(4\), got 9"):
        ex.reproduce(tmp_path / "b", frames, flows, labels, subjects, rows=ROWS, n_folds=9, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_folder_in_use_by_another_command_is_refused_at_the_start(tiny, tmp_path):
    from mer_lib._io import LOCK_NAME

    frames, flows, labels, subjects = tiny
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename,
                                                                "started": None, "command": "mer reproduce ..."}))
        with pytest.raises(UserInputError, match="is in use by another command"):
            ex.reproduce(tmp_path / "busy", frames, flows, labels, subjects, **PLAN, progress=False)
    finally:
        holder.kill()
        holder.wait()


_SCRIPT = r"""
import signal
import sys
import numpy as np
from mer_lib import experiments as ex

if __name__ == "__main__":           # the workers are spawned: they import this file too
    # Ctrl-C raises KeyboardInterrupt, as in a terminal or a notebook's kernel: a test run started in the background
    # (nohup, `cmd &`, some CI runners) hands its children SIGINT ignored, and Python then leaves it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(12, 8, 16, 16, 1)).astype(np.float32)
    flows = {"pbvm": rng.normal(size=(12, 16, 16, 16, 1)).astype(np.float32)}
    labels, subjects = np.tile([0, 1, 2], 4), np.repeat(["s1", "s2", "s3", "s4"], 3)
    try:
        ex.reproduce(sys.argv[1], frames, flows, labels, subjects, rows=(ex.CONTROLS[2],), recipes=("paper",),
                     protocols=("loso",), n_folds=4, epochs=int(sys.argv[2]), batch_size=4, workers=2,
                     progress=False)
    except KeyboardInterrupt as err:
        # the workers train: this process needs neither Keras nor TensorFlow (a start-up of 12 s, 1 GB, spared)
        print("stopped:", type(err).__name__, "| tensorflow imported:", "tensorflow" in sys.modules, flush=True)
        sys.exit(130)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_a_reproduction_with_workers_stops_them_within_seconds_and_keeps_finished_folds(tmp_path,
                                                                                                   signum):
    """As `kill` (SIGTERM) or a notebook's stop button (SIGINT) do: the signal goes to the parent alone."""
    out = tmp_path / "out"
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(out), "400"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        start = time.monotonic()
        while not list(out.glob("checkpoints/*/state.json")):       # both workers are training
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() - start < 400, "no fold started training in 400 s"
            time.sleep(0.5)
        os.kill(proc.pid, signum)
        sent = time.monotonic()
        stdout, err = proc.communicate(timeout=120)
        stopped_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and "stopped: " + ("Terminated" if signum == signal.SIGTERM else
                                                    "KeyboardInterrupt") in stdout, err[-3000:]
    assert stopped_after < 30, f"stopped {stopped_after:.1f} s after the signal"
    assert "tensorflow imported: False" in stdout, stdout
    for _ in range(100):                      # the workers and the resource tracker are gone too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("processes of the stopped reproduction are still running")
    assert not (out / ".mer.lock").exists(), "the lock outlived the command"
    assert not list(out.glob("runs/.tmp-*")), "a half-written record was left"
    assert json.loads((out / "settings.json").read_text())["epochs"] == 400
    states = list(out.glob("checkpoints/*/state.json"))        # the epochs finished are kept: the same call resumes
    assert states and all(json.loads(p.read_text())["epoch"] >= 1 for p in states)
