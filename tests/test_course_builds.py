"""Issue 22, item 2: the course builds write only into a folder of their own, and refuse chapters whose
solution cells would reach the students (a tag that does not parse, an exercise with no solution).

Cheap checks of tools/course_builds.py; tests/test_student.py builds the editions themselves."""

import json

import pytest

import book_tools
import course_builds
from course_builds import EditionError

CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  name: python3
---

# A chapter

```{{code-cell}}
:tags: [hide-cell, setup]

import numpy as np
```

```{{code-cell}}
:tags: [exercise, exercise-short]

def twice(x):
    raise NotImplementedError("Student exercise: twice")
```

```{{code-cell}}
:tags: {solution_tags}

def twice(x):
    return 2 * x
```
"""


def _chapter(tmp_path, solution_tags="[solution, hide-cell]", name="01_a.md"):
    md = tmp_path / name
    md.write_text(CHAPTER.format(solution_tags=solution_tags))
    return md


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """A stand-in for the repository (its own book/ and tools/), so that nothing real is at risk."""
    repo = tmp_path / "repo"
    (repo / "book").mkdir(parents=True)
    (repo / "book" / "00_intro.md").write_text("# the course")
    (repo / "tools").mkdir()
    monkeypatch.setattr(course_builds, "ROOT", repo)
    return repo


# ------------------------------------------------------------------------------------------ the output folder
@pytest.mark.parametrize("where", ["the repository", "a folder holding it"])
def test_an_out_that_is_or_contains_the_repository_is_refused_and_nothing_is_deleted(fake_repo, where):
    # `python tools/course_builds.py student --out .` from the repository's root deleted book/
    out = fake_repo if where == "the repository" else fake_repo.parent
    with pytest.raises(EditionError, match="is the repository or contains it"):
        course_builds.build("student", out)
    assert (fake_repo / "book" / "00_intro.md").read_text() == "# the course"


def test_a_folder_holding_files_no_build_wrote_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("months of work")
    assert course_builds.main(["student", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("course_builds: error: --out") and "no build of an edition wrote" in err
    assert len(err.strip().splitlines()) == 1 and (out / "thesis.tex").read_text() == "months of work"


def test_a_build_deletes_only_what_the_earlier_build_listed(tmp_path, monkeypatch):
    md = _chapter(tmp_path)
    monkeypatch.setattr(book_tools, "chapters", lambda: [md])
    out = tmp_path / "student"
    course_builds.build("student", out)
    manifest = json.loads((out / course_builds.MANIFEST).read_text())
    assert "book/01_a.ipynb" in manifest["files"] and (out / "book" / "01_a.ipynb").exists()
    # the manifest of an earlier build listed a chapter since removed: it goes; a stranger's file is refused
    manifest["files"].append("book/99_gone.ipynb")
    (out / course_builds.MANIFEST).write_text(json.dumps(manifest))
    (out / "book" / "99_gone.ipynb").write_text("{}")
    course_builds.build("student", out)
    assert not (out / "book" / "99_gone.ipynb").exists() and (out / "book" / "01_a.ipynb").exists()
    (out / "book" / "notes.md").write_text("a student's notes")
    with pytest.raises(EditionError, match=r"holds 1 file\(s\) that no build of an edition wrote \(book/notes.md\)"):
        course_builds.build("student", out)
    assert (out / "book" / "notes.md").exists()


# ------------------------------------------------------------------------------------------ tags and solutions
@pytest.mark.parametrize("tags, match", [
    ("[Solution, hide-cell]", r"line 27: unknown cell tag 'Solution' \(did you mean 'solution'\?\)"),
    ("[solution hide-cell]", r"line 27: unknown cell tag 'solution hide-cell'"),
    ("[solution, hide-cell", r"line 27: the cell's tags do not parse"),
    ("solution", r"line 27: the cell's tags must be a list"),
])
def test_a_solution_tag_that_does_not_parse_stops_the_student_build(tags, match, tmp_path, monkeypatch):
    # a mistyped tag shipped the solution to students with exit 0
    md = _chapter(tmp_path, tags)
    monkeypatch.setattr(book_tools, "chapters", lambda: [md])
    out = tmp_path / "student"
    with pytest.raises(EditionError, match=f"01_a.md {match}"):
        course_builds.build("student", out)
    assert not out.exists()                                   # refused before anything is written


def test_an_exercise_without_a_solution_cell_stops_the_build_naming_chapter_and_cell(tmp_path, monkeypatch):
    md = tmp_path / "02_b.md"
    md.write_text(CHAPTER.format(solution_tags="[hide-cell]"))   # valid tags, but no cell tagged solution
    monkeypatch.setattr(book_tools, "chapters", lambda: [md])
    with pytest.raises(EditionError, match=r"02_b.md, cell 2 \('def twice\(x\):'\): the exercise has no solution"):
        course_builds.build("student", tmp_path / "student")
    assert course_builds.main(["student", "--out", str(tmp_path / "student")]) == 2


def test_every_chapter_of_the_book_passes_the_checks():
    notebooks = course_builds.check_chapters(book_tools.chapters())
    assert len(notebooks) == len(book_tools.chapters()) >= 12
