"""`rundb export --sql` of whole indexes: every run copied without a list of runs in
Python (memory flat at any number of runs), trashed runs left out without a trace."""

import os
import sqlite3
import tracemalloc

import pytest
from click.testing import CliRunner
from test_export import dump, only

from rundb import api
from rundb.api.selection import RunFilter
from rundb.home import Home
from rundb.index import copy
from rundb.index.db import open_index

#: Every DELETED_EVERY-th run of a corpus is trashed; they alone have flag "gone" and
#: scalar "only_trashed".
DELETED_EVERY = 50


def make_corpus(tmp_path, n_runs, name="home"):
    """A home whose index holds ``n_runs`` runs, written by SQL (no run directories)."""
    home = Home(str(tmp_path / name)).ensure()
    open_index(home.index_path).close()
    conn = sqlite3.connect(home.index_path)
    each = "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?) "
    trashed = f"n % {DELETED_EVERY} = 0"
    with conn:
        conn.execute("INSERT INTO flag_name (id, name) VALUES (1, 'lr'), (2, 'gone')")
        conn.execute("INSERT INTO scalar_key (id, prefix, tag) VALUES (1, '.rundb', 'loss'), "
                     "(2, '', 'only_trashed')")
        conn.execute(each + "INSERT INTO run (rid, id, op, status, created, started, stopped, "
                     "label, deleted) SELECT n, printf('%032x', n * 7919), 'train', 'completed', "
                     "1700000000000000 + n * 1000000, 1700000000000000 + n * 1000000, "
                     f"1700000000500000 + n * 1000000, 'run ' || n, {trashed} FROM i", (n_runs,))
        conn.execute(each + "INSERT INTO run_flag (rid, name, value, type) "
                     "SELECT n, 1, n * 0.001, 'float' FROM i UNION ALL "
                     f"SELECT n, 2, 'x', 'str' FROM i WHERE {trashed}", (n_runs,))
        conn.execute(each + "INSERT INTO run_attr (rid, name, value) "
                     "SELECT n, 'cmd', '\"python train.py\"' FROM i", (n_runs,))
        conn.execute(each + "INSERT INTO scalar_stat (rid, key, first_val, first_step, "
                     "last_val, last_step, min_val, min_step, max_val, max_step, count, total) "
                     "SELECT n, 1, 1.0, 0, 1.0 / n, 2, 1.0 / n, 2, 1.0, 0, 3, 2.0 FROM i "
                     f"UNION ALL SELECT n, 2, 5.0, 0, 5.0, 0, 5.0, 0, 5.0, 0, 1, 5.0 FROM i "
                     f"WHERE {trashed}", (n_runs,))
        conn.execute(each + ", s(step) AS (VALUES (0), (1), (2)) "
                     "INSERT INTO scalar_point (rid, key, step, value, time) "
                     "SELECT n, 1, step, 1.0 / (n + step), n + step FROM i, s ORDER BY n, step",
                     (n_runs,))
        conn.execute(each + "INSERT INTO scalar_point (rid, key, step, value, time) "
                     f"SELECT n, 2, 0, 5.0, n FROM i WHERE {trashed}", (n_runs,))
    conn.close()
    return home


