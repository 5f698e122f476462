"""The documented SQL views (docs/sql.md) and `rundb sql`, read-only."""

import json
import os
import re
import sqlite3

import pytest

from rundb import api
from rundb.errors import ReadOnlyError
from rundb.index import reader, schema, store, writer
from rundb.index.rebuild import index_run_dir
from rundb.tfevents import ScalarEventWriter
from rundb.ops.runner import new_run
from rundb.run import now_us
from rundb.index.sql import SQLError

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "sql.md")


def make_run(home, index, op, flags, scalars=None, label="", tags=(), parent=None,
             status="completed", exit_status=0, seconds=30.0):
    """A finished run whose scalars are in an event file in its .rundb/ (as the Python API
    logs them), indexed from that file, so a rebuild or import derives the same rows."""
    run = new_run(home, index, op, flags, label=label, tags=tags, parent=parent,
                  status="pending")
    if scalars:
        with ScalarEventWriter(os.path.join(run.dir, ".rundb")) as w:
            for tag, points in scalars.items():
                for step, value in points:
                    w.add_scalar(tag, value, step)
    stopped = now_us()
    store.save_run(index, run, status=status, started=stopped - int(seconds * 1e6),
                   stopped=stopped, exit_status=exit_status)
    index_run_dir(index, run.dir)  # the scalars, from the event file
    return reader.get_run(index, run.id)


def curve(*values):
    return [(step, v) for step, v in enumerate(values, 1)]


def make_runs(home, index):
    """Runs of two ops, a tagged baseline, and a k-fold batch with four trials."""
    runs = [
        make_run(home, index, "train", {"lr": 0.1, "epochs": 3, "opt": "sgd", "aug": True},
                 {"loss": curve(1.0, 0.75, 0.5), "acc": curve(0.25, 0.5, 0.75)},
                 label="lr=0.1", tags=["baseline"]),
        make_run(home, index, "train", {"lr": 0.01, "epochs": 3, "opt": "adam", "aug": False},
                 {"loss": curve(0.875, 0.5, 0.25), "acc": curve(0.5, 0.75, 0.875)}),
        make_run(home, index, "train", {"lr": 0.001, "epochs": 5, "opt": "adam",
                                        "layers": [64, 32]},
                 {"loss": curve(2.0, 1.5), "acc": curve(0.125, 0.25)}, status="error",
                 exit_status=1),
        make_run(home, index, "eval", {"split": "test"}, {"loss": curve(0.375)}),
    ]
    batch = make_run(home, index, "train+", {})
    trials = []
    for lr in (0.01, 0.001):
        for fold, acc in enumerate((0.75, 0.875) if lr == 0.01 else (0.5, 0.625)):
            trials.append(make_run(
                home, index, "train", {"lr": lr, "fold": fold},
                {"loss": curve(1.0 - acc), "acc": curve(acc)}, parent=batch.id))
    return runs + [batch] + trials


@pytest.fixture
def runs(home, index):
    return make_runs(home, index)


def doc_text():
    with open(DOCS, encoding="utf-8") as f:
        return f.read()


def doc_sql_blocks():
    return re.findall(r"```sql\n(.*?)```", doc_text(), re.S)


