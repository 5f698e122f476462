"""Issue 22 at small scale: the page indexes arrive by migration 5 in existing homes, and
the questions they serve answer as before. Speed is measured in bench/scale.py, never here.
"""

import sqlite3
import time
import uuid

import pytest

from rundb.api import comparison, selection
from rundb.api.selection import RunFilter
from rundb.index import db, pg_schema, reader, schema, writer
from rundb.run import Run

PAGE_INDEXES = {"scalar_stat_last_idx", "scalar_stat_min_idx", "scalar_stat_max_idx",
                "run_op_created_idx", "run_started_idx", "run_attr_name_idx"}


def _add_runs(index, n=12):
    start = int(time.time() * 1e6) - n * 1_000_000
    for i in range(n):
        run = Run(id=uuid.uuid4().hex, op=("prepare", "train", "train+random")[i % 3],
                  status="completed", created=start + i * 1_000_000,
                  flags={"lr": 0.1 / (i + 1)}, attrs={"cmd": ["x"]})
        rid = writer.insert_run(index, run)
        if i % 4:
            writer.add_scalars(index, rid, [(".rundb", "loss", 0, 1.0 / (i + 1), 0.0)])


def _sqlite_indexes(conn):
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_sqlite_index_at_version_4_migrates_on_open(tmp_path):
    # A v4 home: made by the v4 schema, runs written, then opened by this rundb.
    path = str(tmp_path / "v4.db")
    conn = sqlite3.connect(path, isolation_level=None)
    db._migrate(conn, path, schema.MIGRATIONS[:4])
    conn.close()
    old = db.Index(sqlite3.connect(path, isolation_level=None), path)
    _add_runs(old)
    before = selection.select_rids(old, (), RunFilter(), reap=False)
    old.close()
    index = db.open_index(path)
    try:
        assert db.schema_version(index) == schema.SCHEMA_VERSION == 5
        names = _sqlite_indexes(index.conn)
        assert PAGE_INDEXES <= names and "run_op_idx" not in names
        assert selection.select_rids(index, (), RunFilter(), reap=False) == before
        best = comparison.select_run(index, min_col="loss")
        assert best.flags["lr"] == pytest.approx(0.1 / 12)
        assert [r.op for r in selection.select_runs(index, (), RunFilter(ops=["ain"]), 3)] \
            == ["train+random", "train", "train+random"]
    finally:
        index.close()


