"""Checks on what a chapter shows: its executed outputs and the numbers in its prose.

Usage: python tools/output_checks.py NOTEBOOK.ipynb...     (executed notebooks, e.g. _build/jupyter_execute/book/)
       python tools/output_checks.py --prose [book/NN_name.md...]

:func:`output_problems` reads one executed notebook, each cell's streams
merged as the book's build merges them (``tools/mer_build.py``), and names:

- a **duplicated block**: the same run of lines printed twice in a row in one
  cell, or the same image shown twice by one cell;
- **progress-bar residue**: a state of a redrawn bar (tqdm's ``42%|###  |``,
  ``12/100 [00:03<...]``, Keras' ``━━━`` bars) left in the output;
- **framework log noise**: start-up and log lines of TensorFlow, absl, XLA,
  CUDA or JAX, and Python warnings raised inside installed packages;
- a **figure that is not shown**: a cell that draws (``plt.``, ``.plot(``,
  ``imshow``... or a plotting function of ``mer_lib``) at its top level and has
  no image (nor an HTML animation) among its outputs.

:func:`prose_numbers` reads a chapter's Markdown cells and returns every
decimal number and percentage typed in its prose, outside the places where a
typed number is no verdict: mathematics (``$...$``), code (`` `...` ``), a
quotation in double quotes (the paper's words, or a choice offered to the
reader), a sentence that cites its source (a year, ``Table N``, ``section N``, ``§`` or "the
paper"), and
the entries of :data:`PROSE_ALLOWED`. A measured number belongs in the cell that
measures it, printed from its variable; the sentence around it says what it
means (issue 24: "every printed number agrees with its sentence").
"""

from __future__ import annotations

import ast
import base64
import hashlib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mer_build  # noqa: E402  (the build's own stream merge)

ROOT = Path(__file__).resolve().parents[1]

#: States of a redrawn progress bar: tqdm's percentage and counter, Keras' bar.
BAR = re.compile(r"\d+%\|"                                   # tqdm:  42%|####      |
                 r"|\|\s*\d+/\d+\s*\[\d\d:\d\d"                # tqdm:  | 12/100 [00:03<00:09, ...]
                 r"|\d+(\.\d+)?\s?(it/s|s/it)\]"              # tqdm's rate
                 r"|━{3,}|\[=+>?\.*\]")                        # Keras 3 and Keras 2 bars
#: Start-up and log lines of the deep-learning frameworks, and warnings from installed packages.
NOISE = re.compile(r"cudart_stub|oneDNN|absl|cuda_(dnn|fft|blas|platform)|cpu_feature_guard|computation_placer"
                   r"|Unable to register cu|TF_ENABLE_ONEDNN_OPTS|tensorflow/(core|compiler|tsl)|xla_bridge"
                   r"|^[IWEF]\d{4} |^(WARNING|INFO|ERROR):(absl|jax|tensorflow|root)"
                   r"|site-packages/\S+: \w*Warning", re.MULTILINE)
#: Calls that draw on a Matplotlib figure (methods of Axes, or of pyplot).
DRAWING_METHODS = {"plot", "imshow", "scatter", "bar", "barh", "hist", "loglog", "semilogx", "semilogy",
                   "contour", "contourf", "quiver", "pcolormesh", "matshow", "errorbar", "fill_between",
                   "step", "stem", "pie", "boxplot", "violinplot", "axhline", "axvline", "subplots", "figure",
                   "spy"}
#: pyplot calls that show or draw nothing.
NOT_DRAWING = {"close", "ioff", "ion", "rc", "rcParams", "style", "get_cmap", "switch_backend", "colormaps",
               "isinteractive", "get_backend"}


def _stream_text(outputs):
    return {o["name"]: o["text"] for o in outputs if o.get("output_type") == "stream"}


