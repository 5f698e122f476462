"""Killing any process of a run never hangs `rundb run`, never leaves an orphan, and
never loses a line the child wrote (issue 13, failures 1 and 7)."""

import os
import signal
import sys
import time

import pytest

from faultlib import (POINTS, Started, alive, assert_nothing_lost, children, cmdline,
                      env_for, kill_all, loss_points, runs_by_status, wait_for)

pytestmark = pytest.mark.slow


@pytest.fixture
def leftovers():
    """pids to kill at the end whatever happened (old code left orphans behind)."""
    pids = []
    yield pids
    kill_all(pids)


def _start(home, project, *args):
    script = project / "points.py"
    script.write_text(POINTS)
    return Started(["-H", home.path, "run", "-y", "--", sys.executable, str(script), *args],
                   home, str(project), env=env_for())


def _run_id(home):
    return wait_for(lambda: os.path.isdir(home.runs_dir) and os.listdir(home.runs_dir),
                    30, "the run directory")[0]


def _indexer(runner_pid):
    found = [p for p in children(runner_pid) if "rundb.ops.ingest" in cmdline(p)]
    return found[0] if found else None


def test_killing_the_indexer_never_hangs_the_run(home, project, leftovers):
    runner = _start(home, project, "3000", "1500", "go")
    leftovers.append(runner.pid)
    run_id = _run_id(home)
    indexer = wait_for(lambda: _indexer(runner.pid), 30, "the indexer")
    wait_for(lambda: children(indexer), 30, "the indexer's writer")
    leftovers.extend([indexer, *children(indexer)])
    wait_for(lambda: os.path.exists(home.index_path) and loss_points(home, run_id), 30,
             "the first indexed points")
    os.kill(indexer, signal.SIGKILL)
    time.sleep(1.5)  # the runner notices while the child is quiet
    open(os.path.join(home.run_dir(run_id), "go"), "w").close()
    assert runner.wait(timeout=60) == 0, runner.stderr  # used to hang forever
    warnings = [line for line in runner.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, runner.stderr
    assert "stopped (killed by SIGKILL)" in warnings[0]
    assert f"run 'rundb -H {home.path} index rebuild'" in warnings[0]
    wait_for(lambda: not any(alive(p) for p in leftovers[1:]), 10, "the helpers to exit")
    assert runs_by_status(home) == {run_id: "completed"}
    assert_nothing_lost(home, expected={run_id: 3000})


def test_sigkill_of_the_runner_sends_sigterm_to_a_quiet_child(home, project, leftovers):
    runner = _start(home, project, "2000", "1000", "go")
    leftovers.append(runner.pid)
    run_id = _run_id(home)
    child = wait_for(lambda: [p for p in children(runner.pid) if "points.py" in cmdline(p)],
                     30, "the child")[0]
    leftovers.append(child)
    wait_for(lambda: os.path.exists(home.index_path) and loss_points(home, run_id), 30,
             "the first indexed points")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=10)
    # Used to run on as an orphan, its later output lost.
    wait_for(lambda: not alive(child), 10, "the child to get SIGTERM")
    assert runs_by_status(home) == {run_id: "running"}  # nothing wrote its end
    statuses = assert_nothing_lost(home, expected={run_id: 1000})
    assert statuses == {run_id: "error"}  # read as process gone
