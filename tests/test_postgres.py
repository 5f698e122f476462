"""A shared PostgreSQL index: choosing it, its schema and views, and its failures."""

import os
import subprocess
import sys
import time
import uuid

import pytest

from rundb.errors import IndexConnectionError, IndexSchemaError
from rundb.home import Home
from rundb.index import pg_schema, reader, schema, writer
from rundb.index.db import open_index
from rundb.index.url import mask
from rundb.run import Run

from conftest import rundb_proc


def _run(**kw):
    return Run(id=uuid.uuid4().hex, op="train", created=int(time.time() * 1e6), **kw)


# Choosing the index


def test_sqlite_is_the_default(cli, home):
    result = cli("index", "info")
    assert result.exit_code == 0, result.output
    assert "backend: sqlite" in result.output
    assert f"url: {home.index_path}" in result.output


def test_index_option_env_and_config_choose_postgres(tmp_path, pg_url):
    url = pg_url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
    h = str(tmp_path / "h")
    for args, env in ((["--index", url], {}), ([], {"RUNDB_INDEX": url})):
        p = rundb_proc("-H", h, *args, "index", "info", env=env)
        assert p.returncode == 0, p.stderr
        assert "backend: postgresql" in p.stdout
        assert "s3cret" not in p.stdout and "postgres:***@" in p.stdout
        assert f"schema version: {schema.SCHEMA_VERSION}" in p.stdout
    with open(os.path.join(h, "config.yml"), "w") as f:
        f.write(f"index: {url}\n")
    p = rundb_proc("-H", h, "index", "info")
    assert p.returncode == 0, p.stderr
    assert "backend: postgresql" in p.stdout
    assert not os.path.exists(os.path.join(h, "index.db"))


def test_mask_hides_only_the_password():
    assert mask("postgresql://ann:pw@db:5432/runs") == "postgresql://ann:***@db:5432/runs"
    assert mask("postgresql://ann@db/runs") == "postgresql://ann@db/runs"
    assert mask("postgresql://db/runs") == "postgresql://db/runs"


def test_unknown_scheme_is_one_line_and_creates_nothing(tmp_path):
    h = tmp_path / "h"
    p = rundb_proc("-H", str(h), "--index", "mysql://ann:pw@db/runs", "runs")
    assert p.returncode == 1
    assert p.stderr == ("rundb: unknown index URL scheme 'mysql' in mysql://ann:***@db/runs: "
                        "use postgresql://USER@HOST:PORT/DATABASE or a path to an SQLite file\n")
    assert not h.exists()


@pytest.mark.parametrize("url,reason", [
    ("postgresql://postgres:pw@127.0.0.1:1/rundb", "Connection refused"),
    ("postgresql://nobody_here@127.0.0.1:5432/postgres", 'role "nobody_here" does not exist'),
    ("postgresql://postgres@127.0.0.1:5432/no_such_db_here", 'database "no_such_db_here" does not exist'),
])
def test_unreachable_server_or_refused_login_is_one_line(tmp_path, pg_server, url, reason):
    h = tmp_path / "h"
    p = rundb_proc("-H", str(h), "--index", url, "runs")
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"rundb: cannot connect to the index at {mask(url)}: ")
    assert reason in lines[0]
    assert ":pw@" not in p.stderr
    assert not (h / "index.db").exists()


def test_psycopg_missing_names_the_extra(tmp_path):
    # A Python whose import of psycopg fails, as on an install without the extra.
    code = ("import sys; sys.modules['psycopg'] = None; "
            "from rundb_cli.main import main; sys.argv = ['rundb', '--index', "
            "'postgresql://x@127.0.0.1/y', '-H', sys.argv[1], 'runs']; main()")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "h")],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stderr == ("rundb: a postgresql:// index needs psycopg 3: "
                        "pip install 'rundb[postgres]'\n")


