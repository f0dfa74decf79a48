"""The student and instructor editions (tools/course_builds.py) and the exercises' kinds.

The student notebooks must hold nothing of a solution (no source line, no
output, no metadata), run top to bottom in fast mode with no error but the
stubs' ``NotImplementedError``, and each exercise must answer "not attempted
yet" from its checker. Every chapter has at least three exercises, one "predict,
then measure" and at least one at the level of the algorithm, two from chapter
2 to chapter 9 (the cell tags say which).
"""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import book_tools
import course_builds

ROOT = book_tools.ROOT
CHAPTERS = book_tools.chapters()
IDS = [p.stem for p in CHAPTERS]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return course_builds.build("student", tmp_path_factory.mktemp("student"), branch="student")


@pytest.fixture(scope="module")
def instructor(tmp_path_factory):
    return course_builds.build("instructor", tmp_path_factory.mktemp("instructor"), branch="instructor")


#: Exercises at the level of the algorithm wanted per chapter (issue 24: the student designs a loop, a
#: filter, a pyramid step, a layer, a test, at least twice per chapter from chapter 2 on); others: one.
ALGORITHM_MINIMUM = {stem: 2 for stem in ("02_optical_flow_theory", "03_horn_schunck", "04_tvl1",
                                          "05_eulerian_magnification", "06_steerable_pyramid",
                                          "07_phase_based_magnification", "08_conv3d", "09_two_stream_network",
                                          "10_training_on_a_gpu", "11_evaluation_and_ablations", "12_lbp_top",
                                          "13_apex_frame", "14_where_the_network_looks")}


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_chapter_has_three_exercises_with_an_algorithm_and_a_prediction(md):
    nb = course_builds.chapter_notebook(md)
    found = course_builds.exercises(nb)
    untagged = [nb.cells[e["index"]].source.splitlines()[0] for e in found if e["kind"] is None]
    assert not untagged, f"{md.name}: exercise cells without exactly one kind tag {course_builds.KINDS}: {untagged}"
    kinds = [e["kind"] for e in found]
    summary = {k: kinds.count(k) for k in course_builds.KINDS}
    assert len(found) >= 3, f"{md.name} has {len(found)} exercises (cells tagged 'exercise'): {summary}"
    needed = ALGORITHM_MINIMUM.get(md.stem, 1)
    assert summary["exercise-algorithm"] >= needed, (
        f"{md.name} has {summary['exercise-algorithm']} exercise-algorithm, at least {needed} wanted: {summary}")
    assert summary["exercise-predict"] >= 1, f"{md.name} has no exercise-predict: {summary}"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_exercise_stub_is_tagged_and_stubbed(md):
    nb = course_builds.chapter_notebook(md)
    for e in course_builds.exercises(nb):
        cell = nb.cells[e["index"]]
        tree = ast.parse(cell.source)
        if e["kind"] == "exercise-predict":
            assigned = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)
                        and any(getattr(t, "id", None) == "prediction" for t in n.targets)]
            assert assigned and all(isinstance(n.value, ast.Constant) and n.value.value is Ellipsis
                                    for n in assigned), f"{md.name}: a prediction stub is `prediction = ...`"
            checker = nb.cells[e["checker"]].source if e["checker"] is not None else ""
            assert "check_prediction(" in checker, f"{md.name}: no check_prediction after {cell.source!r}"
        else:
            assert "NotImplementedError" in cell.source, f"{md.name}: stub without NotImplementedError"
            assert e["names"], f"{md.name}: the stub cell calls no check(...): {cell.source[:80]!r}"
    # a cell that raises NotImplementedError for the student is an exercise stub, tagged as such
    for cell in nb.cells:
        if cell.cell_type == "code" and 'NotImplementedError("Student exercise' in cell.source:
            assert "exercise" in course_builds.tags(cell), f"{md.name}: untagged stub {cell.source[:60]!r}"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_student_notebook_holds_no_solution_and_no_output(md, student):
    book_nb = course_builds.chapter_notebook(md)
    secret = course_builds.solution_lines(book_nb)
    assert secret or not course_builds.exercises(book_nb)
    path = student / "book" / f"{md.stem}.ipynb"
    text = path.read_text()
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    leaked = sorted(line for line in secret if line in text or json.dumps(line)[1:-1] in text)
    assert not leaked, f"{path.name} holds solution code: {leaked[:3]}"
    assert not any("solution" in course_builds.tags(c) for c in nb.cells)
    n_solutions = sum("solution" in course_builds.tags(c) for c in book_nb.cells)
    assert sum(c.source == course_builds.SOLUTION_NOTE for c in nb.cells) == n_solutions
    for cell in nb.cells:
        assert set(cell.metadata) <= {"tags"}, f"{path.name}: cell metadata {dict(cell.metadata)}"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert set(nb.metadata) <= set(course_builds._KEEP_NB_METADATA)
    # every other cell is the book's, unchanged: the stubs the student fills in are the ones tested
    kept = [c.source for c in book_nb.cells if "solution" not in course_builds.tags(c)]
    assert [c.source for c in nb.cells if c.source != course_builds.SOLUTION_NOTE] == kept


