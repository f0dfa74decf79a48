import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mer_lib.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "mer_lib.cli", *args], capture_output=True, text=True, timeout=900)


def test_end_to_end_on_a_tiny_synthme(tmp_path, keras_steps_eager):
    # eager steps in this process (train, evaluate): tracing each tiny network cost more than its steps; the
    # reproduction trains in a worker process (--trainings-per-process), with Keras' compiled steps
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--fast"]) == 0
    with np.load(out / "synthme.npz", allow_pickle=False) as f:
        assert f["frames"].shape[0] == 10
    assert (out / "synthme.csv").exists() and (out / "synthme_classes.png").exists()
    assert main(["preprocess", "--dataset", "synth", "--out", str(out), "--fast", "--jobs", "1"]) == 0
    assert list(out.glob("inputs-synth-phase-tvl1-32.npz"))          # --fast: 32 x 32 inputs
    assert main(["train", "--dataset", "synth", "--out", str(out), "--fast"]) == 0
    first = out / "train" / "two_stream-pbvm-paper-s0-e1-b8"          # a folder per run, named by its settings
    assert len(pd.read_csv(first / "history.csv")) == 1 and (first / "learning_curve.png").exists()
    assert (first / "model.keras").exists()
    written = {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()}
    assert main(["train", "--dataset", "synth", "--out", str(out), "--fast", "--epochs", "2", "--recipe",
                 "stable", "--model", "one_stream"]) == 0
    assert len(pd.read_csv(out / "train" / "one_stream-frames-stable-s0-e2-b8" / "history.csv")) == 2
    assert {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()} == written   # the first run's, untouched
    assert main(["evaluate", "--dataset", "synth", "--out", str(out), "--fast", "--protocol", "loso",
                 "--model", "one_stream"]) == 0
    scores = pd.read_csv(out / "evaluate" / "one_stream-frames-paper-loso-k3-s0-e1-b8" / "scores.csv")
    assert scores["folds"].item() == 3 and 0 <= scores["UF1"].item() <= 1
    # one run a row (--fast's default of two: test_fast_reproduces_two_runs_of_one_epoch_a_row)
    assert main(["reproduce", "--table", "3", "--dataset", "synth", "--out", str(out), "--fast", "--repeats", "1"]) == 0
    table = pd.read_csv(out / "table3" / "table3.csv")
    assert list(table["method"]) == ["CNN_RNN", "One stream 3D CNN", "Our method"]
    assert table["paper accuracy"].tolist() == [0.58, 0.57, 0.66]
    assert table["runs"].tolist() == [1, 1, 1]
    from mer_lib.experiments import validate_results
    prov = validate_results(out / "table3")
    assert prov["command"] == f"mer reproduce --table 3 --dataset synth --out {out} --fast --repeats 1"
    assert (out / "table3" / "confusion" / "paper-paper.png").exists()
    assert json.loads((out / "table3" / "load_report.json").read_text())["n_clips"] == 10
    assert not list(out.rglob(".mer.lock")) and not list(out.rglob(".tmp-*"))


@pytest.mark.parametrize("extra, repeats, protocol", [([], 2, "paper"), (["--all"], 2, "both"),
                                                        (["--repeats", "3"], 3, "paper")])
def test_fast_reproduces_two_runs_of_one_epoch_a_row(extra, repeats, protocol, tmp_path):
    from mer_lib.cli import _check_args, _parser

    base = ["reproduce", "--dataset", "synth", "--out", str(tmp_path), "--fast"]
    args = _parser().parse_args(base + (extra if "--all" in extra else ["--table", "3", *extra]))
    _check_args(args)
    assert (args.repeats, args.epochs, args.protocol) == (repeats, 1, protocol)


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
    (["train", "--dataset", "synth", "--out", "{tmp}", "--fast", "--seed", "-1"], "--seed must be a non-negative"),
    (["reproduce", "--all", "--dataset", "synth", "--out", "{tmp}", "--fast", "--loso-rows", "two_stream-pbmv"],
     "--loso-rows: 'two_stream-pbmv' is not a row"),
    (["reproduce", "--all", "--dataset", "synth", "--out", "{tmp}", "--fast", "--recipe", "paper", "--loso-recipe",
      "stable"], "--loso-recipe stable is not among the recipes run"),
    (["reproduce", "--table", "3", "--dataset", "synth", "--out", "{tmp}", "--fast", "--trainings-per-process", "0"],
     "--trainings-per-process must be a positive"),
    (["evaluate", "--dataset", "synth", "--out", "{tmp}", "--fast", "--folds", "9"],
     "--folds 9: the dataset has 4 subjects"),
])
def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(args, needle, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = _run(*[a.replace("{tmp}", str(tmp_path)).replace("{file}", str(tmp_path / "a-file")) for a in args])
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mer: error:") and needle in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cache").exists(), "work was done before the arguments were checked"


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


