"""System metrics sampled while a run runs: sys/* scalars (CPU %, RSS, GPUs when present),
hidden from default compare and runs info, off with --no-sys-metrics or sys-metrics: no."""

import os

import pytest

from rundb import api
from rundb.ops import sysmetrics

from conftest import rundb_proc, write

BUSY = """
import time
data = [0] * 2_000_000
end = time.time() + {seconds}
n = 0
while time.time() < end:
    n += 1
print("loss: 0.5")
"""

FAST = {"RUNDB_SYS_METRICS_INTERVAL": "0.3"}


def sys_scalars(home, run_id):
    return {s["tag"]: s for s in api.run_info(home, run_id)[1] if s["tag"].startswith("sys/")}


def test_sys_metrics_are_recorded_hidden_and_rebuilt(home, project):
    write(project / "busy.py", BUSY.format(seconds=1.5))
    result = rundb_proc("run", "busy.py", "-y", home=home, cwd=project, env=FAST)
    assert result.returncode == 0, result.stderr
    run = api.runs(home)[0]
    found = sys_scalars(home, run.id)
    assert sorted(found) == ["sys/cpu", "sys/rss_mb"]
    assert found["sys/cpu"]["count"] >= 2 and found["sys/cpu"]["max_val"] > 0
    assert found["sys/rss_mb"]["max_val"] > 10  # the list above is 16 MB
    # hidden unless asked for
    assert "sys/" not in rundb_proc("compare", "--csv", "-", home=home).stdout
    assert "sys/cpu" in rundb_proc("compare", "--csv", "-", "--all-scalars", home=home).stdout
    info = rundb_proc("runs", "info", home=home).stdout
    assert "sys/" not in info and "loss: 0.5" in info
    assert "sys/cpu" in rundb_proc("runs", "info", "--all-scalars", home=home).stdout
    # they live in the run directory: a rebuilt index has them again
    os.remove(home.index_path)
    api.rebuild_index(home)
    assert sys_scalars(home, run.id) == found


def test_no_sys_metrics_option_and_rundb_yml_opt_out(home, project):
    write(project / "busy.py", BUSY.format(seconds=1))
    write(project / "rundb.yml", """
        quiet:
          main: busy
          sys-metrics: no
    """)
    assert rundb_proc("run", "busy.py", "--no-sys-metrics", "-y", home=home, cwd=project,
                      env=FAST).returncode == 0
    assert rundb_proc("run", "quiet", "-y", home=home, cwd=project, env=FAST).returncode == 0
    for run in api.runs(home):
        assert sys_scalars(home, run.id) == {}, run.op


def test_without_a_gpu_there_are_no_gpu_metrics():
    gpus = sysmetrics.GPUs()
    try:
        if gpus.handles:
            pytest.skip("this machine has an NVIDIA GPU")
        assert gpus.sample() == {}
    finally:
        gpus.close()


@pytest.mark.slow
def test_a_25_second_run_gets_samples_every_10_seconds(home, project):
    write(project / "busy.py", BUSY.format(seconds=25))
    result = rundb_proc("run", "busy.py", "-y", home=home, cwd=project, timeout=120)
    assert result.returncode == 0, result.stderr
    found = sys_scalars(home, api.runs(home)[0].id)
    assert found["sys/cpu"]["count"] == 2 and found["sys/rss_mb"]["count"] == 2
    # steps are seconds since the run started (a loaded machine may add a second)
    first, last = found["sys/cpu"]["first_step"], found["sys/cpu"]["last_step"]
    assert 10 <= first <= 12 and 9 <= last - first <= 11, (first, last)
