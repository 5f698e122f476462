"""The floor for ``compare --csv`` and ``select --min loss``: hand-written SQL through sqlite3.

Run with any python: ``python sqlite_floor.py compare|select INDEX_DB``. It reads rundb's
index tables directly (no rundb import): ``compare`` writes every run with its flags and the
last value of each scalar as CSV, ``select`` prints the id of the run with the lowest last
``loss``. ARCHITECTURE.md's budget puts rundb's commands within 2x of this, process against
process.
"""

import csv
import sqlite3
import sys

_BARE = (".rundb", "")  # prefixes shown without a prefix


def compare(conn, out):
    runs = conn.execute(
        "SELECT rid, id, op, started, stopped, status, label FROM run "
        "WHERE deleted = 0 ORDER BY created DESC, rid DESC"
    ).fetchall()
    flag_names = conn.execute("SELECT id, name FROM flag_name ORDER BY name").fetchall()
    keys = conn.execute(
        "SELECT id, tag FROM scalar_key WHERE prefix IN (?, ?) ORDER BY tag", _BARE
    ).fetchall()
    flags = {}
    for rid, name, value in conn.execute("SELECT rid, name, value FROM run_flag"):
        flags[rid, name] = value
    last = {}
    for rid, key, value in conn.execute("SELECT rid, key, last_val FROM scalar_stat"):
        last[rid, key] = value
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["run", "op", "started", "stopped", "status", "label"]
               + [n for _, n in flag_names] + [t for _, t in keys])
    for rid, id_, op, started, stopped, status, label in runs:
        w.writerow([id_[:8], op, started, stopped, status, label]
                   + [flags.get((rid, f)) for f, _ in flag_names]
                   + [last.get((rid, k)) for k, _ in keys])


def select_min_loss(conn, out):
    row = conn.execute(
        "SELECT r.id FROM scalar_stat s "
        "JOIN scalar_key k ON k.id = s.key JOIN run r ON r.rid = s.rid "
        "WHERE k.tag = 'loss' AND k.prefix IN (?, ?) AND r.deleted = 0 "
        "ORDER BY s.last_val LIMIT 1",
        _BARE,
    ).fetchone()
    out.write(f"{row[0]}\n")


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    {"compare": compare, "select": select_min_loss}[mode](db, sys.stdout)
