"""Page questions plan to index seeks, not scans (issue 22), on SQLite and PostgreSQL.

Each question runs through the real service functions against a small real index; every
SELECT it sends is recorded and explained. A page question must read its page in order
from an index and stop: a plan that reads a whole big table (a full scan) or sorts every
run it reads (a sort of the whole ``ORDER BY`` before ``LIMIT``) fails.

- SQLite plans the same way at 300 runs as at 1,000,000 (no ``ANALYZE`` statistics in an
  index), so ``EXPLAIN QUERY PLAN`` on a small index shows the plan a big one gets.
- PostgreSQL plans by its statistics: with 300 runs a sequential scan is the cheapest
  plan, whatever the indexes. The test sets ``enable_seqscan = off`` (sequential scans
  priced out, not forbidden) so that the plan shows whether an index *can* serve the
  question in order; a plain ``Sort`` node (not ``Incremental Sort``, which sorts the
  ties of an index order) means no index could. Statistics on a big index then choose
  the same index plans, which bench/scale.py times.

Wall times are never asserted here: bench/scale.py measures them.
"""

import re
import time
import uuid

import pytest

from rundb.api import comparison, selection
from rundb.api.selection import RunFilter
from rundb.index import reader, writer
from rundb.run import Run

pytestmark = pytest.mark.backends  # every test on SQLite and on PostgreSQL

RUNS = 300
#: Tables that grow with the number of runs (aliases as our SQL names them).
_BIG = re.compile(r"^(r|run|s\d*|scalar_stat|f\d*|run_flag|a\d*|run_attr|t|run_tag|p|"
                  r"scalar_point)$")

_LOOSE_SCAN = "WITH RECURSIVE v(x) AS (SELECT min("

QUESTIONS = {
    "select --min loss": lambda ix: comparison.select_run(ix, min_col="loss"),
    "select --max acc": lambda ix: comparison.select_run(ix, max_col="acc"),
    "select --min 'min loss'": lambda ix: comparison.select_run(ix, min_col="min loss"),
    "runs -n 20": lambda ix: selection.select_runs(ix, (), RunFilter(), 20),
    "compare --min loss --top 20":
        lambda ix: comparison.compare_table(ix, min_col="loss", top=20),
    "compare --max acc --top 10":
        lambda ix: comparison.compare_table(ix, max_col="acc", top=10),
    "query ... order by ... limit 20": lambda ix: comparison.query_table(
        ix, "select =lr, loss, acc where .status = completed order by min loss limit 20"),
    "query ... order by ... desc limit 20": lambda ix: comparison.query_table(
        ix, "select =lr, loss order by max acc desc limit 20"),
    "runs -o OP -n 20": lambda ix: selection.select_runs(ix, (), RunFilter(ops=["m1:train"]), 20),
    "runs -Fo OP -n 20":
        lambda ix: selection.select_runs(ix, (), RunFilter(operations=["m1:train"]), 20),
    "runs -F '=lr > 0.01' -n 20":
        lambda ix: selection.select_runs(ix, (), RunFilter(filter="=lr > 0.01"), 20),
}


@pytest.fixture
def filled(index):
    """The test index with RUNS runs: 3 operations, 2 flags, 2 scalar keys (some runs
    lack one), a few attributes."""
    start = int(time.time() * 1e6) - RUNS * 1_000_000
    with index.atomic():
        for i in range(RUNS):
            run = Run(id=uuid.uuid4().hex, op=f"m{i % 3}:train", status="completed",
                      created=start + i * 1_000_000, started=start + i * 1_000_000,
                      flags={"lr": 10 ** (-1 - (i % 4)), "opt": "adam"},
                      attrs={"cmd": ["python", "train.py"],
                             **({"compare": ["loss"]} if i % 2 else {})})
            rid = writer.insert_run(index, run)
            points = [(".rundb", "loss", step, 2.0 / (step + 1 + i % 7), 0.0)
                      for step in range(3)]
            if i % 5:
                points.append((".rundb", "acc", 0, (i % 11) / 11, 0.0))
            writer.add_scalars(index, rid, points)
    index.filled_before = start
    return index


