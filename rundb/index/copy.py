"""Copies of index rows between SQLite index files (export --sql, export and import of run
directories), in one transaction each, set-based: ``INSERT ... SELECT`` from the source
(the connection's main database) into the destination (attached as ``dest``).

The runs to copy are chosen in SQL too (every run, an SQL condition on the source's
``run r``, or ids streamed into a temporary table), so no list of runs is ever held in
Python: memory stays the same at any number of runs.

Into a new standalone file, when (nearly) every run is copied, each table is copied whole
(``INSERT INTO dest.t SELECT * FROM main.t``: SQLite's transfer optimisation copies the
records and the index entries as they are, with no per-row work nor index sort), then the
rows of the runs left out are deleted. Otherwise integer keys (run, flag name, scalar key)
are mapped to the destination's.
"""

import contextlib
import os
import re
import sqlite3

from .db import BUSY_TIMEOUT_MS, open_index
from .dialect import SQLITE

# Child tables: (table, key column remapped through which map), in copy order.
# scalar_point is copied in its write order (rowid), which readers rely on.
_CHILD_TABLES = (
    ("run_flag", ("name", "_fmap")),
    ("run_tag", None),
    ("run_attr", None),
    ("scalar_stat", ("key", "_kmap")),
    ("scalar_point", ("key", "_kmap")),
)

#: Into a new file, copy every table whole and delete the runs left out when they are at
#: most this share of the source's runs (e.g. the deleted ones of a default export).
_WHOLE_COPY_MAX_LEFT_OUT = 0.1

_CREATE_INDEX = re.compile(r"^\s*(CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?)",
                           re.IGNORECASE)


def copy_index_rows(src_path, dest_path, run_ids=None, where=None, params=(), undelete=False,
                    standalone=False, skipped=None):
    """Copy the index rows of runs from the index at ``src_path`` into the one at
    ``dest_path`` (created if missing), in one transaction. Runs already in the
    destination are left alone.

    The runs are ``run_ids`` (any iterable of ids, read as it is consumed), or those the
    SQL condition ``where`` on the source's ``run r`` selects (with ``params``, as
    :func:`rundb.api.selection.where_clause` makes it), or every run.

    :param undelete: record the copies as not deleted (their directories are in
        ``runs/`` at the destination).
    :param standalone: the destination is a standalone file (export --sql): left in
        rollback-journal mode, and a new one is written beside it and renamed into place
        once complete (a failure leaves no partial file).
    :param skipped: called with the id of each selected run already in the destination.
    :returns: the number of runs copied.
    """
    from .url import is_postgres

    if is_postgres(src_path):
        return _copy_from_postgres(src_path, dest_path, run_ids, where, params, undelete,
                                   standalone, skipped)
    open_index(src_path).close()  # the source at the schema version the destination gets
    new = standalone and (not os.path.exists(dest_path) or not os.path.getsize(dest_path))
    if not new:
        open_index(dest_path).close()  # create or migrate the destination
        return _copy(src_path, dest_path, run_ids, where, params, undelete, skipped,
                     standalone, False)
    tmp = os.path.join(os.path.dirname(os.path.abspath(dest_path)),
                       f".{os.path.basename(dest_path)}.tmp-{os.getpid()}")
    try:
        _remove(tmp)
        open_index(tmp).close()
        copied = _copy(src_path, tmp, run_ids, where, params, undelete, skipped, True, True)
        os.replace(tmp, dest_path)
        _fsync_dir(os.path.dirname(os.path.abspath(dest_path)))  # the rename
    finally:
        _remove(tmp)
    return copied


