"""Chapter maintenance shared by tools/sync_chapters.py and the tests.

The set-up cell that opens every chapter is generated here from
``_config.yml``, so that ``repository.url`` stays the one place that names the
repository.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jupytext
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SETUP_TAGS = ["hide-cell", "setup"]
#: Chapters whose notebook asks Colab for a GPU runtime.
GPU_CHAPTERS = {"10_training_on_a_gpu", "11_evaluation_and_ablations"}


def config() -> dict:
    """The parsed ``_config.yml``."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def repository() -> tuple[str, str]:
    """(url, branch) of the repository, from ``_config.yml``."""
    repo = config()["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def setup_source() -> str:
    """The source of the set-up cell every chapter starts with."""
    url, branch = repository()
    return (
        "# Set-up (the same in every chapter): install mer_lib when it is missing, as in\n"
        "# Colab. It never installs TensorFlow: Colab already has it.\n"
        "import importlib.util, subprocess, sys\n"
        "if importlib.util.find_spec(\"mer_lib\") is None:\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\",\n"
        f"                    \"mer_lib @ git+{url}@{branch}\"], check=True)\n"
        "import mer_lib.env\n"
        "mer_lib.env.quiet_tensorflow()  # before anything imports TensorFlow: no C++ start-up lines\n"
        "mer_lib.env.print_setup()"
    )


def chapters() -> list[Path]:
    """Every chapter source, ``book/NN_name.md``, in order."""
    return sorted(BOOK.glob("[0-9][0-9]_*.md"))


def toc_files() -> list[str]:
    """The files ``_toc.yml`` lists, in order (without extension)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return files


def _cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", [])))
            for c in nb.cells]


def first_code_cell(nb):
    """The first code cell of a notebook, or None."""
    return next((c for c in nb.cells if c.cell_type == "code"), None)


def fix_setup_cell(nb) -> bool:
    """Make the first code cell the canonical set-up cell; True if it changed."""
    cell = first_code_cell(nb)
    source = setup_source()
    if cell is None:
        raise ValueError("a chapter must start with the set-up cell; this one has no code cell")
    changed = cell.source != source or cell.metadata.get("tags") != SETUP_TAGS
    cell.source = source
    cell.metadata["tags"] = list(SETUP_TAGS)
    return changed


def out_of_sync(md: Path) -> str | None:
    """Why ``md`` and its ``.ipynb`` differ, or None when they are in sync."""
    ipynb = md.with_suffix(".ipynb")
    if not ipynb.exists():
        return f"{ipynb.name} is missing"
    a, b = _cells(jupytext.read(md)), _cells(jupytext.read(ipynb))
    if len(a) != len(b):
        return f"{md.name} has {len(a)} cells, {ipynb.name} has {len(b)}"
    for i, (ca, cb) in enumerate(zip(a, b)):
        if ca != cb:
            return f"cell {i} differs: {ca[1][:60]!r} vs {cb[1][:60]!r}"
    return None


def sync(md: Path) -> None:
    """Write the set-up cell into ``md`` and rewrite its paired ``.ipynb``."""
    nb = jupytext.read(md)
    fix_setup_cell(nb)
    nb.metadata["jupytext"] = {"formats": "ipynb,md:myst",
                               "text_representation": nb.metadata.get("jupytext", {}).get(
                                   "text_representation", {"extension": ".md", "format_name": "myst"})}
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    jupytext.write(nb, md, fmt="md:myst")
    for i, cell in enumerate(nb.cells):
        # stable cell ids (by chapter and position), so that a re-sync changes no line it need not
        cell["id"] = hashlib.sha1(f"{md.stem}/{i}".encode()).hexdigest()[:8]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.setdefault("colab", {"provenance": []})
    if md.stem in GPU_CHAPTERS:
        nb.metadata["accelerator"] = "GPU"
        nb.metadata["colab"]["gpuType"] = "T4"
    jupytext.write(nb, md.with_suffix(".ipynb"), fmt="ipynb")
