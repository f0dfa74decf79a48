"""Run a notebook's code cells in this process, as a student runs an edition of the book.

Usage: python tools/run_cells.py RESULTS.json NOTEBOOK LAST_CELL

Runs the code cells of ``NOTEBOOK`` (an ``.ipynb``) in order, up to the cell
of index ``LAST_CELL`` (``-1``: every cell), in one namespace, from the
notebook's folder, with ``MER_BOOK_BUILD=1`` and a non-interactive matplotlib;
writes each code cell's result to ``RESULTS.json`` (:func:`execute_in_process`).
``tests/test_student.py`` runs each student notebook so, up to its last
exercise (``course_builds.exercises`` says which cell that is).

Only the standard library is imported here before the notebook's own cells
run: nbformat and jupytext import jsonschema, whose format checker builds a
grammar at import (2.6 s of a 2-core machine's CPU, in each of the 16 runs).
"""

import contextlib
import io
import json
import os
import sys
from pathlib import Path


def code_cells(path) -> list[tuple[int, str]]:
    """(index among all the notebook's cells, source) of each code cell of an ``.ipynb`` file, in order."""
    nb = json.loads(Path(path).read_text())
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path}: not a notebook (no list of cells)")
    return [(i, "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"]


def execute_in_process(cells, stop_after: int | None = None) -> list[dict]:
    """Run code cells in order in this process, as a student runs the edition.

    Every cell runs, whatever the previous ones did: an error is recorded, not
    raised. For fast checks of the editions (``MER_FAST=1``, ``MER_BOOK_BUILD=1``
    and a non-interactive matplotlib are set by the caller); the book itself is
    executed by its kernel-based executor.

    Parameters
    ----------
    cells : list of (int, str)
        The code cells' indices in their notebook and their sources (:func:`code_cells`).
    stop_after : int, optional
        The index of the last cell to run (all when None).

    Returns
    -------
    list of dict
        Per code cell: ``index``, ``error`` (the exception's type name, or
        None), ``message`` and ``stdout``.
    """
    namespace = {"__name__": "__main__"}
    results = []
    for i, source in cells:
        if stop_after is not None and i > stop_after:
            break
        out, error, message = io.StringIO(), None, ""
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(source, f"<cell {i}>", "exec"), namespace)
        except Exception as err:  # recorded: the caller decides which errors a student may see
            error, message = type(err).__name__, str(err)
        results.append({"index": i, "error": error, "message": message, "stdout": out.getvalue()})
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
    return results


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or not argv[2].lstrip("-").isdigit():
        print("usage: python tools/run_cells.py RESULTS.json NOTEBOOK LAST_CELL (a cell index, -1 for all)",
              file=sys.stderr)
        return 2
    out, path, last = Path(argv[0]).resolve(), Path(argv[1]).resolve(), int(argv[2])
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["MER_BOOK_BUILD"] = "1"
    try:
        cells = code_cells(path)
    except (OSError, ValueError) as err:       # no file, not JSON, not a notebook: one line, no traceback
        print(f"run_cells: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    os.chdir(path.parent)
    out.write_text(json.dumps(execute_in_process(cells, stop_after=None if last < 0 else last)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
