"""`rundb cat`, `rundb ls`, `runs info --files` and Run.files(): real runs in a real home."""

import json
import os
import subprocess
import sys
import time

import pytest

from rundb import api
from rundb.index.db import open_index
from rundb.index import writer

from conftest import rundb_proc, write

MAKE_FILES = """
import os
print("epoch 1")
print("loss: 0.5")
os.makedirs("checkpoints", exist_ok=True)
with open("metrics.csv", "w") as f:
    f.write("step,loss\\n1,0.5\\n")
with open(os.path.join("checkpoints", "model.pt"), "wb") as f:
    f.write(b"x" * 2048)
print("done")
"""

# Prints a line, then waits for a file named "go" in its run directory before its last line.
SLOW = """
import os, sys, time
print("first line", flush=True)
deadline = time.time() + 60
while not os.path.exists("go") and time.time() < deadline:
    time.sleep(0.05)
print("second line", flush=True)
time.sleep(0.3)
print("last line", flush=True)
"""


@pytest.fixture
def made(cli, home, project):
    write(project / "make.py", MAKE_FILES)
    result = cli("run", "make.py", "-y")
    assert result.exit_code == 0, result.output
    return api.runs(home)[0]


def test_cat_prints_the_output(cli, made):
    assert cli("cat", "1").stdout == "epoch 1\nloss: 0.5\ndone\n"
    assert cli("cat", made.short_id, "--tail", "2").stdout == "loss: 0.5\ndone\n"
    assert cli("cat", "1", "-n", "0").stdout == ""


def test_cat_a_file_of_the_run(cli, made):
    assert cli("cat", "1", "metrics.csv").stdout == "step,loss\n1,0.5\n"
    assert cli("cat", "1", "metrics.csv", "--tail", "1").stdout == "1,0.5\n"


def test_cat_follow_of_a_finished_run_prints_and_returns(cli, made):
    assert cli("cat", "1", "-f").stdout == "epoch 1\nloss: 0.5\ndone\n"


@pytest.mark.parametrize("path,message", [
    ("nope.txt", "rundb: nope.txt: no such file in run {short}\n"),
    ("../../etc/passwd", "rundb: ../../etc/passwd: outside the run directory\n"),
    ("/etc/passwd", "rundb: /etc/passwd: give a path relative to the run directory\n"),
    ("checkpoints", "rundb: checkpoints: is a directory (try 'rundb ls')\n"),
])
def test_cat_bad_paths_are_one_line(home, made, path, message):
    result = rundb_proc("cat", "1", path, home=home)
    assert result.returncode == 1
    assert result.stderr == message.format(short=made.short_id)
    assert result.stdout == ""
    assert [r.id for r in api.runs(home)] == [made.id]  # nothing lost


