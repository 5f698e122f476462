"""Parallel batches (issue 17): trials as Dask tasks on a LocalCluster started for the
batch, on an existing scheduler with a PostgreSQL index, or as direct subprocesses when
Dask is missing; worker loss, Ctrl-C and `--needed` in parallel.

Every test runs the real CLI and real trial processes; times are bounded and nothing
asserts a wall time (the machine is shared)."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from rundb.home import Home
from rundb.index import reader
from rundb.index.db import open_index

from conftest import SESSION, live_pids, wait_for

SLEEP = """
import time
x = 1
time.sleep(2)
print(f"loss: {x / 10}")
"""

QUAD = """
x = 0.0
print(f"loss: {(x - 0.3) ** 2}")
"""

FAILS_ON_2 = """
import sys
x = 1
print(f"loss: {x}")
sys.exit(3 if x == 2 else 0)
"""

LONG = """
import time
x = 1
print("loss: 1.0", flush=True)
time.sleep(120)
"""


def _env(home, **more):
    env = dict(os.environ)
    env.pop("RUNDB_DASK_SCHEDULER", None)
    env.update(RUNDB_HOME=home.path, **more)
    if home.index_url:
        env["RUNDB_INDEX"] = home.index_url
    return env


def _rundb(home, project, *args, timeout=300, **more):
    return subprocess.run([sys.executable, "-m", "rundb_cli.main", "run", "-y", *args],
                          cwd=str(project), env=_env(home, **more), capture_output=True,
                          text=True, timeout=timeout)


def _runs(home):
    with open_index(home.index_location) as ix:
        runs = reader.load_runs(ix, reader.run_rids(ix))
        for run in runs:
            rid = reader.rid_of(ix, run.id)
            run.scalars = {s["tag"]: s["last_val"]
                           for s in reader.scalar_summaries(ix, [rid])[rid]}
        return runs


def _split(runs):
    batches = [r for r in runs if r.op.endswith(("+", "+random", "+gp"))]
    assert len(batches) == 1, [(r.op, r.status) for r in runs]
    return batches[0], [r for r in runs if r is not batches[0]]


def _max_overlap(trials):
    events = sorted([(t.started, 1) for t in trials] + [(t.stopped, -1) for t in trials],
                    key=lambda e: (e[0], e[1]))
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most




# --- a LocalCluster started for the batch ---------------------------------------------


@pytest.mark.slow
def test_grid_of_8_runs_4_at_a_time_on_a_local_cluster(home, project):
    (project / "sleep.py").write_text(SLEEP)
    p = _rundb(home, project, "sleep.py", "x=[1,2,3,4,5,6,7,8]", "--parallel", "4")
    assert p.returncode == 0, p.stderr
    batch, trials = _split(_runs(home))
    assert batch.status == "completed" and len(trials) == 8
    assert all(t.parent == batch.id and t.status == "completed" for t in trials)
    assert sorted(t.flags["x"] for t in trials) == list(range(1, 9))
    assert all(t.scalars["loss"] == pytest.approx(t.flags["x"] / 10) for t in trials)
    for t in trials:  # output intact
        with open(os.path.join(t.dir, ".rundb", "output")) as f:
            assert f"loss: {t.flags['x'] / 10}" in f.read()
    assert 2 <= _max_overlap(trials) <= 4  # the trials ran at the same time, 4 at most
    workers = {t.attrs["worker"] for t in trials}
    assert 2 <= len(workers) <= 4 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    assert {t.host for t in trials} == {socket.gethostname()}
    for t in trials:  # each start and end logged with its worker
        assert f"Trial {t.short_id} started on {t.attrs['worker']}" in p.stderr
        assert f"Trial {t.short_id} completed on {t.attrs['worker']}" in p.stderr


@pytest.mark.slow
def test_gp_in_parallel_runs_exactly_max_trials_at_distinct_points(home, project):
    (project / "quad.py").write_text(QUAD)
    p = _rundb(home, project, "quad.py", "x=[-2.0:2.0]", "--optimizer", "gp",
               "--max-trials", "12", "--parallel", "3", "--random-seed", "7")
    assert p.returncode == 0, p.stderr
    batch, trials = _split(_runs(home))
    assert batch.status == "completed" and len(trials) == 12
    assert all(t.parent == batch.id and t.status == "completed" for t in trials)
    assert len({t.flags["x"] for t in trials}) == 12  # no two identical points
    # The model saw trials that other workers finished.
    found = [line for line in p.stderr.splitlines() if "previous trial(s)" in line]
    assert found, p.stderr
    assert len({t.attrs["worker"] for t in trials}) >= 2


# --- an existing scheduler and workers, a PostgreSQL index ----------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1 (no nanny, so a
    killed worker stays dead); yields (address, {name: Popen})."""
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ)
    env.pop("RUNDB_HOME", None)
    log = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], stdout=log, stderr=log, env=env)]
    workers = {}
    try:
        for name in ("w1", "w2"):
            workers[name] = subprocess.Popen(
                [dask, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                 "--host", "127.0.0.1", "--no-dashboard"], stdout=log, stderr=log, env=env,
                start_new_session=True)
            procs.append(workers[name])
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


