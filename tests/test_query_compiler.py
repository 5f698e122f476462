"""The query compiler: golden SQL with parameters, each also run against a real SQLite
index (schema from rundb.index.schema, rows inserted with plain sqlite3) and against a
real PostgreSQL index (the same rows, through the PostgreSQL connection layer)."""

import json
import sqlite3
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rundb.errors import QueryError
from rundb.index.schema import MIGRATIONS
from rundb.query import compile, compile_filter, parse, parse_filter
from rundb.index.dialect import SQLITE
from rundb.index.reader import compiled_rows_on, load_catalog
from rundb.query import compiler
from rundb.catalog import RUN_ATTRS, Catalog

S = 1_000_000  # microseconds a second
T0 = 1_700_000_000 * S  # 2023-11-14T22:13:20Z
EVIL = "x'); DROP TABLE run; --"

# rid, id, op, status, created, started, stopped, exit_status, label, marked, sourcecode_digest
RUNS = [
    (1, "aaaa1111" + "0" * 24, "train", "completed", T0, T0, T0 + 90 * S, 0, "resnet lr=0.1", 1, "abcdef0123456789"),
    (2, "bbbb2222" + "0" * 24, "train", "error", T0 + 1, T0 + 100 * S, T0 + 130 * S, 1, "baseline", 0, "abcdef0123456789"),
    (3, "cccc3333" + "0" * 24, "eval", "running", T0 + 2, T0 + 200 * S, None, None, "", 0, None),
]
FLAG_IDS = {"lr": 1, "optimizer": 2, "layers": 3, "resume": 4, "seed": 5, "batch": 6, EVIL: 7}
FLAGS = [  # rid, name, stored value, type (as rundb.index.writer.encode_flag stores them)
    (1, "lr", 0.1, "float"),
    (1, "optimizer", "adam", "str"),
    (1, "layers", json.dumps([1, 2]), "list"),
    (1, "resume", 1, "bool"),
    (1, "seed", None, "null"),
    (1, "batch", 32, "int"),
    (2, "lr", 0.01, "float"),
    (2, "optimizer", "sgd", "str"),
    (2, "resume", 0, "bool"),
    (2, "batch", 64, "int"),
    (3, EVIL, "evil", "str"),
]
# id, prefix, tag: `loss` is logged under both bare prefixes by run 1, the root only by run 2
SCALAR_KEYS = [
    (1, ".rundb", "x"),
    (2, ".rundb", "loss"),
    (3, "", "loss"),
    (4, "val", "acc"),
    (5, "", "losses/a"),
    (6, "", "losses/b"),
    (7, "", EVIL),
]
POINTS = {  # (rid, key id) -> [(step, value)]
    (1, 1): [(1, 1.0), (2, 2.0), (3, 3.0), (3, 4.0)],  # the seed's x: 1@1, 2@2, 3@3, 4@3
    (1, 2): [(0, 0.5), (5, 0.2)],
    (1, 3): [(0, 0.9)],
    (2, 3): [(0, 0.7), (1, 0.4)],
    (1, 4): [(1, 0.8)],
    (1, 5): [(1, 1.5)],
    (1, 6): [(1, 2.5)],
    (2, 5): [(2, 3.5)],
    (3, 7): [(0, 6.0)],
}
TAGS = [(1, "resnet"), (1, "best"), (2, "baseline")]
ATTRS = [
    (1, "platform", json.dumps("linux")),
    (1, "gpus", json.dumps(2)),
    (2, "platform", json.dumps("darwin")),
    (2, "env", json.dumps({"A": "1"})),
    (3, EVIL, json.dumps("ok")),
]
TABLES = ("flag_name", "run", "run_attr", "run_flag", "run_tag", "scalar_key", "scalar_point", "scalar_stat")


def _summary(points):
    steps, values = [s for s, _ in points], [v for _, v in points]
    lo, hi = values.index(min(values)), values.index(max(values))
    return (values[0], steps[0], values[-1], steps[-1], values[lo], steps[lo], values[hi], steps[hi], len(values), sum(values))


