"""The PostgreSQL index backend: a shared index many hosts write at once.

The index layer writes its SQL once, in SQLite's spelling with ``?`` parameters; a
:class:`PgConnection` gives it the same small connection interface ``sqlite3`` does
(``execute``, ``executemany``, ``cursor``, ``lastrowid``) and rewrites each statement
once (cached) into PostgreSQL's: ``%s`` parameters, ``ON CONFLICT`` for ``INSERT OR
IGNORE/REPLACE``, ``strpos``/``string_agg``/``unnest`` for ``instr``/``group_concat``/
``json_each``, the reserved word ``user`` quoted, flag values as ``jsonb``, scalar points
through ``COPY``. What the query compiler writes goes through the PostgreSQL dialect.

Interned names (scalar keys, flag names) are inserted on a second, autocommit
connection: they are committed at once, so concurrent writers never wait on (or
deadlock over) each other's open transactions for them.

psycopg 3 is imported only here, and only when a ``postgresql://`` index is opened.
"""

import contextlib
import functools
import json
import math
import re

from ..errors import IndexConnectionError, IndexSchemaError, SQLError
from . import pg_schema
from .url import mask

#: Seconds to wait for a server before saying it cannot be reached.
CONNECT_TIMEOUT = 10

# Serializes migrations between processes opening a new shared index at once.
_MIGRATION_LOCK = 0x72756E6462  # "rundb"

# Conflict targets of the tables written with INSERT OR REPLACE / OR IGNORE.
_CONFLICT_KEYS = {
    "run_attr": ("rid", "name"),
    "run_flag": ("rid", "name"),
    "run_tag": ("rid", "tag"),
    "flag_name": ("name",),
    "scalar_key": ("prefix", "tag"),
    "package_set": ("digest",),
}

# Tables whose rows are interned names: written on the autocommit side connection.
_INTERNED = ("flag_name", "scalar_key")

_STAT_COLUMNS = ("first_val", "first_step", "last_val", "last_step", "min_val", "min_step",
                 "max_val", "max_step", "count", "total")


def driver():
    """The psycopg module, or one clear error naming the extra that installs it."""
    try:
        import psycopg
    except ImportError:
        raise IndexConnectionError(
            "a postgresql:// index needs psycopg 3: pip install 'rundb[postgres]'"
        ) from None
    return psycopg


def connect(url, autocommit=True):
    """A raw psycopg connection to *url*.

    :raises IndexConnectionError: unreachable server, refused login, no such database.
    """
    psycopg = driver()
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as e:
        raise IndexConnectionError(
            f"cannot connect to the index at {mask(url)}: {_first_line(e)}"
        ) from None
    _register_dumpers(conn)
    return conn


def _register_dumpers(conn):
    # Parameters bind as they do in sqlite3: strings as text (not psycopg's "unknown", so
    # comparisons pick the text operators), bools as the integers 0 and 1. PostgreSQL text
    # cannot hold NUL: a NUL in a value becomes U+FFFD (no stored text contains NUL, so a
    # comparison matches the same rows; the run's files keep the original).
    from psycopg.adapt import Dumper
    from psycopg.pq import Format
    from psycopg.types.string import StrDumper

    class TextDumper(StrDumper):
        def dump(self, obj):
            return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)

    class BoolDumper(Dumper):
        format = Format.TEXT
        oid = conn.adapters.types["int2"].oid

        def dump(self, obj):
            return b"1" if obj else b"0"

    conn.adapters.register_dumper(str, TextDumper)
    conn.adapters.register_dumper(bool, BoolDumper)


def _first_line(error):
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    # libpq prefixes "connection failed: connection to server at ... failed:"; the reason
    # is the last part of the first line.
    text = lines[0] if lines else type(error).__name__
    text = re.sub(r"^connection failed: connection to server at .*?, port \d+ failed: ", "", text)
    return re.sub(r"^FATAL:\s+", "", text)


