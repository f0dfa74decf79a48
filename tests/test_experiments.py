import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from mer_lib import experiments as ex  # noqa: E402


@pytest.fixture(scope="module")
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


ROWS = (ex.TABLE3[2], ex.CONTROLS[2])          # the two-stream network and its flow stream alone


@pytest.fixture(scope="module")
def results(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    frames, flows, labels, subjects = tiny
    table = ex.reproduce(out, frames, flows, labels, subjects, rows=ROWS, recipes=("paper", "stable"),
                         protocols=("paper", "loso"), repeats=2, n_folds=2, epochs=1, batch_size=4,
                         class_names=["negative", "positive", "surprise"], progress=False, command="pytest")
    return out, table


def test_the_results_folder_validates_against_its_schema(results):
    out, table = results
    prov = ex.validate_results(out)
    assert set(ex.PROVENANCE_FIELDS) <= set(prov)
    assert prov["command"] == "pytest" and prov["epochs"] == 1 and prov["repeats"] == 2
    assert prov["recipes"]["stable"]["normalization"] == "batch"
    assert prov["keras_backend"] == keras.backend.backend() and prov["device"] == "CPU"
    assert len(prov["commit"] or "") in (0, 40)
    # 2 rows x 2 recipes x (2 paper runs of 1 fold + 1 LOSO run of 2 folds)
    assert prov["runs"] == 16 and len(list((out / "runs").glob("*.json"))) == 16
    assert len(table) == 8 and set(table["runs"]) == {1, 2}
    assert set(table.loc[table["runs"] == 1, "ci_over"]) == {"test clips"}
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 12 and runs["n_test"].between(1, 12).all()
    # 2 subject-disjoint folds of 4 subjects: k-fold over subjects, named so (not "loso")
    assert set(runs.loc[runs["protocol"] == "subject-kfold", "n_test"]) == {12}     # every clip tested once
    preds = pd.read_csv(out / "predictions.csv")
    assert set(preds.columns) >= {"run", "clip", "y_true", "y_pred"}
    comp = pd.read_csv(out / "comparisons.csv")
    assert set(comp["b"]) == {ROWS[1].label} and len(comp) == 4 and comp["mcnemar_p"].between(0, 1).all()
    assert sorted(p.name for p in (out / "curves").iterdir()) == sorted(
        f"{r}-{p}.png" for r in ("paper", "stable") for p in ("subject-kfold", "paper"))
    assert not (out / "checkpoints").exists() and not (out / "inputs.npz").exists()


def test_a_broken_results_folder_is_named(results, tmp_path):
    import shutil

    out, _ = results
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    prov = json.loads((copy / "provenance.json").read_text())
    del prov["commit"]
    (copy / "provenance.json").write_text(json.dumps(prov))
    with pytest.raises(ValueError, match="lacks the fields commit"):
        ex.validate_results(copy)
    (copy / "tables.csv").unlink()
    with pytest.raises(ValueError, match="tables.csv is missing"):
        ex.validate_results(copy)


def test_an_interrupted_reproduction_continues_without_retraining_what_is_done(results, tiny, monkeypatch):
    out, table = results
    frames, flows, labels, subjects = tiny
    (out / "runs" / sorted(p.name for p in (out / "runs").iterdir())[0]).unlink()    # one fold lost
    trained = []
    from mer_lib.experiments import runner

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


def test_rows_take_the_inputs_of_their_model(tiny):
    frames, flows, labels, subjects = tiny
    index = np.arange(4)
    assert ex.row_inputs(ex.TABLE3[0], frames, flows, index).shape == (4, 8, 16, 16, 1)
    assert set(ex.row_inputs(ex.TABLE3[2], frames, flows, index)) == {"frames", "flow"}
    assert set(ex.row_inputs(ex.CONTROLS[1], frames, flows, index)) == {"frames"}
    assert set(ex.row_inputs(ex.CONTROLS[2], frames, flows, index)) == {"flow"}
    shuffled = ex.row_inputs(ex.CONTROLS[3], frames, flows, np.arange(12))["flow"]
    own = flows["pbvm"]
    assert not any(np.array_equal(shuffled[i], own[i]) for i in range(12))       # no clip keeps its own flow
    assert sorted(map(bytes, shuffled)) == sorted(map(bytes, own))                # every flow used once
    with pytest.raises(ValueError, match="needs the flow input 'evm'"):
        ex.row_inputs(ex.TABLE4[3], frames, flows, index)


def test_full_rows_hold_each_model_and_input_once():
    keys = [r.key for r in ex.FULL_ROWS]
    assert len(keys) == len(set(keys)) == 8
    assert {"two_stream-pbvm", "two_stream_corrected-pbvm", "frames_stream-frames", "flow_stream-pbvm",
            "two_stream-pbvm-shuffled", "two_stream-flow"} <= set(keys)


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


def test_settings_differences_name_what_changed(results):
    out, _ = results
    prov = ex.validate_results(out)
    diffs = ex.settings_differences(prov)
    assert diffs == ["epochs was 1, the paper's and the library's is 100", "batch_size was 4, the paper's and "
                     "the library's is 8"]
    prov["recipes"]["paper"]["learning_rate"] = 0.5
    prov["input_settings"]["pbvm"] = ["linear", 10.0]
    diffs = ex.settings_differences(prov)
    assert "recipe 'paper': learning_rate was 0.5, now 0.001" in diffs
    assert any(d.startswith("input 'pbvm'") for d in diffs)
    text = ex.describe_provenance(prov)
    assert "command:  pytest" in text and "device:   CPU" in text


def test_locate_results_reads_the_environment_first(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_RESULTS", str(tmp_path))
    assert ex.locate_results() == tmp_path
    monkeypatch.setenv("MER_RESULTS", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="MER_RESULTS"):
        ex.locate_results()
    monkeypatch.delenv("MER_RESULTS")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "other").mkdir(parents=True)
    assert ex.locate_results("other") == tmp_path / "results" / "other"


def test_provenance_prefers_the_commit_the_tree_was_copied_from(monkeypatch):
    monkeypatch.setenv("MER_COMMIT", "0" * 40)
    monkeypatch.setenv("MER_TREE_CLEAN", "1")
    prov = ex.provenance()
    assert prov["commit"] == "0" * 40 and prov["tree_clean"] is True
    monkeypatch.delenv("MER_COMMIT")
    assert ex.provenance()["commit"] != "0" * 40


def test_every_model_name_has_a_builder():
    from mer_lib.experiments import rows

    assert set(rows._builders()) == set(ex.MODELS)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        ex.build("nope", (8, 16, 16, 1))
