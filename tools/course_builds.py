"""The student and the instructor editions of the book.

Usage: python tools/course_builds.py student    [--out DIR] [--branch NAME] [--html]
       python tools/course_builds.py instructor [--out DIR] [--branch NAME] [--html]

Student edition (default ``_build/student/``): every chapter as a notebook
``book/NN_name.ipynb`` with each cell tagged ``solution`` replaced by a short
note, every output and execution count cleared, and only the tags left in the
cells' metadata; a ``_config.yml`` whose ``repository.branch`` (default
``student``) is where the instructor publishes these notebooks, so that the
Colab button of the student book opens them; the ``_toc.yml``; and
``tools/mer_build.py``, which the configuration loads. ``--html`` renders the
edition with Jupyter Book, without executing it, to ``<out>/_build/html``.

Instructor edition (default ``_build/instructor/``, branch ``instructor``):
the same notebooks with the solutions shown (no longer collapsed) and, after
each chapter's set-up cell, an instructor guide: the time to plan, every
exercise with its kind and the wrong answers its checker catches (the
``advice`` of its cases in ``mer_lib.exercises``), and discussion points from
``book/instructor_notes.yml``.

Exercise tags (a stub cell): ``exercise`` plus one kind, ``exercise-algorithm``
(a whole step of the method, checked on cases with a known answer),
``exercise-predict`` (``prediction = ...``, then a provided cell measures and
calls ``check_prediction``) or ``exercise-short``. Reference solutions carry
``solution``.

Both builds refuse, before writing anything, chapters whose cell tags do not
parse or are not in :data:`TAGS` (``[Solution, hide-cell]`` would ship the
solution to students) and exercises with no solution cell after them, naming
the chapter and the cell. They write only into a folder that is theirs: a new
or empty folder, or one that holds a ``.course-edition.json`` listing every
file an earlier build wrote there and nothing else; never the repository or
a folder that contains it. A later build deletes only what that list names.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_tools  # noqa: E402

ROOT = book_tools.ROOT
KINDS = ("exercise-algorithm", "exercise-predict", "exercise-short")
#: Every cell tag a chapter may carry: the course's, and the Jupyter Book / MyST-NB tags that hide or remove.
TAGS = frozenset(("exercise", "solution", "setup", *KINDS, "hide-cell", "hide-input", "hide-output", "remove-cell",
                  "remove-input", "remove-output", "raises-exception", "skip-execution", "full-width", "margin",
                  "scroll-output", "output_scroll", "thebe-init"))
#: The list of what a build wrote into its folder (relative paths; a trailing slash: a whole folder).
MANIFEST = ".course-edition.json"
KIND_NAMES = {"exercise-algorithm": "algorithm", "exercise-predict": "predict, then measure",
              "exercise-short": "short"}
#: Minutes to plan per exercise of each kind (a first attempt, the checker's hints, a second attempt).
KIND_MINUTES = {"exercise-algorithm": 25, "exercise-predict": 10, "exercise-short": 10}
#: Reading speed for the prose of a technical chapter, words per minute.
READING_WPM = 120
SOLUTION_NOTE = ("*Reference solution: not part of the student edition. Run the checker above "
                 "until it passes; its hint names the input that failed and what to look at.*")
NOTES = ROOT / "book" / "instructor_notes.yml"
_CHECK = re.compile(r"""check\(\s*["']([\w.]+)["']""")
_QUESTION = re.compile(r"""check_prediction\(\s*["']([^"']+)["']""")
_KEEP_NB_METADATA = ("kernelspec", "language_info", "colab", "accelerator")


class EditionError(Exception):
    """A build refused: a chapter's tags or exercises, or an output folder that is not the build's own."""


def chapter_notebook(md: Path):
    """A chapter read from its MyST source, with the stable cell ids of its ``.ipynb``."""
    nb = jupytext.read(md)
    _stable_ids(nb, md.stem)
    return nb


def _where(md: Path) -> str:
    try:
        return str(md.relative_to(ROOT))
    except ValueError:
        return str(md)


def check_tags(md: Path) -> None:
    """Every ``:tags:`` option of a chapter's code cells is a YAML list of known tags (:data:`TAGS`).

    Raises
    ------
    EditionError
        Naming the chapter, the line and the tag.
    """
    for number, line in enumerate(md.read_text().splitlines(), 1):
        if not line.startswith(":tags:"):
            continue
        where = f"{_where(md)} line {number}"
        try:
            value = yaml.safe_load(line[len(":tags:"):])
        except yaml.YAMLError as err:
            raise EditionError(f"{where}: the cell's tags do not parse ({' '.join(str(err).split())}): "
                               f"{line.strip()!r}") from None
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise EditionError(f"{where}: the cell's tags must be a list of names such as [solution, hide-cell], "
                               f"got {line.strip()!r}")
        unknown = [t for t in value if t not in TAGS]
        if unknown:
            close = [t for t in TAGS if t.lower() == unknown[0].lower().strip()]
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known tags: {', '.join(sorted(TAGS))})"
            raise EditionError(f"{where}: unknown cell tag {unknown[0]!r}{hint}")


def check_exercises(nb, md: Path) -> None:
    """Every exercise stub has exactly one kind and a solution cell before the next exercise.

    Raises
    ------
    EditionError
        Naming the chapter and the stub cell (its index and first line).
    """
    found = exercises(nb)
    starts = [e["index"] for e in found] + [len(nb.cells)]
    for e, end in zip(found, starts[1:]):
        cell = nb.cells[e["index"]]
        where = f"{_where(md)}, cell {e['index']} ({cell.source.strip().splitlines()[0][:60]!r})"
        if e["kind"] is None:
            raise EditionError(f"{where}: an exercise needs the tag 'exercise' and exactly one kind of {KINDS}, "
                               f"got {tags(cell)}")
        if not any("solution" in tags(nb.cells[j]) for j in range(e["index"] + 1, end)):
            raise EditionError(f"{where}: the exercise has no solution cell (a code cell tagged solution before "
                               "the next exercise)")


def check_chapters(mds) -> dict:
    """Every chapter's tags and exercises checked (:func:`check_tags`, :func:`check_exercises`); returns the
    notebooks by chapter stem."""
    notebooks = {}
    for md in mds:
        check_tags(md)
        nb = chapter_notebook(md)
        check_exercises(nb, md)
        notebooks[md.stem] = nb
    return notebooks


def _claim(out: Path) -> set:
    """The files an earlier build wrote into ``out`` (from its manifest), after checking that ``out`` is the
    build's own: not the repository, not a folder that contains it, and holding nothing else.

    Raises
    ------
    EditionError
    """
    import json

    target, root = out.resolve(), ROOT.resolve()
    if target == root or root.is_relative_to(target):
        raise EditionError(f"--out {out}: is the repository or contains it; the edition is written into a folder of "
                           "its own (default _build/<edition>)")
    if target.exists() and not target.is_dir():
        raise EditionError(f"--out {out}: is a file, not a folder")
    if not target.exists() or not any(target.iterdir()):
        return set()
    manifest = target / MANIFEST
    try:
        written = json.loads(manifest.read_text())
        listed = set(written["files"])
    except (OSError, ValueError, KeyError, TypeError):
        raise EditionError(f"--out {out}: holds files that no build of an edition wrote (no readable {MANIFEST}); "
                           "choose a new or empty folder") from None
    folders = tuple(p for p in listed if p.endswith("/"))
    foreign = []
    for path in sorted(target.rglob("*")):
        rel = path.relative_to(target).as_posix()
        if path.is_dir() or rel == MANIFEST or rel in listed or rel.startswith(folders):
            continue
        foreign.append(rel)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise EditionError(f"--out {out}: holds {len(foreign)} file(s) that no build of an edition wrote ({shown}); "
                           "move them away or choose another folder")
    return listed


def _write_manifest(out: Path, edition: str, files) -> None:
    import json

    (out / MANIFEST).write_text(json.dumps({"tool": "tools/course_builds.py", "edition": edition,
                                            "files": sorted(files)}, indent=1) + "\n")


def _stable_ids(nb, stem: str) -> None:
    for i, cell in enumerate(nb.cells):
        cell["id"] = hashlib.sha1(f"{stem}/{i}".encode()).hexdigest()[:8]


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercises(nb) -> list[dict]:
    """Every exercise of a notebook, in order.

    Returns
    -------
    list of dict
        ``index`` (the stub cell: tagged ``exercise``, or an untagged cell that
        raises ``NotImplementedError("Student exercise...``), ``kind`` (one of
        :data:`KINDS`, or None when untagged), ``checker`` (index of the cell that reports on the stub: the
        stub itself when it calls a checker, else the next code cell that is no
        solution), ``names`` (the ``check("...")`` exercise names it calls).
    """
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "solution" in tags(cell):
            continue
        if "exercise" not in tags(cell) and 'NotImplementedError("Student exercise' not in cell.source:
            continue   # (an untagged stub still counts, with kind None, so that the tests name it)
        kinds = [t for t in tags(cell) if t in KINDS]
        checker = i
        if "check(" not in cell.source and "check_prediction(" not in cell.source:
            checker = next((j for j in range(i + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"
                            and "solution" not in tags(nb.cells[j])), None)
        source = cell.source + ("" if checker in (i, None) else nb.cells[checker].source)
        found.append({"index": i, "kind": kinds[0] if len(kinds) == 1 else None, "checker": checker,
                      "names": _CHECK.findall(source), "questions": _QUESTION.findall(source)})
    return found


def solution_lines(nb) -> set[str]:
    """The lines of the solution cells that appear in no other cell: what must not leak."""
    other = {line.strip() for c in nb.cells if "solution" not in tags(c) for line in c.source.splitlines()}
    lines = set()
    for cell in nb.cells:
        if "solution" in tags(cell):
            for line in cell.source.splitlines():
                s = line.strip()
                # a line with a name in it, not a bare bracket or number that any cell might hold
                if not s.startswith("#") and s not in other and len(s) >= 8 and re.search(r"[A-Za-z_]{2}", s):
                    lines.add(s)
    return lines


def _clean(nb, stem: str):
    """Outputs, execution counts and every metadata key but the tags removed; stable ids."""
    for cell in nb.cells:
        kept = {"tags": tags(cell)} if tags(cell) else {}
        cell["metadata"] = kept
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.pop("attachments", None)
    nb["metadata"] = {k: copy.deepcopy(v) for k, v in nb.metadata.items() if k in _KEEP_NB_METADATA}
    nb["metadata"].setdefault("kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"})
    nb["metadata"].setdefault("colab", {"provenance": []})
    if stem in book_tools.GPU_CHAPTERS:
        nb["metadata"]["accelerator"] = "GPU"
        nb["metadata"]["colab"]["gpuType"] = "T4"
    _stable_ids(nb, stem)
    return nb


def student_notebook(nb, stem: str):
    """The student edition of a chapter: each solution cell replaced by a note, nothing else of it kept."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if "solution" in tags(cell):
            cells.append(nbformat.v4.new_markdown_cell(SOLUTION_NOTE))
        else:
            cells.append(cell)
    nb.cells = cells
    return _clean(nb, stem)


def _exercise_registry():
    from mer_lib.exercises import _REGISTRY, exercise_names

    exercise_names()
    return _REGISTRY


def _case_labels(ex) -> list[str]:
    try:
        return [c.label for c in ex.cases()]
    except Exception:  # a case that cannot be built here still has its advice listed
        return list(ex.advice)


def _words(nb) -> int:
    return sum(len(re.sub(r"\$[^$]*\$", " x ", c.source).split()) for c in nb.cells if c.cell_type == "markdown")


def instructor_guide(nb, stem: str, notes: dict | None = None) -> str:
    """The instructor guide of a chapter, as Markdown."""
    notes = (notes if notes is not None else load_notes()).get(stem, {}) or {}
    registry = _exercise_registry()
    found = exercises(nb)
    reading = max(5, round(_words(nb) / READING_WPM / 5) * 5)
    work = sum(KIND_MINUTES.get(e["kind"], 10) for e in found)
    counts = {k: sum(e["kind"] == k for e in found) for k in KINDS}
    lines = ["```{admonition} Instructor guide", ":class: tip", "",
             f"**Timing.** About {reading} minutes to read and run the chapter "
             f"({_words(nb):,} words of prose) and about {work} minutes for its {len(found)} exercises "
             f"({counts['exercise-algorithm']} algorithm, {counts['exercise-predict']} predict-then-measure, "
             f"{counts['exercise-short']} short; planned at "
             + ", ".join(f"{m} min per {KIND_NAMES[k]}" for k, m in KIND_MINUTES.items()) + ")."
             + (f" {notes['timing']}" if notes.get("timing") else ""), "",
             "**Exercises and the wrong answers their checkers catch.**", ""]
    for n, e in enumerate(found, 1):
        kind = KIND_NAMES.get(e["kind"], "untagged")
        names = ", ".join(f"`{x}`" for x in e["names"]) or \
            "predict " + (", ".join(e["questions"]) or "(see the measurement cell)")
        lines.append(f"{n}. *{kind}*: {names}.")
        for name in e["names"]:
            ex = registry.get(name)
            if ex is None:
                continue
            labels = _case_labels(ex)
            lines.append(f"   Cases: {'; '.join(labels)}.")
            for label, hint in ex.advice.items():
                lines.append(f"   - fails on *{label}*: {hint}")
        if e["kind"] == "exercise-predict":
            lines.append("   The measurement cell gives the answer and says what it shows; ask for the "
                         "reasoning behind each prediction before it is run.")
    if notes.get("discussion"):
        lines += ["", "**Discussion points.**", ""] + [f"- {p}" for p in notes["discussion"]]
    lines.append("```")
    return "\n".join(lines)


def instructor_notebook(nb, stem: str, notes: dict | None = None):
    """The instructor edition of a chapter: solutions shown, the guide after the set-up cell."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if "solution" in tags(cell):
            cell.metadata["tags"] = [t for t in tags(cell) if t not in ("hide-cell", "hide-input")]
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(setup + 1, nbformat.v4.new_markdown_cell(instructor_guide(nb, stem, notes)))
    return _clean(nb, stem)


def load_notes() -> dict:
    """``book/instructor_notes.yml``: chapter stem -> {"timing": str, "discussion": [str]}."""
    return yaml.safe_load(NOTES.read_text()) if NOTES.exists() else {}


def edition_config(edition: str, branch: str) -> dict:
    """The ``_config.yml`` of an edition: its notebooks are the pages, Colab opens them on ``branch``."""
    cfg = book_tools.config()
    cfg["title"] = f"{cfg['title']} ({edition} edition)"
    cfg["repository"]["branch"] = branch
    cfg["execute"]["execute_notebooks"] = "off"   # rendered as written; the student runs them
    cfg["exclude_patterns"] = [p for p in cfg["exclude_patterns"] if "ipynb" not in p or "checkpoints" in p]
    return cfg


def build(edition: str, out: Path | None = None, branch: str | None = None, html: bool = False) -> Path:
    """Write an edition: notebooks, configuration, table of contents (and the HTML with ``html``).

    Raises
    ------
    EditionError
        Before anything is written: a chapter whose tags do not parse or
        whose exercise has no solution cell, or an ``out`` that is not the
        build's own (see the module docstring).
    """
    if edition not in ("student", "instructor"):
        raise ValueError(f"edition must be 'student' or 'instructor', got {edition!r}")
    out = Path(out or ROOT / "_build" / edition)
    branch = branch or edition
    mds = book_tools.chapters()
    notebooks = check_chapters(mds)
    earlier = _claim(out)
    files = {f"book/{md.stem}.ipynb" for md in mds} | {"_config.yml", "_toc.yml", "tools/mer_build.py",
                                                       ".gitignore", "README.md"} | ({"_build/"} if html else set())
    out.mkdir(parents=True, exist_ok=True)
    _write_manifest(out, edition, earlier | files)      # first: an interrupted build leaves no file unlisted
    for rel in sorted(earlier - files):                  # what an earlier build wrote and this one does not
        path = out / rel
        if rel.endswith("/"):
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file():
            path.unlink()
    (out / "book").mkdir(exist_ok=True)
    notes = load_notes()
    for md in mds:
        nb = notebooks[md.stem]
        made = student_notebook(nb, md.stem) if edition == "student" else instructor_notebook(nb, md.stem, notes)
        nbformat.write(made, out / "book" / f"{md.stem}.ipynb")
    (out / "_config.yml").write_text(yaml.safe_dump(edition_config(edition, branch), sort_keys=False))
    shutil.copy(ROOT / "_toc.yml", out / "_toc.yml")
    (out / "tools").mkdir(exist_ok=True)
    shutil.copy(ROOT / "tools" / "mer_build.py", out / "tools" / "mer_build.py")
    (out / ".gitignore").write_text("_build/\n")
    (out / "README.md").write_text(
        f"# {edition.capitalize()} edition\n\nGenerated by `make {edition}` from the course repository; "
        f"do not edit here. The book's Colab buttons open `book/NN_name.ipynb` on the `{branch}` branch.\n")
    _write_manifest(out, edition, files)
    if html:
        jb = Path(sys.executable).with_name("jupyter-book")
        subprocess.run([str(jb), "build", str(out)], check=True)
        print(f"The {edition} book is at {out / '_build' / 'html' / 'index.html'}")
    print(f"{edition} notebooks: {out / 'book'} (Colab opens them on branch {branch!r})")
    return out


def solution_only_names(nb) -> list[tuple[int, str]]:
    """Names a cell uses that only an earlier *solution* cell defines: in the student edition,
    where the solutions are gone, that cell fails with a NameError.

    Returns
    -------
    list of (cell index, name)
    """
    import ast
    import builtins

    def bound_and_used(source):
        tree = ast.parse(source)
        bound, used = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
        return bound, used

    by_solution, by_others, missing = set(), set(dir(builtins)), []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            bound, used = bound_and_used(cell.source)
        except SyntaxError:
            continue
        if "solution" in tags(cell):
            by_solution |= bound
            continue
        missing += [(i, n) for n in sorted(used - bound - by_others) if n in by_solution]
        by_others |= bound
    return missing


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("edition", choices=("student", "instructor"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--branch", help="the branch the edition is published on (default: its name)")
    parser.add_argument("--html", action="store_true", help="render the edition (without executing it)")
    args = parser.parse_args(argv)
    try:
        build(args.edition, args.out, args.branch, args.html)
    except EditionError as err:
        print(f"course_builds: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
