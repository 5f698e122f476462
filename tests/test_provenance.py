"""Provenance: the git commit, Python, platform, command line and installed packages
recorded with every run, and package sets stored once."""

import json
import os
import subprocess
import sys

import pytest

from rundb import api
from rundb.index.db import open_index
from rundb.ops import provenance
from rundb.ops.runner import new_run, record_provenance

from conftest import rundb_proc, write

SCRIPT = 'print("loss: 0.5")\n'


def git(cwd, *args):
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


def head(cwd):
    return subprocess.run(["git", "-C", str(cwd), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(project):
    write(project / "train.py", SCRIPT)
    git(project, "init", "-q")
    git(project, "add", "train.py")
    git(project, "commit", "-q", "-m", "first")
    return project


def test_a_dirty_repository_records_the_commit_with_a_star(cli, home, repo):
    write(repo / "train.py", SCRIPT + "# changed\n")
    assert cli("run", "train.py", "-y").exit_code == 0
    sha = head(repo)
    run = api.runs(home)[0]
    assert run.attrs["vcs_commit"] == f"git:{sha}*"
    assert f"vcs_commit: git:{sha}*\n" in cli("runs", "info").stdout
    # queryable like any attribute
    assert cli("select", "-a", ".vcs_commit").stdout == f"git:{sha}*\n"
    assert cli("runs", "-F", f".vcs_commit = 'git:{sha}*'").stdout.count("train.py") == 1


def test_a_clean_repository_records_the_commit_and_diff_shows_a_new_one(cli, home, repo):
    assert cli("run", "train.py", "-y").exit_code == 0
    first = head(repo)
    assert api.runs(home)[0].attrs["vcs_commit"] == f"git:{first}"
    write(repo / "train.py", SCRIPT + "# second\n")
    git(repo, "commit", "-q", "-am", "second")
    assert cli("run", "train.py", "-y").exit_code == 0
    rows = [line.split() for line in cli("diff").stdout.splitlines()]
    assert ["attr", "vcs_commit", f"git:{first}", f"git:{head(repo)}"] in rows


def test_outside_a_repository_no_vcs_attribute_and_no_error(home, project):
    write(project / "train.py", SCRIPT)
    result = rundb_proc("run", "train.py", "-y", home=home, cwd=project)
    assert result.returncode == 0 and result.stderr == ""
    run = api.runs(home)[0]
    assert "vcs_commit" not in run.attrs
    assert run.attrs["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert run.attrs["python_exe"] == sys.executable
    assert run.attrs["platform"].startswith(os.uname().sysname)
    assert run.attrs["command_line"][-2:] == ["train.py", "-y"]
    assert run.host == os.uname().nodename and run.user
    packages = api.run_packages(home, run.id)
    assert packages["click"]  # this interpreter's distributions, with versions
    info = json.loads(rundb_proc("runs", "info", "--json", home=home).stdout)
    assert info["packages"] == run.attrs["packages"] and info["python_exe"] == sys.executable


def test_package_sets_are_stored_once_for_1000_runs(home, index, monkeypatch):
    monkeypatch.setenv("RUNDB_FSYNC", "0")  # 1,000 meta.json files: no need to sync each
    digests = set()
    for _ in range(1000):
        run = new_run(home, index, "op", {}, attrs={"op": {"project_dir": None}})
        digests.add(record_provenance(home, index, run)["packages"])
    assert len(digests) == 1
    digest = digests.pop()
    count = index.conn.execute("SELECT count(*) FROM package_set").fetchone()[0]
    assert count == 1
    stored = os.listdir(os.path.join(home.path, "packages"))
    assert sorted(stored) == sorted(["cache.json", f"{digest}.json"])
    # every run directory holds a link to the one copy, not a copy of its own
    assert os.stat(os.path.join(home.path, "packages", f"{digest}.json")).st_nlink == 1001


def test_a_new_package_shows_in_diff_and_the_index_rebuilds_sets(home, project, tmp_path):
    write(project / "train.py", SCRIPT)
    extra = tmp_path / "extra"
    extra.mkdir()
    env = {"PYTHONPATH": str(extra)}
    assert rundb_proc("run", "train.py", "-y", home=home, cwd=project, env=env).returncode == 0
    dist = extra / "tinypkg-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.2\n")
    assert rundb_proc("run", "train.py", "-y", home=home, cwd=project, env=env).returncode == 0
    out = rundb_proc("diff", home=home).stdout
    assert ["package", "tinypkg", "-", "1.2"] in [line.split() for line in out.splitlines()]
    os.remove(home.index_path)
    api.rebuild_index(home)
    with open_index(home.index_path) as ix:
        assert ix.conn.execute("SELECT count(*) FROM package_set").fetchone()[0] == 2
    assert rundb_proc("diff", home=home).stdout == out


def test_vcs_commit_outside_git_is_none(tmp_path):
    assert provenance.vcs_commit(str(tmp_path)) is None
