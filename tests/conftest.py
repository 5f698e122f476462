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
    import importlib.util

    for package, src in (("rundb_cli", "cli"), ("rundb", "rundb")):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return True
        installed = list(spec.submodule_search_locations)[0]
        if os.path.abspath(installed) == os.path.join(REPO, src):
            continue  # imported from the repo itself
        for root, _dirs, files in os.walk(os.path.join(REPO, src)):
            for name in files:
                if not name.endswith(".py"):
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


@pytest.fixture
def home(tmp_path):
    return Home(str(tmp_path / "home")).ensure()


@pytest.fixture
def index(home):
    ix = open_index(home.index_path)
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
        return runner.invoke(rundb_cli, ["-H", home.path, *args], input=input,
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


def rundb_proc(*args, home=None, cwd=None, env=None, **kw):
    """Run the installed `rundb` as a subprocess."""
    full_env = dict(os.environ)
    if home is not None:
        full_env["RUNDB_HOME"] = home.path
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "rundb_cli.main", *args]
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, **kw)