def create_index(path):
    if path.startswith("postgresql://"):
        from rundb.index.db import open_index

        conn = open_index(path).conn
    else:
        conn = sqlite3.connect(path, isolation_level=None)
        for migration in MIGRATIONS:
            conn.executescript(migration)
    conn.executemany(
        "INSERT INTO run (rid, id, op, status, created, started, stopped, exit_status, label, marked,"
        " sourcecode_digest, host, user, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'box', 'me', 42)",
        RUNS,
    )
    conn.executemany("INSERT INTO flag_name (name, id) VALUES (?, ?)", FLAG_IDS.items())
    conn.executemany(
        "INSERT INTO run_flag (rid, name, value, type) VALUES (?, ?, ?, ?)",
        [(rid, FLAG_IDS[name], value, type_) for rid, name, value, type_ in FLAGS],
    )
    conn.executemany("INSERT INTO scalar_key (id, prefix, tag) VALUES (?, ?, ?)", SCALAR_KEYS)
    for (rid, key), points in POINTS.items():
        conn.executemany(
            "INSERT INTO scalar_point (rid, key, step, value, time) VALUES (?, ?, ?, ?, 0)",
            [(rid, key, step, value) for step, value in points],
        )
        conn.execute(
            "INSERT INTO scalar_stat (rid, key, first_val, first_step, last_val, last_step, min_val,"
            " min_step, max_val, max_step, count, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, key, *_summary(points)),
        )
    conn.executemany("INSERT INTO run_tag (rid, tag) VALUES (?, ?)", TAGS)
    conn.executemany("INSERT INTO run_attr (rid, name, value) VALUES (?, ?, ?)", ATTRS)
    return conn


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def conn(tmp_path_factory, request):
    if request.param == "postgresql":
        conn = create_index(request.getfixturevalue("pg_database"))
    else:
        conn = create_index(str(tmp_path_factory.mktemp("index") / "index.db"))
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def catalog(conn):
    return load_catalog(conn, SQLITE)


def run_rows(compiled, conn):
    return compiled_rows_on(conn, SQLITE, compiled)


def snapshot(conn):
    if isinstance(conn, sqlite3.Connection):
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    else:
        schema = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2").fetchall()
    return schema, [conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES]


@pytest.fixture(scope="module")
def pristine(conn):
    return snapshot(conn)


def utc(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc)


N = None
MULTI_LOSS = (
    "(SELECT p.key FROM scalar_stat p WHERE p.rid = r.rid AND p.key IN (?, ?)"
    " ORDER BY CASE p.key WHEN ? THEN 0 WHEN ? THEN 1 END LIMIT 1)"
)
NEWEST = "ORDER BY r.created DESC, r.rid DESC"

