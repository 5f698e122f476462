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
    assert out.splitlines()[1].split()[1:] == ["nan", "0.001000", "inf"]
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