def test_postgres_index_at_version_4_migrates_on_open(pg_url):
    import psycopg

    from rundb.index import pg

    with psycopg.connect(pg_url, autocommit=True) as raw:
        raw.execute("DROP SCHEMA public CASCADE")
        raw.execute("CREATE SCHEMA public")
        for migration in pg_schema.MIGRATIONS[:4]:
            raw.execute(migration)
        raw.execute("INSERT INTO rundb_schema (version) VALUES (4)")
    index = pg.open_pg_index(pg_url)
    try:
        assert db.schema_version(index) == 5
        names = {row[0] for row in index.conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        assert PAGE_INDEXES <= names and "run_op_idx" not in names
        _add_runs(index)
        assert comparison.select_run(index, min_col="loss").flags["lr"] == pytest.approx(0.1 / 12)
    finally:
        index.close()


@pytest.mark.parametrize("flt,ops", [
    (RunFilter(ops=["train"]), {"train", "train+random"}),
    (RunFilter(ops=["train"], include_batch=False), {"train"}),
    (RunFilter(ops=["prep", "+rand"]), {"prepare", "train+random"}),
    (RunFilter(ops=["nothing"]), set()),
    (RunFilter(ops=["train"], operations=["prepare"]), set()),
    (RunFilter(ops=["ain"], operations=["train"]), {"train"}),
])
def test_op_substrings_select_by_operation_name(index, flt, ops):
    # --op matches substrings of the operation, now through the distinct names.
    _add_runs(index)
    found = selection.select_runs(index, (), flt, reap=False)
    assert {r.op for r in found} == ops
    assert len(found) == 4 * len(ops)


def test_distinct_values_by_loose_scan(index):
    _add_runs(index)
    assert sorted(reader.distinct_ops(index)) == ["prepare", "train", "train+random"]
    assert reader.catalog(index).attr_names == {"cmd"}


def test_shipped_parser_tables_are_current():
    # PLY uses rundb/query/_parsetab.py only when its signature is the grammar's (else it
    # builds the tables in memory, slower): regenerate with `python -m rundb.query.parser`.
    import importlib

    from rundb.query import parser

    tables = importlib.import_module(parser.TABLE_MODULE)
    assert tables._lr_signature == parser.grammar_signature(), (
        "rundb/query/_parsetab.py is stale: run .venv/bin/python -m rundb.query.parser")


def test_a_stale_table_module_is_rebuilt_in_memory(monkeypatch):
    from rundb.query import parser

    monkeypatch.setattr(parser, "TABLE_MODULE", "rundb.query._no_such_tables")
    built = parser.build_parser()
    assert built.parse is not None


@pytest.mark.parametrize("options", [
    {}, {"min_col": "loss", "top": 3}, {"max_col": "loss"}, {"columns": "=lr, min loss"},
    {"strict_columns": "=lr, loss where =lr > 0.01 order by loss limit 4"},
])
def test_streamed_compare_rows_are_the_table_rows(index, options):
    # compare --csv and export --csv stream rows from the index (constant memory); the
    # rows are those of the table compare shows.
    _add_runs(index)
    flt = RunFilter(include_batch=False)
    table = comparison.compare_table(index, (), flt, **options)
    streamed = comparison.compare_table(index, (), flt, stream=True, **options)
    assert not isinstance(streamed.rows, list)
    assert (streamed.headers, list(streamed.rows)) == (table.headers, table.rows)


def test_a_list_of_runs_is_read_first_not_the_summary_index(index):
    # compare RUNS --min loss --top N: the runs are named, so reading scalar_stat's index
    # in order (every run's value) would cost more than reading the named runs.
    from rundb.query import compile

    _add_runs(index)
    catalog = reader.catalog(index)
    text = "select loss order by loss limit 2"
    assert "page_with" in compile(text, catalog, "r.deleted = ?", (0,)).sql
    few = compile(text, catalog, "r.rid IN (?, ?, ?)", (1, 2, 3), few_runs=True)
    assert "page_with" not in few.sql
    assert [row[0] for row in reader.compiled_rows(index, few)] == [3, 2]


def test_runs_page_counts_the_total_up_to_a_cap(cli, home, index, monkeypatch):
    from rundb_cli import runs as runs_cli

    _add_runs(index)
    result = cli("runs", "-n", "3")
    assert "Showing the first 3 runs (12 total)" in result.stderr
    monkeypatch.setattr(runs_cli, "COUNT_AT_MOST", 5)
    result = cli("runs", "-n", "3")
    assert "Showing the first 3 runs (more than 5 total)" in result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()][:3] == \
        [line.split()[0] for line in cli("runs", "-n", "4").stdout.splitlines()][:3]


def test_postgres_rows_stream_in_chunks_not_as_one_result(pg_url):
    # A whole-table read on PostgreSQL (compare --csv, export --csv) must not hold the
    # whole result on the client: before, libpq received every row before the first was
    # read (a 1,000,000-run compare held them all).
    index = db.open_index(pg_url)
    try:
        sql = "SELECT g, repeat('x', 50) FROM generate_series(1, 5000) AS g"
        chunks = reader.iter_chunks(index.conn, sql, (), 100)
        first = next(chunks)
        assert [row[0] for row in first] == list(range(1, 101))
        cur = index.conn.cursor()  # a fresh wrapper: the streaming one is inside chunks
        streaming = chunks.gi_frame.f_locals["cur"]._cur
        assert streaming.pgresult.ntuples <= 100  # the server sends it chunk by chunk
        rest = [row[0] for chunk in chunks for row in chunk]
        assert rest == list(range(101, 5001))
        # Stopping early frees the connection for the next statement.
        chunks = reader.iter_chunks(index.conn, sql, (), 100)
        next(chunks)
        chunks.close()
        assert cur.execute("SELECT 41 + 1").fetchone() == (42,)
    finally:
        index.close()


def test_sqlite_rows_stream_in_chunks(index):
    _add_runs(index, 5)
    chunks = list(reader.iter_chunks(index.conn, "SELECT rid FROM run ORDER BY rid", (), 2))
    assert [len(c) for c in chunks] == [2, 2, 1]