# query text, SQL, parameters, rows (newest run first unless ordered)
GOLDEN = [
    (
        "select min x, min x step, max x, max x step, first x step, last x, last x step, avg x, count x, total x",
        'SELECT r.rid, s0.min_val AS "min x", s0.min_step AS "min x step", s0.max_val AS "max x",'
        ' s0.max_step AS "max x step", s0.first_step AS "first x step", s0.last_val AS "last x",'
        ' s0.last_step AS "last x step", s0.total / NULLIF(s0.count, 0) AS "avg x",'
        ' s0.count AS "count x", s0.total AS "total x", s0.last_step\n'
        "FROM run r\n"
        "LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = ?\n" + NEWEST,
        (1,),
        [(3,) + (N,) * 10, (2,) + (N,) * 10, (1, 1.0, 1, 4.0, 3, 1, 4.0, 3, 2.5, 4, 10.0)],
    ),
    (
        "select x, x step",
        'SELECT r.rid, s0.last_val AS "x", s0.last_step AS "x step", s0.last_step\n'
        "FROM run r\n"
        "LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = ?\n" + NEWEST,
        (1,),
        [(3, N, N), (2, N, N), (1, 4.0, 3)],
    ),
    (
        # A bare tag: the output prefix first, then the root, run by run.
        "select loss, min loss step, val#acc",
        'SELECT r.rid, s0.last_val AS "loss", s0.min_step AS "min loss step", s1.last_val AS "val#acc",'
        ' s0.last_step, s1.last_step\n'
        "FROM run r\n"
        f"LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = {MULTI_LOSS}\n"
        "LEFT JOIN scalar_stat s1 ON s1.rid = r.rid AND s1.key = ?\n" + NEWEST,
        (2, 3, 2, 3, 4),
        [(3, N, N, N), (2, 0.4, 1, N), (1, 0.2, 5, 0.8)],
    ),
    (
        "select losses/.+, max 'losses/(a|z)' as m, avg x step, nope, .id as 'a \"b\"'",
        'SELECT r.rid, s0.last_val AS "losses/a", s1.last_val AS "losses/b", s0.max_val AS "m",'
        ' NULL AS "avg x step", NULL AS "nope", r.id AS "a ""b""", s0.last_step, s1.last_step\n'
        "FROM run r\n"
        "LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = ?\n"
        "LEFT JOIN scalar_stat s1 ON s1.rid = r.rid AND s1.key = ?\n" + NEWEST,
        (5, 6),
        [(3, N, N, N, N, N, RUNS[2][1]), (2, 3.5, N, 3.5, N, N, RUNS[1][1]), (1, 1.5, 2.5, 1.5, N, N, RUNS[0][1])],
    ),
    (
        "select =lr, =layers, =resume, =seed, =batch, =nope as n",
        'SELECT r.rid, f0.value AS "lr", f1.value AS "layers", f2.value AS "resume", f3.value AS "seed",'
        ' f4.value AS "batch", NULL AS "n", f0.type, f1.type, f2.type, f3.type, f4.type\n'
        "FROM run r\n"
        "LEFT JOIN run_flag f0 ON f0.rid = r.rid AND f0.name = ?\n"
        "LEFT JOIN run_flag f1 ON f1.rid = r.rid AND f1.name = ?\n"
        "LEFT JOIN run_flag f2 ON f2.rid = r.rid AND f2.name = ?\n"
        "LEFT JOIN run_flag f3 ON f3.rid = r.rid AND f3.name = ?\n"
        "LEFT JOIN run_flag f4 ON f4.rid = r.rid AND f4.name = ?\n" + NEWEST,
        (1, 3, 4, 5, 6),
        [(3, N, N, N, N, N, N), (2, 0.01, N, False, N, 64, N), (1, 0.1, [1, 2], True, N, 32, N)],
    ),
    (
        "select .run, .op, .status, .time, .tags, .marked, .sourcecode, .exit_status",
        'SELECT r.rid, substr(r.id, 1, 8) AS "run", r.op AS "op", r.status AS "status",'
        ' (r.stopped - r.started) / 1000000.0 AS "time",'
        ' (SELECT group_concat(t.tag, ?) FROM run_tag t WHERE t.rid = r.rid) AS "tags",'
        ' r.marked AS "marked", substr(r.sourcecode_digest, 1, 8) AS "sourcecode", r.exit_status AS "exit_status"\n'
        "FROM run r\n" + NEWEST,
        ("\x1f",),
        [
            (3, "cccc3333", "eval", "running", N, [], False, N, N),
            (2, "bbbb2222", "train", "error", 30.0, ["baseline"], False, "abcdef01", 1),
            (1, "aaaa1111", "train", "completed", 90.0, ["best", "resnet"], True, "abcdef01", 0),
        ],
    ),
    (
        "select .started, .stopped, .platform, .gpus, .env, .user",
        'SELECT r.rid, r.started AS "started", r.stopped AS "stopped", a0.value AS "platform",'
        ' a1.value AS "gpus", a2.value AS "env", r."user" AS "user"\n'
        "FROM run r\n"
        "LEFT JOIN run_attr a0 ON a0.rid = r.rid AND a0.name = ?\n"
        "LEFT JOIN run_attr a1 ON a1.rid = r.rid AND a1.name = ?\n"
        "LEFT JOIN run_attr a2 ON a2.rid = r.rid AND a2.name = ?\n" + NEWEST,
        ("platform", "gpus", "env"),
        [
            (3, utc(1_700_000_200), N, N, N, N, "me"),
            (2, utc(1_700_000_100), utc(1_700_000_130), "darwin", N, {"A": "1"}, "me"),
            (1, utc(1_700_000_000), utc(1_700_000_090), "linux", 2, N, "me"),
        ],
    ),
    (
        # `and` binds tighter than `or`; the flag's join serves WHERE and ORDER BY too.
        "select =lr where lr > 0.05 and .status = completed or .tags = baseline order by =lr desc",
        'SELECT r.rid, f0.value AS "lr", f0.type\n'
        "FROM run r\n"
        "LEFT JOIN run_flag f0 ON f0.rid = r.rid AND f0.name = ?\n"
        "WHERE (f0.value > ? AND r.status = ?) OR EXISTS (SELECT 1 FROM run_tag t WHERE t.rid = r.rid AND t.tag = ?)\n"
        "ORDER BY f0.value DESC NULLS LAST, r.created DESC, r.rid DESC",
        (1, 0.05, "completed", "baseline"),
        [(1, 0.1), (2, 0.01)],
    ),
    (
        "select .run where lr > 0.05 or .status = error and .status = completed",
        'SELECT r.rid, substr(r.id, 1, 8) AS "run"\n'
        "FROM run r\n"
        "LEFT JOIN run_flag f0 ON f0.rid = r.rid AND f0.name = ?\n"
        "WHERE f0.value > ? OR (r.status = ? AND r.status = ?)\n" + NEWEST,
        (1, 0.05, "error", "completed"),
        [(1, "aaaa1111")],
    ),
    (
        # NULLs sort last in both directions: a run lacking the column never wins --min/--max.
        "select min loss order by min loss desc",
        'SELECT r.rid, s0.min_val AS "min loss"\n'
        "FROM run r\n"
        f"LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = {MULTI_LOSS}\n"
        "ORDER BY s0.min_val DESC NULLS LAST, r.created DESC, r.rid DESC",
        (2, 3, 2, 3),
        [(2, 0.4), (1, 0.2), (3, N)],
    ),
    (
        "select min loss as best, .run order by best limit 1",
        'SELECT r.rid, s0.min_val AS "best", substr(r.id, 1, 8) AS "run"\n'
        "FROM run r\n"
        f"LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = {MULTI_LOSS}\n"
        "ORDER BY s0.min_val ASC NULLS LAST, r.created DESC, r.rid DESC\n"
        "LIMIT ?",
        (2, 3, 2, 3, 1),
        [(1, 0.2, "aaaa1111")],
    ),
    (
        # The seed: select --min non-existing leaves the default order (latest first).
        "select .run order by min non-existing limit 1",
        'SELECT r.rid, substr(r.id, 1, 8) AS "run"\n'
        "FROM run r\n"
        "ORDER BY NULL ASC NULLS LAST, r.created DESC, r.rid DESC\n"
        "LIMIT ?",
        (1,),
        [(3, "cccc3333")],
    ),
    (
        "select .run where .label ~ '^res' and =optimizer in (adam, sgd) and not =resume = no",
        'SELECT r.rid, substr(r.id, 1, 8) AS "run"\n'
        "FROM run r\n"
        "LEFT JOIN run_flag f0 ON f0.rid = r.rid AND f0.name = ?\n"
        "LEFT JOIN run_flag f1 ON f1.rid = r.rid AND f1.name = ?\n"
        "WHERE r.label REGEXP ? AND f0.value IN (?, ?) AND NOT (f1.value = ?)\n" + NEWEST,
        (2, 4, "^res", "adam", "sgd", False),
        [(1, "aaaa1111")],
    ),
    (
        "select .run, .platform where platform != linux and gpus is null",
        'SELECT r.rid, substr(r.id, 1, 8) AS "run", a0.value AS "platform"\n'
        "FROM run r\n"
        "LEFT JOIN run_attr a0 ON a0.rid = r.rid AND a0.name = ?\n"
        "LEFT JOIN run_attr a1 ON a1.rid = r.rid AND a1.name = ?\n"
        "WHERE json_extract(a0.value, '$') != ? AND json_extract(a1.value, '$') IS NULL\n" + NEWEST,
        ("platform", "gpus", "linux"),
        [(2, "bbbb2222", "darwin")],
    ),
    (
        "select .run where .started >= '2023-11-14T22:15:00+00:00' and .time is null",
        'SELECT r.rid, substr(r.id, 1, 8) AS "run"\n'
        "FROM run r\n"
        "WHERE r.started >= ? AND (r.stopped - r.started) / 1000000.0 IS NULL\n" + NEWEST,
        (T0 + 100 * S,),
        [(3, "cccc3333")],
    ),
    (
        "select .run where =batch in (32, null) and =seed = null",
        'SELECT r.rid, substr(r.id, 1, 8) AS "run"\n'
        "FROM run r\n"
        "LEFT JOIN run_flag f0 ON f0.rid = r.rid AND f0.name = ?\n"
        "LEFT JOIN run_flag f1 ON f1.rid = r.rid AND f1.name = ?\n"
        "WHERE (f0.value IN (?) OR f0.value IS NULL) AND f1.value IS NULL\n" + NEWEST,
        (6, 5, 32),
        [(3, "cccc3333"), (1, "aaaa1111")],
    ),
]


