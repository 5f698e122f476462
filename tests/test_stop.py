"""`rundb stop`: the request goes through the index (SQLite or PostgreSQL) and the run's
own runner, a separate process, stops its child as Ctrl-C would (issue 17)."""

import os
import subprocess
import sys
import time

import pytest

from rundb.index import reader
from rundb.index.db import open_index

from conftest import wait_for

pytestmark = pytest.mark.backends

SLOW = """
import time
print("loss: 0.5", flush=True)
for i in range(600):
    time.sleep(0.1)
print("done", flush=True)
"""




def _state(home):
    with open_index(home.index_location) as ix:
        return [(r.id, r.status, r.exit_status) for r in
                reader.load_runs(ix, reader.run_rids(ix), details=False)]


def _loss(home, run_id):
    with open_index(home.index_location) as ix:
        rid = reader.rid_of(ix, run_id)
        return [s["last_val"] for s in reader.scalar_summaries(ix, [rid])[rid]
                if s["tag"] == "loss"]


def test_stop_terminates_a_run_started_elsewhere(home, project, cli):
    (project / "slow.py").write_text(SLOW)
    env = dict(os.environ, RUNDB_HOME=home.path)
    if home.index_url:
        env["RUNDB_INDEX"] = home.index_url
    proc = subprocess.Popen([sys.executable, "-m", "rundb_cli.main", "run", "-y", "slow.py"],
                            cwd=str(project), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: home.index_url or os.path.exists(home.index_path), 60, "the index")
        run_id = wait_for(lambda: [r[0] for r in _state(home) if r[1] == "running"], 60,
                          "the running run")[0]
        wait_for(lambda: _loss(home, run_id), 60, "the loss scalar")
        asked = time.monotonic()
        result = cli("stop", "-y", run_id[:8])
        assert result.exit_code == 0, result.output
        assert f"Stopping {run_id[:8]}" in result.output
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "was terminated" in err and "stop requested (rundb stop)" in err
    assert "done" not in out
    assert took < 15  # polled about once a second (plus a loaded machine's slack)
    assert _state(home) == [(run_id, "terminated", -15)]
    assert _loss(home, run_id) == [0.5]  # scalars kept
    with open_index(home.index_location) as ix:  # the request is gone with the run
        assert ix.conn.execute("SELECT count(*) FROM stop_request").fetchone()[0] == 0


def test_stop_with_nothing_running_changes_nothing(home, cli):
    result = cli("stop", "-y")
    assert result.exit_code == 0
    assert "No running runs to stop" in result.output
