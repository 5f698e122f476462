"""Connections to the index: WAL, busy timeout, migrations, and one ``atomic()``.

Plain ``sqlite3`` only: this module is on every command's path, so it must stay cheap
(sqlite-utils imports pandas and numpy when they are installed).
"""

import contextlib
import os
import sqlite3

from ..errors import IndexSchemaError
from ..query import dialect
from . import schema, url

#: Long enough that parallel trials never surface "database is locked" to a user.
BUSY_TIMEOUT_MS = 120_000


class Index:
    """An open index: a connection plus the writer's interning caches.

    ``path`` is what :func:`open_index` opened (a file path or a ``postgresql://`` URL);
    ``home_dir`` the home whose run directories this machine sees (None: the directory
    of an SQLite file); ``backend`` is ``"sqlite"`` or ``"postgresql"``.
    """

    def __init__(self, conn, path, dialect="sqlite", home_dir=None):
        self.conn = conn
        self.path = path
        self.backend = dialect
        self.home_dir = home_dir
        self._depth = 0
        self.key_ids = {}  # (prefix, tag) -> scalar_key.id
        self.flag_ids = {}  # name -> flag_name.id

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def atomic(self):
        """One short write transaction (BEGIN IMMEDIATE), or a savepoint when nested.

        BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock
        upgrading read locks; the busy timeout makes the second one wait its turn.
        """
        conn = self.conn
        if self._depth:
            name = f"sp{self._depth}"
            conn.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield conn
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._depth = 0


def open_index(path, create=True):
    """Open (and create or migrate) the index at ``path``: an SQLite file, or a
    ``postgresql://`` URL (a shared index; see :mod:`rundb.index.pg`).

    :raises IndexSchemaError: the file is not an index, or was written by a newer rundb.
    :raises IndexConnectionError: a PostgreSQL server cannot be reached or refuses us.
    """
    if url.is_postgres(path):
        from .pg import open_pg_index

        return open_pg_index(path, create=create)
    path = url.check(path)
    if not create and not os.path.exists(path):
        raise IndexSchemaError(f"no index at {path}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != schema.SCHEMA_VERSION:
            _migrate(conn, path)
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL cannot corrupt the file; a power cut may drop the last commits,
        # which `rundb index rebuild` restores from the run directories.
        conn.execute("PRAGMA synchronous = NORMAL")
        dialect.register_functions(conn)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise IndexSchemaError(
            f"cannot open index {path}: {e} (try 'rundb index rebuild')"
        ) from None
    except IndexSchemaError:
        conn.close()
        raise
    return Index(conn, path)


def schema_version(index):
    """The schema version of an open index."""
    if index.backend == "postgresql":
        from .pg import schema_version as pg_version

        return pg_version(index.conn.raw)
    return index.conn.execute("PRAGMA user_version").fetchone()[0]


@contextlib.contextmanager
def open_home_index(home):
    """The index of ``home`` (a :class:`~rundb.home.Home`), open for a ``with`` block;
    the home's directories are created first."""
    location = url.check(home.index_location)  # an unknown scheme creates nothing
    home.ensure()
    index = open_index(location)
    index.home_dir = home.path
    try:
        yield index
    finally:
        index.close()


def _migrate(conn, path):
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise IndexSchemaError(
                f"index {path} has schema version {version}, newer than this rundb "
                f"supports ({schema.SCHEMA_VERSION}): upgrade rundb, or move the file "
                f"aside and run 'rundb index rebuild'"
            )
        for n in range(version, schema.SCHEMA_VERSION):
            for stmt in _statements(schema.MIGRATIONS[n]):
                conn.execute(stmt)
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script):
    # executescript() would COMMIT our transaction first; split and run one by one.
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf
            buf = ""
    if buf.strip():
        yield buf
