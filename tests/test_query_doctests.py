"""The `>>>` examples in rundb/query docstrings are tests (same as
`pytest --doctest-modules rundb/query`)."""

import doctest
import importlib

import pytest

MODULES = ["rundb.query", "rundb.query.lexer", "rundb.query.ast", "rundb.query.parser",
           "rundb.query.compiler", "rundb.query.columns", "rundb.catalog", "rundb.index.dialect"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