def test_psycopg_is_imported_only_for_a_postgres_index(tmp_path):
    code = ("import sys, runpy; sys.argv = ['rundb', '-H', sys.argv[1], 'runs'];\n"
            "from rundb_cli.main import cli\n"
            "try:\n    cli(prog_name='rundb')\nexcept SystemExit: pass\n"
            "assert 'psycopg' not in sys.modules, 'psycopg imported'")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "h")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_newer_schema_is_refused_and_left_alone(pg_url):
    open_index(pg_url).close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE rundb_schema SET version = 99")
    try:
        with pytest.raises(IndexSchemaError) as e:
            open_index(pg_url)
        assert str(e.value) == (f"index {pg_url} has schema version 99, newer than this rundb "
                                f"supports ({schema.SCHEMA_VERSION}): upgrade rundb")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert conn.execute("SELECT version FROM rundb_schema").fetchall() == [(99,)]
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE rundb_schema SET version = %s", (schema.SCHEMA_VERSION,))


def test_a_failed_migration_leaves_nothing_half_written(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
        conn.execute("CREATE TABLE scalar_stat (x INTEGER)")  # in the way of migration 1
    try:
        with pytest.raises(IndexSchemaError, match="cannot create the index schema"):
            open_index(pg_url)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert conn.execute("SELECT to_regclass('run')").fetchone()[0] is None
            assert conn.execute("SELECT to_regclass('rundb_schema')").fetchone()[0] is None
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP TABLE scalar_stat")
        open_index(pg_url).close()


def test_connection_error_class():
    assert issubclass(IndexConnectionError, Exception)


# Schema and views


def test_migrations_are_numbered_alike():
    assert len(pg_schema.MIGRATIONS) == len(schema.MIGRATIONS)


def _view_columns(conn_execute, view, limit_sql):
    return conn_execute(limit_sql.format(view=view))


def test_views_have_the_same_columns_and_types(home, pg_url):
    import sqlite3

    import psycopg

    sq = open_index(home.index_path)
    pg = open_index(pg_url)
    for ix in (sq, pg):
        ix.home_dir = home.path
        rid = writer.insert_run(ix, _run(flags={"lr": 0.1, "n": 3, "opt": "adam", "b": True,
                                                "none": None, "l": [1, 2]},
                                         tags=["x", "y"], attrs={"a": 1}, host="h", user="u"))
        writer.add_scalars(ix, rid, [("", "loss", 0, 0.5, 1.0), ("", "loss", 1, 0.25, 2.0)])
        writer.update_run(ix, reader.load_runs(ix, [rid])[0].id, status="completed",
                          started=1, stopped=2_500_000)
    for view in schema.VIEWS:
        s_cur = sq.conn.execute(f"SELECT * FROM {view}")
        s_names = [d[0] for d in s_cur.description]
        s_rows = s_cur.fetchall()
        with psycopg.connect(pg_url) as conn:
            p_cur = conn.execute(f"SELECT * FROM {view}")
            p_names = [d.name for d in p_cur.description]
            p_rows = p_cur.fetchall()
        assert p_names == s_names, view
        id_cols = {i for i, n in enumerate(s_names) if n in ("id", "run", "short_id", "dir")}
        for s_row, p_row in zip(sorted(s_rows, key=str), sorted(p_rows, key=str)):
            for i, (a, b) in enumerate(zip(s_row, p_row)):
                if i in id_cols:
                    continue
                assert type(a) is type(b) or (a == b), (view, s_names[i], a, b)
                if view != "runs" or s_names[i] not in ("started", "stopped"):
                    assert a == b, (view, s_names[i], a, b)
        assert len(s_rows) == len(p_rows)
    sq.close()
    pg.close()
    del sqlite3


def test_flags_keep_their_python_types(pg_url, home):
    ix = open_index(pg_url)
    ix.home_dir = home.path
    flags = {"i": 3, "f": 0.5, "f1": 1.0, "s": "adam", "s_num": "0.5", "b": True,
             "bf": False, "n": None, "l": [1, "a"], "d": {"k": 1}, "big": 2**62}
    rid = writer.insert_run(ix, _run(flags=flags))
    loaded = reader.load_runs(ix, [rid])[0].flags
    assert loaded == flags
    for name, value in flags.items():
        assert type(loaded[name]) is type(value), name
    ix.close()


def test_home_config_file_with_a_bad_value(tmp_path):
    h = tmp_path / "h"
    h.mkdir()
    (h / "config.yml").write_text("index: [1, 2]\n")
    p = rundb_proc("-H", str(h), "runs")
    assert p.returncode == 1
    assert p.stderr == f"rundb: {h / 'config.yml'}: 'index' must be a URL or a path\n"


def test_home_without_index_setting_is_unchanged(tmp_path):
    home = Home(str(tmp_path / "h"))
    assert home.index_url is None
    assert home.index_location == home.index_path


# rundb sql on PostgreSQL: read-only


@pytest.fixture
def pg_home(tmp_path, pg_url):
    home = Home(str(tmp_path / "home"), index=pg_url).ensure()
    with open_index(pg_url) as ix:
        ix.home_dir = home.path
        writer.insert_run(ix, _run(flags={"lr": 0.1, "opt": "adam", "aug": True}, label="a"))
    return home


def _pg_state(url):
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "ORDER BY 1")]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        counts["labels"] = conn.execute("SELECT string_agg(label, ',') FROM run").fetchone()[0]
        counts["functions"] = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        ).fetchone()[0]
        return counts