def doc_view_columns(view):
    """Column names listed in the table under ``## view``."""
    section = doc_text().split(f"\n## {view}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, re.M)


# --- the documentation ------------------------------------------------------------------


@pytest.mark.parametrize("view", schema.VIEWS)
def test_every_view_is_documented(view):
    assert re.search(rf"^## {view}$", doc_text(), re.M), f"docs/sql.md lacks '## {view}'"


@pytest.mark.backends
@pytest.mark.parametrize("view", schema.VIEWS)
def test_documented_columns_are_the_view_columns(index, view):
    actual = [d[0] for d in index.conn.execute(f"SELECT * FROM {view} LIMIT 0").description]
    assert doc_view_columns(view) == actual


def test_docs_have_the_promised_examples():
    blocks = doc_sql_blocks()
    assert len(blocks) >= 5
    text = " ".join(blocks)
    assert "PARTITION BY r.operation" in text  # best run per op
    assert "LIMIT 5" in text  # loss curves of the top 5
    assert "avg(s.last_val * s.last_val)" in text  # std from the mean of squares


# SQLite's own functions; on PostgreSQL `rundb sql` takes PostgreSQL's SQL.
_SQLITE_ONLY = re.compile(r"strftime|json_extract|max\(avg|min\(f\.value")


@pytest.mark.backends
@pytest.mark.parametrize("n", range(len(doc_sql_blocks())))
def test_doc_example_runs_and_returns_rows(home, runs, n):
    statement = doc_sql_blocks()[n]
    if home.index_url and _SQLITE_ONLY.search(statement):
        return  # an SQLite-only example
    headers, rows = api.sql_query(home, statement)
    assert headers and rows, f"example {n} returned no rows:\n{statement}"


def test_kfold_example_gives_mean_and_std_per_lr(home, runs):
    [statement] = [b for b in doc_sql_blocks() if "std_acc" in b]
    headers, rows = api.sql_query(home, statement)
    got = {row[0]: dict(zip(headers, row)) for row in rows}
    assert set(got) == {0.01, 0.001}
    assert got[0.01]["trials"] == 2
    assert got[0.01]["mean_acc"] == pytest.approx(0.8125)
    assert got[0.01]["std_acc"] == pytest.approx(0.0625)
    assert got[0.001]["sample_std_acc"] == pytest.approx(0.0625 * 2 ** 0.5)


def test_kfold_example_keeps_other_batches_apart(home, index, runs):
    # Issue 19: grouping on `parent IS NOT NULL` mixed in the trials of another batch.
    other = make_run(home, index, "train+", {})
    make_run(home, index, "train", {"lr": 0.01, "fold": 0}, {"acc": curve(0.0)}, parent=other.id)
    [statement] = [b for b in doc_sql_blocks() if "std_acc" in b]
    headers, rows = api.sql_query(home, statement)
    first = [r for r in runs if r.op == "train+"][0]
    got = {row[0]: dict(zip(headers, row)) for row in rows if row[-1] == first.id[:8]}
    assert got[0.01]["trials"] == 2
    assert got[0.01]["mean_acc"] == pytest.approx(0.8125)


@pytest.mark.backends
def test_best_run_per_op_example(home, runs):
    headers, rows = api.sql_query(home, doc_sql_blocks()[0])
    best = {row[0]: row[3] for row in rows}
    assert best == {"eval": 0.375, "train": 0.125}  # the batch run logs no loss


# --- the views ----------------------------------------------------------------------------


@pytest.mark.backends
def test_runs_view_times_dir_and_tags(home, runs):
    run = runs[0]
    headers, rows = api.sql_query(
        home, "SELECT * FROM runs WHERE id = :id", {"id": run.id})
    row = dict(zip(headers, rows[0]))
    assert row["short_id"] == run.id[:8] and row["operation"] == "train"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["started"])
    assert row["started_epoch"] == pytest.approx(run.started / 1e6)
    assert row["time"] == pytest.approx(30.0)
    assert row["dir"] == f"runs/{run.id}"
    assert row["tags"] == "baseline" and row["label"] == "lr=0.1"
    assert row["status"] == "completed" and row["exit_status"] == 0 and row["deleted"] == 0
    import datetime

    parsed = datetime.datetime.strptime(row["started"], "%Y-%m-%dT%H:%M:%S.%fZ")
    epoch = parsed.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert epoch == pytest.approx(row["started_epoch"], abs=0.001)


@pytest.mark.backends
def test_runs_view_shows_deleted_runs_in_trash(home, runs):
    api.delete_runs(home, [runs[3].id])
    headers, rows = api.sql_query(home, "SELECT dir, deleted FROM runs WHERE id = ?",
                                  [runs[3].id])
    assert rows == [(f"trash/{runs[3].id}", 1)]


def test_flags_view_keeps_types(home, runs):
    _, rows = api.sql_query(home, "SELECT name, value, type, typeof(value) FROM flags "
                                  "WHERE run = ? ORDER BY name", [runs[2].id])
    assert rows == [("epochs", 5, "int", "integer"), ("layers", "[64, 32]", "list", "text"),
                    ("lr", 0.001, "float", "real"), ("opt", "adam", "str", "text")]
    _, rows = api.sql_query(home, "SELECT value, type FROM flags WHERE run = ? AND name = 'aug'",
                            [runs[0].id])
    assert rows == [(1, "bool")]


