"""One read-only SQL statement against the index (``rundb sql``).

Three independent guards keep the index unchanged, so a mistake in one cannot open a
write path:

1. the file is opened with a ``file:...?mode=ro`` URI (SQLite refuses every write);
2. ``PRAGMA query_only = ON`` (refuses writes even to temporary tables);
3. an authorizer that allows reading and nothing else: no INSERT/UPDATE/DELETE,
   CREATE/DROP/ALTER, ATTACH/DETACH (which would also let ``VACUUM INTO`` write a new
   file) and no PRAGMA assignment (``PRAGMA user_version = 3``, ``query_only = OFF``).

A refused statement raises :class:`~rundb.errors.ReadOnlyError` naming what was refused;
any other SQLite error raises :class:`SQLError` with SQLite's own message.

The statement may also come from a script someone else wrote, so its cost is bounded too:

* a time limit (``timeout``), checked by SQLite's progress handler: an endless recursive
  CTE stops with one clear error;
* a cap on any one value (``SQLITE_LIMIT_LENGTH``): ``randomblob(1e9)``, ``zeroblob``,
  ``group_concat`` or ``replace`` cannot allocate without bound;
* a cap on the whole result (``max_bytes``), counted while rows are fetched;
* a deny-list of functions that expose memory or load code (``fts3_tokenizer`` returns a
  pointer; ``load_extension``), refused by the authorizer.

Plain ``sqlite3`` only: sqlite-utils imports pandas and numpy when they are installed.
"""

import os
import sqlite3
import time
import urllib.parse

from ..errors import ReadOnlyError, SQLError

__all__ = ["ReadOnlyIndex", "SQLError", "parse_param_value", "query", "sqlite_uri"]


# Authorizer action codes that only read.
_READ_ACTIONS = frozenset(
    getattr(sqlite3, name)
    for name in ("SQLITE_SELECT", "SQLITE_READ", "SQLITE_FUNCTION", "SQLITE_RECURSIVE")
)

# The schema tables. SQLite writes them as part of statements that are authorized
# separately (CREATE/DROP/ALTER each have their own action code, refused below), and
# updates them in memory when a table-valued pragma (pragma_table_info) is first used;
# the separate action code gives the clearer message ("DROP VIEW runs").
_SCHEMA_TABLES = frozenset(("sqlite_master", "sqlite_temp_master", "sqlite_schema",
                            "sqlite_temp_schema"))
_SCHEMA_WRITES = frozenset((sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE))

# Pragmas that take an argument without changing anything (introspection).
_READ_PRAGMAS_WITH_ARG = frozenset((
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
    "pragma_list", "function_list", "module_list", "collation_list", "database_list",
    "compile_options",
))

# Pragmas without an argument that still do something besides reading.
_ACTING_PRAGMAS = frozenset(("optimize", "wal_checkpoint", "incremental_vacuum", "shrink_memory"))

#: Functions never allowed: they expose memory addresses or load code.
DENIED_FUNCTIONS = frozenset(("fts3_tokenizer", "load_extension", "fts5", "readfile",
                              "writefile", "edit", "sqlite_dbpage"))

#: Largest single value (string or blob) a statement may build.
MAX_VALUE_BYTES = 32 * 1024 * 1024

#: Default cap on the size of a whole result.
DEFAULT_MAX_RESULT_BYTES = 256 * 1024 * 1024

# SQLite virtual-machine steps between two checks of the time limit (~1 ms of work).
_PROGRESS_STEPS = 10_000