class PgConnection:
    """The subset of ``sqlite3.Connection`` the index layer uses, over psycopg."""

    def __init__(self, raw, url):
        self.raw = raw
        self.url = url
        self._side = None  # autocommit connection for interned names

    def close(self):
        self.raw.close()
        if self._side is not None:
            self._side.close()

    def create_function(self, *args, **kwargs):
        pass  # the PostgreSQL dialect needs no client-side functions

    def create_aggregate(self, *args, **kwargs):
        pass  # nor aggregates: stddev_samp, percentile_cont are the server's

    def cursor(self):
        return PgCursor(self)

    def execute(self, sql, params=()):
        return PgCursor(self).execute(sql, params)

    def executemany(self, sql, rows):
        return PgCursor(self).executemany(sql, rows)

    def side(self):
        if self._side is None:
            self._side = connect(self.url)
        return self._side

    def reconnect(self, side=False):
        """A new connection in place of a lost one (the main one, or the side one)."""
        old = self._side if side else self.raw
        if old is not None:
            try:
                old.close()
            except Exception:  # noqa: BLE001 - it is gone already
                pass
        new = connect(self.url)
        if side:
            self._side = new
        else:
            self.raw = new
        return new


class PgCursor:
    """The subset of ``sqlite3.Cursor`` the index layer uses."""

    row_factory = None
    lastrowid = None

    def __init__(self, conn):
        self.connection = conn
        self._cur = None

    def execute(self, sql, params=()):
        stmt = translate(sql)
        conn = self.connection
        raw = conn.side() if stmt.interned else conn.raw
        psycopg = driver()
        # Outside a transaction a statement may be sent again on a new connection: the
        # server (or a proxy) dropped an idle one, or restarted, between two writes.
        idle = raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        try:
            with _errors(conn.url):
                self._run(raw, stmt, params)
        except IndexConnectionError:
            if not idle:
                raise
            raw = conn.reconnect(side=stmt.interned)
            with _errors(conn.url):
                self._run(raw, stmt, params)
        return self

    def _run(self, raw, stmt, params):
        self._cur = raw.cursor()
        self._cur.execute(stmt.sql, stmt.params(params))
        if stmt.returning:
            self.lastrowid = self._cur.fetchone()[0]

    def executemany(self, sql, rows):
        stmt = translate(sql)
        raw = self.connection.side() if stmt.interned else self.connection.raw
        self._cur = raw.cursor()
        with _errors(self.connection.url):
            if stmt.copy:
                with self._cur.copy(stmt.copy) as copy:
                    for row in rows:
                        copy.write_row(stmt.params(row))
                return self
            rows = [stmt.params(row) for row in rows]
            if rows:
                self._cur.executemany(stmt.sql, rows)
        return self

    def stream(self, sql, params=(), size=2000):
        """The rows of one SELECT in lists of up to ``size``, as the server sends them
        (libpq's chunked mode): the result is never held whole on the client, so memory
        stays flat at any number of runs. The connection serves nothing else until the
        last chunk is read or the generator is closed (psycopg then cancels the rest)."""
        stmt = translate(sql)
        raw = self.connection.raw
        self._cur = raw.cursor()
        chunk = []
        with _errors(self.connection.url):
            for row in self._cur.stream(stmt.sql, stmt.params(params), size=size):
                chunk.append(row)
                if len(chunk) >= size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    @property
    def description(self):
        return self._cur.description if self._cur is not None else None

    @property
    def rowcount(self):
        return self._cur.rowcount

    def fetchone(self):
        return self._cur.fetchone()

    def fetchall(self):
        return self._cur.fetchall()

    def fetchmany(self, size):
        return self._cur.fetchmany(size)

    def __iter__(self):
        return iter(self._cur)


