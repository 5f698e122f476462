"""Grouping in the query language (issue 19): golden SQL and rows on SQLite, the same
queries' rows on PostgreSQL, bad input with positions, and a k-fold grid end to end."""

import csv
import io
import json
import statistics

import pytest

from rundb import api
from rundb.errors import QueryError
from rundb.index.dialect import SQLITE
from rundb.index.reader import compiled_rows_on, load_catalog
from rundb.query import compile, parse, parse_filter

from conftest import write
from test_query_compiler import conn, create_index  # noqa: F401 - the two-backend index

pytestmark = pytest.mark.backends

LOSS = ("LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = (SELECT p.key FROM scalar_stat p"
        " WHERE p.rid = r.rid AND p.key IN (?, ?) ORDER BY CASE p.key WHEN ? THEN 0 WHEN ? THEN 1"
        " END LIMIT 1)\n")

# query text, SQLite SQL, parameters, rows (the same on PostgreSQL)
GOLDEN = [
    (  # two group keys, the flag's type read beside it; groups sorted by their keys
        "select .op, =lr, count(*) group by .op, =lr",
        'SELECT NULL, r.op AS "op", f0.value AS "lr", COUNT(*) AS "count(*)", f0.type\n'
        "FROM run r\n"
        "LEFT JOIN run_flag f0 ON f0.rid = r.rid AND f0.name = ?\n"
        "GROUP BY r.op, f0.value, f0.type\n"
        "ORDER BY r.op ASC NULLS LAST, f0.value ASC NULLS LAST",
        (1,),
        [(None, "eval", None, 1), (None, "train", 0.01, 1), (None, "train", 0.1, 1)],
    ),
    (  # having, order by an aggregate, limit
        "select .op, count(*) as n, mean(loss) group by .op having count(*) >= 1 "
        "order by count(*) desc limit 1",
        'SELECT NULL, r.op AS "op", COUNT(*) AS "n", AVG(s0.last_val) AS "mean(loss)"\n'
        "FROM run r\n" + LOSS +
        "GROUP BY r.op\n"
        "HAVING COUNT(*) >= ?\n"
        "ORDER BY COUNT(*) DESC NULLS LAST, r.op ASC NULLS LAST\n"
        "LIMIT ?",
        (2, 3, 2, 3, 1, 1),
        [(None, "train", 2, pytest.approx(0.3))],
    ),
    (  # group by a scalar
        "select loss, count(*) group by loss",
        'SELECT NULL, s0.last_val AS "loss", COUNT(*) AS "count(*)"\n'
        "FROM run r\n" + LOSS +
        "GROUP BY s0.last_val\n"
        "ORDER BY s0.last_val ASC NULLS LAST",
        (2, 3, 2, 3),
        [(None, 0.2, 1), (None, 0.4, 1), (None, None, 1)],
    ),
    (  # aggregates without group by: one row over every selected run
        "select count(*), mean(loss), std(loss), median(loss), min(loss), max(loss), sum(loss)",
        'SELECT NULL, COUNT(*) AS "count(*)", AVG(s0.last_val) AS "mean(loss)",'
        ' rundb_std(s0.last_val) AS "std(loss)", rundb_median(s0.last_val) AS "median(loss)",'
        ' MIN(s0.last_val) AS "min(loss)", MAX(s0.last_val) AS "max(loss)",'
        ' SUM(s0.last_val) AS "sum(loss)"\n'
        "FROM run r\n" + LOSS.rstrip("\n"),
        (2, 3, 2, 3),
        [(None, 3, pytest.approx(0.3), pytest.approx(0.1414213562), pytest.approx(0.3), 0.2, 0.4,
          pytest.approx(0.6))],
    ),
    (  # an empty result: no group
        "select .op, count(*) where .op = nothing group by .op",
        'SELECT NULL, r.op AS "op", COUNT(*) AS "count(*)"\n'
        "FROM run r\n"
        "WHERE r.op = ?\n"
        "GROUP BY r.op\n"
        "ORDER BY r.op ASC NULLS LAST",
        ("nothing",),
        [],
    ),
    (  # a flag's numbers only (the text flag counts, but has no mean); per-run qualifier inside
        "select .op, mean(=lr), count(=optimizer), mean(min x), std_pop(=lr) where .op = train "
        "group by .op",
        'SELECT NULL, r.op AS "op", AVG(CASE WHEN typeof(f0.value) IN (\'integer\', \'real\') '
        'THEN f0.value END) AS "mean(=lr)", COUNT(f1.value) AS "count(=optimizer)",'
        ' AVG(s0.min_val) AS "mean(min x)", rundb_std_pop(CASE WHEN typeof(f0.value) IN'
        ' (\'integer\', \'real\') THEN f0.value END) AS "std_pop(=lr)"\n'
        "FROM run r\n"
        "LEFT JOIN run_flag f0 ON f0.rid = r.rid AND f0.name = ?\n"
        "LEFT JOIN run_flag f1 ON f1.rid = r.rid AND f1.name = ?\n"
        "LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = ?\n"
        "WHERE r.op = ?\n"
        "GROUP BY r.op\n"
        "ORDER BY r.op ASC NULLS LAST",
        (1, 2, 1, "train"),
        [(None, "train", pytest.approx(0.055), 2, 1.0, pytest.approx(0.045))],
    ),
    (  # like / ilike and a short run id
        "select count(*) where .label like 'res%' or .label ilike BASE% or .id = bbbb2222",
        'SELECT NULL, COUNT(*) AS "count(*)"\n'
        "FROM run r\n"
        "WHERE rundb_like(r.label, ?, 0) OR rundb_like(r.label, ?, 1) OR substr(r.id, 1, ?) = ?",
        ("res%", "BASE%", 8, "bbbb2222"),
        [(None, 2)],
    ),
]


