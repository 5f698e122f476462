"""The index: typed flags, scalar summaries, concurrency, schema versions."""

import math
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from rundb.errors import IndexSchemaError
from rundb.index import reader, writer
from rundb.index.db import open_index
from rundb.index.schema import SCHEMA_VERSION
from rundb.ops.runner import new_run


@pytest.mark.parametrize("value", [1, -7, 2.5, 1.0, True, False, "hello", "", None, [1, "a", 2.0], {"a": 1}])
def test_flag_reads_back_with_its_type(home, index, value):
    run = new_run(home, index, "op", {"f": value}, status="completed")
    back = reader.load_runs(index, [run.rid])[0].flags["f"]
    assert back == value
    assert type(back) is type(value)


def test_flags_keep_sql_types_for_comparison(home, index):
    run = new_run(home, index, "op", {"i": 3, "f": 0.5, "s": "adam", "b": True}, status="completed")
    rows = dict(index.conn.execute(
        "SELECT n.name, typeof(f.value) FROM run_flag f JOIN flag_name n ON n.id = f.name "
        "WHERE f.rid = ?", (run.rid,)))
    assert rows == {"i": "integer", "f": "real", "s": "text", "b": "integer"}


def test_scalar_summary_matches_seed(home, index):
    # seed: x logged 1@1, 2@2, 3@3, 4@3
    run = new_run(home, index, "op", {}, status="completed")
    writer.add_scalars(index, run.rid, [(".rundb", "x", 1, 1.0, 0), (".rundb", "x", 2, 2.0, 0)])
    writer.add_scalars(index, run.rid, [(".rundb", "x", 3, 3.0, 0), (".rundb", "x", 3, 4.0, 0)])
    [s] = reader.scalar_summaries(index, [run.rid])[run.rid]
    assert s == {
        "prefix": ".rundb", "tag": "x",
        "first_val": 1.0, "first_step": 1, "last_val": 4.0, "last_step": 3,
        "min_val": 1.0, "min_step": 1, "max_val": 4.0, "max_step": 3,
        "avg_val": 2.5, "count": 4, "total": 10.0,
    }
    view = index.conn.execute("SELECT avg_val, count, total FROM scalar_summary").fetchone()
    assert view == (2.5, 4, 10.0)


def test_summary_merges_across_batches_like_one_batch(home, index):
    values = [(i % 7) * 0.5 - 1 for i in range(50)]
    a = new_run(home, index, "op", {}, status="completed")
    b = new_run(home, index, "op", {}, status="completed")
    points = [(".rundb", "loss", i, v, 0) for i, v in enumerate(values)]
    writer.add_scalars(index, a.rid, points)
    for i in range(0, 50, 7):
        writer.add_scalars(index, b.rid, points[i : i + 7])
    sa = reader.scalar_summaries(index, [a.rid])[a.rid]
    sb = reader.scalar_summaries(index, [b.rid])[b.rid]
    assert sa == sb
    assert sa[0]["min_val"] == min(values) and sa[0]["min_step"] == values.index(min(values))
    assert sa[0]["max_step"] == values.index(max(values))


@pytest.mark.backends
def test_nan_points_kept_and_shown_last_but_left_out_of_min_max(home, index):
    run = new_run(home, index, "op", {}, status="completed")
    writer.add_scalars(index, run.rid, [("", "x", 0, 1.0, 0), ("", "x", 1, float("nan"), 0)])
    [s] = reader.scalar_summaries(index, [run.rid])[run.rid]
    assert s["count"] == 1 and math.isnan(s["last_val"]) and s["last_step"] == 1
    assert s["min_val"] == s["max_val"] == s["first_val"] == 1.0
    points = reader.scalar_points(index, run.rid)
    assert [p[2] for p in points] == [0, 1] and math.isnan(points[1][3])


@pytest.mark.backends
@pytest.mark.parametrize("batches", [
    [[1e-3, 3.2e20, float("inf"), float("nan")]],
    [[1e-3], [3.2e20], [float("inf")], [float("nan")]],
    [[1e-3, 3.2e20], [float("inf"), float("nan")]],
])
def test_non_finite_values_stored_faithfully_in_any_batches(home, index, batches):
    run = new_run(home, index, "op", {}, status="completed")
    step = 0
    for batch in batches:
        writer.add_scalars(index, run.rid, [("", "loss", (step := step + 1), v, 0) for v in batch])
    [s] = reader.scalar_summaries(index, [run.rid])[run.rid]
    assert (s["first_val"], s["min_val"], s["min_step"], s["max_val"], s["max_step"]) == (
        1e-3, 1e-3, 1, float("inf"), 3)
    assert math.isnan(s["last_val"]) and s["last_step"] == 4 and s["count"] == 3
    values = [p[3] for p in reader.scalar_points(index, run.rid)]
    assert values[:3] == [1e-3, 3.2e20, float("inf")] and math.isnan(values[3])


