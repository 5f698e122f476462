"""The `>>>` examples in rundb/query docstrings are tests (same as
`pytest --doctest-modules rundb/query`)."""

import doctest
import importlib

import pytest

MODULES = ["__init__", "lexer", "ast", "parser", "compiler", "dialect", "catalog"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module("rundb.query" if name == "__init__" else f"rundb.query.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