@pytest.mark.backends
def test_scalars_and_summary_views(home, runs):
    run = runs[0]
    _, points = api.sql_query(home, "SELECT prefix, tag, step, value FROM scalars "
                                    "WHERE run = ? AND tag = 'loss' ORDER BY step", [run.id])
    assert points == [(".rundb", "loss", 1, 1.0), (".rundb", "loss", 2, 0.75),
                      (".rundb", "loss", 3, 0.5)]
    headers, rows = api.sql_query(home, "SELECT * FROM scalar_summary WHERE run = ? "
                                        "AND tag = 'loss'", [run.id])
    s = dict(zip(headers, rows[0]))
    assert (s["first_val"], s["first_step"], s["last_val"], s["last_step"]) == (1.0, 1, 0.5, 3)
    assert (s["min_val"], s["min_step"], s["max_val"], s["max_step"]) == (0.5, 3, 1.0, 1)
    assert (s["avg_val"], s["count"], s["total"]) == (0.75, 3, 2.25)


def test_tags_and_attrs_views(home, runs):
    _, rows = api.sql_query(home, "SELECT run, tag FROM tags")
    assert rows == [(runs[0].id, "baseline")]
    _, rows = api.sql_query(home, "SELECT json_extract(value, '$') FROM attrs "
                                  "WHERE run = ? AND name = 'probe'", [runs[0].id])
    assert rows == []
    api_run = runs[0]
    with api.open_home_index(home) as ix:
        writer.set_attrs(ix, api_run.rid, {"probe": {"a": [1, 2]}})
    _, rows = api.sql_query(home, "SELECT json_extract(value, '$.a[1]') FROM attrs "
                                  "WHERE run = ? AND name = 'probe'", [api_run.id])
    assert rows == [(2,)]


# --- rundb sql: output and parameters ------------------------------------------------------


@pytest.mark.backends
def test_sql_prints_an_aligned_table(cli, runs):
    result = cli("sql", "SELECT operation, count(*) AS n FROM runs GROUP BY operation "
                        "ORDER BY operation")
    assert result.exit_code == 0
    assert result.stdout == (
        "operation  n\n"
        "eval       1\n"
        "train      7\n"
        "train+     1\n"
    )


@pytest.mark.backends
def test_sql_csv_and_json(cli, runs):
    statement = "SELECT short_id, label, marked FROM runs WHERE label != '' ORDER BY short_id"
    result = cli("sql", statement, "--csv", "-")
    assert result.stdout == f"short_id,label,marked\n{runs[0].short_id},lr=0.1,0\n"
    result = cli("sql", "SELECT name, value FROM flags WHERE run = ? ORDER BY name",
                 "--params", json.dumps([runs[0].id]), "--json")
    assert json.loads(result.stdout) == [
        {"name": "aug", "value": 1}, {"name": "epochs", "value": 3},
        {"name": "lr", "value": 0.1}, {"name": "opt", "value": "sgd"},
    ]


def test_sql_named_params_are_typed(cli, runs):
    result = cli("sql", "SELECT count(*) FROM flags WHERE name = :name AND value > :min",
                 "-p", "name", "lr", "-p", "min", "0.005", "--csv", "-")
    assert result.stdout == "count(*)\n4\n"  # lr 0.1, lr 0.01 and the two lr=0.01 trials
    result = cli("sql", "SELECT :v AS v, typeof(:v) AS t", "-p", "v", '"12"', "--csv", "-")
    assert result.stdout == "v,t\n12,text\n"


def test_sql_params_both_kinds_is_a_usage_error(cli, runs):
    result = cli("sql", "SELECT ?", "-p", "a", "1", "--params", "[1]")
    assert result.exit_code == 2
    assert "use -p/--param or --params, not both" in result.stderr
    result = cli("sql", "SELECT ?", "--params", '{"a": 1}')
    assert result.exit_code == 2 and "expected a JSON list" in result.stderr