@pytest.mark.backends
def test_all_nan_series_has_nan_first_and_last_and_no_min(home, index):
    run = new_run(home, index, "op", {}, status="completed")
    writer.add_scalars(index, run.rid, [("", "x", 5, float("nan"), 0)])
    writer.add_scalars(index, run.rid, [("", "x", 6, float("-inf"), 0), ("", "x", 7, float("inf"), 0)])
    [s] = reader.scalar_summaries(index, [run.rid])[run.rid]
    assert math.isnan(s["first_val"]) and s["first_step"] == 5
    assert s["last_val"] == float("inf") and s["last_step"] == 7
    assert (s["min_val"], s["max_val"], s["count"]) == (float("-inf"), float("inf"), 2)


def test_newer_schema_gives_clear_error(home):
    conn = sqlite3.connect(home.index_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(IndexSchemaError, match="newer than this rundb supports"):
        open_index(home.index_path)


def test_file_that_is_not_a_database(home):
    with open(home.index_path, "wb") as f:
        f.write(b"this is not sqlite" * 100)
    with pytest.raises(IndexSchemaError, match="index .* is damaged .*'rundb index rebuild'"):
        open_index(home.index_path)


def test_newer_schema_via_cli_is_one_line(cli, home):
    open_index(home.index_path).close()
    conn = sqlite3.connect(home.index_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    result = cli("runs")
    assert result.exit_code == 1
    assert result.stderr.startswith("rundb: index ")
    assert "newer than this rundb supports" in result.stderr
    assert result.stderr.count("\n") == 1


def test_atomic_rolls_back_on_error(home, index):
    with pytest.raises(RuntimeError):
        with index.atomic():
            new_run(home, index, "op", {}, status="completed")
            raise RuntimeError("boom")
    assert index.conn.execute("SELECT count(*) FROM run").fetchone()[0] == 0


def test_nested_atomic_rolls_back_the_inner_block_only(home, index):
    with index.atomic():
        new_run(home, index, "outer", {}, status="completed")
        with pytest.raises(RuntimeError):
            with index.atomic():
                new_run(home, index, "inner", {}, status="completed")
                raise RuntimeError("boom")
        new_run(home, index, "after", {}, status="completed")
    ops = [r[0] for r in index.conn.execute("SELECT op FROM run ORDER BY rid")]
    assert ops == ["outer", "after"] and not index.conn.in_transaction
    with index.atomic():  # the depth went back to 0: a new transaction, not a savepoint
        assert index._depth == 1


def test_a_writing_block_that_fails_releases_the_run_lock(home):
    # open_home_index(write=True) holds the home's run lock shared; an error inside
    # the block must release it, or `index rebuild` would wait for this process forever.
    from rundb import runlock
    from rundb.index.db import open_home_index

    with pytest.raises(RuntimeError):
        with open_home_index(home, write=True):
            raise RuntimeError("boom")
    assert not runlock._held
    with runlock.exclusive(home.path):
        pass


_WRITER = textwrap.dedent("""
    import sys
    from rundb.home import Home
    from rundb.index.db import open_index
    from rundb.index import writer
    from rundb.ops.runner import new_run
    home = Home(sys.argv[1])
    index = open_index(home.index_path)
    run = new_run(home, index, "worker", {"n": int(sys.argv[2])}, status="completed")
    for start in range(0, 20000, 500):
        writer.add_scalars(index, run.rid, [
            (".rundb", "loss", i, float(i), 0.0) for i in range(start, start + 500)])
    print(run.id)
""")


@pytest.mark.slow
def test_eight_concurrent_writers_lose_nothing(home):
    open_index(home.index_path).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, home.path, str(n)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(8)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert "locked" not in err
    index = open_index(home.index_path)
    rows = index.conn.execute(
        "SELECT r.id, count(*) FROM scalar_point p JOIN run r ON r.rid = p.rid GROUP BY r.id"
    ).fetchall()
    assert len(rows) == 8 and all(n == 20000 for _, n in rows)
    stats = index.conn.execute("SELECT count, total, max_val FROM scalar_stat").fetchall()
    assert stats == [(20000, float(sum(range(20000))), 19999.0)] * 8