@contextlib.contextmanager
def _errors(url):
    """psycopg errors as rundb's: a lost server as IndexConnectionError, anything else
    PostgreSQL rejects as SQLError (one line each)."""
    psycopg = driver()
    try:
        yield
    except psycopg.OperationalError as e:
        raise IndexConnectionError(f"lost the index at {mask(url)}: {_first_line(e)}") from None
    except psycopg.Error as e:
        raise SQLError(f"PostgreSQL: {_first_line(e)}") from None


class _Statement:
    """One SQLite-spelled statement rewritten for PostgreSQL."""

    def __init__(self, sql, fixers=None, returning=False, interned=False, copy=None):
        self.sql = sql
        self.fixers = fixers or {}  # placeholder index -> value converter
        self.returning = returning
        self.interned = interned
        self.copy = copy

    def params(self, values):
        if not self.fixers:
            return values
        values = list(values)
        for i, fix in self.fixers.items():
            values[i] = fix(values[i])
        return values


def _jsonb(value):
    from psycopg.types.json import Jsonb

    if isinstance(value, float) and not math.isfinite(value):
        # JSON has neither: NaN is NULL (as SQLite stores it; a NULL float flag reads back
        # as NaN), an infinity its text (a float flag reads "inf" back as a float).
        value = None if value != value else str(value)
    return None if value is None else Jsonb(value)


def _json_list(value):
    return json.loads(value) if isinstance(value, str) else list(value)


@functools.lru_cache(maxsize=1024)
def translate(sql):
    """*sql* (SQLite's spelling, ``?`` parameters) as a PostgreSQL :class:`_Statement`."""
    text = sql.strip()
    upper = text.upper()
    if upper.startswith("BEGIN"):  # SQLite's DEFERRED/IMMEDIATE have no equivalent
        return _Statement(text if "ISOLATION" in upper else "BEGIN")
    fixers = {}
    returning = interned = False
    copy = None

    m = re.match(r"INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*\(([^)]*)\)", text, re.I)
    if m:
        action, table, columns = m.group(1).upper(), m.group(2), m.group(3)
        text = re.sub(r"^INSERT\s+OR\s+\w+\s+INTO", "INSERT INTO", text, flags=re.I)
        keys = _CONFLICT_KEYS.get(table)
        names = [c.strip() for c in columns.split(",")]
        update = [c for c in names if keys and c not in keys]
        if action == "REPLACE" and keys and update:
            sets = ", ".join(f"{c} = excluded.{c}" for c in update)
            text += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        else:
            text += " ON CONFLICT DO NOTHING"
        interned = table in _INTERNED
    if re.match(r"INSERT\s+INTO\s+run\s*\(", text, re.I) and "RETURNING" not in upper:
        text += " RETURNING rid"
        returning = True
    if re.match(r"INSERT\s+INTO\s+scalar_stat\b", text, re.I) and "DO UPDATE SET" in text:
        head, _, tail = text.partition("DO UPDATE SET")
        for col in _STAT_COLUMNS:
            tail = re.sub(rf"(?<![\w.]){col}\b(?!\s*=[^=])", f"scalar_stat.{col}", tail)
        text = f"{head}DO UPDATE SET{tail}"
    m = re.match(r"INSERT\s+INTO\s+run_flag\s*\(([^)]*)\)", text, re.I)
    if m:
        names = [c.strip() for c in m.group(1).split(",")]
        if "value" in names:
            fixers[names.index("value")] = _jsonb
    m = re.match(r"INSERT\s+INTO\s+scalar_point\s*\(([^)]*)\)\s*VALUES\s*\((\?,\s*)*\?\)$",
                 text, re.I)
    if m:
        copy = f"COPY scalar_point ({m.group(1)}) FROM STDIN"

    # json_each(?) over a JSON list: unnest a real array (typed, so it compares).
    if "json_each(" in text:
        before = text[: text.index("json_each(")]
        fixers[_count_marks(before)] = _json_list
        text = text.replace("SELECT value FROM json_each(?)", "SELECT unnest(?) AS value")
    # A column unknown to the catalog orders by NULL: PostgreSQL refuses a constant there.
    text = re.sub(r"(ORDER BY |, )NULL (?:ASC|DESC) NULLS LAST(, )?",
                  lambda m: m.group(1) if m.group(2) else "", text)
    text = re.sub(r"\bREGEXP\b", "~", text)
    # Seconds as a float, as SQLite gives them (PostgreSQL would make them numeric).
    text = re.sub(r"/ (1000000\.0|1e6)\b(?!::)", r"/ \1::float8", text)
    text = re.sub(r"\bjson_extract\(([^()]*(?:\([^()]*\))?[^()]*), '\$'\)", r"rundb_json(\1)", text)
    text = re.sub(r"\bWHERE 1(?=\s|$)", "WHERE TRUE", text)
    text = re.sub(r"\binstr\(", "strpos(", text)
    text = re.sub(r"\bgroup_concat\(", "string_agg(", text)
    text = re.sub(r'(?<![\w."])user(?![\w"])', '"user"', text)
    return _Statement(_placeholders(text), fixers, returning, interned, copy)


