"""Connections to the index: WAL, busy timeout, migrations, and one ``atomic()``.

Plain ``sqlite3`` only: this module is on every command's path, so it must stay cheap
(sqlite-utils imports pandas and numpy when they are installed).
"""

import os
import sys
import sqlite3

from ..errors import IndexSchemaError
from . import schema, url
from .dialect import SQLITE

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
        # The SQL spelling this connection takes (rundb.query.dialect.Dialect): SQLite's,
        # which a PostgreSQL connection (pg.PgConnection) rewrites until it has its own.
        self.dialect = SQLITE
        self._depth = 0
        self.key_ids = {}  # (prefix, tag) -> scalar_key.id
        self.flag_ids = {}  # name -> flag_name.id
        #: opened read-only (a read-only home): readers skip their index writes
        self.readonly = False
        self.closed = False

    def close(self):
        self.closed = True
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read_snapshot(self):
        """One read transaction, for a ``with`` block: every SELECT inside sees the index
        as it was at the first one, whatever writers commit meanwhile (SQLite's WAL
        snapshot, PostgreSQL's REPEATABLE READ). For reads whose statements must agree
        with each other; write nothing inside it."""
        return _ReadSnapshot(self)

    def atomic(self):
        """One short write transaction (BEGIN IMMEDIATE), or a savepoint when nested, for
        a ``with`` block: committed at its end, rolled back on an exception.

        BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock
        upgrading read locks; the busy timeout makes the second one wait its turn.
        """
        return _Atomic(self)


# The context managers of this module are classes, not contextlib generators: this
# module is on every command's path, and importing contextlib costs a small `rundb
# select` about 2 ms (6%).