def _repeated_block(lines):
    """The first run of lines printed twice in a row (at least 20 letters or digits in it), or None."""
    n = len(lines)
    for size in range(1, n // 2 + 1):
        for start in range(0, n - 2 * size + 1):
            block = lines[start:start + size]
            if block == lines[start + size:start + 2 * size] and \
                    sum(ch.isalnum() for line in block for ch in line) >= 20:
                return block
    return None


def _images(outputs):
    found = []
    for o in outputs:
        for mime, data in o.get("data", {}).items():
            if mime.startswith("image/"):
                raw = "".join(data) if isinstance(data, list) else data
                found.append(hashlib.sha1(raw.encode() if isinstance(raw, str) else base64.b64encode(raw))
                             .hexdigest())
    return found


def _shows_a_figure(outputs):
    for o in outputs:
        data = o.get("data", {})
        if any(m.startswith("image/") for m in data):
            return True
        html = data.get("text/html", "")
        html = "".join(html) if isinstance(html, list) else html
        if "<img" in html or "<video" in html or "animation" in html:
            return True
    return False


def plotting_functions(package: Path = ROOT / "mer_lib") -> set[str]:
    """Names of the functions of ``mer_lib`` that create a Matplotlib figure (``plt.subplots``, ``plt.figure``)."""
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                for call in ast.walk(node):
                    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                            and call.func.attr in ("subplots", "figure")
                            and isinstance(call.func.value, ast.Name) and call.func.value.id == "plt"):
                        names.add(node.name)
                        break
    return names


def _top_level_calls(tree):
    """Calls made when the cell runs: the bodies of functions and classes it defines are left out."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def draws(source: str, library_plotters: set[str]) -> str | None:
    """What a cell calls that draws a figure (``"plt.subplots"``, ``".imshow"``, a library function), or None.

    A cell that closes its figure itself (``plt.close``) shows it some other way
    (an animation) or on purpose not at all: it is not counted.
    """
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    found, closes = None, False
    for call in _top_level_calls(tree):
        func = call.func
        if isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if owner == "plt" and func.attr == "close":
                closes = True
            elif owner == "plt" and func.attr not in NOT_DRAWING:
                found = found or f"plt.{func.attr}"
            elif func.attr in DRAWING_METHODS and owner not in ("np", "numpy"):
                found = found or f".{func.attr}("
            elif func.attr in library_plotters:
                found = found or func.attr
        elif isinstance(func, ast.Name) and func.id in library_plotters:
            found = found or func.id
    return None if closes else found


def output_problems(nb, library_plotters: set[str] | None = None) -> list[str]:
    """Every problem of the outputs of one executed notebook, as ``"cell N: what"``.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        An executed notebook.
    library_plotters : set of str, optional
        Names of plotting functions (default: :func:`plotting_functions`).

    Returns
    -------
    list of str
        Empty when the outputs are clean.
    """
    plotters = plotting_functions() if library_plotters is None else library_plotters
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = mer_build.merged_outputs(cell.get("outputs", []))
        for name, text in _stream_text(outputs).items():
            lines = text.splitlines()
            block = _repeated_block(lines)
            if block:
                problems.append(f"cell {index}: {name} prints a block twice in a row: {block[0][:80]!r}")
            bars = [line for line in lines if BAR.search(line)]
            if bars or "\r" in text:
                problems.append(f"cell {index}: progress-bar residue in {name}: {(bars or [text])[0][:80]!r}")
            noise = [line for line in lines if NOISE.search(line)]
            if noise:
                problems.append(f"cell {index}: framework log noise in {name}: {noise[0][:100]!r}")
        images = _images(outputs)
        if len(images) != len(set(images)):
            problems.append(f"cell {index}: the same image is shown twice")
        drawn = draws(cell.source, plotters)
        if drawn and not _shows_a_figure(outputs):
            problems.append(f"cell {index}: draws a figure ({drawn}) but shows no image")
    return problems


# ---- numbers typed in the prose --------------------------------------------------------------------------

#: Numbers in prose that are no measured result, each with its reason: (chapter stem or "*", regex).
PROSE_ALLOWED = [
    ("*", r"within \d+% counts", "the tolerance of a 'predict, then measure' exercise (check_prediction's rtol)"),
    ("*", r"\b95% (confidence )?intervals?\b", "names the kind of interval, not a result"),
    ("01_microexpressions_and_data", r"scaled from 0\.8 to 1\.3 times",
     "the range of scales the test suite draws (tests/data), a setting"),
    ("02_optical_flow_theory", r"within 0\.005 px", "the checker's tolerance, a setting"),
]
_NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])|(?<![\w.])\d+(\.\d+)?\s?%")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.DOTALL)
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_QUOTE = re.compile(r"\"[^\"\n]+\"|“[^”\n]+”")
_URL = re.compile(r"\]\([^)]*\)|https?://\S+")
_CITES = re.compile(r"\b(19|20)\d\d\b|\bTable \d|§|\b[Ss]ections? \d|\b[Tt]he paper\b|\b[Tt]he paper's\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z*(])|\n\s*\n|\n\s*[-*] ")


def _blank(match):
    return " " * len(match.group(0))


_LITERAL = re.compile(r"(?<![\w.])\d+\.\d*(?:e-?\d+)?|(?<![\w.])\d+(?![\w.])")


def _code_literals(cells) -> set[float]:
    """The numeric literals of a chapter's code cells: the settings its code runs with."""
    values = set()
    for cell in cells:
        if cell.cell_type == "code":
            for m in _LITERAL.finditer(cell.source):
                values.add(round(float(m.group(0)), 12))
    return values