def test_preprocess_refuses_to_replace_inputs_made_with_other_settings(tmp_path, monkeypatch, capsys):
    made = []
    monkeypatch.setattr("mer_lib.pipeline.preprocess", lambda clips, *a, **k: made.append(a) or _fake_inputs(clips))
    out = tmp_path / "o"
    assert main(["preprocess", "--dataset", "synth", "--out", str(out), "--fast", "--jobs", "1"]) == 0
    first = (out / "inputs-synth-phase-tvl1-32.npz").read_bytes()           # --fast: 32 x 32
    printed = capsys.readouterr().out
    assert "SynthME: kept 10 clips" in printed                        # the loader's report, said
    assert json.loads((out / "inputs-synth-phase-tvl1-32.load_report.json").read_text())["n_clips"] == 10
    # another alpha, another seed, the same size without --fast (other clips): the same name, refused
    for change in (["--alpha", "10", "--fast"], ["--seed", "3", "--fast"], ["--size", "32"]):
        code = main(["preprocess", "--dataset", "synth", "--out", str(out), "--jobs", "1"] + change)
        assert code == 2
        err = capsys.readouterr().err
        assert err.startswith("mer: error: --out") and "already holds inputs-synth-phase-tvl1-32.*" in err, err
        assert err.count("\n") == 1
    assert (out / "inputs-synth-phase-tvl1-32.npz").read_bytes() == first and len(made) == 1


def _fake_inputs(clips):
    from mer_lib.pipeline import NetworkInputs

    n, t = len(clips), clips.shape[1]
    return NetworkInputs(np.zeros((n, t, 8, 8, 1), np.float32), np.zeros((n, 2 * t, 8, 8, 1), np.float32), {})


def test_the_loaders_report_is_printed_and_written_beside_the_outputs(tmp_path, monkeypatch, capsys):
    import mer_lib.cli as cli
    from tests.data import fake_trees

    root = fake_trees.casme2_tree(tmp_path / "CASME2")
    monkeypatch.setattr("mer_lib.pipeline.preprocess", lambda clips, *a, **k: _fake_inputs(clips))
    monkeypatch.setattr(cli._data_registry, "load_dataset", _with_prepared_clips(cli._data_registry.load_dataset))
    out = tmp_path / "o"
    assert main(["preprocess", "--dataset", "casme2", "--root", str(root), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "inputs-casme2-phase-tvl1-64.load_report.json").read_text())["report"]
    assert report["database"] == "CAS(ME)^2" and report["workbook"].endswith(".xlsx")
    assert f"CAS(ME)^2: kept {report['kept']} clips, left out {len(report['left_out'])}" in printed
    assert report["workbook"] in printed and report["left_out"] and "reason" in report["left_out"][0]


def _with_prepared_clips(real):
    """load_dataset with the clips' preparation (face detection on every frame) replaced by a stand-in."""
    def load(*args, **kwargs):
        import mer_lib.data.prepare as prepare

        original = prepare.prepare_clips
        def stand_in(records, n_frames=8, size=128, return_info=False, **k):
            clips = np.zeros((len(records), n_frames, 16, 16), np.float32)
            return (clips, [{"face_found": True} for _ in records]) if return_info else clips

        prepare.prepare_clips = stand_in
        try:
            return real(*args, **kwargs)
        finally:
            prepare.prepare_clips = original
    return load


def test_a_dataset_of_one_class_gets_an_error_not_a_score(tmp_path, monkeypatch, capsys):
    import mer_lib.cli as cli
    from mer_lib.data import Dataset

    real = cli._data_registry.load_dataset

    def one_class(*args, **kwargs):
        data = real(*args, **kwargs)
        return Dataset(data.clips, np.zeros_like(data.labels), data.subjects, data.apex, data.class_names,
                       data.report)

    monkeypatch.setattr(cli._data_registry, "load_dataset", one_class)
    code = main(["evaluate", "--dataset", "synth", "--out", str(tmp_path), "--fast", "--model", "one_stream"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("mer: error: the dataset holds clips of one class only ('negative')"), err
    assert not (tmp_path / "cache").exists()


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    import errno
    import os

    real = os.replace

    def full(src, dst):
        if str(dst).endswith("synthme.npz"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", full)
    assert main(["synth", "--out", str(tmp_path), "--fast"]) == 2
    err = capsys.readouterr().err
    assert err == f"mer: error: cannot write '{tmp_path / 'synthme.npz'}': No space left on device\n"
    assert not (tmp_path / ".mer.lock").exists()


def test_a_second_command_in_a_busy_out_folder_is_refused_at_the_start(tmp_path):
    import os
    import time

    out = tmp_path / "o"
    first = subprocess.Popen([sys.executable, "-m", "mer_lib.cli", "synth", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        start = time.monotonic()
        while not (out / ".mer.lock").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() - start < 120
            time.sleep(0.05)
        second = _run("synth", "--out", str(out), "--fast")
        assert second.returncode == 2 and "is in use by another command" in second.stderr, second.stderr
        assert second.stderr.count("\n") == 1
        first.terminate()                     # SIGTERM: the first command stops, and its lock goes with it
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 143 and "mer: terminated" in err, err
    assert not (out / ".mer.lock").exists()
    third = _run("synth", "--out", str(out), "--fast")      # free again (refused, if at all, for what the first
    assert "in use" not in third.stderr, third.stderr      # one wrote before it stopped: its seed and size)
    assert third.returncode == 0 or "already holds synthme.*" in third.stderr, third.stderr


def test_the_usage_names_every_model():
    import mer_lib.cli as cli

    for model in cli.MODELS:
        assert model in cli.__doc__, model