@pytest.mark.parametrize("statement,refused", [
    ("INSERT INTO run (id, created) VALUES ('x', 1)", "INSERT"),
    ("UPDATE run SET label = 'x'", "UPDATE"),
    ("DELETE FROM run_flag", "DELETE"),
    ("WITH x AS (DELETE FROM run RETURNING 1) SELECT * FROM x", "DELETE"),
    ("COPY run TO PROGRAM 'touch {tmp}/pwned'", "COPY"),
    ("COPY (SELECT 1) TO '{tmp}/out.csv'", "COPY"),
    ("SET ROLE postgres", "SET"),
    ("SELECT 1; SET ROLE postgres", None),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", "CREATE"),
    ("DROP VIEW runs", "DROP"),
    ("TRUNCATE scalar_point", "TRUNCATE"),
    ("SELECT * INTO copy_of_run FROM run", "INTO"),
    ("DO $$ BEGIN DELETE FROM run; END $$", "DO"),
    ("SELECT 1; DELETE FROM run", None),
    ("SELECT id FROM run FOR UPDATE", "UPDATE"),
    ("SELECT nextval(pg_get_serial_sequence('run', 'rid'))", "read-only"),
])
def test_pg_sql_refuses_changes_and_changes_nothing(pg_home, tmp_path, statement, refused):
    before = _pg_state(pg_home.index_url)
    p = rundb_proc("sql", statement.format(tmp=tmp_path), home=pg_home)
    assert p.returncode == 1, p.stdout
    line = p.stderr
    assert line.count("\n") == 1, line
    if refused is None:
        assert line == "rundb: only one statement at a time is allowed\n"
    elif refused == "read-only":
        assert line.startswith("rundb: not allowed: the index is read-only here (cannot execute")
    else:
        assert line == f"rundb: not allowed: the index is read-only here ({refused})\n"
    assert _pg_state(pg_home.index_url) == before
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("statement", [
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT pg_terminate_backend(1)",
    "SELECT pg_sleep(10)",
])
def test_pg_sql_refuses_acting_functions(pg_home, statement):
    p = rundb_proc("sql", statement, home=pg_home)
    assert p.returncode == 1
    assert p.stderr.startswith("rundb: function ") and "is not allowed in rundb sql" in p.stderr


