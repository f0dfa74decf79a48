"""The Examples sections of the library run as written (every module that has one, found by walking the package)."""
import doctest
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

import pytest

import mer_lib


def _modules_with_examples():
    names = []
    for info in pkgutil.walk_packages(mer_lib.__path__, "mer_lib."):
        spec = importlib.util.find_spec(info.name)
        source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
        if ">>> " in source:
            names.append((info.name, "keras" in source))
    return names


MODULES = _modules_with_examples()


def test_the_public_drivers_are_among_the_modules_with_examples():
    names = {name for name, _ in MODULES}
    drivers = {"mer_lib.flow.tvl1", "mer_lib.flow.horn_schunck", "mer_lib.flow.common", "mer_lib.flow.reference",
               "mer_lib.magnify.phase", "mer_lib.magnify.eulerian", "mer_lib.magnify.riesz", "mer_lib.pipeline",
               "mer_lib.data.datasets", "mer_lib.train", "mer_lib.evaluate"}
    assert drivers <= names, sorted(drivers - names)


@pytest.mark.parametrize("name, needs_keras", MODULES, ids=[name for name, _ in MODULES])
def test_examples_run(name, needs_keras):
    if needs_keras:
        pytest.importorskip("keras")
    importlib.import_module(name)
    module = sys.modules[name]      # mer_lib.flow.tvl1 is also a function's name in mer_lib.flow
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has '>>> ' but doctest found no example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"
