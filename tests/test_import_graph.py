"""The shape of mer_lib: the data flow goes one way, and no module is too long to read.

Every ``import`` of a mer_lib module, at the top of a file or inside a function, is checked against the order of the
data flow below: a module may import its own stage and the stages before it, never one after it (that is how the
pipeline once imported its registry of input kinds back from the experiments).
"""

import ast
from pathlib import Path

import pytest

import mer_lib

PACKAGE = Path(mer_lib.__file__).resolve().parent

#: The stages in the order of the data flow; a stage may import the stages of its rank and before.
RANKS = {
    "mer_lib": 0, "errors": 0, "_io": 0, "_pool": 0, "env": 0, "threads": 0,      # the interpreter, files, processes
    "flow": 1, "magnify": 1, "diagrams": 1,                              # the primitives of chapters 2-7
    "data": 2,                                                           # databases and prepared clips
    "pipeline": 3, "fingerprint": 3,                                     # clips to network inputs, their fingerprints
    "splits": 4, "nn": 4, "models": 4, "diagnostics": 4, "recipes": 4, "augment": 4, "checkpoints": 4, "epochs": 4,
    "train": 5, "batched": 5,                                            # one run, or many in one program
    "evaluate": 6, "significance": 6,                                    # scores of what was trained, tests over runs
    "experiments": 7, "lbp_top": 7, "apex": 7, "attribution": 7,        # methods compared beside the network, and
    #                                                                    what a trained one looks at
    "cli": 8, "exercises": 8, "budget": 8,                                           # what the user runs
}
#: Inside the experiments package: each module imports only the ones before it.
EXPERIMENTS = ["rows", "folds", "nested", "batched_runs", "controls", "plan", "comparisons", "results", "folder",
               "runner", "__init__"]
#: The longest a module may be.
MAX_LINES = 600
#: Modules allowed over MAX_LINES (none: data/ and flow/ were split by concern).
KNOWN_LONG: set = set()


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path):
    parts = ("mer_lib",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted):
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _imports(path):
    """The mer_lib modules a file imports (top level and inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mer_lib"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mer_lib":
            assert node.level == 0, f"{path}: a relative import"
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if _is_module(full) else node.module)
    return found


def _stage(dotted):
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "mer_lib"


def test_every_stage_has_a_rank():
    stages = {_stage(_name(p)) for p in _modules()}
    assert stages <= set(RANKS), sorted(stages - set(RANKS))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_one_downstream_of_it(path):
    here = _name(path)
    for target in sorted(_imports(path)):
        assert RANKS[_stage(target)] <= RANKS[_stage(here)], (
            f"{here} imports {target}, which comes after it in the data flow")
        if _stage(here) == _stage(target) == "experiments" and target != "mer_lib.experiments":
            mine = path.stem if path.stem != "__init__" else "__init__"
            assert EXPERIMENTS.index(target.split(".")[2]) < EXPERIMENTS.index(mine), (
                f"{here} imports {target}, which comes after it in the experiments package")


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines()) for p in _modules()}
    over = {name: n for name, n in long.items() if n > MAX_LINES and name not in KNOWN_LONG}
    assert not over, over
    assert KNOWN_LONG <= set(long), "a known exception no longer exists: remove it from KNOWN_LONG"


def test_the_checker_finds_a_back_edge(tmp_path):
    """The test above can fail: an import of the experiments from the pipeline is what it reports."""
    bad = tmp_path / "pipeline.py"
    bad.write_text("def f():\n    from mer_lib.experiments import INPUT_SETTINGS\n")
    assert _imports(bad) == {"mer_lib.experiments"}
    assert RANKS[_stage("mer_lib.experiments")] > RANKS["pipeline"]
