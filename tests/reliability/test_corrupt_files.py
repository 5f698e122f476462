"""Damaged run files cost only what they hold: the other runs are indexed whole, and
the damaged one is named in one line (a case that held before issue 13, kept tested)."""

import os
import sys

import pytest

from faultlib import POINTS, env_for, loss_points, printed_steps, rundb, run_dirs

pytestmark = pytest.mark.slow


def test_corrupt_meta_and_missing_marks_lose_only_that_run(home, project):
    script = project / "points.py"
    script.write_text(POINTS)
    for _ in range(3):
        done = rundb("-H", home.path, "run", "-y", "--", sys.executable, str(script), "300",
                     cwd=str(project), env=env_for())
        assert done.returncode == 0, done.stderr
    bad, no_marks, fine = run_dirs(home)
    with open(os.path.join(home.run_dir(bad), ".rundb", "meta.json"), "wb") as f:
        f.write(b'{"id": "' + os.urandom(64))
    os.remove(os.path.join(home.run_dir(no_marks), ".rundb", "output.index"))
    rebuilt = rundb("index", "rebuild", home=home)
    assert rebuilt.returncode == 1
    assert "Traceback" not in rebuilt.stderr
    errors = [line for line in rebuilt.stderr.splitlines() if line.startswith("rundb: ")]
    assert len(errors) == 1 and bad in errors[0] and "meta.json" in errors[0], rebuilt.stderr
    assert "Indexed 2 run(s)" in rebuilt.stderr
    points = loss_points(home)
    assert sorted(points) == sorted([no_marks, fine])
    for run_id in (no_marks, fine):
        assert points[run_id] == printed_steps(home.run_dir(run_id)) == list(range(300))
    check = rundb("index", "check", home=home)
    assert check.stdout.splitlines() == [f"cannot read run: {errors[0][len('rundb: '):]}"]
    listed = rundb("runs", home=home)
    assert listed.returncode == 0 and no_marks[:8] in listed.stdout and bad[:8] not in listed.stdout