def test_pg_sql_reads_views_with_params_and_types(pg_home):
    p = rundb_proc("sql", "SELECT name, value, type FROM flags WHERE name <> :n ORDER BY name",
                   "-p", "n", "opt", "--json", home=pg_home)
    assert p.returncode == 0, p.stderr
    import json

    assert json.loads(p.stdout) == [{"name": "aug", "value": 1, "type": "bool"},
                                     {"name": "lr", "value": 0.1, "type": "float"}]
    p = rundb_proc("sql", "SELECT count(*) AS n, avg(marked) AS m FROM runs WHERE label = ?",
                   "--params", '["a"]', "--csv", "-", home=pg_home)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["n,m", "1,0"]


def test_pg_sql_errors_are_one_line(pg_home):
    p = rundb_proc("sql", "SELECT nope FROM runs", home=pg_home)
    assert p.returncode == 1
    assert p.stderr == 'rundb: column "nope" does not exist\n'
    p = rundb_proc("sql", "SELECT 1::int AS one, 'a:b' AS s", "--csv", "-", home=pg_home)
    assert p.returncode == 0 and p.stdout.splitlines() == ["one,s", "1,a:b"]


# push / pull / rebuild / check


SCRIPT = """
import sys
lr = 0.1
for i in range(50):
    print(f"loss: {lr / (i + 1)} (step {i})")
"""


@pytest.mark.slow
def test_push_pull_round_trip_is_idempotent(tmp_path, pg_url):
    project = tmp_path / "p"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT)
    local = Home(str(tmp_path / "local"))
    for lr in (0.1, 0.2, 0.3):
        p = rundb_proc("run", "-y", "train.py", f"lr={lr}", home=local, cwd=str(project))
        assert p.returncode == 0, p.stderr
    rundb_proc("label", "--set", "best", "1", "-y", home=local)
    rundb_proc("tag", "--tag", "keep", "2", "-y", home=local)
    local_csv = rundb_proc("compare", "--csv", "-", home=local).stdout
    assert local_csv.count("\n") == 4

    p = rundb_proc("index", "push", pg_url, home=local)
    assert p.returncode == 0, p.stderr
    assert p.stderr.endswith(": 3 added, 0 updated, 0 unchanged\n")
    p = rundb_proc("index", "push", pg_url, home=local)
    assert p.stderr.endswith(": 0 added, 0 updated, 3 unchanged\n"), p.stderr

    shared = Home(local.path, index=pg_url)
    assert rundb_proc("compare", "--csv", "-", home=shared).stdout == local_csv

    other = Home(str(tmp_path / "other"))
    p = rundb_proc("index", "pull", pg_url, home=other)
    assert p.returncode == 0 and p.stderr.endswith(": 3 added, 0 updated, 0 unchanged\n")
    assert rundb_proc("compare", "--csv", "-", home=other).stdout == local_csv
    p = rundb_proc("index", "pull", pg_url, home=other)
    assert p.stderr.endswith(": 0 added, 0 updated, 3 unchanged\n")

    # A change on one side is one update on the other.
    rundb_proc("label", "--set", "changed", "3", "-y", home=local)
    p = rundb_proc("index", "push", pg_url, home=local)
    assert p.stderr.endswith(": 0 added, 1 updated, 2 unchanged\n"), p.stderr
    assert "changed" in rundb_proc("runs", home=shared).stdout

    # Check and rebuild on the shared index look at this home's runs only.
    p = rundb_proc("index", "check", home=shared)
    assert p.returncode == 0, p.stdout + p.stderr
    with open_index(pg_url) as ix:
        ix.conn.execute("DELETE FROM scalar_stat")
    p = rundb_proc("index", "check", home=shared)
    assert p.returncode == 1 and "differs" in p.stdout
    p = rundb_proc("index", "rebuild", home=shared)
    assert p.returncode == 0, p.stderr
    assert rundb_proc("index", "check", home=shared).returncode == 0
    assert (rundb_proc("compare", "--csv", "-", home=shared).stdout
            == rundb_proc("compare", "--csv", "-", home=local).stdout)


