"""The run directory is written by its runner alone: readers and rebuilds reap gone runs
in the index only, never reap a live run, and `index rebuild` during a live run loses
nothing (issue 13, failure 2)."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from faultlib import (POINTS, Started, assert_nothing_lost, env_for, loss_points, rundb,
                      runs_by_status, wait_for)

from rundb.run import now_us


def _running_run(home, pid, started=None):
    """A run directory as a runner leaves it while running (or when killed)."""
    run_id = f"{os.urandom(16).hex()}"
    meta_dir = os.path.join(home.run_dir(run_id), ".rundb")
    os.makedirs(meta_dir)
    meta = {"id": run_id, "op": "train.py", "status": "running", "created": now_us(),
            "started": started or now_us(), "host": socket.gethostname(), "pid": pid,
            "flags": {}, "tags": [], "attrs": {}, "output_scalars": None}
    path = os.path.join(meta_dir, "meta.json")
    with open(path, "w") as f:
        json.dump(meta, f)
    with open(path, "rb") as f:
        return run_id, f.read()


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.slow
def test_readers_reap_in_the_index_only_and_never_a_live_run(home):
    gone_id, gone_meta = _running_run(home, _dead_pid())
    live_id, live_meta = _running_run(home, os.getpid())
    # The pid of a process started after the run: the runner's pid, reused.
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        reused_id, reused_meta = _running_run(home, later.pid, started=now_us() - 60_000_000)
        assert rundb("index", "rebuild", home=home).returncode == 0
        result = rundb("runs", home=home)
        assert result.returncode == 0, result.stderr
        assert runs_by_status(home) == {gone_id: "error", live_id: "running", reused_id: "error"}
        info = rundb("runs", "info", gone_id[:8], home=home)
        assert "status: error (process gone)" in info.stdout
        # meta.json is the runner's: a reader never rewrote it.
        for run_id, meta in ((gone_id, gone_meta), (live_id, live_meta), (reused_id, reused_meta)):
            with open(os.path.join(home.run_dir(run_id), ".rundb", "meta.json"), "rb") as f:
                assert f.read() == meta, run_id
        check = rundb("index", "check", home=home)
        assert check.returncode == 0, check.stdout
    finally:
        later.kill()
        later.wait()


@pytest.mark.slow
def test_rebuild_during_a_live_run_waits_for_it_and_loses_nothing(home, project):
    script = project / "points.py"
    script.write_text(POINTS)
    runner = Started(["-H", home.path, "run", "-y", "--", sys.executable, str(script),
                      "3000", "1000", "go"], home, str(project), env=env_for())
    rebuild = None
    try:
        run_id = wait_for(lambda: os.path.isdir(home.runs_dir) and os.listdir(home.runs_dir),
                          30, "the run directory")[0]
        wait_for(lambda: os.path.exists(home.index_path) and len(loss_points(home, run_id)) == 1000,
                 30, "the first 1000 points")
        rebuild = Started(["-H", home.path, "index", "rebuild"], home, str(project))
        wait_for(lambda: "Waiting for running runs" in rebuild.stderr, 30, "the rebuild to wait")
        time.sleep(0.5)
        assert rebuild.proc.poll() is None  # still waiting
        open(os.path.join(home.run_dir(run_id), "go"), "w").close()
        assert runner.wait(timeout=60) == 0, runner.stderr
        assert rebuild.wait(timeout=60) == 0, rebuild.stderr
        assert "WARNING" not in runner.stderr
    finally:
        for started in (runner, rebuild):
            if started is not None and started.proc.poll() is None:
                started.proc.kill()
    with open(os.path.join(home.run_dir(run_id), ".rundb", "meta.json")) as f:
        meta = json.load(f)
    assert (meta["status"], meta["exit_status"]) == ("completed", 0)
    assert runs_by_status(home) == {run_id: "completed"}
    assert len(loss_points(home, run_id)) == 3000
    assert_nothing_lost(home, rebuilds_allowed=0, expected={run_id: 3000})