def _is_setting(number: str, settings: set[float]) -> bool:
    """True when a number of the prose is one the chapter's code sets (an input, not a measurement):
    ``0.6`` when the code holds ``0.6``; ``2%`` when it holds ``0.02`` or ``2``."""
    text = number.strip()
    if text.endswith("%"):
        value = float(text[:-1].strip())
        return round(value / 100, 12) in settings or round(value, 12) in settings
    return round(float(text), 12) in settings


def prose_numbers(md: Path) -> list[str]:
    """Decimal numbers and percentages typed in a chapter's prose, outside the allowed places.

    Parameters
    ----------
    md : Path
        A chapter, ``book/NN_name.md``.

    Returns
    -------
    list of str
        ``"number: ...the sentence..."`` for each; empty when the prose types none.
    """
    import jupytext

    allowed = [re.compile(rx) for stem, rx, _ in PROSE_ALLOWED if stem in ("*", md.stem)]
    cells = jupytext.read(md).cells
    settings = _code_literals(cells)
    found = []
    for cell in cells:
        if cell.cell_type != "markdown":
            continue
        text = cell.source
        for pattern in (_CODE, _MATH, _URL, _QUOTE):
            text = pattern.sub(_blank, text)
        for rx in allowed:
            text = rx.sub(_blank, text)
        for sentence in _SENTENCE.split(text):
            if _CITES.search(sentence):
                continue
            for m in _NUMBER.finditer(sentence):
                if _is_setting(m.group(0), settings):
                    continue
                found.append(f"{m.group(0).strip()}: {' '.join(sentence.split())[:160]}")
    return found


def main(argv=None) -> int:
    import nbformat

    args = sys.argv[1:] if argv is None else argv
    bad = 0
    if args and args[0] == "--prose":
        for md in [Path(a) for a in args[1:]] or sorted((ROOT / "book").glob("[0-9][0-9]_*.md")):
            for line in prose_numbers(md):
                print(f"{md.name}: {line}")
                bad += 1
        return 1 if bad else 0
    plotters = plotting_functions()
    for path in args:
        for line in output_problems(nbformat.read(path, as_version=4), plotters):
            print(f"{Path(path).name}: {line}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
