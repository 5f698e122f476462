"""``rundb sql`` on a PostgreSQL index: one read-only statement, in PostgreSQL's SQL.

Two independent guards keep the shared index unchanged:

1. a statement check before anything is sent: exactly one statement, starting with
   SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN, naming none of the commands that act
   (COPY, SET, RESET, CREATE, DO, CALL, GRANT, LOCK, ...) nor the functions that read
   server files, change settings, signal backends or talk to other servers;
2. the statement runs in a ``READ ONLY`` transaction that is rolled back, with
   ``statement_timeout`` for ``--timeout``: PostgreSQL itself refuses every write
   (a data-modifying ``WITH``, ``nextval``, ``SELECT ... FOR UPDATE``).

Parameters are written as in SQLite (``?`` or ``:name``) and bound by psycopg.
"""

import decimal
import re

from ..errors import ReadOnlyError, SQLError
from .pg import _first_line, connect

_FIRST_WORDS = frozenset(("select", "with", "values", "table", "show", "explain"))

# Commands that act; any of them as a word in the statement is refused.
_ACTING_WORDS = frozenset((
    "insert", "update", "delete", "merge", "truncate", "drop", "alter", "create", "copy",
    "set", "reset", "do", "call", "grant", "revoke", "lock", "listen", "notify", "unlisten",
    "prepare", "execute", "deallocate", "vacuum", "analyze", "cluster", "reindex", "refresh",
    "discard", "checkpoint", "begin", "commit", "rollback", "savepoint", "abort", "into",
))

# Functions that read the server's files, change settings or signal other sessions.
_DENIED_FUNCTIONS = re.compile(
    r"^(pg_read_file|pg_read_binary_file|pg_ls_\w+|pg_stat_file|lo_\w+|dblink\w*|"
    r"pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|set_config|"
    r"pg_advisory\w*|pg_try_advisory\w*|pg_notify|pg_sleep\w*|pg_switch_wal|"
    r"pg_create_\w+|pg_drop_\w+|pg_replication_\w+|pg_logical_\w+|pg_promote|"
    r"pg_file_\w+|pg_import_system_collations|query_to_xml\w*|table_to_xml\w*|"
    r"cursor_to_xml\w*|database_to_xml\w*|schema_to_xml\w*)$", re.I)

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<string>(?:[EeBbXxUu]&?)?'(?:[^']|'')*')
      | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*|)\$.*?\$(?P=tag)\$)
      | (?P<ident>"(?:[^"]|"")*")
      | (?P<cast>::)
      | (?P<param>\?|(?<!:):[A-Za-z_]\w*)
      | (?P<word>[A-Za-z_][\w$]*)
      | (?P<semi>;)
      | (?P<other>.)""", re.S | re.X)

DEFAULT_MAX_RESULT_BYTES = 256 * 2**20


def _tokens(statement):
    for m in _TOKEN.finditer(statement):
        yield m.lastgroup if m.lastgroup != "tag" else "dollar", m.group(0)


def check(statement):
    """The statement with its parameters in psycopg's style, and whether they are named.

    :raises ReadOnlyError: not a single reading statement.
    :raises SQLError: empty.
    """
    tokens = [(kind, text) for kind, text in _tokens(statement)
              if kind not in ("space", "comment")]
    while tokens and tokens[-1][0] == "semi":
        tokens.pop()
    if not tokens:
        raise SQLError("empty statement")
    if any(kind == "semi" for kind, _ in tokens):
        raise SQLError("only one statement at a time is allowed")
    words = [text.lower() for kind, text in tokens if kind == "word"]
    if tokens[0][0] != "word" or words[0] not in _FIRST_WORDS:
        raise ReadOnlyError(f"not allowed: the index is read-only here ({tokens[0][1]})")
    for i, (kind, text) in enumerate(tokens):
        if kind != "word":
            continue
        if text.lower() in _ACTING_WORDS:
            raise ReadOnlyError(f"not allowed: the index is read-only here ({text.upper()})")
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if following == "(" and _DENIED_FUNCTIONS.match(text):
            raise SQLError(f"function {text}() is not allowed in rundb sql")
    out, named = [], None
    for kind, text in _tokens(statement):
        if kind == "param":
            is_named = text != "?"
            if named is not None and named != is_named:
                raise SQLError("use either ? or :name parameters, not both")
            named = is_named
            out.append(f"%({text[1:]})s" if is_named else "%s")
        elif kind == "semi":
            continue
        else:
            out.append(text.replace("%", "%%"))
    return "".join(out).strip(), bool(named)


def query(url, statement, params=None, timeout=None, max_bytes=DEFAULT_MAX_RESULT_BYTES):
    """Run one read-only statement against the PostgreSQL index at *url*.

    :returns: ``(column names, rows)``, rows as tuples.
    :raises ReadOnlyError: the statement would change the index.
    :raises SQLError: PostgreSQL rejected it (its message).
    """
    sql, named = check(statement)
    if params is None:
        params = {} if named else []
    if named and not isinstance(params, dict):
        raise SQLError("the statement uses :name parameters: pass them by name")
    if not named and isinstance(params, dict):
        raise SQLError("the statement uses ? parameters: pass them as a list")
    conn = connect(url)
    psycopg = __import__("psycopg")
    try:
        conn.execute("BEGIN READ ONLY")
        if timeout:
            conn.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        try:
            cur = conn.execute(sql, params)
            rows = _fetch(cur, max_bytes) if cur.description else []
        except psycopg.errors.ReadOnlySqlTransaction as e:
            raise ReadOnlyError(f"not allowed: the index is read-only here ({_first_line(e)})"
                                ) from None
        except psycopg.errors.QueryCanceled:
            raise SQLError(f"the statement ran longer than {timeout:g} s and was stopped "
                           "(--timeout SECONDS, 0 for no limit)") from None
        except psycopg.Error as e:
            raise SQLError(_first_line(e)) from None
        except (IndexError, KeyError, TypeError) as e:
            raise SQLError(f"the parameters do not match the statement ({e})") from None
        columns = [d.name for d in cur.description] if cur.description else []
        return columns, rows
    finally:
        try:
            conn.execute("ROLLBACK")
        finally:
            conn.close()


def _fetch(cur, max_bytes):
    rows, size = [], 0
    while True:
        chunk = cur.fetchmany(1000)
        if not chunk:
            return rows
        for row in chunk:
            row = tuple(_plain(v) for v in row)
            size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
            rows.append(row)
        if max_bytes is not None and size > max_bytes:
            raise SQLError(f"the result is larger than {max_bytes / 2**20:g} MiB: add a LIMIT "
                           "or select fewer columns (--max-result-mb raises the cap)")


def _plain(value):
    # numeric results (avg of integers, sums) as Python numbers, as sqlite3 gives them.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) \
            else float(value)
    return value
