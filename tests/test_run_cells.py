"""tools/run_cells.py: a notebook's code cells run in one process, errors recorded, up to a given cell."""

import json
import subprocess
import sys

import nbformat
import pytest

import run_cells

ROOT = run_cells.Path(run_cells.__file__).resolve().parents[1]


def _notebook(path, sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_cells_share_a_namespace_errors_are_recorded_and_the_run_stops_after_the_given_cell(tmp_path):
    path = _notebook(tmp_path / "nb.ipynb", ["x = 2\nprint('x is', x)", "raise NotImplementedError('stub')",
                                             "print(x + 1)\nimport os\nprint(os.getcwd())", "print('not run')"])
    assert [i for i, _ in run_cells.code_cells(path)] == [1, 2, 3, 4]      # indices among all the cells
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "run_cells.py"), str(out), str(path), "3"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert [r["index"] for r in results] == [1, 2, 3]
    assert [r["error"] for r in results] == [None, "NotImplementedError", None]
    assert results[1]["message"] == "stub"
    assert results[0]["stdout"] == "x is 2\n"
    assert results[2]["stdout"].splitlines() == ["3", str(tmp_path)]       # from the notebook's folder
    assert len(run_cells.execute_in_process(run_cells.code_cells(path))) == 4      # no stop: every cell


def test_bad_arguments_and_files_are_one_line_errors(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "run_cells.py"), "r.json", "nb.ipynb", "last"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().startswith("usage:") and len(done.stderr.splitlines()) == 1
    (tmp_path / "x.ipynb").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"x\.ipynb: not a notebook"):
        run_cells.code_cells(tmp_path / "x.ipynb")
    for name in ("x.ipynb", "missing.ipynb"):
        done = subprocess.run([sys.executable, str(ROOT / "tools" / "run_cells.py"), str(tmp_path / "r.json"),
                               str(tmp_path / name), "3"], capture_output=True, text=True)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith("run_cells: error:") and name in done.stderr
        assert not (tmp_path / "r.json").exists()
