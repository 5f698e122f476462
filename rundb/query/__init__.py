"""The query language: text -> tokens (PLY lex) -> AST (PLY yacc) -> SQL + parameters.

Guild's ``select`` column grammar, extended so that one string asks a whole question::

    select COLUMN [as NAME], ... [where EXPR] [order by COLUMN [asc|desc], ...] [limit N]

>>> from rundb.query import parse
>>> q = parse("select min loss, =lr where lr > 0.01 and .status = completed order by min loss")
>>> [col.header for col in q.columns]
['min loss', 'lr']
>>> str(q.where)
'lr > 0.01 and .status = completed'

Importing this package is cheap: the parser and compiler modules load on first use of
one of their names (so importing it costs the index reader nothing), and
the PLY tables are built on the first parse.
"""

from ..errors import QueryError

__all__ = [
    "Compiled",
    "QueryError",
    "compile",
    "compile_filter",
    "parse",
    "parse_colspec",
    "parse_colspecs",
    "parse_filter",
]

_LAZY = {
    "Compiled": "compiler",
    "compile": "compiler",
    "compile_filter": "compiler",
    "parse": "parser",
    "parse_colspec": "parser",
    "parse_colspecs": "parser",
    "parse_filter": "parser",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
