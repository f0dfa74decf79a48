import json

import pytest

from mer_lib import experiments as ex
from mer_lib.errors import UserInputError


def test_the_results_folder_validates_against_its_schema(results):
    import keras
    import pandas as pd

    from tests.experiments.conftest import ROWS

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


def test_a_broken_results_folder_is_named(results_copy):
    copy = results_copy
    prov = json.loads((copy / "provenance.json").read_text())
    del prov["commit"]
    (copy / "provenance.json").write_text(json.dumps(prov))
    with pytest.raises(ValueError, match="lacks the fields commit"):
        ex.validate_results(copy)
    (copy / "tables.csv").unlink()
    with pytest.raises(ValueError, match="tables.csv is missing"):
        ex.validate_results(copy)


def test_a_corrupt_provenance_is_a_one_line_error(results_copy):
    (results_copy / "provenance.json").write_text('{"commit": "abc", "runs"')
    with pytest.raises(UserInputError, match="provenance.json is not valid JSON") as err:
        ex.validate_results(results_copy)
    assert "\n" not in str(err.value)


def test_a_record_missing_or_of_another_plan_fails_validation(results_copy):
    runs = results_copy / "runs"
    first = sorted(runs.glob("*.json"))[0]
    moved = results_copy / first.name
    first.rename(moved)
    with pytest.raises(UserInputError, match="15 run records, the provenance says 16"):
        ex.validate_results(results_copy)
    moved.rename(runs / "two_stream-pbvm__paper__paper__r9__f0.json")
    with pytest.raises(UserInputError, match="r9__f0.json is a record of no fold"):
        ex.validate_results(results_copy)


def test_an_unfinished_extension_fails_validation_until_it_is_set_aside(results_copy, tmp_path):
    settings = json.loads((results_copy / "settings.json").read_text())
    (results_copy / "settings.json").write_text(json.dumps({**settings, "repeats": 3}))
    record = json.loads(next((results_copy / "runs").glob("two_stream-pbvm__paper__paper__r1__f0.json")).read_text())
    (results_copy / "runs" / "two_stream-pbvm__paper__paper__r2__f0.json").write_text(json.dumps(record))
    with pytest.raises(UserInputError):
        ex.validate_results(results_copy)
    moved = ex.set_aside_partial(results_copy, tmp_path / "partial")
    assert moved == ["two_stream-pbvm__paper__paper__r2__f0"]
    assert (tmp_path / "partial" / "two_stream-pbvm__paper__paper__r2__f0.json").exists()
    ex.validate_results(results_copy)
    assert json.loads((results_copy / "settings.json").read_text())["repeats"] == 2


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


def test_the_current_settings_are_read_from_the_library_not_typed_again(monkeypatch):
    import mer_lib.train as train_module

    real = train_module.train

    def longer(build_model, inputs, labels, *, epochs=150, batch_size=16, **kwargs):
        return real(build_model, inputs, labels, epochs=epochs, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(train_module, "train", longer)
    now = ex.current_settings()
    assert (now["epochs"], now["batch_size"]) == (150, 16)


def test_settings_differences_name_a_model_built_otherwise_now():
    now = ex.current_settings()
    prov = {"recipes": {}, "input_settings": {}, "epochs": now["epochs"], "batch_size": now["batch_size"],
            "rows": ["cnn_rnn-frames", "two_stream-pbvm"]}
    assert ex.settings_differences(prov) == [
        "model 'cnn_rnn': was inputs=frames (not recorded: the model before models were recorded), now "
        "inputs=onset_relative"]
    assert ex.settings_differences({**prov, "models": now["models"]}) == []
    assert ex.settings_differences({**prov, "rows": ["two_stream-pbvm"]}) == []