@pytest.mark.slow
def test_random_search_on_an_existing_cluster_with_a_postgres_index(tmp_path, pg_url,
                                                                   dask_cluster):
    address, workers = dask_cluster
    home = Home(str(tmp_path / "home"), index=pg_url)
    project = tmp_path / "project"
    project.mkdir()
    (project / "quad.py").write_text(QUAD)
    p = _rundb(home, project, "quad.py", "x=[-2.0:2.0]", "--max-trials", "6",
               RUNDB_DASK_SCHEDULER=address)
    assert p.returncode == 0, p.stderr
    batch, trials = _split(_runs(home))
    assert batch.op == "quad.py+random" and batch.status == "completed"
    assert len(trials) == 6 and all(t.parent == batch.id for t in trials)
    assert all(t.status == "completed" and "loss" in t.scalars for t in trials)
    assert {t.host for t in trials} == {socket.gethostname()}
    assert {t.attrs["worker"] for t in trials} <= {*_worker_addresses(address)}
    assert len({t.attrs["worker"] for t in trials}) == 2  # both workers ran trials


def _worker_addresses(address):
    from distributed import Client

    with Client(address, timeout=30) as client:
        return list(client.scheduler_info()["workers"])


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_that_trial_error(tmp_path, pg_url, dask_cluster):
    address, workers = dask_cluster
    home = Home(str(tmp_path / "home"), index=pg_url)
    project = tmp_path / "project"
    project.mkdir()
    (project / "sleep.py").write_text(SLEEP.replace("time.sleep(2)", "time.sleep(8)"))
    batch = subprocess.Popen(
        [sys.executable, "-m", "rundb_cli.main", "run", "-y", "sleep.py", "x=[1,2,3]",
         "--cluster", address], cwd=str(project), env=_env(home), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        victim = wait_for(lambda: [t for t in _runs(home) if t.parent and t.status == "running"],
                          120, "a running trial")[0]
        os.kill(_worker_pids(address, workers)[victim.attrs["worker"]], signal.SIGKILL)
        out, err = batch.communicate(timeout=180)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 0, err  # the batch went on
    _, trials = _split(_runs(home))
    lost = [t for t in trials if t.id == victim.id][0]
    assert lost.status == "error", err
    assert "worker" in lost.attrs["error_reason"]
    assert sorted(t.status for t in trials) == ["completed", "completed", "error"]
    assert f"trial {victim.short_id} on" in err and "ended with an error" in err


def _worker_pids(address, workers):
    """{worker address: pid} (each `dask worker --no-nanny` is its worker's process)."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        info = client.scheduler_info()["workers"]
    return {addr: workers[w["name"]].pid for addr, w in info.items()}


@pytest.mark.slow
def test_ctrl_c_stops_running_trials_and_starts_no_more(home, project):
    (project / "long.py").write_text(LONG)
    batch = subprocess.Popen(
        [sys.executable, "-m", "rundb_cli.main", "run", "-y", "long.py", "x=[1,2,3,4,5]",
         "--parallel", "2"], cwd=str(project), env=_env(home), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: len([t for t in _runs(home) if t.parent and "loss" in t.scalars]) == 2,
                 180, "two running trials")
        os.killpg(batch.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole group
        out, err = batch.communicate(timeout=120)
        wait_for(lambda: live_pids(SESSION, batch.pid) == [], 30, "every process to exit")
    finally:
        if batch.poll() is None:
            os.killpg(batch.pid, signal.SIGKILL)
    assert batch.returncode == 1, err
    runs, trials = _split(_runs(home))
    assert runs.status == "terminated"
    assert len(trials) == 2  # pending trials never started
    assert [t.status for t in trials] == ["terminated", "terminated"]
    assert all(t.scalars["loss"] == 1.0 for t in trials)


# --- without Dask, and the batch options in parallel (fast: direct subprocesses) ------


def _without_dask(monkeypatch):
    for name in [m for m in sys.modules if m == "distributed" or m.startswith("distributed.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails


def test_without_dask_trials_run_as_subprocesses_and_needed_skips(home, project, cli,
                                                                  monkeypatch):
    _without_dask(monkeypatch)
    (project / "quad.py").write_text(QUAD)
    assert cli("run", "-y", "quad.py", "x=0.5").exit_code == 0
    result = cli("run", "-y", "quad.py", "x=[0.5,1.5,2.5]", "--parallel", "2", "--needed")
    assert result.exit_code == 0, result.output
    assert "Skipping trial because a completed run has flags (x=0.5)" in result.output
    batch, trials = _split(_runs(home))
    ran = sorted(t.flags["x"] for t in trials if t.parent == batch.id)
    assert ran == [1.5, 2.5] and batch.status == "completed"
    assert all(t.status == "completed" for t in trials)


def test_trial_errors_in_parallel(home, project, cli, monkeypatch):
    _without_dask(monkeypatch)
    (project / "fails.py").write_text(FAILS_ON_2)
    result = cli("run", "-y", "fails.py", "x=[1,2,3]", "--parallel", "2")
    assert result.exit_code == 0, result.output  # the batch goes on
    batch, trials = _split(_runs(home))
    assert batch.status == "completed"
    assert {t.flags["x"]: t.status for t in trials} == {1: "completed", 2: "error",
                                                       3: "completed"}
    assert "exited with an error" in result.output


def test_fail_on_trial_error_in_parallel_stops_the_batch(home, project, cli, monkeypatch):
    _without_dask(monkeypatch)
    (project / "fails.py").write_text(FAILS_ON_2)
    result = cli("run", "-y", "fails.py", "x=[2,4,5,6,7]", "--parallel", "2",
                 "--fail-on-trial-error")
    assert result.exit_code == 1, result.output
    assert "stopping batch because a trial failed" in result.output
    batch, trials = _split(_runs(home))
    assert batch.status == "error"
    status = {t.flags["x"]: t.status for t in trials}
    assert status[2] == "error" and status[4] == "completed"
    staged = [x for x in (4, 5, 6, 7) if status[x] == "staged"]
    assert staged and staged == [5, 6, 7][-len(staged):]  # the rest, never started
    assert all(status[x] == "completed" for x in (5, 6, 7) if x not in staged)


def test_remote_cluster_with_sqlite_index_is_refused(home, project, cli):
    (project / "quad.py").write_text(QUAD)
    result = cli("run", "-y", "quad.py", "x=[1,2]", "--cluster", "tcp://10.1.2.3:8786")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "rundb: cluster tcp://10.1.2.3:8786 runs trials on other machines, which cannot "
        "write this home's SQLite index: use a shared PostgreSQL index "
        "(RUNDB_INDEX=postgresql://..., see docs/parallel.md)")
    assert _runs(home) == []  # nothing recorded