@pytest.mark.parametrize("text,sql,params,rows", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(conn, catalog, pristine, text, sql, params, rows):
    compiled = compile(parse(text), catalog)
    assert compiled.sql == sql
    assert compiled.params == params
    assert run_rows(compiled, conn) == rows
    assert snapshot(conn) == pristine
    if not isinstance(conn, sqlite3.Connection):  # PostgreSQL's own dialect: same rows
        assert run_rows(compile(parse(text), _pg(catalog)), conn) == rows


def _pg(catalog):
    from rundb.record import replace

    from rundb.index.dialect_pg import POSTGRESQL

    return replace(catalog, dialect=POSTGRESQL)


def test_headers(catalog):
    c = compile("select =a as A, min loss step, x step as x_step, .id, losses/.+, 'val#acc'", catalog)
    assert c.headers == ["A", "min loss step", "x_step", "id", "losses/a", "losses/b", "val#acc"]
    assert [str(col) for col in c.columns] == [
        "flag:a as A",
        "scalar:min loss step",
        "scalar:x step as x_step",
        "attr:id",
        "scalar:losses/a",
        "scalar:losses/b",
        "scalar:val#acc",
    ]


def test_seed_summary_values(conn, catalog):
    # SPEC §23 cases 21 and 22.
    rows = {r[0]: r[1:] for r in run_rows(compile("select min x, min x step, max x, max x step, first x step, last x, avg x, count x, total x", catalog), conn)}
    assert rows[1] == (1.0, 1, 4.0, 3, 1, 4.0, 2.5, 4, 10.0)
    assert run_rows(compile("select x", catalog), conn)[-1] == (1, 4.0)
    assert run_rows(compile("select x step", catalog), conn)[-1] == (1, 3)


def test_runs_where_is_anded_and_params_stay_in_order(conn, catalog):
    c = compile(
        "select =lr where lr > 0.05 or .status = error order by loss limit 5",
        catalog,
        runs_where="r.op = ?",
        runs_params=("train",),
    )
    assert c.sql.splitlines()[-3:] == [
        "WHERE (r.op = ?) AND (f0.value > ? OR r.status = ?)",
        "ORDER BY s0.last_val ASC NULLS LAST, r.created DESC, r.rid DESC",
        "LIMIT ?",
    ]
    assert c.params == (1, 2, 3, 2, 3, "train", 0.05, "error", 5)
    assert run_rows(c, conn) == [(1, 0.1), (2, 0.01)]
    only = compile("select .run", catalog, runs_where="r.rid IN (?, ?)", runs_params=(1, 3))
    assert "WHERE r.rid IN (?, ?)" in only.sql
    assert run_rows(only, conn) == [(3, "cccc3333"), (1, "aaaa1111")]


# Filters: a condition on `run r` alone, for another query's WHERE.

SUB_LR = "(SELECT f.value FROM run_flag f WHERE f.rid = r.rid AND f.name = ?)"
SUB_LOSS = (
    "(SELECT s.last_val FROM scalar_stat s WHERE s.rid = r.rid AND s.key IN (?, ?)"
    " ORDER BY CASE s.key WHEN ? THEN 0 WHEN ? THEN 1 END LIMIT 1)"
)
TAG = "EXISTS (SELECT 1 FROM run_tag t WHERE t.rid = r.rid{})"

# filter, SQL, parameters, rids matched
FILTERS = [
    ("=lr > 0.01", f"{SUB_LR} > ?", (1, 0.01), [1]),
    ("lr > 0.01", f"{SUB_LR} > ?", (1, 0.01), [1]),
    ("status = error", "r.status = ?", ("error",), [2]),
    (".status in (completed, error)", "r.status IN (?, ?)", ("completed", "error"), [1, 2]),
    ("loss < 0.3", f"{SUB_LOSS} < ?", (2, 3, 2, 3, 0.3), [1]),
    ("loss > 0.3", f"{SUB_LOSS} > ?", (2, 3, 2, 3, 0.3), [2]),
    (
        "min loss < 0.5",
        "(SELECT s.min_val FROM scalar_stat s WHERE s.rid = r.rid AND s.key IN (?, ?)"
        " ORDER BY CASE s.key WHEN ? THEN 0 WHEN ? THEN 1 END LIMIT 1) < ?",
        (2, 3, 2, 3, 0.5),
        [1, 2],
    ),
    ("count x = 4", "(SELECT s.count FROM scalar_stat s WHERE s.rid = r.rid AND s.key = ?) = ?", (1, 4), [1]),
    (
        "avg x = 2.5",
        "(SELECT s.total / NULLIF(s.count, 0) FROM scalar_stat s WHERE s.rid = r.rid AND s.key = ?) = ?",
        (1, 2.5),
        [1],
    ),
    ("last x is not null", "(SELECT s.last_val FROM scalar_stat s WHERE s.rid = r.rid AND s.key = ?) IS NOT NULL", (1,), [1]),
    ("val#acc > 0.5", "(SELECT s.last_val FROM scalar_stat s WHERE s.rid = r.rid AND s.key = ?) > ?", (4, 0.5), [1]),
    (".label ~ 'res'", "r.label REGEXP ?", ("res",), [1]),
    ("=optimizer != adam", f"{SUB_LR} != ?", (2, "adam"), [2]),
    ("=nope = 1", "NULL = ?", (1,), []),
    ("=nope is null", "NULL IS NULL", (), [1, 2, 3]),
    ("scalar:lr is null", "NULL IS NULL", (), [1, 2, 3]),
    ("=seed is null", f"{SUB_LR} IS NULL", (5,), [1, 2, 3]),
    ("not =resume = yes", f"NOT ({SUB_LR} = ?)", (4, True), [2]),
    ("=resume = true", f"{SUB_LR} = ?", (4, True), [1]),
    ("=layers = '[1, 2]'", f"{SUB_LR} = ?", (3, "[1, 2]"), [1]),
    ("=batch not in (32, null)", f"({SUB_LR} NOT IN (?) AND {SUB_LR} IS NOT NULL)", (6, 32, 6), [2]),
    (
        "=lr > 0.05 and status = error or status = running",
        f"(({SUB_LR} > ? AND r.status = ?) OR r.status = ?)",
        (1, 0.05, "error", "running"),
        [3],
    ),
    (
        "=lr > 0.05 or status = error and status = running",
        f"({SUB_LR} > ? OR (r.status = ? AND r.status = ?))",
        (1, 0.05, "error", "running"),
        [1],
    ),
    (".tags = best", TAG.format(" AND t.tag = ?"), ("best",), [1]),
    (".tags != best", "NOT " + TAG.format(" AND t.tag = ?"), ("best",), [2, 3]),
    (".tags is null", "NOT " + TAG.format(""), (), [3]),
    ("tags is not null", TAG.format(""), (), [1, 2]),
    (".tags in (baseline, best)", TAG.format(" AND t.tag IN (?, ?)"), ("baseline", "best"), [1, 2]),
    (".tags not in (baseline, best)", "NOT (" + TAG.format(" AND t.tag IN (?, ?)") + ")", ("baseline", "best"), [3]),
    (".tags ~ '^res'", TAG.format(" AND t.tag REGEXP ?"), ("^res",), [1]),
    (
        ".platform = linux",
        "json_extract((SELECT a.value FROM run_attr a WHERE a.rid = r.rid AND a.name = ?), '$') = ?",
        ("platform", "linux"),
        [1],
    ),
    (
        "gpus >= 2",
        "json_extract((SELECT a.value FROM run_attr a WHERE a.rid = r.rid AND a.name = ?), '$') >= ?",
        ("gpus", 2),
        [1],
    ),
    (".started < 1700000100", "r.started < ?", (T0 + 100 * S,), [1]),
    (".started >= '2023-11-14T22:15:00Z'", "r.started >= ?", (T0 + 100 * S,), [2, 3]),
    (".time > 60", "(r.stopped - r.started) / 1000000.0 > ?", (60,), [1]),
    (".marked = yes", "r.marked = ?", (True,), [1]),
    (".run = aaaa1111", "substr(r.id, 1, 8) = ?", ("aaaa1111",), [1]),
    ("op = eval", "r.op = ?", ("eval",), [3]),
]


@pytest.mark.parametrize("text,sql,params,rids", FILTERS, ids=[f[0] for f in FILTERS])
def test_compile_filter(conn, catalog, text, sql, params, rids):
    got_sql, got_params = compile_filter(parse_filter(text), catalog)
    assert (got_sql, got_params) == (sql, params)
    SQLITE.register_functions(conn)
    found = conn.execute(f"SELECT r.rid FROM run r WHERE {got_sql} ORDER BY r.rid", got_params).fetchall()
    assert [rid for (rid,) in found] == rids
    # The same condition through a whole query (joins instead of subqueries) agrees.
    rows = run_rows(compile(f"select .id where {text} order by .id", catalog), conn)
    assert sorted(r[0] for r in rows) == rids
    if not isinstance(conn, sqlite3.Connection):  # PostgreSQL's own dialect: same runs
        pg_sql, pg_params = compile_filter(parse_filter(text), _pg(catalog))
        found = conn.execute(f"SELECT r.rid FROM run r WHERE {pg_sql} ORDER BY r.rid", pg_params)
        assert [rid for (rid,) in found] == rids


def test_compile_filter_accepts_text(catalog):
    assert compile_filter("status = error", catalog) == ("r.status = ?", ("error",))


def test_naive_times_are_local(conn, catalog):
    local = datetime.fromtimestamp(1_700_000_100).isoformat()  # run 2's start, local time
    sql, params = compile_filter(f".started = '{local}'", catalog)
    assert params == (T0 + 100 * S,)


@pytest.mark.parametrize("value", ["'yesterday'", "true", "1e999"])
def test_bad_time_value(catalog, value):
    with pytest.raises(QueryError) as e:
        compile_filter(f".started > {value}", catalog)
    assert "invalid time" in str(e.value)


def test_every_run_attribute_compiles(conn, catalog):
    assert set(compiler._run_columns(SQLITE)) == set(RUN_ATTRS)
    text = "select " + ", ".join("." + name for name in RUN_ATTRS)
    rows = run_rows(compile(text, catalog), conn)
    assert len(rows) == 3 and all(len(row) == 1 + len(RUN_ATTRS) for row in rows)
    flt = " and ".join(f".{name} is not null or .{name} is null" for name in RUN_ATTRS)
    assert len(run_rows(compile(f"select .id where {flt}", catalog), conn)) == 3


def test_many_columns_fall_back_to_subqueries(conn, catalog):
    # SQLite joins at most 64 tables; columns beyond MAX_JOINS read through subqueries.
    specs = [f"=lr as c{i}" for i in range(3)] + [f".a{i}" for i in range(compiler.MAX_JOINS + 10)]
    c = compile("select " + ", ".join(specs) + ", min loss where loss < 1 order by =lr", catalog)
    assert c.sql.count("LEFT JOIN") == compiler.MAX_JOINS
    assert "(SELECT a.value FROM run_attr a" in c.sql
    rows = run_rows(c, conn)
    assert [row[:4] for row in rows] == [(2, 0.01, 0.01, 0.01), (1, 0.1, 0.1, 0.1)]
    assert [row[-1] for row in rows] == [0.4, 0.2]
    assert rows[0][4:-1] == (N,) * (compiler.MAX_JOINS + 10)


def test_rows_ignore_the_connections_row_factory(tmp_path, catalog):
    conn = create_index(str(tmp_path / "i.db"))
    conn.row_factory = sqlite3.Row
    assert run_rows(compile("select =resume", catalog), conn)[-1] == (1, True)


# Injection: names, aliases and values are data.

INJECTIONS = [
    f"select '{EVIL.replace(chr(39), chr(39) * 2)}'",
    f"select ='{EVIL.replace(chr(39), chr(39) * 2)}' as '{EVIL.replace(chr(39), chr(39) * 2)}'",
    f"select .'{EVIL.replace(chr(39), chr(39) * 2)}'",
    "select .id as 'x\"; DROP TABLE run; --'",
    "select .id as \"a\"\"; DROP TABLE run; --\"",
    "select .id where .label = 'x''); DROP TABLE run; --'",
    "select .id where .label ~ '\\); DROP TABLE run; --'",
    "select .id where =optimizer in ('a'')--', \"b\"\"; DELETE FROM run\")",
    "select 'a\"; DROP TABLE run; --' where 'b\"); DROP TABLE run; --' > 1",
    "select x;DROP, =a;--, .b;--, c;-- as d;-- where e;-- = f;-- order by g;--",
    "select .id order by 'a\"); DELETE FROM run; --' desc",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_comes_back_as_data(conn, catalog, pristine, text):
    try:
        compiled = compile(parse(text), catalog)
    except QueryError:
        return
    run_rows(compiled, conn)
    assert snapshot(conn) == pristine


def test_evil_names_read_their_values(conn, catalog):
    quoted = "'" + EVIL.replace("'", "''") + "'"
    rows = run_rows(compile(f"select {quoted}, ={quoted}, .{quoted} as {quoted}", catalog), conn)
    assert rows[0] == (3, 6.0, "evil", "ok")
    assert compile(f"select {quoted}", catalog).headers == [EVIL]


# Properties


_PIECES = st.sampled_from(
    [
        "lr", "=lr", "loss", "min loss", "x step", ".status", ".tags", ".started", ".time", "platform",
        "=layers", "=nope", "losses/.+", "and", "or", "not", "in", "is", "null", "(", ")", ",", "=",
        "!=", "<", "<=", ">", ">=", "~", "1", "0.05", "yes", "'a''b'", "'\"'", "completed", "';--",
        "'2023-11-14'", "'('", "\x00", "\ud800",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(st.lists(_PIECES, max_size=14).map(" ".join), st.text(max_size=30)))
def test_random_filters_compile_and_run(conn, catalog, pristine, text):
    try:
        expr = parse_filter(text)
        sql, params = compile_filter(expr, catalog)
        compiled = compile(parse(f"select .id, {text.split(' ')[0] or 'x'} where {text}"), catalog)
    except QueryError:
        return
    SQLITE.register_functions(conn)
    filtered = [r for (r,) in conn.execute(f"SELECT r.rid FROM run r WHERE {sql} ORDER BY r.rid", params)]
    joined = sorted(row[0] for row in run_rows(compiled, conn))
    assert joined == filtered
    assert snapshot(conn) == pristine


def test_the_postgresql_dialect_implements_the_compilers_dialect_hook():
    from rundb.index.dialect_pg import POSTGRESQL, PostgreSQLDialect
    from rundb.query.dialect import Dialect

    wanted = {name for name in vars(Dialect) if not name.startswith("_")}
    assert wanted <= set(dir(PostgreSQLDialect))
    assert all(callable(getattr(POSTGRESQL, name)) for name in wanted if name != "name")


def test_the_sqlite_dialect_implements_the_compilers_dialect_hook():
    from rundb.index.dialect import SQLiteDialect
    from rundb.query.dialect import Dialect

    wanted = {name for name in vars(Dialect) if not name.startswith("_")}
    assert wanted <= set(dir(SQLiteDialect))
    assert all(callable(getattr(SQLITE, name)) for name in wanted if name != "name")