# Human names for the authorizer codes we refuse, for the error message.
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): text
    for name, text in (
        ("INSERT", "INSERT into"), ("UPDATE", "UPDATE of"), ("DELETE", "DELETE from"),
        ("CREATE_TABLE", "CREATE TABLE"), ("CREATE_TEMP_TABLE", "CREATE TEMP TABLE"),
        ("CREATE_INDEX", "CREATE INDEX"), ("CREATE_TEMP_INDEX", "CREATE TEMP INDEX"),
        ("CREATE_VIEW", "CREATE VIEW"), ("CREATE_TEMP_VIEW", "CREATE TEMP VIEW"),
        ("CREATE_TRIGGER", "CREATE TRIGGER"), ("CREATE_TEMP_TRIGGER", "CREATE TEMP TRIGGER"),
        ("CREATE_VTABLE", "CREATE VIRTUAL TABLE"),
        ("DROP_TABLE", "DROP TABLE"), ("DROP_TEMP_TABLE", "DROP TEMP TABLE"),
        ("DROP_INDEX", "DROP INDEX"), ("DROP_TEMP_INDEX", "DROP TEMP INDEX"),
        ("DROP_VIEW", "DROP VIEW"), ("DROP_TEMP_VIEW", "DROP TEMP VIEW"),
        ("DROP_TRIGGER", "DROP TRIGGER"), ("DROP_TEMP_TRIGGER", "DROP TEMP TRIGGER"),
        ("DROP_VTABLE", "DROP VIRTUAL TABLE"),
        ("ALTER_TABLE", "ALTER TABLE"), ("REINDEX", "REINDEX"), ("ANALYZE", "ANALYZE"),
        ("ATTACH", "ATTACH"), ("DETACH", "DETACH"), ("TRANSACTION", "transaction control"),
        ("SAVEPOINT", "SAVEPOINT"),
    )
    if hasattr(sqlite3, f"SQLITE_{name}")
}