def test_cat_refuses_a_symlink_out_of_the_run(home, made, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    os.symlink(secret, os.path.join(made.dir, "link.txt"))
    result = rundb_proc("cat", "1", "link.txt", home=home)
    assert result.returncode == 1
    assert result.stderr == "rundb: link.txt: outside the run directory\n"


def test_ls_lists_files_with_sizes(cli, made):
    out = cli("ls", "1").stdout.splitlines()
    assert out[0].split() == ["path", "size"]
    assert [line.split() for line in out[1:]] == [
        ["checkpoints/model.pt", "2.0K"], ["metrics.csv", "16"]]


def test_ls_all_full_path_pattern_json(cli, made):
    paths = [line.split()[0] for line in cli("ls", "1", "-a").stdout.splitlines()[1:]]
    assert ".rundb/meta.json" in paths and ".rundb/output" in paths
    full = cli("ls", "1", "--full-path", "*.csv").stdout.splitlines()[1:]
    assert [line.split()[0] for line in full] == [os.path.join(made.dir, "metrics.csv")]
    assert json.loads(cli("ls", "1", "checkpoints", "--json").stdout) == [
        {"path": "checkpoints/model.pt", "size": 2048}]


def test_guild_short_options_of_ls_and_cat(cli, made):
    """-p is a path and -f --full-path, as in Guild (ls had -p for --full-path)."""
    full = cli("ls", "1", "-f", "-p", "*.csv").stdout.splitlines()[1:]
    assert [line.split()[0] for line in full] == [os.path.join(made.dir, "metrics.csv")]
    assert cli("cat", "1", "-p", "metrics.csv").stdout == cli("cat", "1", "metrics.csv").stdout
    result = cli("ls", "1", "checkpoints", "-p", "*.csv", catch_exceptions=True)
    assert result.exit_code == 2 and "give PATTERN or --path, not both" in result.stderr


def test_runs_info_files_and_notebook_run_files(cli, home, made):
    info = cli("runs", "info", "--files").stdout
    assert info.endswith("files:\n  checkpoints/model.pt (2.0K)\n  metrics.csv (16)\n")
    data = json.loads(cli("runs", "info", "--files", "--json").stdout)
    assert data["files"] == {"checkpoints/model.pt": 2048, "metrics.csv": 16}
    from rundb import ipy

    with ipy.use_home(home.path):
        run = ipy.runs().run[0]
        assert run.files() == ["checkpoints/model.pt", "metrics.csv"]
        assert run.files("*.pt", full_path=True) == [
            os.path.join(made.dir, "checkpoints", "model.pt")]
        assert ".rundb/meta.json" in run.files(all=True)
        assert run.output() == "epoch 1\nloss: 0.5\ndone\n"


def test_cat_of_a_run_on_another_host_names_the_host(home, made):
    with open_index(home.index_path) as index:
        writer.update_run(index, made.id, host="gpu-box-7")
    os.rename(made.dir, made.dir + ".elsewhere")  # the files are on that host, not here
    for args in (["cat", "1"], ["ls", "1"]):
        result = rundb_proc(*args, home=home)
        assert result.returncode == 1
        assert result.stderr == (f"rundb: run {made.short_id} ran on host gpu-box-7: its files "
                                 f"are there, in {made.dir}\n")


def _start_slow(home, project, script=None):
    if script is None:
        script = "slow.py"
        write(project / script, SLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rundb_cli.main", "-H", home.path, "run", script, "-y"],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        runs = api.runs(home) if os.path.exists(home.index_path) else []
        if runs:
            out = os.path.join(runs[0].dir, ".rundb", "output")
            if os.path.exists(out) and os.path.getsize(out):
                return proc, runs[0]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the slow run did not start")


@pytest.mark.slow
def test_cat_follow_prints_new_output_until_the_run_ends(home, project):
    proc, run = _start_slow(home, project)
    try:
        follower = subprocess.Popen(
            [sys.executable, "-m", "rundb_cli.main", "-H", home.path, "cat", "1", "-f"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert follower.stdout.readline() == "first line\n"
        assert follower.poll() is None  # still following: the run runs
        open(os.path.join(run.dir, "go"), "w").close()
        out, err = follower.communicate(timeout=30)
        assert out == "second line\nlast line\n" and err == ""
        assert follower.returncode == 0
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


SLOW_SCALARS = """
import os, time
print("loss: 0.5 (step 1)", flush=True)
deadline = time.time() + 60
while not os.path.exists("go") and time.time() < deadline:
    time.sleep(0.05)
print("loss: 0.25 (step 2)", flush=True)
time.sleep(0.3)
print("bye", flush=True)
"""


def _wait_for(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_watch_follows_the_newest_running_run_to_its_end(home, project):
    write(project / "slow.py", SLOW_SCALARS)
    proc, run = _start_slow(home, project, script="slow.py")
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "rundb_cli.main", "-H", home.path, "watch"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert watcher.stdout.readline() == "loss: 0.5 (step 1)\n"
        assert watcher.poll() is None
        # once the scalar is indexed, the next refresh (each second) shows it
        assert _wait_for(lambda: api.run_progress(home, run.id)[4])
        time.sleep(1.5)
        open(os.path.join(run.dir, "go"), "w").close()
        out, err = watcher.communicate(timeout=30)
        assert out == "loss: 0.25 (step 2)\nbye\n"
        lines = err.splitlines()
        assert lines[0] == (f"Watching run {run.short_id} (slow.py); Ctrl-C stops watching, "
                            "not the run")
        assert any(line.startswith(f"[{run.short_id} slow.py running ") and
                   line.endswith("] loss=0.5 (step 1)") for line in lines)
        assert lines[-1].startswith(f"[{run.short_id} slow.py completed (exit 0) 0:00:")
        assert lines[-1].endswith("] loss=0.25 (step 2)")
        assert watcher.returncode == 0
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


@pytest.mark.slow
def test_ctrl_c_stops_watching_not_the_run(home, project):
    import signal

    write(project / "slow.py", SLOW_SCALARS)
    proc, run = _start_slow(home, project, script="slow.py")
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "rundb_cli.main", "-H", home.path, "watch", run.short_id],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert watcher.stdout.readline() == "loss: 0.5 (step 1)\n"
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=30)
        assert err.endswith(f"Stopped watching; run {run.short_id} goes on\n")
        assert watcher.returncode == 0
        assert api.runs(home)[0].status == "running"
        open(os.path.join(run.dir, "go"), "w").close()
        assert proc.wait(timeout=30) == 0
        assert api.runs(home)[0].status == "completed"
    finally:
        proc.kill()


def test_watch_with_nothing_running_is_one_line(home, made):
    result = rundb_proc("watch", home=home)
    assert result.returncode == 1
    assert result.stderr == "rundb: no run is running (give a RUN to watch)\n"


def test_watch_a_finished_run_prints_it_and_returns(home, made):
    result = rundb_proc("watch", "1", home=home)
    assert result.returncode == 0
    assert result.stdout == "epoch 1\nloss: 0.5\ndone\n"
    assert result.stderr.splitlines()[-1].startswith(
        f"[{made.short_id} make.py completed (exit 0) 0:00:0")