def export(home, path, *args):
    from rundb_cli.main import cli

    result = CliRunner().invoke(cli, ["-H", home.path, "export", "--sql", str(path), *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def ids(path, where="1"):
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute(f"SELECT id FROM run WHERE {where}")}
    finally:
        conn.close()


def test_whole_index_export_leaves_out_trashed_runs_without_a_trace(tmp_path):
    home = make_corpus(tmp_path, 200)
    kept, trashed = ids(home.index_path, "deleted = 0"), ids(home.index_path, "deleted = 1")
    path = tmp_path / "out" / "runs.db"
    path.parent.mkdir()
    result = export(home, path)
    assert result.stderr == f"Exported {len(kept)} run(s) to {path}\n"
    assert dump(path) == only(dump(home.index_path), kept)
    assert os.listdir(path.parent) == ["runs.db"]  # built beside it, renamed into place
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # the names only trashed runs used went with them
        assert [r[0] for r in conn.execute("SELECT name FROM flag_name")] == ["lr"]
        assert [r[0] for r in conn.execute("SELECT tag FROM scalar_key")] == ["loss"]
        for table in ("run_flag", "run_attr", "scalar_stat", "scalar_point"):
            rids = {r[0] for r in conn.execute(f"SELECT DISTINCT rid FROM {table}")}
            assert rids == {r[0] for r in conn.execute("SELECT rid FROM run")}
    finally:
        conn.close()
    data = path.read_bytes()
    assert not [i for i in trashed if i.encode() in data]  # deleted rows were overwritten
    assert b"only_trashed" not in data and b"run 50" not in data
    # a rundb index: opened as one, and adding to it copies only what it lacks
    open_index(str(path), create=False).close()
    result = api.export_sql(home, str(path), flt=RunFilter(deleted=None))
    assert (result.copied, result.skipped) == (len(trashed), len(kept))
    assert dump(path) == dump(home.index_path)


def test_whole_export_into_an_empty_file_and_by_filter(tmp_path):
    home = make_corpus(tmp_path, 100)
    path = tmp_path / "runs.db"
    path.touch()  # an empty file is a new export
    export(home, path, "-F", "=lr < 0.0905")  # runs 1-90 (and not 50): 89 of 100
    wanted = ids(home.index_path, "rid < 91 AND deleted = 0")
    assert ids(path) == wanted
    assert dump(path) == only(dump(home.index_path), wanted)


def test_copy_selects_runs_in_sql_and_returns_a_count(tmp_path):
    home = make_corpus(tmp_path, 100)
    dest = str(tmp_path / "runs.db")
    copied = copy.copy_index_rows(home.index_path, dest, where="r.deleted = ?", params=[1],
                                  standalone=True)
    assert copied == 100 // DELETED_EVERY
    assert ids(dest) == ids(home.index_path, "deleted = 1")
    seen = []
    copied = copy.copy_index_rows(home.index_path, dest, iter(sorted(ids(home.index_path))),
                                  standalone=True, skipped=seen.append)
    assert (copied, sorted(seen)) == (98, sorted(ids(home.index_path, "deleted = 1")))
    assert dump(dest) == dump(home.index_path)
    result = api.export_sql(home, dest)
    assert (result.copied, result.skipped) == (0, 98)


def _peak_python_memory(home, path):
    tracemalloc.start()
    try:
        export(home, path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("small, large", [(2_000, 20_000)])
def test_export_memory_does_not_grow_with_the_runs(tmp_path, small, large):
    """Peak Python memory (tracemalloc: every object Python makes, not SQLite's pages) of
    a whole export: the same at 2,000 and 20,000 runs. A list of the run ids alone would
    add some 100 bytes a run: 1.8 MB here."""
    homes = [make_corpus(tmp_path, n, f"home-{n}") for n in (small, large)]
    export(homes[0], tmp_path / "warm.db")  # imports and caches, once
    peaks = [_peak_python_memory(h, tmp_path / f"{i}.db") for i, h in enumerate(homes)]
    assert ids(tmp_path / "1.db") == ids(homes[1].index_path, "deleted = 0")
    assert peaks[1] - peaks[0] < 200_000, peaks


@pytest.mark.backends
@pytest.mark.parametrize("args, specs, ops", [((), [], []), (("-o", "eval"), [], ["eval"]),
                                              (("1", "2"), ["1", "2"], [])])
def test_export_sql_from_either_backend(cli, home, index, tmp_path, args, specs, ops):
    from test_sql import make_runs

    runs = make_runs(home, index)
    api.delete_runs(home, [runs[0].id])
    path = tmp_path / "runs.db"
    result = cli("export", "--sql", str(path), *args)
    assert result.exit_code == 0, result.stderr
    wanted = {r.id for r in api.runs(home, specs, RunFilter(ops=ops))}
    assert result.stderr == f"Exported {len(wanted)} run(s) to {path}\n"
    assert ids(path) == wanted and runs[0].id not in wanted
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".runs.db")]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (len(wanted),)
        (points,) = conn.execute("SELECT count(*) FROM scalars").fetchone()
    finally:
        conn.close()
    assert points == sum(len(p) for p in api.scalar_points(home, wanted).values())