def test_push_to_an_unknown_scheme_writes_nothing(tmp_path):
    local = Home(str(tmp_path / "local"))
    p = rundb_proc("index", "push", "mongodb://x/y", home=local)
    assert p.returncode == 1
    assert p.stderr.startswith("rundb: unknown index URL scheme 'mongodb'")


# Many writers at once


MANY_POINTS = """
n = 10
for i in range(n):
    print(f"loss: {1.0 / (i + 1)} (step {i})")
"""


@pytest.mark.slow
def test_concurrent_runs_into_one_shared_index(tmp_path, pg_url):
    """Parallel `rundb run` processes (each its own indexer) write one PostgreSQL index:
    no point lost, every summary right, index check clean. (bench/bench_pg.py runs the
    issue's 16 x 20,000.)"""
    project = tmp_path / "p"
    project.mkdir()
    (project / "many.py").write_text(MANY_POINTS)
    home = Home(str(tmp_path / "home"), index=pg_url)
    procs, n, points = 6, 6, 5000
    env = dict(os.environ, RUNDB_HOME=home.path, RUNDB_INDEX=pg_url)
    running = [subprocess.Popen([sys.executable, "-m", "rundb_cli.main", "run", "-y", "many.py",
                                 f"n={points}"], cwd=str(project), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(procs)]
    for p in running:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with open_index(pg_url) as ix:
        assert ix.conn.execute("SELECT count(*) FROM scalar_point").fetchone()[0] == n * points
        rows = ix.conn.execute("SELECT count, min_val, last_step FROM scalar_stat").fetchall()
    assert rows == [(points, 1.0 / points, points - 1)] * n
    p = rundb_proc("index", "check", home=home)
    assert p.returncode == 0, p.stdout + p.stderr


# Runs on many machines


def test_runs_of_another_host_are_found_where_they_are(tmp_path, pg_url):
    """Each run row records its host and home: `runs info` shows the run directory on
    the host that holds it, and reading its files there names that host."""
    here = Home(str(tmp_path / "here"), index=pg_url).ensure()
    with open_index(pg_url) as ix:
        ix.home_dir = here.path
        run = _run(host="gpu-server-7", flags={"lr": 0.1})
        run.dir = f"/data/ann/.rundb/runs/{run.id}"
        writer.insert_run(ix, run)
    p = rundb_proc("runs", "info", "--json", home=here)
    assert p.returncode == 0, p.stderr
    import json

    info = json.loads(p.stdout)
    assert info["host"] == "gpu-server-7"
    assert info["run_dir"] == f"/data/ann/.rundb/runs/{run.id}"
    p = rundb_proc("cat", run.id[:8], home=here)
    assert p.returncode == 1
    assert "ran on host gpu-server-7" in p.stderr and f"/data/ann/.rundb/runs/{run.id}" in p.stderr
    # Moving to the trash keeps the recorded home.
    with open_index(pg_url) as ix:
        ix.home_dir = here.path
        writer.update_run(ix, run.id, deleted=True)
        [back] = reader.load_runs(ix, [reader.rid_of(ix, run.id)])
    assert back.dir == f"/data/ann/.rundb/trash/{run.id}"


def test_sqlite_index_reads_runs_where_its_home_is_now(tmp_path, index, home):
    run = _run()
    run.dir = f"/somewhere/else/runs/{run.id}"
    writer.insert_run(index, run)
    [back] = reader.load_runs(index, [reader.rid_of(index, run.id)])
    assert back.dir == os.path.join(home.path, "runs", run.id)


@pytest.mark.backends
def test_non_finite_flags_read_back(index):
    import math

    rid = writer.insert_run(index, _run(flags={"a": math.inf, "b": -math.inf, "c": math.nan}))
    flags = reader.load_runs(index, [rid])[0].flags
    assert flags["a"] == math.inf and flags["b"] == -math.inf and math.isnan(flags["c"])


def test_postgres_dialect_runs_on_the_server(pg_url):
    """Each piece the PostgreSQL dialect writes runs, with SQLite's meaning."""
    from rundb.index.dialect_pg import POSTGRESQL as d

    with open_index(pg_url) as ix:
        rid = writer.insert_run(ix, _run(flags={"opt": "Adam", "lr": 0.5}, tags=["b", "a"],
                                         attrs={"gpus": 2}, label="ResNet"))
        one = lambda sql, *p: ix.conn.execute(sql, p).fetchone()[0]  # noqa: E731
        assert one(f"SELECT count(*) FROM run r WHERE {d.regexp('r.label')}", "^Res") == 1
        assert one(f"SELECT count(*) FROM run_flag f WHERE {d.regexp('f.value')}", "^Ad") == 1
        assert one(f"SELECT count(*) FROM run r WHERE {d.contains('r.label')}", "resn") == 1
        assert one(f"SELECT {d.json_value('a.value')} > ? FROM run_attr a", 1) is True
        assert one(f"SELECT count(*) FROM run WHERE rid IN ({d.json_list()})", f"[{rid}]") == 1
        assert one(f"SELECT {d.group_concat('t.tag')} FROM run_tag t", ",") in ("a,b", "b,a")
        ix.conn.execute(d.upsert("run_attr", ("rid", "name", "value"), ("rid", "name"),
                                 ("value",)), (rid, "gpus", "4"))
        assert one("SELECT value FROM run_attr WHERE name = 'gpus'") == "4"


SURVIVE = """
import os, time
for i in range(5):
    print(f"loss: {i} (step {i})", flush=True)
while not os.path.exists("go"):
    time.sleep(0.05)
for i in range(5, 10):
    print(f"loss: {i} (step {i})", flush=True)
"""


@pytest.mark.slow
def test_a_run_survives_its_index_connections_being_dropped(tmp_path, pg_url):
    """The server drops every rundb connection mid-run (a restart, a network blip):
    the runner and the indexer reconnect, no point is lost, the run completes."""
    import psycopg

    project = tmp_path / "p"
    project.mkdir()
    (project / "s.py").write_text(SURVIVE)
    home = Home(str(tmp_path / "home"), index=pg_url)
    env = dict(os.environ, RUNDB_HOME=home.path, RUNDB_INDEX=pg_url)
    proc = subprocess.Popen([sys.executable, "-m", "rundb_cli.main", "run", "-y", "s.py"],
                            cwd=str(project), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        points = 0
        while time.time() < deadline and points < 5:
            time.sleep(0.1)
            try:
                with psycopg.connect(pg_url) as conn:
                    points = conn.execute("SELECT count(*) FROM scalar_point").fetchone()[0]
            except psycopg.Error:
                pass
        assert points == 5
        with psycopg.connect(pg_url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert killed >= 1
        [run_dir] = [os.path.join(home.runs_dir, d) for d in os.listdir(home.runs_dir)]
        open(os.path.join(run_dir, "go"), "w").close()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    finally:
        proc.kill()
    with open_index(pg_url) as ix:
        assert ix.conn.execute("SELECT count(*) FROM scalar_point").fetchone()[0] == 10
        assert ix.conn.execute("SELECT status FROM run").fetchall() == [("completed",)]
        assert ix.conn.execute("SELECT count, last_val FROM scalar_stat").fetchall() == [(10, 9.0)]


def test_export_of_another_hosts_run_names_the_host(tmp_path, pg_url):
    here = Home(str(tmp_path / "here"), index=pg_url).ensure()
    with open_index(pg_url) as ix:
        run = _run(host="gpu-server-7")
        run.dir = f"/data/ann/.rundb/runs/{run.id}"
        writer.insert_run(ix, run)
    p = rundb_proc("export", str(tmp_path / "out"), run.id[:8], "-y", home=here)
    assert p.returncode == 1
    assert f"ran on host gpu-server-7: its files are there, in /data/ann/.rundb/runs/{run.id}" \
        in p.stderr