def _copy(src_path, dest_path, run_ids, where, params, undelete, skipped, standalone, new):
    from .sql import sqlite_uri

    conn = sqlite3.connect(sqlite_uri(src_path, "ro"), uri=True, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        ex = conn.execute
        ex(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        ex("PRAGMA foreign_keys = OFF")  # (the transfer optimisation needs them off)
        SQLITE.register_functions(conn)  # what a compiled ``where`` may call
        ex("ATTACH DATABASE ? AS dest", (sqlite_uri(dest_path),))
        if new:
            # A file nobody else sees yet, removed on failure: no journal, no syncs until
            # it is complete (then synced once, and left in rollback-journal mode).
            ex("PRAGMA dest.journal_mode = OFF")
            ex("PRAGMA dest.synchronous = OFF")
            # The rows of runs left out (trashed runs, say) are deleted: overwrite them.
            ex("PRAGMA dest.secure_delete = ON")
        elif standalone:
            ex("PRAGMA dest.journal_mode = DELETE")  # (opening it made it WAL)
        ex("BEGIN IMMEDIATE")  # (a read of the source, the write lock of the destination)
        try:
            copied = _copy_rows(conn, run_ids, where, params, undelete, skipped, new)
        except BaseException:
            if conn.in_transaction:
                ex("ROLLBACK")
            raise
        ex("COMMIT")
        if new:
            ex("PRAGMA dest.journal_mode = DELETE")
            # Synced by SQLite itself (never a descriptor of ours on an index file): a
            # committed write with synchronous FULL fsyncs the whole file.
            ex("PRAGMA dest.synchronous = FULL")
            (version,) = ex("PRAGMA dest.user_version").fetchone()
            ex(f"PRAGMA dest.user_version = {int(version)}")
    finally:
        conn.close()
    return copied


def _copy_rows(conn, run_ids, where, params, undelete, skipped, new):
    ex = conn.execute
    # temp._sel: source rids of the selected runs not yet in the destination (None: all).
    ex("CREATE TEMP TABLE _sel (rid INTEGER PRIMARY KEY)")
    if run_ids is not None:
        ex("CREATE TEMP TABLE _ids (id TEXT PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO temp._ids (id) VALUES (?)",
                         ((i,) for i in run_ids))
        ex("INSERT INTO temp._sel (rid) SELECT r.rid FROM main.run r "
           "JOIN temp._ids i ON i.id = r.id ORDER BY r.rid")
        ex("DROP TABLE temp._ids")
    else:
        ex(f"INSERT INTO temp._sel (rid) SELECT r.rid FROM main.run r WHERE {where or '1'} "
           "ORDER BY r.rid", list(params))
    if not new:  # (a new file has no runs)
        _skip_present(conn, skipped)
    (selected,) = ex("SELECT count(*) FROM temp._sel").fetchone()
    (total,) = ex("SELECT count(*) FROM main.run").fetchone()
    if (new and selected and total - selected <= total * _WHOLE_COPY_MAX_LEFT_OUT
            and _same_columns(conn)):
        _copy_whole(conn)
    else:
        _copy_mapped(conn)
    if undelete:
        ex("UPDATE dest.run SET deleted = 0 WHERE deleted != 0 AND id IN ("
           "SELECT r.id FROM temp._sel s JOIN main.run r ON r.rid = s.rid)")
    ex("DROP TABLE temp._sel")
    return selected


def _skip_present(conn, skipped):
    """Take the runs the destination has out of temp._sel (telling ``skipped`` each id)."""
    ex = conn.execute
    present = ("SELECT s.rid, r.id FROM temp._sel s JOIN main.run r ON r.rid = s.rid "
               "JOIN dest.run d ON d.id = r.id")
    if skipped is not None:
        for _rid, run_id in ex(f"{present} ORDER BY s.rid"):
            skipped(run_id)
    ex(f"DELETE FROM temp._sel WHERE rid IN (SELECT rid FROM ({present}))")


def _copy_whole(conn):
    """Every table copied as it is (rids and interned ids kept), then the rows of the
    runs not in temp._sel deleted, and the names only they used."""
    ex = conn.execute
    for table in ("run", "flag_name", "scalar_key", *(t for t, _m in _CHILD_TABLES)):
        # No column list, WHERE or ORDER BY: what SQLite's transfer optimisation needs.
        ex(f"INSERT INTO dest.{table} SELECT * FROM main.{table}")
    ex("CREATE TEMP TABLE _out (rid INTEGER PRIMARY KEY)")
    ex("INSERT INTO temp._out (rid) SELECT rid FROM dest.run "
       "WHERE rid NOT IN (SELECT rid FROM temp._sel) ORDER BY rid")
    if ex("SELECT EXISTS (SELECT 1 FROM temp._out)").fetchone()[0]:
        for table, _mapped in reversed(_CHILD_TABLES):
            ex(f"DELETE FROM dest.{table} WHERE rid IN (SELECT rid FROM temp._out)")
        ex("DELETE FROM dest.run WHERE rid IN (SELECT rid FROM temp._out)")
        # (index seeks; scalar_point is scanned only for a key no scalar_stat row has)
        ex("DELETE FROM dest.flag_name WHERE NOT EXISTS (SELECT 1 FROM dest.run_flag f "
           "WHERE f.name = flag_name.id)")
        ex("DELETE FROM dest.scalar_key WHERE NOT EXISTS (SELECT 1 FROM dest.scalar_stat s "
           "WHERE s.key = scalar_key.id) AND NOT EXISTS (SELECT 1 FROM dest.scalar_point p "
           "WHERE p.key = scalar_key.id)")
    ex("DROP TABLE temp._out")


def _copy_mapped(conn):
    """The rows of the runs in temp._sel, with new rids and the destination's interned
    ids. Into an empty index, the secondary indexes are made after the rows (one sort
    each) instead of kept current row by row: several times faster for many runs."""
    ex = conn.execute
    rebuild = []
    if ex("SELECT NOT EXISTS (SELECT 1 FROM dest.run)").fetchone()[0]:
        rebuild = ex("SELECT name, sql FROM dest.sqlite_master WHERE type = 'index' "
                     "AND sql IS NOT NULL").fetchall()
        for name, _sql in rebuild:
            ex(f"DROP INDEX dest.{SQLITE.quote_identifier(name)}")
    _copy_mapped_rows(conn)
    for _name, sql in rebuild:
        # The stored statement names no schema: make the index in the destination's.
        ex(_CREATE_INDEX.sub(lambda m: f"{m.group(1)}dest.", sql, count=1))


def _copy_mapped_rows(conn):
    ex = conn.execute
    run_cols = [c for c in _columns(conn, "run") if c != "rid"]
    cols = ", ".join(run_cols)
    ex("CREATE TEMP TABLE _rmap (old INTEGER PRIMARY KEY, new INTEGER)")
    ex("INSERT INTO temp._rmap (old) SELECT rid FROM temp._sel ORDER BY rid")
    ex(f"INSERT INTO dest.run ({cols}) SELECT {cols} FROM main.run "
       "WHERE rid IN (SELECT old FROM temp._rmap) ORDER BY rid")
    ex("UPDATE temp._rmap SET new = (SELECT d.rid FROM dest.run d JOIN main.run s "
       "ON s.id = d.id WHERE s.rid = temp._rmap.old)")
    # Interned names: add the ones the destination lacks, then map source id -> dest id.
    ex("INSERT OR IGNORE INTO dest.flag_name (name) SELECT n.name FROM main.flag_name n "
       "WHERE n.id IN (SELECT DISTINCT f.name FROM main.run_flag f "
       "JOIN temp._rmap m ON m.old = f.rid)")
    ex("CREATE TEMP TABLE _fmap (old INTEGER PRIMARY KEY, new INTEGER)")
    ex("INSERT INTO temp._fmap (old, new) SELECT s.id, d.id FROM main.flag_name s "
       "JOIN dest.flag_name d ON d.name = s.name")
    ex("INSERT OR IGNORE INTO dest.scalar_key (prefix, tag) SELECT k.prefix, k.tag "
       "FROM main.scalar_key k WHERE k.id IN ("
       "SELECT s.key FROM main.scalar_stat s JOIN temp._rmap m ON m.old = s.rid UNION "
       "SELECT p.key FROM main.scalar_point p JOIN temp._rmap m ON m.old = p.rid)")
    ex("CREATE TEMP TABLE _kmap (old INTEGER PRIMARY KEY, new INTEGER)")
    ex("INSERT INTO temp._kmap (old, new) SELECT s.id, d.id FROM main.scalar_key s "
       "JOIN dest.scalar_key d ON d.prefix = s.prefix AND d.tag = s.tag")
    for table, mapped in _CHILD_TABLES:
        names = [c for c in _columns(conn, table) if c != "rid"]
        select = []
        joins = "JOIN temp._rmap m ON m.old = t.rid"
        for name in names:
            if mapped and name == mapped[0]:
                select.append("x.new")
                joins += f" JOIN temp.{mapped[1]} x ON x.old = t.{name}"
            else:
                select.append(f"t.{name}")
        # In the source's storage order: a scan of its primary key (rid first), so the rows
        # go into the destination's in order too; SQLite would otherwise pick a secondary
        # index and read (and write) the rows at random.
        order = " ORDER BY t.rowid" if table == "scalar_point" else " ORDER BY t.rid"
        ex(f"INSERT INTO dest.{table} (rid, {', '.join(names)}) "
           f"SELECT m.new, {', '.join(select)} FROM main.{table} t {joins}{order}")
    for name in ("_rmap", "_fmap", "_kmap"):
        ex(f"DROP TABLE temp.{name}")


def _columns(conn, table, schema="dest"):
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def _same_columns(conn):
    """True when every copied table has the same columns, in the same order, on both sides
    (``SELECT *`` copies by position)."""
    return all(_columns(conn, table, "main") == _columns(conn, table)
               for table in ("run", "flag_name", "scalar_key", *(t for t, _m in _CHILD_TABLES)))


def _copy_from_postgres(src_path, dest_path, run_ids, where, params, undelete, standalone,
                        skipped):
    # Run by run through the reader and writer (rundb.index.merge): the ids are listed.
    from . import reader
    from .merge import copy_runs_to_file

    with contextlib.closing(open_index(src_path)) as src:
        if run_ids is None:
            run_ids = reader.ids_of(src, reader.run_rids(src, where or "1", params,
                                                         order="r.rid"))
        run_ids = list(run_ids)
        if skipped is not None:
            present = index_ids(dest_path)
            for run_id in run_ids:
                if run_id in present:
                    skipped(run_id)
        added = copy_runs_to_file(src, dest_path, run_ids, undelete,
                                  "DELETE" if standalone else None)
        return len(added)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path):
    for name in (path, f"{path}-journal", f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(name)


def is_index(path):
    """True when ``path`` is an SQLite file holding a rundb index."""
    try:
        conn = sqlite3.connect(path)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            has_run = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return version > 0 and has_run is not None


def index_ids(path):
    """Run ids in the index at ``path`` (empty when there is none yet)."""
    if not os.path.exists(path) or not os.path.getsize(path):
        return set()
    index = open_index(path, create=False)
    try:
        return {row[0] for row in index.conn.execute("SELECT id FROM run")}
    finally:
        index.close()
