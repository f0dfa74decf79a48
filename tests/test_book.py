"""The book as a whole: chapter pairs in sync, set-up cells, the table of
contents, exercises, Colab links in the built HTML, every chapter executed
top to bottom in fast mode, and the animations in the pages built from the
executed chapters."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from nbclient import NotebookClient

import book_tools

ROOT = book_tools.ROOT
CHAPTERS = book_tools.chapters()
IDS = [p.stem for p in CHAPTERS]


def test_there_are_chapters():
    assert CHAPTERS and CHAPTERS[0].name == "00_intro.md"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_chapter_md_and_ipynb_are_in_sync(md):
    assert book_tools.out_of_sync(md) is None, (
        f"{md.name} and its .ipynb differ: {book_tools.out_of_sync(md)}; run `make sync`")


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_chapter_starts_with_the_setup_cell(md):
    for path in (md, md.with_suffix(".ipynb")):
        cell = book_tools.first_code_cell(jupytext.read(path))
        assert cell.source == book_tools.setup_source(), f"{path.name}: set-up cell differs; run `make sync`"
        assert "hide-cell" in cell.metadata.get("tags", [])


def test_setup_cell_installs_from_the_configured_repository_and_never_tensorflow():
    url, branch = book_tools.repository()
    source = book_tools.setup_source()
    assert f"git+{url}@{branch}" in source
    assert "tensorflow" not in source.replace("TensorFlow", "").lower()
    # the library's own dependencies must not pull TensorFlow into Colab
    text = (ROOT / "pyproject.toml").read_text()
    core = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "tensorflow" not in core.lower() and "keras" not in core.lower()


def test_toc_lists_every_chapter_in_the_course_order():
    files = book_tools.toc_files()
    on_disk = [f"book/{p.stem}" for p in CHAPTERS]
    assert files == on_disk, "the _toc.yml must list exactly the chapters in book/, in order"
    for f in files:
        assert (ROOT / f"{f}.md").exists()


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_chapter_has_exercises_with_checkers_and_solutions(md):
    nb = jupytext.read(md)
    stubs = [c for c in nb.cells if c.cell_type == "code" and "NotImplementedError" in c.source]
    checks = [c for c in nb.cells if c.cell_type == "code" and "check(" in c.source
              and "solution" not in c.metadata.get("tags", [])]
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    minimum = 1 if md.stem == "00_intro" else 3
    assert len(stubs) >= minimum and len(checks) >= minimum and len(solutions) >= minimum
    for sol in solutions:
        assert "hide-cell" in sol.metadata.get("tags", []), "solutions are collapsed in the book"
        assert re.search(r"assert check\(", sol.source), "a solution cell proves that it passes"


@pytest.mark.chapter
@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_chapter_executes_in_fast_mode(md, tmp_path):
    nb = jupytext.read(md)
    env_before = dict(os.environ)
    os.environ["MER_FAST"] = "1"
    os.environ["MER_CACHE"] = str(tmp_path / "cache")
    try:
        client = NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(md.parent)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    fails = [line for line in outputs.splitlines() if line.startswith("[FAIL]")]
    assert all("not attempted yet" in line for line in fails), fails  # only the untouched stubs fail
    assert outputs.count("[PASS]") >= len(fails)  # and every solution passes
    assert "mode: fast" in outputs
    if md.stem in ANIMATED:
        page = _build_page_from_executed_notebook(nb, md, tmp_path / "page")
        found = page.count('class="animation"')
        assert found >= ANIMATED[md.stem], f"{md.name}: {found} animations in its built HTML page"


#: Chapters that show animations (matplotlib FuncAnimation as a JavaScript player), and how many.
ANIMATED = {"05_eulerian_magnification": 1, "07_phase_based_magnification": 2}


def _build_page_from_executed_notebook(nb, md: Path, out: Path) -> str:
    """Build the HTML page of one chapter from its executed notebook and return the page's text.

    The whole-book build below runs without execution, so its pages hold no
    outputs; animations are outputs, so they are looked for here, in the page
    that Jupyter Book builds (execution off) from the notebook this test has
    just executed, with the book's own configuration.
    """
    (out / "book").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / "book" / f"{md.stem}.ipynb")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    config["exclude_patterns"] = [p for p in config["exclude_patterns"] if "ipynb" not in p]
    (out / "_config.yml").write_text(yaml.safe_dump(config))
    (out / "_toc.yml").write_text(f"format: jb-book\nroot: book/{md.stem}\n")
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(out)], check=True, capture_output=True, timeout=600)
    return (out / "_build" / "html" / "book" / f"{md.stem}.html").read_text()


def _build_html_without_execution(out: Path) -> Path:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    cfg = out / "_config.yml"
    out.mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump(config))
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "--config", str(cfg),
                    "--toc", str(ROOT / "_toc.yml")], check=True, capture_output=True, timeout=900)
    return out / "_build" / "html"


def test_every_colab_link_in_the_built_book_points_to_a_notebook_in_this_repository(tmp_path):
    html = _build_html_without_execution(tmp_path / "book")
    url, branch = book_tools.repository()
    owner_repo = url.split("github.com/")[1]
    prefix = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/"
    seen = {}
    for page in sorted(html.glob("book/*.html")):
        links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page.read_text()))
        assert links, f"{page.name} has no Colab button"
        for link in links:
            assert link.startswith(prefix), f"{page.name}: {link} is not under {prefix}"
            target = link[len(prefix):]
            assert target.endswith(".ipynb"), f"{page.name}: Colab would open {target}, not a notebook"
            assert (ROOT / target).is_file(), f"{page.name}: {target} does not exist in the repository"
            seen[page.stem] = target
    assert set(seen) == set(IDS)
    for stem, target in seen.items():
        assert target == f"book/{stem}.ipynb"
    index = (html / "index.html").read_text()
    assert "book/00_intro.html" in index