def sqlite_uri(path, mode=None):
    """A ``file:`` URI for ``path`` (special characters escaped), optionally ``?mode=``."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(path))
    return f"{uri}?mode={mode}" if mode else uri


def _describe(action, arg1, arg2):
    if action == sqlite3.SQLITE_PRAGMA:
        return f"PRAGMA {arg1}" + ("" if arg2 is None else f" = {arg2}")
    name = _ACTION_NAMES.get(action, f"action {action}")
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_REINDEX,
                  sqlite3.SQLITE_ANALYZE):
        return name
    if action == sqlite3.SQLITE_TRANSACTION:
        return arg1 or name
    if action == sqlite3.SQLITE_ALTER_TABLE:
        return f"{name} {arg2}"  # arg1 is the database name
    return f"{name} {arg1}" if arg1 else name


class _Authorizer:
    """Allows reads only; remembers the first thing it refused."""

    def __init__(self):
        self.refused = None
        self.denied_function = None

    def __call__(self, action, arg1, arg2, _db, _trigger):
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
            if self.denied_function is None:
                self.denied_function = arg2.lower()
            return sqlite3.SQLITE_DENY
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action in _SCHEMA_WRITES and arg1 in _SCHEMA_TABLES:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if arg2 is None and name not in _ACTING_PRAGMAS:
                return sqlite3.SQLITE_OK
            if arg2 is not None and name in _READ_PRAGMAS_WITH_ARG:
                return sqlite3.SQLITE_OK
        if self.refused is None:
            self.refused = _describe(action, arg1, arg2)
        return sqlite3.SQLITE_DENY


class ReadOnlyIndex:
    """A connection to an SQLite file that cannot change it; see the module docstring.

    :param timeout: seconds a statement may run (None or 0: no limit).
    :param max_bytes: largest result :meth:`execute` returns (None: no limit).
    :raises SQLError: the file cannot be opened.
    """

    def __init__(self, path, timeout=None, max_bytes=DEFAULT_MAX_RESULT_BYTES):
        if not os.path.exists(path):
            raise SQLError(f"no index at {path}")
        try:
            uri = sqlite_uri(path, "ro")
            if not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
                uri += "&immutable=1"  # a read-only home: no -shm file can be made there
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            self.conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as e:
            raise SQLError(f"cannot open {path}: {e}") from None
        self.path = path
        self.timeout = timeout or None
        self.max_bytes = max_bytes
        self._deadline = None
        self._auth = _Authorizer()
        self.conn.set_authorizer(self._auth)
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        if self.timeout:
            self.conn.set_progress_handler(self._past_deadline, _PROGRESS_STEPS)

    def _past_deadline(self):
        # A true return makes SQLite interrupt the statement ("interrupted").
        return self._deadline is not None and time.monotonic() > self._deadline

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def execute(self, statement, params=None):
        """Run one statement.

        :param params: a dict for ``:name`` parameters or a list for ``?`` parameters.
        :returns: ``(column names, rows)``, rows as tuples.
        :raises ReadOnlyError: the statement would change the database.
        :raises SQLError: SQLite rejected it (the message is SQLite's).
        """
        self._auth.refused = None
        self._auth.denied_function = None
        statement = statement.strip()
        if not statement:
            raise SQLError("empty statement")
        if self.timeout:
            self._deadline = time.monotonic() + self.timeout
        try:
            cur = self.conn.execute(statement, params if params is not None else ())
            rows = self._fetch(cur)
        except sqlite3.ProgrammingError as e:
            if "one statement at a time" in str(e):
                raise SQLError("only one statement at a time is allowed") from None
            raise SQLError(str(e)) from None
        except sqlite3.Error as e:
            self._explain_limit(e)
            refused = self._auth.refused
            if refused is not None or "readonly" in str(e) or "may not be modified" in str(e):
                raise ReadOnlyError(
                    f"not allowed: the index is read-only here ({refused or e})"
                ) from None
            raise SQLError(str(e)) from None
        finally:
            self._deadline = None
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, rows

    def _fetch(self, cur):
        """Every row, stopping with SQLError once the result passes ``max_bytes``."""
        if self.max_bytes is None:
            return cur.fetchall()
        rows, size = [], 0
        while True:
            chunk = cur.fetchmany(1000)
            if not chunk:
                return rows
            for row in chunk:
                size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
            if size > self.max_bytes:
                raise SQLError(f"the result is larger than {_mib(self.max_bytes)}: add a LIMIT "
                               "or select fewer columns (--max-result-mb raises the cap)")
            rows.extend(chunk)

    def _explain_limit(self, error):
        """Raise the clear error for a statement stopped by one of the limits, if it was."""
        if self._auth.denied_function is not None:
            raise SQLError(f"function {self._auth.denied_function}() is not allowed in "
                           "rundb sql") from None
        text = str(error)
        if "interrupted" in text and self.timeout:
            raise SQLError(f"the statement ran longer than {self.timeout:g} s and was stopped "
                           "(--timeout SECONDS, 0 for no limit)") from None
        if "too big" in text:
            raise SQLError(f"a value would be larger than {_mib(MAX_VALUE_BYTES)} "
                           f"(SQLite: {text})") from None


def query(path, statement, params=None, timeout=None, max_bytes=DEFAULT_MAX_RESULT_BYTES):
    """Run one read-only statement against the SQLite file ``path``; see
    :class:`ReadOnlyIndex` and :meth:`ReadOnlyIndex.execute`."""
    with ReadOnlyIndex(path, timeout=timeout, max_bytes=max_bytes) as db:
        return db.execute(statement, params)


def _mib(n):
    return f"{n / 2**20:g} MiB"


def parse_param_value(text):
    """The value a ``-p NAME VALUE`` binds, decoded as a flag value is (rundb.flagvals):
    a number, a string, a boolean (as 1/0) or null; a list or dict stays the text.

    >>> parse_param_value("0.01"), parse_param_value("train"), parse_param_value('"12"')
    (0.01, 'train', '12')
    >>> parse_param_value("true"), parse_param_value("null"), parse_param_value("[1]")
    (1, None, '[1]')
    >>> parse_param_value("1e-3"), parse_param_value("'7'")
    (0.001, '7')
    """
    from ..flagvals import decode_flag_value

    value = decode_flag_value(text)
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, (int, float, str)):
        return value
    return text