@pytest.fixture
def planned(filled):
    """The filled index, with PostgreSQL's statistics those of a big index."""
    if filled.backend == "postgresql":
        _grow_pg(filled, filled.filled_before)
    return filled


#: Older runs added on PostgreSQL, whose planner prices plans by table statistics.
PG_FILLER = 100_000


def _grow_pg(index, before):
    """Give the PostgreSQL index the statistics of a big one: PG_FILLER older runs with
    their flags, summaries and attributes (made by the server), then ANALYZE, as
    autovacuum does for tables in use. At 300 rows a full read is the cheapest plan
    whatever the indexes; at 100,000 the plans are those of a big index."""
    sql = index.conn.raw.execute
    sql("INSERT INTO run (id, op, status, created, started, deleted) "
        "SELECT md5(i::text), 'm' || (i %% 50) || ':train', 'completed', %s - i, %s - i, 0 "
        "FROM generate_series(1, %s) i", (before, before, PG_FILLER))
    sql("INSERT INTO run_flag (rid, name, value, type) SELECT r.rid, n.id, "
        "to_jsonb(random()), 'float' FROM run r, flag_name n WHERE r.created < %s",
        (before,))
    sql("INSERT INTO scalar_stat (rid, key, first_val, first_step, last_val, last_step, "
        "min_val, min_step, max_val, max_step, count, total) SELECT r.rid, k.id, 1, 0, "
        "random(), 9, random(), 3, 1 + random(), 5, 10, 5 FROM run r, scalar_key k "
        "WHERE r.created < %s", (before,))
    sql("INSERT INTO run_attr (rid, name, value) SELECT rid, 'compare', '[\"loss\"]' "
        "FROM run WHERE created < %s", (before,))
    sql("ANALYZE")


def _record_sqlite(index):
    statements = []
    index.conn.set_trace_callback(statements.append)
    return statements, lambda: index.conn.set_trace_callback(None)


def _record_pg(index, monkeypatch):
    from rundb.index import pg

    statements = []
    run = pg.PgCursor._run

    def recording(self, raw, stmt, params):
        statements.append((stmt.sql, stmt.params(params)))
        return run(self, raw, stmt, params)

    monkeypatch.setattr(pg.PgCursor, "_run", recording)
    return statements, lambda: monkeypatch.setattr(pg.PgCursor, "_run", run)


def _selects(statements):
    for s in statements:
        sql = s if isinstance(s, str) else s[0]
        if sql.lstrip()[:6].upper() in ("SELECT", "WITH R"):
            yield s


def sqlite_problems(conn, sql):
    """What in the plan of ``sql`` reads more than a page: a big table read without an
    index, or read by an index on something other than the run (a range of runs) while
    the statement has no LIMIT or sorts every row it reads before its LIMIT."""
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    problems, ranges = [], []
    if sql.startswith(_LOOSE_SCAN):
        return problems, plan  # one min() seek per distinct value (reader._distinct)
    for line in plan:
        m = re.match(r"(SCAN|SEARCH) (\w+)", line)
        if not m or not _BIG.match(m.group(2)):
            continue
        if m.group(1) == "SCAN" and " INDEX " not in line:
            problems.append(line)
        elif "run_status_idx (status=?)" in line:
            continue  # the reaper reads the runs marked running: not a growing number
        elif not re.search(r"\b(rowid|rid)=\?", line):
            ranges.append(line)
    if ranges and ("USE TEMP B-TREE FOR ORDER BY" in plan or "LIMIT" not in sql.upper()):
        problems.extend(ranges)
    return problems, plan


_PG_OFF = ("enable_seqscan", "enable_bitmapscan", "enable_sort")


