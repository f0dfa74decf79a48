"""The Examples sections of the training and evaluation modules run as written."""
import doctest
import importlib

import pytest

MODULES = ["mer_lib.evaluate", "mer_lib.diagnostics", "mer_lib.train", "mer_lib.models", "mer_lib.experiments"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    pytest.importorskip("keras")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"
