"""A missing, damaged, full or read-only index is one clear line, never a traceback, a
phantom run or a silently empty answer (issue 13, failures 3 to 6)."""

import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from faultlib import (POINTS, assert_nothing_lost, env_for, one_line_error, rundb,
                      run_dirs, runs_by_status)

pytestmark = pytest.mark.slow


def _runs(home, project, n=3, points=200):
    script = project / "points.py"
    script.write_text(POINTS)
    for _ in range(n):
        result = rundb("-H", home.path, "run", "-y", "--", sys.executable, str(script),
                       str(points), cwd=str(project), env=env_for())
        assert result.returncode == 0, result.stderr
    return run_dirs(home)


def test_missing_index_is_refused_with_one_line_not_replaced(home, project):
    ids = _runs(home, project, n=2, points=10)
    os.remove(home.index_path)
    for args in (["runs"], ["compare", "--csv", "-"], ["export", "--csv", "-"],
                 ["run", "-y", "--", sys.executable, "-c", "pass"]):
        result = rundb(*args, home=home, cwd=str(project))
        line = one_line_error(result)
        assert result.returncode == 1 and result.stdout == ""
        assert line == (f"rundb: index {home.index_path} is missing but the home has 2 run "
                        f"directories: run 'rundb index rebuild'"), args
        assert not os.path.exists(home.index_path)
        assert run_dirs(home) == ids  # `run` made no run
    assert_nothing_lost(home)
    assert sorted(runs_by_status(home)) == ids


def _corrupt(path, at=None, size=8192):
    length = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(at if at is not None else length // 2)
        f.write(os.urandom(size))


def test_damaged_index_is_one_line_naming_the_file_and_never_a_phantom_run(home, project):
    ids = _runs(home, project, n=4, points=3000)
    assert rundb("index", "rebuild", home=home).returncode == 0  # no WAL beside it
    # 8 KiB of garbage over the pages every reader needs (the run table's and the
    # scalar summaries' root pages), and more in the middle of the file.
    conn = sqlite3.connect(home.index_path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master WHERE type = 'table'"))
    conn.close()
    for table in ("run", "scalar_stat"):
        _corrupt(home.index_path, at=(roots[table] - 1) * page, size=page)
    _corrupt(home.index_path)
    failed = 0
    for args in (["runs"], ["runs", "info"], ["compare", "--csv", "-"],
                 ["query", "select loss"], ["label", "--set", "x", "1", "-y"], ["index", "check"],
                 ["run", "-y", "--", sys.executable, "-c", "print('loss: 1')"]):
        result = rundb(*args, home=home, cwd=str(project))
        assert "Traceback" not in result.stderr, (args, result.stderr)
        if result.returncode != 0 and args[:2] != ["index", "check"]:
            failed += 1
            line = one_line_error(result)
            assert home.index_path in line and "'rundb index rebuild'" in line, line
    assert failed  # the damage was seen
    # A run that could not be recorded left no directory; one that ran is a real run.
    statuses = assert_nothing_lost(home)
    assert set(ids) <= set(statuses)
    assert all(status == "completed" for status in statuses.values())


@pytest.fixture
def small_fs(tmp_path):
    """A 3 MiB tmpfs (needs root and mount rights; skipped where the platform forbids)."""
    path = tmp_path / "small"
    path.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(path)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mount.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_disk_full_is_one_line_and_loses_nothing_that_was_written(small_fs, project):
    from rundb.home import Home

    home = Home(str(small_fs / "home"))
    ids = _runs(home, project, n=1, points=100)
    filler = small_fs / "filler"
    free = shutil.disk_usage(small_fs).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free - 200_000, 0))
    script = project / "points.py"
    # 50,000 lines: more than the disk holds.
    full = rundb("-H", home.path, "run", "-y", "--", sys.executable, str(script), "50000",
                 cwd=str(project), env=env_for(), timeout=120)
    assert "Traceback" not in full.stderr, full.stderr
    for line in full.stderr.splitlines():
        assert line.startswith(("WARNING: ", "rundb: ")), full.stderr
    assert "No space left on device" in full.stderr or "disk full" in full.stderr
    with open(filler, "ab") as f:  # now nothing is left at all
        try:
            f.write(b"\0" * (1 << 20))
        except OSError:
            pass
    after = run_dirs(home)
    again = rundb("-H", home.path, "run", "-y", "--", sys.executable, "-c", "print(1)",
                  cwd=str(project), env=env_for())
    assert again.returncode == 1
    one_line_error(again)
    assert run_dirs(home) == after  # no phantom run
    rebuild = rundb("index", "rebuild", home=home)
    one_line_error(rebuild)
    assert [n for n in os.listdir(home.path) if "rebuild" in n] == []  # no temporary file
    os.remove(filler)
    statuses = assert_nothing_lost(home)
    assert set(ids) <= set(statuses)


@pytest.fixture
def read_only_home(tmp_path, home):
    """``home`` seen through a read-only bind mount (root and mount rights needed)."""
    view = tmp_path / "ro-home"
    view.mkdir()
    steps = (["mount", "--bind", home.path, str(view)],
             ["mount", "-o", "remount,ro,bind", str(view)])
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(view)], capture_output=True)
            pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.strip()}")
    try:
        yield str(view)
    finally:
        subprocess.run(["umount", "-l", str(view)], capture_output=True)


def test_read_only_home_reads_work_and_writes_say_read_only(home, project, read_only_home):
    ids = _runs(home, project, n=2, points=50)
    env = env_for(None)
    reads = {
        ("runs",): ids[0][:8],
        ("runs", "info", "1"): "status: completed",
        ("compare", "--csv", "-"): "loss",
        ("query", "select max loss"): "49",
        ("export", "--csv", "-"): "loss",
        ("index", "check"): "",
        ("sql", "SELECT count(*) AS n FROM runs"): "2",
    }
    for args, expected in reads.items():
        result = rundb("-H", read_only_home, *args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        assert expected in result.stdout, (args, result.stdout)
        assert "Traceback" not in result.stderr
    for args in (["label", "--set", "x", "1", "-y"], ["index", "rebuild"],
                 ["run", "-y", "--", sys.executable, "-c", "pass"]):
        result = rundb("-H", read_only_home, *args, env=env, cwd=str(project))
        assert result.returncode == 1, args
        assert one_line_error(result) == f"rundb: rundb home {read_only_home} is read-only"
    assert_nothing_lost(home, rebuilds_allowed=0)