def _count_marks(sql):
    return len(_split_marks(sql)) - 1


def _split_marks(sql):
    # The text between ``?`` placeholders, skipping quoted strings and identifiers.
    parts, buf, quote = [], [], None
    for ch in sql:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch == "?":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _placeholders(sql):
    """``?`` -> ``%s`` outside quotes; a literal ``%`` doubled (psycopg's escaping)."""
    return "%s".join(part.replace("%", "%%") for part in _split_marks(sql))


# Schema


def schema_version(raw):
    """The schema version of the database behind *raw* (0 for an empty database)."""
    with raw.cursor() as cur:
        # A scan of pg_class (not to_regclass, whose cache may be stale after waiting
        # for the migration lock) sees what another process has just committed.
        cur.execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relname = 'rundb_schema' AND n.nspname = current_schema())")
        if not cur.fetchone()[0]:
            return 0
        cur.execute("SELECT max(version) FROM rundb_schema")
        row = cur.fetchone()
        return row[0] or 0


def migrate(raw, url):
    """Bring the database to :data:`pg_schema.SCHEMA_VERSION`, one transaction per
    migration, under an advisory lock (many hosts may open a new index at once).

    :raises IndexSchemaError: the database has a newer schema, or a migration failed
        (nothing of it is left behind).
    """
    psycopg = driver()
    version = schema_version(raw)
    target = pg_schema.SCHEMA_VERSION
    if version == target:
        return
    if version > target:
        raise _newer(url, version)
    for n in range(version, target):
        try:
            with raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                current = schema_version(raw)
                if current > n:
                    if current > target:
                        raise _newer(url, current)
                    continue
                raw.execute(pg_schema.MIGRATIONS[n])
                raw.execute("DELETE FROM rundb_schema")
                raw.execute("INSERT INTO rundb_schema (version) VALUES (%s)", (n + 1,))
        except psycopg.Error as e:
            raise IndexSchemaError(
                f"cannot create the index schema in {mask(url)}: {_first_line(e)}"
            ) from None


def _newer(url, version):
    return IndexSchemaError(
        f"index {mask(url)} has schema version {version}, newer than this rundb "
        f"supports ({pg_schema.SCHEMA_VERSION}): upgrade rundb"
    )


def open_pg_index(url, create=True):
    """Open (and create or migrate) the PostgreSQL index at *url*.

    :raises IndexConnectionError: the server cannot be reached or refuses the login.
    :raises IndexSchemaError: a newer schema, or the schema cannot be created.
    """
    from .db import Index

    raw = connect(url)
    try:
        migrate(raw, url)
    except BaseException:
        raw.close()
        raise
    from .dialect_pg import POSTGRESQL

    index = Index(PgConnection(raw, url), url, dialect="postgresql")
    index.dialect = POSTGRESQL  # what the query compiler writes for this index
    return index