@pytest.mark.backends
def test_sql_on_a_new_home(cli):
    result = cli("sql", "SELECT count(*) AS n FROM runs", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == [{"n": 0}]


@pytest.mark.parametrize("statement,error", [
    ("SELECT 1; SELECT 2", "rundb: only one statement at a time is allowed\n"),
    ("SELEC 1", 'rundb: near "SELEC": syntax error\n'),
    ("SELECT * FROM nope", "rundb: no such table: nope\n"),
    ("SELECT :x", "rundb: Incorrect number of bindings supplied. The current statement uses 1, "
                  "and there are 0 supplied.\n"),
])
def test_sql_errors(cli, runs, statement, error):
    result = cli("sql", statement)
    assert result.exit_code == 1
    assert result.stderr == error
    assert result.stdout == ""


# --- rundb sql: read-only -------------------------------------------------------------------


def state(home):
    """Row counts of every table and the schema version, read with plain sqlite3."""
    conn = sqlite3.connect(home.index_path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")]
        counts = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        counts["user_version"] = conn.execute("PRAGMA user_version").fetchone()[0]
        counts["labels"] = conn.execute("SELECT group_concat(label) FROM run").fetchone()[0]
        return counts
    finally:
        conn.close()


@pytest.mark.parametrize("statement,refused", [
    ("INSERT INTO run (id, created) VALUES ('x', 1)", "INSERT into run"),
    ("UPDATE run SET label = 'x'", "UPDATE of run"),
    ("DELETE FROM run_flag", "DELETE from run_flag"),
    ("REPLACE INTO run_tag (rid, tag) VALUES (1, 'x')", "INSERT into run_tag"),
    ("DROP TABLE scalar_point", "DROP TABLE scalar_point"),
    ("DROP VIEW runs", "DROP VIEW runs"),
    ("CREATE TABLE x (a)", "CREATE TABLE x"),
    ("CREATE TEMP TABLE x (a)", "CREATE TEMP TABLE x"),
    ("CREATE INDEX i ON run (label)", "CREATE INDEX i"),
    ("ALTER TABLE run ADD COLUMN z", "ALTER TABLE run"),
    ("ATTACH DATABASE '{tmp}/other.db' AS other", "ATTACH"),
    ("VACUUM INTO '{tmp}/copy.db'", "ATTACH"),
    ("PRAGMA user_version = 3", "PRAGMA user_version = 3"),
    ("PRAGMA query_only = OFF", "PRAGMA query_only = OFF"),
    ("PRAGMA journal_mode = DELETE", "PRAGMA journal_mode = DELETE"),
    ("WITH x AS (SELECT 1) INSERT INTO run (id, created) SELECT 'y', 1 FROM x", "INSERT into run"),
])
def test_sql_refuses_changes_and_changes_nothing(cli, home, runs, tmp_path, statement, refused):
    before = state(home)
    result = cli("sql", statement.format(tmp=tmp_path))
    assert result.exit_code == 1
    assert result.stderr == f"rundb: not allowed: the index is read-only here ({refused})\n"
    assert state(home) == before
    assert not os.path.exists(tmp_path / "other.db")
    assert not os.path.exists(tmp_path / "copy.db")


def test_sql_query_raises_typed_errors(home, runs):
    with pytest.raises(ReadOnlyError):
        api.sql_query(home, "DELETE FROM run")
    with pytest.raises(SQLError, match="no such column: nope"):
        api.sql_query(home, "SELECT nope FROM runs")


def test_sql_allows_reading_pragmas_and_schema(home, runs):
    _, rows = api.sql_query(home, "PRAGMA user_version")
    assert rows == [(schema.SCHEMA_VERSION,)]
    _, rows = api.sql_query(home, "SELECT name FROM pragma_table_info('flags')")
    assert [r[0] for r in rows] == ["run", "name", "value", "type"]
    _, rows = api.sql_query(home, "PRAGMA table_info(runs)")
    assert rows[0][1] == "id"


def test_sql_csv_takes_a_path_like_every_command(cli, runs, tmp_path):
    path = tmp_path / "out.csv"
    result = cli("sql", "SELECT 1 AS a, 'x' AS b", "--csv", str(path))
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"Wrote 2 row(s) to {path}\n"
    assert path.read_text() == "a,b\n1,x\n"
    assert cli("sql", "SELECT 1 AS a", "--csv", "-").stdout == "a\n1\n"
