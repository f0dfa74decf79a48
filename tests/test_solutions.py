"""Each chapter's solution cells and the references in mer_lib.exercises agree on the checker's inputs.

The chapters hold a second copy of each reference solution (the cell tagged
``solution`` after an exercise). The pairs are found in the chapter sources,
not listed here: every ``check("name", function)`` call in a solution cell
names an exercise and the function the cell defines for it. The definitions
(imports, functions, literal constants) of the chapter's solution cells up to
that one are run in a namespace holding the chapter's imports, and the
function is checked as a student's would be.
"""
import ast
from pathlib import Path

import jupytext
import pytest

from mer_lib.exercises import check, exercise_names

BOOK = Path(__file__).resolve().parents[1] / "book"


def _is_literal(node):
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _definitions(tree):
    """The statements of a cell that define something without computing on the chapter's data."""
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            keep.append(node)
        elif isinstance(node, ast.Assign) and _is_literal(node.value):
            keep.append(node)
    return ast.Module(body=keep, type_ignores=[])


def _check_calls(tree):
    """(exercise name, function name) of each ``check("name", function)`` call in a cell."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check"
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str) and isinstance(node.args[1], ast.Name)):
            yield node.args[0].value, node.args[1].id


def _solution_pairs():
    pairs = []
    for md in sorted(BOOK.glob("[0-9][0-9]_*.md")):
        cells = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
        imports = ast.Module(body=[n for c in cells for n in _parse(c.source).body
                                   if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[])
        solutions = []          # a solution may call an earlier one (09: flatten_length uses pooled_shape)
        for cell in cells:
            if "solution" not in cell.metadata.get("tags", []):
                continue
            tree = _parse(cell.source)
            solutions.append(_definitions(tree))
            for name, function in _check_calls(tree):
                pairs.append(pytest.param(md, imports, list(solutions), name, function, id=f"{md.stem[:2]}-{name}"))
    return pairs


def _parse(source):
    # IPython magics (%matplotlib, !pip) are not Python: leave their lines out
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


PAIRS = _solution_pairs()


def test_the_chapters_have_solution_cells_to_compare():
    assert len(PAIRS) >= 10, [p.id for p in PAIRS]


@pytest.mark.parametrize("md, imports, solutions, name, function", PAIRS)
def test_solution_cell_agrees_with_the_reference(md, imports, solutions, name, function):
    assert name in exercise_names(), f"{md.name} checks {name!r}, which mer_lib.exercises does not register"
    namespace = {"__name__": f"solution_{md.stem}"}
    exec(compile(imports, f"{md.name} (imports)", "exec"), namespace)
    for definitions in solutions:     # this chapter's solution cells up to this one, in order
        exec(compile(definitions, f"{md.name} (solution cells)", "exec"), namespace)
    assert function in namespace, f"the solution cell of {name} in {md.name} does not define {function}"
    result = check(name, namespace[function], quiet=True)
    assert result.passed, f"{md.name}: the solution of {name} disagrees with mer_lib.exercises: {result}"