def _dialect(conn):
    import sqlite3

    from rundb.index.dialect_pg import POSTGRESQL

    return SQLITE if isinstance(conn, sqlite3.Connection) else POSTGRESQL


@pytest.mark.parametrize("text,sql,params,rows", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(conn, text, sql, params, rows):  # noqa: F811 - the imported fixture
    dialect = _dialect(conn)
    compiled = compile(parse(text), load_catalog(conn, dialect))
    if dialect is SQLITE:
        assert compiled.sql == sql
        assert compiled.params == params
    assert compiled_rows_on(conn, dialect, compiled) == rows


def test_like_is_case_sensitive_and_ilike_is_not(conn):  # noqa: F811
    dialect = _dialect(conn)
    catalog = load_catalog(conn, dialect)
    count = lambda q: compiled_rows_on(conn, dialect, compile(q, catalog))[0][1]  # noqa: E731
    assert count("select count(*) where .label like 'RES%'") == 0
    assert count("select count(*) where .label ilike 'RES%'") == 1
    assert count("select count(*) where .label like '%lr=0._'") == 1


def test_headers_read_as_written():
    q = parse("select =C, mean(val_acc), std(min val_loss) as spread, count(*) group by =C")
    assert [c.header for c in q.columns] == ["C", "mean(val_acc)", "spread", "count(*)"]
    assert str(q) == "select =C, mean(val_acc), std(min val_loss) as spread, count(*) group by =C"
    assert parse(str(q)) == q


@pytest.mark.parametrize("text,message,pos", [
    ("select mean(=lr, loss)", "mean() takes one column, not 2", 7),
    ("select =C group by mean(x)", "cannot group by the aggregate mean(x)", 19),
    ("select =C where mean(x) > 1", "aggregate mean(x) is not allowed in where", 16),
    ("select std()", "std() needs a column", 7),
    ("select nosuch(x)", "unknown function 'nosuch'", 7),
    ("select mean(*)", "mean(*) is not a column", 7),
    ("select mean(std(x))", "mean() cannot take the aggregate std(x)", 12),
    ("select =C group loss", "unexpected token 'group'", 10),
])
def test_bad_input_is_a_query_error_with_position(text, message, pos):
    with pytest.raises(QueryError) as e:
        parse(text)
    assert message in e.value.msg
    assert e.value.pos == pos


def test_an_aggregate_in_a_filter_is_an_error():
    with pytest.raises(QueryError, match="not allowed in a filter"):
        parse_filter("mean(x) > 1")


def test_a_column_neither_grouped_nor_aggregated_is_an_error(conn):  # noqa: F811
    with pytest.raises(QueryError, match="neither in group by nor inside an aggregate"):
        compile("select =lr, count(*) group by .op", load_catalog(conn, SQLITE))


# --- a k-fold grid, end to end -----------------------------------------------------------

TRAIN = """
import random
C = 0.1
fold = 0
log = ""
val_acc = round(0.5 + C / 4 + random.random() / 10, 6)
print(f"val_acc: {val_acc}")
if log:
    with open(log, "a") as f:
        f.write(f"{C} {fold} {val_acc}\\n")
"""


def cv_grid(cli, home, project, tmp_path):
    """A grid C=[0.1,1] x fold=[0..4] plus two unrelated runs; the expected values per C
    read from the file the script appends its printed val_acc to."""
    write(project / "train.py", TRAIN)
    log = tmp_path / "grid.txt"
    result = cli("run", "train.py", "C=[0.1,1]", "fold=[0,1,2,3,4]", f"log={log}", "-y", "-q")
    assert result.exit_code == 0, result.output
    for c in ("0.1", "1"):
        assert cli("run", "train.py", f"C={c}", "fold=0", "-y", "-q").exit_code == 0
    [batch] = [r for r in api.runs(home) if r.op.endswith("+")]
    expected = {}
    for line in log.read_text().splitlines():
        c, _fold, acc = line.split()
        expected.setdefault(float(c), []).append(float(acc))
    return batch, expected


@pytest.mark.slow
def test_cross_validation_in_one_query(cli, home, project, tmp_path):
    batch, expected = cv_grid(cli, home, project, tmp_path)
    assert sorted(len(v) for v in expected.values()) == [5, 5]

    text = ("select =C, mean(val_acc), std(val_acc), count(*) "
            f"where .parent = {batch.id[:8]} group by =C")
    out = cli("query", text, "--csv", "-")
    assert out.exit_code == 0, out.output
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["C", "mean(val_acc)", "std(val_acc)", "count(*)"]
    assert [float(r[0]) for r in rows[1:]] == [0.1, 1.0]
    for c, mean, std, n in rows[1:]:
        values = expected[float(c)]
        assert float(mean) == pytest.approx(statistics.mean(values), rel=1e-9)
        assert float(std) == pytest.approx(statistics.stdev(values), rel=1e-9)
        assert int(n) == len(values)
    # the same through JSON; and the table prints
    data = json.loads(cli("query", text, "--json").stdout)
    assert [d["count(*)"] for d in data] == [5, 5]
    assert "mean(val_acc)" in cli("query", text).stdout


# --- column patterns ---------------------------------------------------------------------


def test_glob_patterns_expand_in_catalog_order(conn):  # noqa: F811
    catalog = load_catalog(conn, _dialect(conn))
    assert compile("select =l*, losses/*", catalog).headers == ["lr", "layers", "losses/a", "losses/b"]
    assert compile("select =lay*", catalog).headers == ["layers"]
    assert compile("select nothing_*", catalog).headers == []
    # a regex key keeps working
    assert compile("select losses/.+", catalog).headers == ["losses/a", "losses/b"]


def test_a_pattern_matching_nothing_is_a_warning_naming_it(cli, home, warnings_log):
    result = cli("query", "select .id, nothing_*, =opt_*")
    assert result.exit_code == 0, result.output
    assert warnings_log() == ["WARNING: no scalar matches the pattern 'nothing_*'",
                              "WARNING: no flag matches the pattern 'opt_*'"]
