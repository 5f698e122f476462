"""Shared fixtures: a real home on disk, its index, and the real CLI."""

import logging
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from rundb.home import Home
from rundb.index.db import open_index

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _installed_is_stale():
    """True when the installed rundb / rundb_cli differ from the sources in this repo."""
    import sysconfig

    # Where pip put them: `python -m pytest` run here imports rundb from the repo itself,
    # but subprocesses started in other directories (runs, ingest) import the installed copy.
    site = sysconfig.get_paths()["purelib"]
    for package, src in (("rundb_cli", "cli"), ("rundb", "rundb")):
        installed = os.path.join(site, package)
        if not os.path.isdir(installed):
            return True
        for root, _dirs, files in os.walk(os.path.join(REPO, src)):
            for name in files:
                if not name.endswith((".py", ".html", ".js", ".css")):  # code and package data
                    continue
                path = os.path.join(root, name)
                other = os.path.join(installed, os.path.relpath(path, os.path.join(REPO, src)))
                try:
                    with open(path, "rb") as a, open(other, "rb") as b:
                        if a.read() != b.read():
                            return True
                except FileNotFoundError:
                    return True
    return False


def pytest_configure(config):
    config.addinivalue_line("markers", "backends: run the module's tests on SQLite and PostgreSQL")
    if os.environ.get("RUNDB_TEST_BACKEND") != "postgresql":
        os.environ.pop("RUNDB_INDEX", None)  # a developer's shared index stays out of tests
    # The CLI is tested as installed (subprocesses run `python -m rundb_cli.main`); keep
    # that install in step with the sources when pytest is run directly, not via make.
    if os.environ.get("PYTEST_XDIST_WORKER") or not _installed_is_stale():
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--no-build-isolation", "--no-deps", "--force-reinstall", REPO],
                   check=True, capture_output=True)


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


@pytest.fixture
def warnings_log():
    """Warnings logged to the "rundb" logger, as the CLI prints them.

    A handler on the "rundb" logger itself (rather than caplog's root handler)
    sees the records even when the CLI has turned propagation off.
    """
    handler = _ListHandler()
    logger = logging.getLogger("rundb")
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield lambda: handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# PostgreSQL: each test module that uses it gets its own database on the server named by
# RUNDB_TEST_PG, created on first use and dropped at the end of the module; every test
# starts from empty tables. Without a server the PostgreSQL tests skip (one line saying
# how to enable them); with RUNDB_TEST_PG_REQUIRED=1 (CI) they fail instead.
DEFAULT_TEST_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")
_PG_TABLES = ("run", "flag_name", "run_flag", "run_tag", "run_attr", "scalar_key",
              "scalar_point", "scalar_stat", "package_set", "stop_request")


def pytest_generate_tests(metafunc):
    # Modules marked `pytestmark = pytest.mark.backends` run each test that uses a home
    # on both backends; RUNDB_TEST_BACKEND=postgresql runs every other test on PostgreSQL.
    if "index_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
            "backends"):
        metafunc.parametrize("index_backend", BACKENDS, indirect=True)


@pytest.fixture
def index_backend(request):
    return getattr(request, "param", None) or os.environ.get("RUNDB_TEST_BACKEND", "sqlite")


@pytest.fixture(scope="session")
def pg_server():
    """The URL of a reachable PostgreSQL server (its maintenance database), or skip."""
    url = os.environ.get("RUNDB_TEST_PG") or DEFAULT_TEST_PG
    why = None
    try:
        import psycopg

        psycopg.connect(url, autocommit=True, connect_timeout=3).close()
    except ImportError:
        why = "psycopg is not installed (pip install 'rundb[postgres]')"
    except Exception as e:  # noqa: BLE001 - any failure means no usable server
        why = f"no PostgreSQL at {url} ({str(e).strip().splitlines()[0]})"
    if why:
        message = f"{why}; set RUNDB_TEST_PG=postgresql://USER@HOST:PORT/DB to enable"
        if os.environ.get("RUNDB_TEST_PG_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="module")
def pg_database(pg_server, request):
    """A new, empty database on the test server for this module; dropped afterwards."""
    import re
    import uuid

    import psycopg

    module = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])[:30]
    name = f"rundb_{module}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url(pg_server, name)
    yield url
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(server, dbname):
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server)
    return urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture
def pg_url(pg_database):
    """The module's PostgreSQL index URL, its tables emptied for this test."""
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        present = conn.execute("SELECT to_regclass('run') IS NOT NULL").fetchone()[0]
        if present:
            conn.execute(f"TRUNCATE {', '.join(_PG_TABLES)} RESTART IDENTITY")
    return pg_database


@pytest.fixture
def home(tmp_path, index_backend, request):
    """A real home on disk; its index is SQLite, or PostgreSQL for the ``postgresql``
    backend (``--index``/``RUNDB_INDEX`` are passed on by the ``cli`` and ``rundb_proc``
    helpers)."""
    url = request.getfixturevalue("pg_url") if index_backend == "postgresql" else None
    if url:  # subprocesses started by the test use it too
        request.getfixturevalue("monkeypatch").setenv("RUNDB_INDEX", url)
    return Home(str(tmp_path / "home"), index=url).ensure()


@pytest.fixture
def index(home):
    ix = open_index(home.index_location)
    ix.home_dir = home.path
    yield ix
    ix.close()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def cli(runner, home):
    """Invoke the real `rundb` CLI (in-process) against the test home."""
    from rundb_cli.main import cli as rundb_cli

    def invoke(*args, input=None, catch_exceptions=False):
        index_args = ["--index", home.index_url] if home.index_url else []
        return runner.invoke(rundb_cli, ["-H", home.path, *index_args, *args], input=input,
                             catch_exceptions=catch_exceptions)

    return invoke


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project directory, made the current directory."""
    d = tmp_path / "project"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


def write(path, text):
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text).lstrip("\n"))
    return path


def wait_for(predicate, timeout, what="condition", interval=0.05):
    """Poll ``predicate`` until it gives a true value (returned); fail the test after
    ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


#: Fields of /proc/PID/stat after the command name: 0 state, 1 ppid, 2 pgrp, 3 session.
PPID, SESSION = 1, 3


def live_pids(field, value):
    """pids (not zombies) whose /proc stat ``field`` (PPID, SESSION) is ``value``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[field]) == value and fields[0] != b"Z":
            out.append(int(name))
    return out


def rundb_proc(*args, home=None, cwd=None, env=None, **kw):
    """Run the installed `rundb` as a subprocess."""
    full_env = dict(os.environ)
    if home is not None:
        full_env["RUNDB_HOME"] = home.path
        if home.index_url:
            full_env["RUNDB_INDEX"] = home.index_url
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "rundb_cli.main", *args]
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, **kw)
