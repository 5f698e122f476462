"""Shared fixtures: a real home on disk, its index, and the real CLI."""

import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from rundb.home import Home
from rundb.index.db import open_index

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
