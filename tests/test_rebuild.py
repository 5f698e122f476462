"""`index rebuild` recreates the index from run directories; `index check` spots drift."""

import os
import sqlite3
import sys

import pytest

from rundb.index import reader
from rundb.index.db import open_index
from rundb.index.rebuild import check, rebuild
from rundb.tfevents import ScalarEventWriter
from rundb.outputscalars import OutputScalarParser
from rundb.ops.runner import execute, new_run
from rundb.run import meta_path

SCRIPT = r"""
import os, sys
from rundb.tfevents import ScalarEventWriter
for step in range(1, 4):
    print(f"loss: {1.0 / step} (step {step})")
    print(f"acc: {0.3 * step}")
print("warn: 2", file=sys.stderr)
with ScalarEventWriter("val") as w:
    for step in range(3):
        w.add_scalar("acc", 0.5 + step, step)
"""


def make_runs(home, index, n=3):
    config = OutputScalarParser(None).patterns_config
    runs = []
    for i in range(n):
        run = new_run(home, index, "train.py", {"lr": 0.1 * (i + 1), "name": f"r{i}", "ok": i % 2 == 0},
                      label=f"run {i}", tags=["t"], output_scalars=config)
        runs.append(execute(home, index, run, [sys.executable, "-c", SCRIPT], echo=False))
    return runs


def dump(index):
    """Every index row that describes runs, keyed so that rowids do not matter."""
    conn = index.conn
    q = lambda sql: sorted(tuple(r) for r in conn.execute(sql))
    return {
        "runs": q("SELECT id, op, status, started, stopped, exit_status, label, marked, parent, deleted FROM run"),
        "flags": q("SELECT run, name, value, type FROM flags"),
        "tags": q("SELECT run, tag FROM tags"),
        "attrs": q("SELECT run, name, value FROM attrs"),
        "summary": q("SELECT run, prefix, tag, first_val, first_step, last_val, last_step, "
                     "min_val, min_step, max_val, max_step, count, total FROM scalar_summary"),
        "points": q("SELECT run, prefix, tag, step, value FROM scalars"),
    }


@pytest.mark.slow
def test_rebuild_restores_identical_rows(home, index):
    runs = make_runs(home, index)
    assert all(r.status == "completed" for r in runs)
    before = dump(index)
    # loss, acc, warn (stderr lines are parsed too) and val#acc from the event file
    assert len(before["summary"]) == 3 * 4
    index.close()
    os.remove(home.index_path)
    result = rebuild(home)
    assert result.indexed == 3 and result.errors == []
    after = dump(open_index(home.index_path))
    assert after == before


@pytest.mark.slow
def test_check_reports_nothing_then_a_tampered_row(home, index):
    run = make_runs(home, index, n=1)[0]
    assert check(home) == []
    index.conn.execute("UPDATE run_flag SET value = 9.9 WHERE rid = ?", (run.rid,))
    diffs = check(home)
    assert len(diffs) == 1 and diffs[0].startswith(f"{run.short_id}: flags differs")


def test_rebuild_and_check_report_progress_to_the_last_run(home, index):
    """`index rebuild` and `index check` show a progress bar on a terminal: both report
    (done, total) as they read the run directories, ending at the total."""
    from rundb import api

    for i in range(3):
        new_run(home, index, "op", {"a": i}, status="completed")
    seen = {"rebuild": [], "check": []}
    assert api.check_index(home, progress=lambda d, t: seen["check"].append((d, t))) == []
    index.close()
    api.rebuild_index(home, progress=lambda d, t: seen["rebuild"].append((d, t)))
    for calls in seen.values():
        assert calls and calls[-1] == (3, 3)
        assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_check_cli_exit_status(cli, home, index):
    run = new_run(home, index, "op", {"a": 1}, status="completed")
    assert cli("index", "check").exit_code == 0
    index.conn.execute("UPDATE run SET label = 'tampered' WHERE rid = ?", (run.rid,))
    result = cli("index", "check")
    assert result.exit_code == 1
    assert "label differs (index 'tampered', files '')" in result.stdout


def test_check_finds_missing_and_orphan_rows(home, index):
    a = new_run(home, index, "op", {}, status="completed")
    b = new_run(home, index, "op", {}, status="completed")
    index.conn.execute("DELETE FROM run WHERE rid = ?", (a.rid,))
    import shutil
    shutil.rmtree(b.dir)
    diffs = check(home)
    assert f"{a.short_id}: missing from the index" in diffs
    assert f"{b.short_id}: in the index but has no run directory" in diffs


def test_corrupt_meta_is_reported_and_others_indexed(home, index, cli):
    good = [new_run(home, index, "op", {"i": i}, status="completed") for i in range(3)]
    bad = new_run(home, index, "op", {}, status="completed")
    with open(meta_path(bad.dir), "w") as f:
        f.write("{not json")
    result = cli("index", "rebuild")
    assert result.exit_code == 1
    assert bad.dir in result.stderr and "cannot read meta.json" in result.stderr
    assert "Indexed 3 run(s)" in result.stderr
    ids = {r.id for r in reader.load_runs(open_index(home.index_path), reader.run_rids(open_index(home.index_path)))}
    assert ids == {r.id for r in good}
    assert os.path.exists(bad.dir), "a bad run directory is never removed"


def test_rebuild_keeps_deleted_runs_in_trash(home, index, cli):
    run = new_run(home, index, "op", {}, status="completed")
    assert cli("runs", "delete", "1", "-y").exit_code == 0
    os.remove(home.index_path)
    rebuild(home)
    assert cli("runs").stdout == ""
    assert run.short_id in cli("runs", "list", "--deleted").stdout


def test_rebuild_reads_event_files_written_by_api(home, index):
    run = new_run(home, index, "op", {}, status="completed")
    with ScalarEventWriter(os.path.join(run.dir, ".rundb")) as w:
        w.add_scalar("loss", 0.25, 7)
    rebuild(home)
    ix = open_index(home.index_path)
    [s] = reader.scalar_summaries(ix, [reader.rid_of(ix, run.id)]).popitem()[1]
    assert (s["prefix"], s["tag"], s["last_val"], s["last_step"]) == (".rundb", "loss", 0.25, 7)


def test_rebuild_on_empty_home(home):
    result = rebuild(home)
    assert result.indexed == 0
    assert sqlite3.connect(home.index_path).execute("SELECT count(*) FROM run").fetchone() == (0,)
