'''The SQLite dialect: everything SQLite-specific in the SQL rundb writes, in one object.

The query compiler writes portable SQL (LEFT JOIN, correlated subqueries, CASE, NULLIF,
``NULLS LAST``, ``?`` parameters) and asks the dialect of the index it compiles for (the
:class:`~rundb.query.dialect.Dialect` interface) for the rest; the index reader and writer
ask it too. A second backend (PostgreSQL) provides another object with the same methods and
nothing in the compiler changes.

>>> print(SQLITE.quote_identifier('min "loss"'))
"min ""loss"""
>>> SQLITE.regexp("r.label")
'r.label REGEXP ?'
'''

import functools


class SharedSQL:
    """What both backends spell alike: quoted identifiers, ``?`` parameters (the
    PostgreSQL connection turns them into psycopg's ``%s``), ``json_each`` lists and
    ``INSERT ... ON CONFLICT`` upserts."""

    #: The placeholder compiled SQL is written in.
    paramstyle = "qmark"

    def quote_identifier(self, name):
        return '"' + name.replace('"', '""') + '"'

    def placeholders(self, sql):
        return sql  # compiled SQL already uses ``?``

    def json_list(self):
        # (PgConnection binds the JSON list as a typed array, unnested)
        return "SELECT value FROM json_each(?)"

    def upsert(self, table, columns, conflict, update):
        cols = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        action = f"DO UPDATE SET {sets}" if update else "DO NOTHING"
        return (f"INSERT INTO {table} ({cols}) VALUES ({marks}) "
                f"ON CONFLICT ({', '.join(conflict)}) {action}")


class SQLiteDialect(SharedSQL):
    """SQLite 3.35+ (``RETURNING``, ``NULLS LAST``, JSON1 built in); the methods of
    :class:`rundb.query.dialect.Dialect` (the index layer imports nothing of the query
    layer, so this implements that interface without subclassing it)."""

    name = "sqlite"

    def regexp(self, expr):
        return f"{expr} REGEXP ?"

    def contains(self, expr, ignore_case=True):
        if ignore_case:
            return f"instr(lower(CAST({expr} AS TEXT)), lower(?)) > 0"
        return f"instr({expr}, ?) > 0"

    def json_value(self, expr):
        return f"json_extract({expr}, '$')"

    def group_concat(self, expr):
        return f"group_concat({expr}, ?)"

    def aggregate(self, func, expr, json=False):
        # `json`: a flag or attribute value, which may be text; only numbers are aggregated
        # (SQLite's AVG would count a text value as 0). count(*) has no expr.
        if expr is None:
            return "COUNT(*)"
        if json and func != "count":
            expr = f"CASE WHEN typeof({expr}) IN ('integer', 'real') THEN {expr} END"
        return f"{_AGGREGATES[func]}({expr})"

    def like(self, expr, ignore_case=False):
        # SQLite's LIKE ignores ASCII case always; rundb_like keeps SQL's case rule.
        return f"rundb_like({expr}, ?, {1 if ignore_case else 0})"

    def register_functions(self, conn):
        """Register the functions compiled SQL may call (``REGEXP``, ``rundb_like``, the
        aggregates of :mod:`rundb.index.aggregates`) on *conn*."""
        from . import aggregates

        conn.create_function("regexp", 2, _regexp, deterministic=True)
        conn.create_function("rundb_like", 3, _like, deterministic=True)
        aggregates.register(conn)


_AGGREGATES = {"mean": "AVG", "std": "rundb_std", "std_pop": "rundb_std_pop",
               "median": "rundb_median", "min": "MIN", "max": "MAX", "sum": "SUM",
               "count": "COUNT"}


@functools.lru_cache(maxsize=256)
def _like_pattern(pattern, ignore_case):
    # SQL LIKE: % any run of characters, _ one character, everything else literal.
    import re

    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like(value, pattern, ignore_case):
    if pattern is None or value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return _like_pattern(pattern, bool(ignore_case)).fullmatch(str(value)) is not None


@functools.lru_cache(maxsize=256)
def _compiled(pattern):
    import re

    return re.compile(pattern)


def _regexp(pattern, value):
    # SQLite calls regexp(Y, X) for `X REGEXP Y`. NULL stays NULL, so the comparison is
    # false for a run lacking the column; numbers match on their text.
    if pattern is None or value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return _compiled(pattern).search(str(value)) is not None


#: The dialect of every SQLite index.
SQLITE = SQLiteDialect()
