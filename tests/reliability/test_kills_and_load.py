"""The cases that held before issue 13, kept honest: many writers at once, a kill of each
process of a run at a random point, SIGINT/SIGTERM of a batch. Each ends with nothing
lost after at most one `index rebuild`, and `index check` clean."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from faultlib import (POINTS, Started, alive, assert_nothing_lost, children, cmdline,
                      env_for, kill_all, loss_points, runs_by_status, wait_for)

pytestmark = pytest.mark.slow


def test_sixteen_concurrent_writers_lose_nothing(home, project):
    script = project / "points.py"
    script.write_text(POINTS)
    env = env_for()
    procs = [subprocess.Popen([sys.executable, "-m", "rundb_cli.main", "-H", home.path, "run",
                               "-y", "--", sys.executable, str(script), "20000"],
                              cwd=str(project), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
             for _ in range(16)]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err.decode()
            assert b"locked" not in err and b"WARNING" not in err, err.decode()
    finally:
        for proc in procs:
            proc.kill()
    statuses = assert_nothing_lost(home, rebuilds_allowed=0)
    assert list(statuses.values()) == ["completed"] * 16
    assert sorted(len(steps) for steps in loss_points(home).values()) == [20000] * 16


def _helpers(runner_pid):
    """(indexer, writer, child) pids of a running `rundb run`."""
    kids = children(runner_pid)
    indexer = next((p for p in kids if "rundb.ops.ingest" in cmdline(p)), None)
    child = next((p for p in kids if "points.py" in cmdline(p)), None)
    writers = children(indexer) if indexer else []
    if indexer and child and writers:
        return indexer, writers[0], child
    return None


# What the run reads afterwards, by the process killed.
_STATUS = {"runner": "error", "indexer": "completed", "writer": "completed", "child": "error"}


@pytest.mark.parametrize("victim", sorted(_STATUS))
def test_sigkill_of_any_process_at_a_random_point(home, project, victim):
    rng = random.Random(f"rundb-{victim}")
    script = project / "points.py"
    script.write_text(POINTS)
    # The child prints 4000 points, waiting at a random point until told to go on.
    first = rng.randrange(1, 4000)
    runner = Started(["-H", home.path, "run", "-y", "--", sys.executable, str(script),
                      "4000", str(first), "go"], home, str(project), env=env_for())
    pids = [runner.pid]
    try:
        indexer, writer, child = wait_for(lambda: _helpers(runner.pid), 30, "the processes")
        pids += [indexer, writer, child]
        run_id = os.listdir(home.runs_dir)[0]
        wait_for(lambda: len(loss_points(home, run_id)) >= min(first, 1), 30, "indexed points")
        target = {"runner": runner.pid, "indexer": indexer, "writer": writer, "child": child}
        time.sleep(rng.uniform(0, 0.5))
        os.kill(target[victim], signal.SIGKILL)
        if victim != "runner":
            open(os.path.join(home.run_dir(run_id), "go"), "w").close()
        runner.wait(timeout=60)
        wait_for(lambda: not any(alive(p) for p in pids), 15, "every process to end")
    finally:
        kill_all(pids)
    statuses = assert_nothing_lost(home, expected=None if victim in ("runner", "child")
                                   else {run_id: 4000})
    assert statuses == {run_id: _STATUS[victim]}


BATCH_TRIAL = r"""
import os, time
n = 300
print(f"loss: 0 (step 0)", flush=True)
while not os.path.exists(os.path.join(os.environ["RUNDB_HOME"], "go")):
    time.sleep(0.02)
for i in range(1, n):
    print(f"loss: {i} (step {i})")
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_a_batch_terminates_it_and_loses_nothing(home, project, sig):
    (project / "trial.py").write_text(BATCH_TRIAL)
    batch = Started(["-H", home.path, "run", "trial.py", "n=[300,301,302]", "-y"], home,
                    str(project), env=env_for())
    try:
        # Let the first trial finish, then stop the batch during the second.
        wait_for(lambda: os.path.isdir(home.runs_dir) and len(os.listdir(home.runs_dir)) >= 2,
                 60, "the first trial")
        open(os.path.join(home.path, "go"), "w").close()
        wait_for(lambda: len(os.listdir(home.runs_dir)) >= 3, 60, "the second trial")
        os.remove(os.path.join(home.path, "go"))
        time.sleep(1.0)
        batch.proc.send_signal(sig)
        batch.wait(timeout=60)
    finally:
        if batch.proc.poll() is None:
            batch.proc.kill()
    statuses = assert_nothing_lost(home, rebuilds_allowed=0)
    assert sorted(statuses.values()) == ["completed", "terminated", "terminated"]
