'''Everything SQLite-specific in the SQL the compiler writes, in one place.

The compiler otherwise writes portable SQL (LEFT JOIN, correlated subqueries, CASE,
NULLIF, ``NULLS LAST``), so another engine needs only another version of this module.

>>> print(quote_identifier('min "loss"'))
"min ""loss"""
'''

import functools
import re


def quote_identifier(name):
    """*name* as an SQL identifier: in double quotes, inner double quotes doubled.

    Every identifier the compiler writes from user text (output column names) goes
    through here; values and scalar/flag/attribute names travel as parameters instead.
    """
    return '"' + name.replace('"', '""') + '"'


def decode_scalar(value, step=0):
    """A stored scalar value as Python reads it: NULL beside a step is NaN (the rule of
    rundb/index/schema.py; SQLite cannot hold a NaN REAL).

    >>> decode_scalar(None, 3), decode_scalar(None, None), decode_scalar(float("inf"), 3)
    (nan, None, inf)
    """
    if value is None and step is not None:
        return float("nan")
    return value


def regexp(expr):
    """*expr* matched against one ``?`` parameter holding a regex (Python ``re.search``)."""
    return f"{expr} REGEXP ?"


def contains(expr):
    """True when the text of *expr* holds the text in one ``?`` parameter, ignoring case
    (as Guild's ``contains`` does)."""
    return f"instr(lower(CAST({expr} AS TEXT)), lower(?)) > 0"


def json_value(expr):
    """The SQL value of the JSON text *expr* (strings unquoted, numbers as numbers)."""
    return f"json_extract({expr}, '$')"


def group_concat(expr):
    """*expr* over a group, joined by the separator in one ``?`` parameter."""
    return f"group_concat({expr}, ?)"


@functools.lru_cache(maxsize=256)
def _compiled(pattern):
    return re.compile(pattern)


def _regexp(pattern, value):
    # SQLite calls regexp(Y, X) for `X REGEXP Y`. NULL stays NULL, so the comparison is
    # false for a run lacking the column; numbers match on their text.
    if pattern is None or value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return _compiled(pattern).search(str(value)) is not None


def register_functions(conn):
    """Register the functions compiled SQL may call (``REGEXP``) on *conn*."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)
