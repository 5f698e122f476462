"""Issue 14, end to end: a diverging run is recorded as printed and never chosen as best."""

import csv
import io
import json
import math

import pytest

from rundb import api
from rundb.index.rebuild import rebuild

from conftest import write

DIVERGING = """
for step, text in enumerate(["1E-3", "3.2e+20", "inf", "nan"], 1):
    print(f"loss: {text} (step {step})")
"""

STEADY = """
for step, loss in enumerate([0.5, 0.25], 1):
    print(f"loss: {loss} (step {step}) ")
"""


def _run(cli, name):
    result = cli("run", name, "-y")
    assert result.exit_code == 0, result.output


@pytest.mark.backends
def test_diverging_losses_recorded_shown_and_never_best(cli, home, project):
    write(project / "diverge.py", DIVERGING)
    write(project / "steady.py", STEADY)
    _run(cli, "diverge.py")
    _run(cli, "steady.py")
    diverging = next(r for r in api.runs(home) if r.op == "diverge.py")
    steady = next(r for r in api.runs(home) if r.op == "steady.py")

    # all four points, as printed
    [points] = api.scalar_points(home, [diverging.id]).values()
    values = [p[3] for p in points if p[1] == "loss"]
    assert values[:3] == [0.001, 3.2e20, float("inf")] and math.isnan(values[3])
    assert [p[2] for p in points if p[1] == "loss"] == [1, 2, 3, 4]

    # compare: nan as the last loss, 0.001 as its min, in the table, CSV and JSON
    cols = ["-cc", "loss, min loss, max loss", diverging.short_id]
    out = cli("compare", *cols).output
    assert out.splitlines()[1].split()[1:] == ["nan", "0.001", "inf"]
    rows = list(csv.reader(io.StringIO(cli("compare", *cols, "--csv", "-").output)))
    assert rows[1][1:] == ["nan", "0.001", "inf"]
    [row] = json.loads(cli("compare", *cols, "--json").output)
    assert (row["loss"], row["min loss"], row["max loss"]) == ("nan", 0.001, "inf")

    # the steady run is the best by last and by min loss, with or without the other
    assert cli("select", "--min", "loss").output.strip() == steady.id
    assert cli("select", "--min", "min loss").output.strip() == diverging.id
    assert cli("select", "--max", "loss").output.strip() == steady.id
    # with only the diverging run to choose from, nothing has a loss to compare
    result = cli("select", "--min", "loss", "-o", "diverge")
    assert result.exit_code != 0

    # the index rebuilt from the run directories says the same
    rebuild(home)
    [s] = [s for s in api.run_info(home, diverging.id)[1] if s["tag"] == "loss"]
    assert math.isnan(s["last_val"]) and (s["min_val"], s["max_val"]) == (0.001, float("inf"))


def test_runs_info_shows_nan(cli, home, project):
    write(project / "diverge.py", DIVERGING)
    _run(cli, "diverge.py")
    assert "  loss: nan (step 4)" in cli("runs", "info").output
    data = json.loads(cli("runs", "info", "--json").output)
    assert data["scalars"]["loss"] == ["nan", 4]


# --- Ctrl-C: a warning only when points are missing -------------------------------------

SLOW = """
import time
for i in range(12):
    print(f"loss: {i} (step {i})", flush=True)
time.sleep(30)
"""


@pytest.mark.slow
def test_ctrl_c_keeps_every_point_and_warns_of_nothing(home, project):
    import os
    import signal
    import subprocess
    import sys
    import time

    write(project / "slow.py", SLOW)
    env = dict(os.environ, RUNDB_HOME=home.path)
    proc = subprocess.Popen([sys.executable, "-m", "rundb_cli.main", "run", "slow.py", "-y"],
                            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            runs = api.runs(home) if os.path.exists(home.index_path) else []
            if runs and any(s["count"] == 12 for s in api.run_info(home, runs[0].id)[1]):
                break
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    [run] = api.runs(home)
    assert run.status == "terminated"
    assert "not indexed" not in err, err
    [loss] = [s for s in api.run_info(home, run.id)[1] if s["tag"] == "loss"]
    assert (loss["count"], loss["last_step"]) == (12, 11)


def test_indexer_error_with_nothing_missing_is_not_a_warning(cli, home, project, monkeypatch):
    from rundb.ops import ingest

    real_finish = ingest.finish
    monkeypatch.setattr(ingest, "finish", lambda proc: real_finish(proc) or "KeyboardInterrupt")
    write(project / "steady.py", STEADY)
    result = cli("run", "steady.py", "-y")
    assert result.exit_code == 0 and "WARNING" not in result.stderr, result.stderr


@pytest.mark.slow
def test_indexer_error_with_points_missing_counts_them(cli, home, project, monkeypatch):
    from rundb.ops import ingest

    real_start = ingest.start
    monkeypatch.setattr(ingest, "start", lambda index_path, *a: real_start("/dev/null/index.db", *a))
    write(project / "steady.py", STEADY)
    result = cli("run", "steady.py", "-y")
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert "2 of 2 points missing, run 'rundb" in warning