@pytest.fixture(scope="module")
def student_runs(student, tmp_path_factory, chapter_cache):
    """A student notebook run in fast mode up to its last exercise, by chapter stem (each run once).

    With the cache the book's chapter was executed with (conftest.chapter_cache; the
    chapter's tests share an xdist worker): a student's run after the book's, which
    reads what is cached and resumes."""
    tmp, runs = tmp_path_factory.mktemp("runs"), {}

    def run(stem):
        if stem not in runs:
            env = dict(os.environ, MER_FAST="1", MER_CACHE=str(chapter_cache), MPLBACKEND="Agg")
            path = student / "book" / f"{stem}.ipynb"
            found = course_builds.exercises(nbformat.read(path, as_version=4))
            last = max((e["checker"] if e["checker"] is not None else e["index"] for e in found), default=-1)
            done = subprocess.run([sys.executable, str(ROOT / "tools" / "run_cells.py"), str(tmp / f"{stem}.json"),
                                   str(path), str(last)], capture_output=True, text=True, timeout=900, env=env)
            assert done.returncode == 0, done.stderr[-2000:]
            runs[stem] = json.loads((tmp / f"{stem}.json").read_text())
        return runs[stem]
    return run


@pytest.mark.chapter
@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_student_notebook_runs_and_each_exercise_answers_not_attempted(md, student, student_runs):
    """Run as a student would before writing anything, up to the last exercise: only
    NotImplementedError may be raised, and every exercise's checker says "not attempted yet"
    (it never fails with another error). The cells after the last exercise are checked by
    the next test, statically."""
    path = student / "book" / f"{md.stem}.ipynb"
    cells = {r["index"]: r for r in student_runs(md.stem)}
    errors = [(i, r["error"], r["message"][:200]) for i, r in cells.items()
              if r["error"] not in (None, "NotImplementedError")]
    assert not errors, f"{path.name}: cells fail with other errors than NotImplementedError: {errors}"
    nb = nbformat.read(path, as_version=4)
    for e in course_builds.exercises(nb):
        stub, checker = cells[e["index"]], cells.get(e["checker"])
        assert stub["error"] is None, f"{path.name}: the stub cell {e['index']} raised {stub['error']}"
        assert checker is not None and checker["error"] is None, f"{path.name}: checker cell {e['checker']}"
        fails = re.findall(r"^\[FAIL\] .*$", checker["stdout"], re.MULTILINE)
        assert fails and all("not attempted yet" in f for f in fails), (
            f"{path.name}: exercise at cell {e['index']} printed {checker['stdout'][-300:]!r}")


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_no_cell_of_the_student_edition_needs_a_name_only_a_solution_defines(md):
    nb = course_builds.chapter_notebook(md)
    missing = course_builds.solution_only_names(nb)
    assert not missing, (f"{md.name}: in the student edition these cells use names that only a removed "
                         f"solution cell defines (NameError): {missing}; define them outside the solution")


def test_student_edition_colab_buttons_open_its_notebooks_on_its_branch(student):
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(student)], check=True, capture_output=True, timeout=600)
    url, _ = book_tools.repository()
    prefix = f"https://colab.research.google.com/github/{url.split('github.com/')[1]}/blob/student/"
    pages = sorted((student / "_build" / "html" / "book").glob("*.html"))
    assert [p.stem for p in pages] == IDS
    for page in pages:
        links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page.read_text()))
        assert links == {f"{prefix}book/{page.stem}.ipynb"}, f"{page.name}: {links}"
        assert (student / "book" / f"{page.stem}.ipynb").is_file()


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_instructor_notebook_shows_solutions_and_a_guide_from_the_checkers(md, instructor):
    from mer_lib.exercises import _REGISTRY

    nb = nbformat.read(instructor / "book" / f"{md.stem}.ipynb", as_version=4)
    book_nb = course_builds.chapter_notebook(md)
    solutions = [c for c in nb.cells if "solution" in course_builds.tags(c)]
    assert len(solutions) == sum("solution" in course_builds.tags(c) for c in book_nb.cells)
    assert all("hide-cell" not in course_builds.tags(c) for c in solutions), "solutions are shown"
    guide = next(c.source for c in nb.cells if c.cell_type == "markdown" and "Instructor guide" in c.source)
    assert "**Timing.**" in guide
    for e in course_builds.exercises(book_nb):
        for name in e["names"]:
            assert f"`{name}`" in guide
            for hint in _REGISTRY[name].advice.values():
                assert hint in guide, f"{md.name}: the guide lacks the hint {hint!r} of {name}"
    notes = course_builds.load_notes().get(md.stem) or {}
    assert notes.get("discussion"), f"book/instructor_notes.yml has no discussion points for {md.stem}"
    assert all(p in guide for p in notes["discussion"])


def test_the_leak_check_finds_a_solution_left_in_a_notebook():
    md = CHAPTERS[0]
    book_nb = course_builds.chapter_notebook(md)
    secret = course_builds.solution_lines(book_nb)
    with_solutions = (md.with_suffix(".ipynb")).read_text()   # the book's notebook: solutions collapsed, not gone
    assert secret and all(line in with_solutions or json.dumps(line)[1:-1] in with_solutions for line in secret)
    assert course_builds.solution_only_names(book_nb) == []
    book_nb.cells.append(nbformat.v4.new_code_cell("print(apex_frame(noisy), undefined_here)"))
    book_nb.cells.insert(len(book_nb.cells) - 1, nbformat.v4.new_code_cell("undefined_here = 1",
                                                                          metadata={"tags": ["solution"]}))
    assert course_builds.solution_only_names(book_nb) == [(len(book_nb.cells) - 1, "undefined_here")]
