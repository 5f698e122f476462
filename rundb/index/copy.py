"""Copies of index rows between SQLite index files (export --sql, export and import of run
directories), in one transaction each: ``INSERT ... SELECT`` over an attached source, with
integer keys (run, flag name, scalar key) mapped to the destination's."""

import contextlib
import os
import sqlite3

from .db import BUSY_TIMEOUT_MS, open_index
from .dialect import SQLITE

# Child tables copied run by run: (table, key column remapped through which map, columns).
# scalar_point is copied in its write order (rowid), which readers rely on.
_CHILD_TABLES = (
    ("run_flag", ("name", "_fmap")),
    ("run_tag", None),
    ("run_attr", None),
    ("scalar_stat", ("key", "_kmap")),
    ("scalar_point", ("key", "_kmap")),
)


def copy_index_rows(src_path, dest_path, run_ids, undelete=False, journal_mode=None):
    """Copy the index rows of ``run_ids`` from the index at ``src_path`` into the one at
    ``dest_path`` (created if missing), in one transaction. Runs already in the
    destination are left alone.

    :param undelete: record the copies as not deleted (their directories are in
        ``runs/`` at the destination).
    :param journal_mode: set the destination's journal mode first (``DELETE`` for a
        standalone file: the rows are then written once, not to a WAL and again to the file).
    :returns: the ids whose rows were copied.
    """
    from .sql import sqlite_uri
    from .url import is_postgres

    if is_postgres(src_path):
        from .merge import copy_runs_to_file

        with contextlib.closing(open_index(src_path)) as src:
            return copy_runs_to_file(src, dest_path, run_ids, undelete, journal_mode)
    open_index(dest_path).close()  # create or migrate the destination
    open_index(src_path).close()  # the source at the same schema version
    conn = sqlite3.connect(sqlite_uri(dest_path), uri=True, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if journal_mode:
            conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        conn.execute("ATTACH DATABASE ? AS src", (sqlite_uri(src_path, "ro"),))
        conn.execute("CREATE TEMP TABLE _ids (id TEXT PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO temp._ids (id) VALUES (?)",
                         ((i,) for i in run_ids))
        conn.execute("BEGIN IMMEDIATE")
        try:
            copied = _copy_rows(conn, undelete)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()
    return copied


def _copy_rows(conn, undelete):
    # Into a new (empty) index, the secondary indexes are made after the rows (one sort
    # each) instead of kept current row by row: several times faster for many runs.
    ex = conn.execute
    rebuild = []
    if ex("SELECT NOT EXISTS (SELECT 1 FROM main.run)").fetchone()[0]:
        rebuild = ex("SELECT name, sql FROM main.sqlite_master WHERE type = 'index' "
                     "AND sql IS NOT NULL").fetchall()
        for name, _sql in rebuild:
            ex(f"DROP INDEX main.{SQLITE.quote_identifier(name)}")
    copied = _copy_run_rows(conn, undelete)
    for _name, sql in rebuild:
        ex(sql)
    return copied


def _copy_run_rows(conn, undelete):
    ex = conn.execute
    run_cols = [c for c in _columns(conn, "run") if c != "rid"]
    cols = ", ".join(run_cols)
    # Source rids to copy: selected, and not already in the destination.
    ex("CREATE TEMP TABLE _rmap (old INTEGER PRIMARY KEY, new INTEGER)")
    ex("INSERT INTO temp._rmap (old) SELECT s.rid FROM src.run s JOIN temp._ids i ON i.id = s.id "
       "WHERE NOT EXISTS (SELECT 1 FROM main.run d WHERE d.id = s.id) ORDER BY s.rid")
    ex(f"INSERT INTO main.run ({cols}) SELECT {cols} FROM src.run "
       "WHERE rid IN (SELECT old FROM temp._rmap) ORDER BY rid")
    ex("UPDATE temp._rmap SET new = (SELECT d.rid FROM main.run d JOIN src.run s ON s.id = d.id "
       "WHERE s.rid = temp._rmap.old)")
    if undelete:
        ex("UPDATE main.run SET deleted = 0 WHERE rid IN (SELECT new FROM temp._rmap)")
    # Interned names: add the ones the destination lacks, then map source id -> dest id.
    ex("INSERT OR IGNORE INTO main.flag_name (name) SELECT n.name FROM src.flag_name n "
       "WHERE n.id IN (SELECT DISTINCT f.name FROM src.run_flag f "
       "JOIN temp._rmap m ON m.old = f.rid)")
    ex("CREATE TEMP TABLE _fmap (old INTEGER PRIMARY KEY, new INTEGER)")
    ex("INSERT INTO temp._fmap (old, new) SELECT s.id, d.id FROM src.flag_name s "
       "JOIN main.flag_name d ON d.name = s.name")
    ex("INSERT OR IGNORE INTO main.scalar_key (prefix, tag) SELECT k.prefix, k.tag "
       "FROM src.scalar_key k WHERE k.id IN ("
       "SELECT s.key FROM src.scalar_stat s JOIN temp._rmap m ON m.old = s.rid UNION "
       "SELECT p.key FROM src.scalar_point p JOIN temp._rmap m ON m.old = p.rid)")
    ex("CREATE TEMP TABLE _kmap (old INTEGER PRIMARY KEY, new INTEGER)")
    ex("INSERT INTO temp._kmap (old, new) SELECT s.id, d.id FROM src.scalar_key s "
       "JOIN main.scalar_key d ON d.prefix = s.prefix AND d.tag = s.tag")
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
        ex(f"INSERT INTO main.{table} (rid, {', '.join(names)}) "
           f"SELECT m.new, {', '.join(select)} FROM src.{table} t {joins}{order}")
    copied = [row[0] for row in ex(
        "SELECT d.id FROM temp._rmap m JOIN main.run d ON d.rid = m.new ORDER BY m.old")]
    for name in ("_rmap", "_fmap", "_kmap"):
        ex(f"DROP TABLE temp.{name}")
    return copied


def _columns(conn, table):
    return [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]


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