class _ReadSnapshot:
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __enter__(self):
        index = self.index
        begin = ("BEGIN" if index.backend == "sqlite"
                 else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        index.conn.execute(begin)
        return index.conn

    def __exit__(self, *exc):
        # A reader that stopped early (``compare --csv - | head``) may be finalised
        # after the index was closed, which ended the transaction already.
        if not self.index.closed:
            self.index.conn.execute("COMMIT")
        return False


class _Atomic:
    __slots__ = ("index", "savepoint")

    def __init__(self, index):
        self.index = index
        self.savepoint = None

    def __enter__(self):
        index = self.index
        conn = index.conn
        if index._depth:
            self.savepoint = f"sp{index._depth}"
            conn.execute(f"SAVEPOINT {self.savepoint}")
            index._depth += 1
        else:
            conn.execute("BEGIN IMMEDIATE")
            index._depth = 1
        return conn

    def __exit__(self, exc_type, exc, tb):
        index = self.index
        conn = index.conn
        name = self.savepoint
        if name is not None:
            try:
                if exc_type is not None:
                    conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            finally:
                index._depth -= 1
            return False
        try:
            conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            index._depth = 0
        return False


def open_index(path, create=True, readonly=False):
    """Open (and create or migrate) the index at ``path``: an SQLite file, or a
    ``postgresql://`` URL (a shared index; see :mod:`rundb.index.pg`).

    :param readonly: open an SQLite file for reading only, as on a read-only home:
        SQLite's ``mode=ro``, or ``immutable=1`` when the directory cannot be written (no
        ``-shm`` file can be made there); nothing is created or migrated.
    :raises IndexSchemaError: the file is not an index, or was written by a newer rundb.
    :raises IndexConnectionError: a PostgreSQL server cannot be reached or refuses us.
    """
    if url.is_postgres(path):
        from .pg import open_pg_index

        return open_pg_index(path, create=create)
    path = url.check(path)
    if (readonly or not create) and not os.path.exists(path):
        raise IndexSchemaError(f"no index at {path}")
    if readonly:
        return _open_readonly(path)
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
        SQLITE.register_functions(conn)
    except (sqlite3.DatabaseError, IndexSchemaError) as e:
        conn.close()
        _raise_open_error(path, e)
    return Index(conn, path)


def _open_readonly(path):
    from urllib.parse import quote

    uri = "file:" + quote(os.path.abspath(path)) + "?mode=ro"
    if not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != schema.SCHEMA_VERSION:
            raise IndexSchemaError(
                f"index {path} has schema version {version}, this rundb needs "
                f"{schema.SCHEMA_VERSION}: open it once with write access to migrate it")
        conn.execute("PRAGMA query_only = ON")
        SQLITE.register_functions(conn)
    except (sqlite3.DatabaseError, IndexSchemaError) as e:
        conn.close()
        _raise_open_error(path, e)
    index = Index(conn, path)
    index.readonly = True
    return index


def _raise_open_error(path, error):
    """Raise what a failed open of the index at ``path`` means to a user."""
    if isinstance(error, sqlite3.DatabaseError):
        raise damaged(path, error) from None
    raise error


def damaged(path, error):
    """The one-line RundbError for an SQLite error on the index at ``path``: a malformed
    file (rebuild it), a full disk, a read-only file, or SQLite's own words."""
    from ..errors import HomeReadOnly, IndexDamaged

    msg = str(error)
    low = msg.lower()
    if "disk is full" in low:
        return IndexSchemaError(f"disk full writing the index {path}")
    if "readonly" in low or "read-only" in low:
        return HomeReadOnly(f"the index {path} is read-only ({msg})")
    if "unable to open" in low:
        return IndexSchemaError(f"cannot open the index {path} ({msg})")
    if "malformed" in low or "not a database" in low or "encrypted" in low:
        return IndexDamaged(f"index {path} is damaged ({msg}): run 'rundb index rebuild' "
                            f"to recreate it from the run directories")
    return IndexSchemaError(f"index {path}: {msg}")


def schema_version(index):
    """The schema version of an open index."""
    if index.backend == "postgresql":
        from .pg import schema_version as pg_version

        return pg_version(index.conn.raw)
    return index.conn.execute("PRAGMA user_version").fetchone()[0]


def open_home_index(home, write=False):
    """The index of ``home`` (a :class:`~rundb.home.Home`), open for a ``with`` block.

    Reading never creates anything: a missing home is :class:`HomeNotFound`, and a home
    on a read-only file system is read through a read-only connection. An SQLite index
    missing beside run directories is refused (:class:`IndexDamaged`), never silently
    replaced by an empty one: ``rundb index rebuild`` recreates it.

    :param write: the caller changes runs: the home is created if missing, and the home's
        run lock is held shared (so ``index rebuild`` waits for the block to end).
    :raises HomeReadOnly: ``write`` on a home that cannot be written.
    """
    return _HomeIndex(home, write)


class _HomeIndex:
    __slots__ = ("home", "write", "lock", "index")

    def __init__(self, home, write):
        self.home, self.write = home, write
        self.lock = self.index = None

    def __enter__(self):
        home = self.home
        location = url.check(home.index_location)  # an unknown scheme creates nothing
        if url.is_postgres(location):
            home.ensure()
            args = {"path": location}
        else:
            args = home_index_args(home, location, self.write)
        if self.write:  # readers take no lock (nor import threading)
            from .. import runlock

            self.lock = runlock.shared(home.path)
            self.lock.__enter__()
        try:
            self.index = open_index(**args)
        except BaseException:
            self._unlock(*sys.exc_info())
            raise
        self.index.home_dir = home.path
        return self.index

    def __exit__(self, *exc):
        try:
            self.index.close()
        finally:
            self._unlock(*exc)
        return False

    def _unlock(self, *exc):
        if self.lock is not None:
            lock, self.lock = self.lock, None
            lock.__exit__(*exc)


def home_index_args(home, location, write):
    """How to open the SQLite index ``location`` of ``home`` (see open_home_index)."""
    from ..errors import HomeNotFound, HomeReadOnly, IndexDamaged

    if not home.exists():
        if os.path.exists(home.path):
            raise HomeNotFound(f"no rundb home at {home.path} (not a directory)")
        if not write:
            raise HomeNotFound(f"no rundb home at {home.path}")
        home.ensure()
    writable = home.writable()
    if write and not writable:
        raise HomeReadOnly(f"rundb home {home.path} is read-only")
    if not os.path.exists(location):
        n = home.count_run_dirs()
        if n:
            raise IndexDamaged(
                f"index {location} is missing but the home has {n} run "
                f"director{'y' if n == 1 else 'ies'}: run 'rundb index rebuild'")
        if not writable:
            return {"path": ":memory:"}  # an empty, read-only home: nothing to show
        home.ensure()
    return {"path": location, "readonly": not writable}


def _migrate(conn, path, migrations=None):
    """Bring the index to the current schema, one migration per transaction: each bumps
    ``PRAGMA user_version`` as it commits, so a failure keeps the ones before it."""
    migrations = schema.MIGRATIONS if migrations is None else migrations
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read inside the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(migrations):
                raise IndexSchemaError(
                    f"index {path} has schema version {version}, newer than this rundb "
                    f"supports ({len(migrations)}): upgrade rundb, or move the file "
                    f"aside and run 'rundb index rebuild'"
                )
            if version == len(migrations):
                conn.execute("ROLLBACK")
                return
            for stmt in _statements(migrations[version]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {version + 1}")
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
