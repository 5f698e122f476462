"""Live scalars are exactly what a rebuild finds, and `index check` compares what should
be equal (issue 13, failure 8; README: "live scalars are exactly what a rebuild finds")."""

import sys

import pytest

from faultlib import env_for, index_rows, rundb

pytestmark = pytest.mark.slow

# Totals summed batch by batch live ((0.1) + (0.2 + 0.3) = 0.6) and at once by a rebuild
# (0.1 + 0.2 + 0.3 = 0.6000000000000001); lines printed at different times.
SCRIPT = r"""
import time
print("x: 0.1 (step 1)", flush=True)
time.sleep(0.8)
print("x: 0.2 (step 2)", flush=True)
print("x: 0.3 (step 3)", flush=True)
for step in range(4, 40):
    time.sleep(0.01)
    print(f"x: {step / 7} (step {step})", flush=True)
"""

POINTS_SQL = "SELECT run, prefix, tag, step, value, time FROM scalars ORDER BY run, tag, step"


def _two_runs(home, project):
    script = project / "timed.py"
    script.write_text(SCRIPT)
    for _ in range(2):
        result = rundb("-H", home.path, "run", "-y", "--", sys.executable, str(script),
                       cwd=str(project), env=env_for())
        assert result.returncode == 0, result.stderr


def test_index_check_is_clean_when_totals_were_summed_in_batches(home, project):
    _two_runs(home, project)
    check = rundb("index", "check", home=home)
    assert check.returncode == 0, check.stdout  # used to report `total` differences


def test_live_points_have_their_lines_times_as_a_rebuild_does(home, project):
    _two_runs(home, project)
    live = index_rows(home, POINTS_SQL)
    assert len(live) == 2 * 39 and len({row[5] for row in live}) > 2
    assert rundb("index", "rebuild", home=home).returncode == 0
    assert index_rows(home, POINTS_SQL) == live  # every point, with its line's own time