def pg_problems(raw, sql, params):
    """The same question of a PostgreSQL plan, with sequential scans, bitmap scans and
    sorts priced out (not forbidden): a node of those kinds left in the plan means no
    index could serve the question in order."""
    with raw.cursor() as cur:
        for name in _PG_OFF:
            cur.execute(f"SET {name} = off")
        try:
            plan = [row[0] for row in cur.execute("EXPLAIN " + sql, params)]
        finally:
            for name in _PG_OFF:
                cur.execute(f"RESET {name}")
    problems, ranges, sort = [], [], False
    if sql.startswith(_LOOSE_SCAN):
        return problems, plan  # one min() seek per distinct value (reader._distinct)
    for i, line in enumerate(plan):
        m = re.search(r"(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)"
                      r"(?: Backward)?(?: using \w+)? on (\w+)", line)
        if m and "run_status_idx" in line:
            continue  # the reaper reads the runs marked running: not a growing number
        if m and m.group(2) not in ("scalar_key", "flag_name"):
            if m.group(1) == "Seq Scan":
                problems.append(line.strip())
            cond = plan[i + 1] if i + 1 < len(plan) else ""
            if not re.search(r"\(rid = |\brid = ANY", cond) and m.group(1) != "Seq Scan":
                ranges.append(line.strip())
        if re.search(r"(?<!Incremental )\bSort  \(", line):
            sort = True
    if ranges and (sort or "LIMIT" not in sql.upper()):
        problems.extend(ranges)
    return problems, plan


def test_page_questions_seek_an_index(planned, index_backend, monkeypatch):
    filled = planned
    # One test for all the questions: the PostgreSQL index is filled once.
    pg_backend = index_backend == "postgresql"
    failures = []
    for question, ask in QUESTIONS.items():
        if pg_backend:
            statements, stop = _record_pg(filled, monkeypatch)
        else:
            statements, stop = _record_sqlite(filled)
        try:
            ask(filled)
        finally:
            stop()
        selects = list(_selects(statements))
        assert selects, question
        for s in selects:
            if pg_backend:
                problems, plan = pg_problems(filled.conn.raw, *s)
            else:
                problems, plan = sqlite_problems(filled.conn, s)
            if problems:
                failures.append(f"{question}: {s}\n" + "\n".join(plan))
    assert not failures, "\n\n".join(failures)


def test_the_check_catches_a_scan(planned, index_backend):
    filled = planned
    # The checks above would see the plans of the old query shapes.
    sql = ("SELECT r.rid FROM run r LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = 1 "
           "WHERE r.deleted = 0 ORDER BY s0.last_val ASC NULLS LAST, r.created DESC LIMIT 1")
    if index_backend == "postgresql":
        problems, _ = pg_problems(filled.conn.raw, sql.replace("?", "%s"), ())
    else:
        problems, _ = sqlite_problems(filled.conn, sql)
    assert problems
    if index_backend == "sqlite":  # what the catalog asked before: every attribute row
        assert sqlite_problems(filled.conn, "SELECT DISTINCT name FROM run_attr")[0]


@pytest.mark.parametrize("text", [
    "select =lr, loss order by loss limit 7",
    "select =lr, loss order by loss desc limit 7",
    "select loss, acc order by acc limit 300",
    "select loss, acc order by acc desc, =lr limit 250",
    "select acc where =lr > 0.005 or =opt = sgd order by min loss limit 11",
    "select acc as A, loss order by A desc limit 9",
])
def test_seek_answers_as_the_scan_did(filled, text, monkeypatch):
    # The page read from the scalar_stat index holds the rows, in the order, that the
    # one-part query (every run joined, then sorted) gives.
    from rundb.query import compile, parse
    from rundb.query import compiler

    catalog = reader.catalog(filled)
    query = parse(text)
    seek = compile(query, catalog, "r.deleted = ?", (0,))
    assert "page_with" in seek.sql
    monkeypatch.setattr(compiler, "_summary_seek", lambda *a: None)
    scan = compile(query, catalog, "r.deleted = ?", (0,))
    assert "page_with" not in scan.sql
    assert reader.compiled_rows(filled, seek) == reader.compiled_rows(filled, scan)
