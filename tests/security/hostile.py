"""Builders of hostile inputs for the security tests: archive runs with hand-written
meta.json documents, and homes whose index or files were tampered with."""

import json
import os
import sqlite3
import uuid

from rundb.index import reader, store
from rundb.run import Run, now_us


def good_meta(run_id=None, **fields):
    """A meta.json document rundb itself would write."""
    meta = {
        "id": run_id or uuid.uuid4().hex, "op": "train", "status": "completed",
        "created": now_us(), "started": None, "stopped": None, "exit_status": 0,
        "label": "", "comment": "", "marked": False, "parent": None,
        "sourcecode_digest": None, "host": "h", "user": "u", "pid": None,
        "flags": {"lr": 0.1}, "tags": [], "attrs": {}, "output_scalars": None,
    }
    meta.update(fields)
    return meta


def archive_run(archive, meta, name=None):
    """Write run directory ``archive/runs/<name>`` holding ``meta`` (any JSON, or text)."""
    if name is None:
        run_id = meta.get("id") if isinstance(meta, dict) else None
        name = run_id if isinstance(run_id, str) and run_id.isalnum() else uuid.uuid4().hex
    run_dir = os.path.join(str(archive), "runs", name)
    os.makedirs(os.path.join(run_dir, ".rundb"))
    with open(os.path.join(run_dir, ".rundb", "meta.json"), "w", encoding="utf-8") as f:
        f.write(meta if isinstance(meta, str) else json.dumps(meta))
    return run_dir


def archive_with(archive, bad_meta, good=9):
    """An archive holding ``good`` valid runs and one run with ``bad_meta``."""
    good_ids = [archive_run(archive, good_meta()) for _ in range(good)]
    bad = archive_run(archive, bad_meta)
    return bad, [os.path.basename(d) for d in good_ids]


def home_run(home, index, **fields):
    """A real run in ``home`` (meta.json and index rows)."""
    fields = {"op": "train", "status": "completed", "created": now_us(), **fields}
    run = Run(id=uuid.uuid4().hex, **fields)
    run.dir = home.run_dir(run.id)
    store.create_run(index, run)
    return reader.get_run(index, run.id)


def set_index_id(home, old_id, new_id, deleted=None):
    """Tamper with the home's index: give the row of ``old_id`` the id ``new_id``."""
    conn = sqlite3.connect(home.index_path)
    try:
        conn.execute("UPDATE run SET id = ? WHERE id = ?", (new_id, old_id))
        if deleted is not None:
            conn.execute("UPDATE run SET deleted = ? WHERE id = ?", (int(deleted), new_id))
        conn.commit()
    finally:
        conn.close()


def tree(path):
    """Every path under ``path`` (relative), so a test can prove nothing appeared."""
    out = []
    for root, dirs, files in os.walk(str(path)):
        for name in dirs + files:
            out.append(os.path.relpath(os.path.join(root, name), str(path)))
    return sorted(out)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()
