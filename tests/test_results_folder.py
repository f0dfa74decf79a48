"""The committed results of the full GPU reproduction (book/results/full), which chapters 10 and 11 show.

The folder is written by ``bash tools/gpu_run.sh run`` (``mer reproduce``) on a GPU; these tests check
that it is complete, says where it comes from, and was made by the experiment the library runs now.
"""

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from mer_lib import experiments as ex

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "book" / "results" / "full"


@pytest.fixture(scope="module")
def prov():
    assert FOLDER.is_dir(), f"{FOLDER} is missing: run the full reproduction (tools/gpu_run.sh) and commit it"
    return ex.validate_results(FOLDER)


def test_the_folder_validates_against_the_results_schema(prov):
    for field in ex.PROVENANCE_FIELDS:
        assert field in prov, field
    for field in ("commit", "device", "date", "wall_seconds", "command", "keras_backend", "library_version"):
        assert prov[field] not in (None, ""), f"provenance field {field} is empty"
    assert prov["device"].startswith("GPU"), f"the full run was made on {prov['device']}, not a GPU"
    assert prov["command"].startswith("mer reproduce"), prov["command"]
    assert float(prov["wall_seconds"]) > 0


def test_its_commit_is_in_this_repository_history(prov):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{prov['commit']}^{{commit}}"],
                           capture_output=True)
    assert found.returncode == 0, f"commit {prov['commit']} of {FOLDER}/provenance.json is not in this repository"
    ancestor = subprocess.run(["git", "-C", str(ROOT), "merge-base", "--is-ancestor", prov["commit"], "HEAD"],
                              capture_output=True)
    assert ancestor.returncode == 0, f"commit {prov['commit']} is not an ancestor of HEAD"


def test_its_settings_are_the_ones_the_library_uses_now(prov):
    differences = ex.settings_differences(prov)
    assert not differences, ("these results were produced by an older version of the experiment: "
                             + "; ".join(differences))


def test_it_holds_small_files_only_and_no_checkpoint():
    sizes = {p.relative_to(FOLDER): p.stat().st_size for p in FOLDER.rglob("*") if p.is_file()}
    assert sizes
    kinds = {p.suffix for p in sizes}
    assert kinds <= {".csv", ".json", ".png"}, f"unexpected files: {kinds - {'.csv', '.json', '.png'}}"
    assert max(sizes.values()) < 4_000_000, max(sizes.items(), key=lambda kv: kv[1])
    assert sum(sizes.values()) < 20_000_000


def test_the_tables_cover_the_plan_the_provenance_records(prov):
    tables = pd.read_csv(FOLDER / "tables.csv")
    runs = pd.read_csv(FOLDER / "runs.csv")
    paper = tables[tables["protocol"] == "paper"]
    assert set(paper["row_key"]) == set(prov["rows"])
    assert set(paper["recipe"]) == set(prov["recipes"])
    assert (paper["runs"] == prov["repeats"]).all()
    if "loso" in prov["protocols"]:
        loso = tables[tables["protocol"] == "loso"]
        assert set(loso["row_key"]) == set(prov["loso_rows"] or prov["rows"])
        n_subjects = prov["dataset"]["n_subjects"]
        assert (runs.loc[runs["protocol"] == "loso", "folds"] == (prov["n_folds"] or n_subjects)).all()
    assert len(runs) == int(tables["runs"].sum())
    records = [json.loads(p.read_text()) for p in (FOLDER / "runs").glob("*.json")]
    assert all(r["epochs"] == prov["epochs"] for r in records)
    assert {r["device"] for r in records} == {prov["device"]} or all(r["device"].startswith("GPU") for r in records)


def test_an_older_setting_is_named():
    prov = json.loads((FOLDER / "provenance.json").read_text())
    changed = json.loads(json.dumps(prov))
    changed["recipes"]["stable"]["learning_rate"] = 123.0
    changed["epochs"] = 7
    diffs = ex.settings_differences(changed)
    assert any("learning_rate" in d and "123.0" in d for d in diffs)
    assert any(d.startswith("epochs was 7") for d in diffs)


def test_the_summary_tool_writes_a_copy_again_from_its_records_and_provenance_alone(tmp_path):
    import shutil

    import summarize_results    # tools/summarize_results.py

    copy = tmp_path / "full"
    shutil.copytree(FOLDER, copy)
    for name in ("tables.csv", "runs.csv", "comparisons.csv"):
        (copy / name).unlink()
    assert summarize_results.main([str(copy)]) == 0
    for name in ("tables.csv", "comparisons.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(copy / name), pd.read_csv(FOLDER / name))
    assert ex.validate_results(copy)["summarized"]["by"].startswith("tools/summarize_results.py")
    (copy / "runs" / "cnn_rnn-frames__paper__paper__r7__f0.json").write_text("{}")     # a stray record
    with pytest.raises(SystemExit):
        summarize_results.main([str(copy)])
    moved = ex.set_aside_partial(copy, tmp_path / "aside")
    assert moved == ["cnn_rnn-frames__paper__paper__r7__f0"] and ex.validate_results(copy)
