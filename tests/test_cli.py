import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mer_lib.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "mer_lib.cli", *args], capture_output=True, text=True, timeout=900)


def test_end_to_end_on_a_tiny_synthme(tmp_path):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--fast"]) == 0
    with np.load(out / "synthme.npz", allow_pickle=False) as f:
        assert f["frames"].shape[0] == 10
    assert (out / "synthme.csv").exists() and (out / "synthme_classes.png").exists()
    assert main(["preprocess", "--dataset", "synth", "--out", str(out), "--fast", "--jobs", "1"]) == 0
    assert list(out.glob("inputs-synth-phase-tvl1-64.npz"))
    assert main(["train", "--dataset", "synth", "--out", str(out), "--fast"]) == 0
    assert len(pd.read_csv(out / "history.csv")) == 1 and (out / "learning_curve.png").exists()
    assert (out / "model.keras").exists()
    assert main(["train", "--dataset", "synth", "--out", str(out), "--fast", "--epochs", "2", "--recipe",
                 "stable", "--model", "one_stream"]) == 0
    assert len(pd.read_csv(out / "history.csv")) == 2
    assert main(["evaluate", "--dataset", "synth", "--out", str(out), "--fast", "--protocol", "loso",
                 "--model", "one_stream"]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert scores["folds"].item() == 3 and 0 <= scores["UF1"].item() <= 1
    assert main(["reproduce", "--table", "3", "--dataset", "synth", "--out", str(out), "--fast"]) == 0
    table = pd.read_csv(out / "table3" / "table3.csv")
    assert list(table["method"]) == ["CNN_RNN", "One stream 3D CNN", "Our method"]
    assert table["paper accuracy"].tolist() == [0.58, 0.57, 0.66]
    assert table["runs"].tolist() == [2, 2, 2]           # --fast: two runs of the paper's split
    from mer_lib.experiments import validate_results
    prov = validate_results(out / "table3")
    assert prov["command"] == f"mer reproduce --table 3 --dataset synth --out {out} --fast"
    assert (out / "table3" / "confusion" / "paper-paper.png").exists()


@pytest.mark.parametrize("args, needle", [
    (["preprocess", "--dataset", "casme2", "--root", "/nonexistent/CASME2", "--out", "{tmp}"], "CAS(ME)^2"),
    (["preprocess", "--dataset", "casme2", "--out", "{tmp}"], "--root"),
    (["preprocess", "--dataset", "smic-e", "--out", "{tmp}"], "invalid choice"),
    (["reproduce", "--table", "5", "--dataset", "synth", "--out", "{tmp}"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    (["train", "--dataset", "synth", "--out", "{tmp}", "--fast", "--epochs", "0"], "--epochs must be a positive"),
    (["reproduce", "--all", "--dataset", "synth", "--out", "{tmp}", "--repeats", "-1"], "--repeats"),
    (["reproduce", "--all", "--table", "3", "--dataset", "synth", "--out", "{tmp}"], "not allowed with"),
    (["train", "--dataset", "synth", "--out", "{file}"], "is a file"),
    (["preprocess", "--dataset", "casme2", "--root", "{file}", "--out", "{tmp}"], "--root"),
    (["train", "--dataset", "synth", "--out", "{file}/sub"], "cannot write"),
])
def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(args, needle, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = _run(*[a.replace("{tmp}", str(tmp_path)).replace("{file}", str(tmp_path / "a-file")) for a in args])
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mer: error:") and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_an_empty_selection_is_an_error(tmp_path):
    from openpyxl import Workbook

    from tests.data import fake_trees

    root = fake_trees.casme2_tree(tmp_path / "CASME2")
    wb = Workbook()
    fake_trees._sheet(wb, "CASFEcode_final", [(1, "anger1_1", 100, 105, 112, "4", "others", "micro-expression", "")],
                      first=True)
    fake_trees._sheet(wb, "naming rule1", [(15, "s15", 1)])
    fake_trees._sheet(wb, "naming rule2", [(401, "anger1")])
    wb.save(root / "CAS(ME)^2code_final.xlsx")
    result = _run("preprocess", "--dataset", "casme2", "--root", str(root), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("mer: error: no clips selected from casme2")


def test_a_library_error_is_not_disguised_as_a_user_error(monkeypatch, tmp_path):
    import mer_lib.cli as cli

    def broken(args):
        raise ValueError("a bug deep in the library")

    monkeypatch.setattr(cli, "cmd_synth", broken)
    with pytest.raises(ValueError, match="a bug deep in the library"):
        main(["synth", "--out", str(tmp_path), "--fast"])


def test_the_choices_come_from_the_library_registries():
    import mer_lib.cli as cli
    from mer_lib import data, experiments, pipeline, train

    assert cli.DATASETS == tuple(data.DATASETS) and cli.MODELS == tuple(experiments.MODELS)
    assert cli.INPUTS == tuple(experiments.INPUT_SETTINGS) and cli.RECIPES == tuple(train.RECIPES)
    choices = {a.dest: a.choices for a in cli._parser()._subparsers._group_actions[0].choices["preprocess"]._actions}
    assert tuple(choices["flow"]) == pipeline.FLOWS and tuple(choices["dataset"]) == cli.DATASETS
    assert tuple(choices["magnify"]) == ("phase", "linear", "riesz", "none")


def test_fast_mode_of_the_command_leaves_the_environment_alone(monkeypatch, tmp_path):
    import os

    import mer_lib.cli as cli

    seen = []
    monkeypatch.delenv("MER_FAST", raising=False)
    monkeypatch.setattr(cli, "cmd_preprocess", lambda args: seen.append((args.fast, os.environ.get("MER_FAST"))))
    assert main(["preprocess", "--dataset", "synth", "--out", str(tmp_path), "--fast"]) == 0
    assert seen == [(True, None)] and "MER_FAST" not in os.environ


def test_a_refusal_the_library_signals_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    import mer_lib.cli as cli
    from mer_lib.errors import UserInputError

    def refuses(args):
        raise UserInputError("--out: holds a plan with other settings (epochs 100, asked 3)")

    monkeypatch.setattr(cli, "cmd_synth", refuses)
    assert main(["synth", "--out", str(tmp_path), "--fast"]) == 2
    err = capsys.readouterr().err
    assert err == "mer: error: --out: holds a plan with other settings (epochs 100, asked 3)\n"
