"""The examples in the docstrings of crm's modules are correct (run with doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

MODULES = ["crm", "crm._rfm", "crm._retention", "crm._clv", "crm._models", "crm._value", "crm._baskets", "crm._service", "crm._cluster", "crm.plot", "crm._report", "crm.datasets", "crm.dask"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=OPTIONS, report=True)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see the captured stdout)"
