"""Helpers of the reliability suite: real `rundb` processes, faults injected into them,
and the one question every test asks afterwards: was anything lost?"""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import PPID, live_pids, wait_for  # noqa: F401 - wait_for is used through here

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: A script printing N output scalars ``loss: i (step i)``; with a GATE file name it
#: stops after FIRST points until that file appears in its working directory.
POINTS = r"""
import os, sys, time
n = int(sys.argv[1])
first = int(sys.argv[2]) if len(sys.argv) > 2 else n
gate = sys.argv[3] if len(sys.argv) > 3 else None
for i in range(n):
    if i == first and gate:
        print("waiting", flush=True)
        while not os.path.exists(gate):
            time.sleep(0.02)
    print(f"loss: {i} (step {i})")
"""


def env_for(home=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNDB_")}
    if home is not None:
        env["RUNDB_HOME"] = home.path if hasattr(home, "path") else str(home)
    env["RUNDB_FSYNC"] = "0"
    env.update(extra)
    return env


def rundb(*args, home=None, timeout=60, cwd=None, env=None, input=None):
    """Run the installed `rundb` to the end (bounded); returns CompletedProcess."""
    cmd = [sys.executable, "-m", "rundb_cli.main", *args]
    return subprocess.run(cmd, cwd=cwd, env=env or env_for(home), capture_output=True,
                          text=True, timeout=timeout, input=input)


class Started:
    """A `rundb` process started in the background, its output going to files."""

    def __init__(self, args, home, cwd, env=None):
        self.out_path = os.path.join(cwd, f"rundb-{time.monotonic_ns()}.out")
        self.err_path = self.out_path[:-4] + ".err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rundb_cli.main", *args], cwd=cwd,
                env=env or env_for(home), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.pid = self.proc.pid

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    @property
    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    @property
    def stdout(self):
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            return f.read()




def children(pid):
    """pids whose parent is ``pid`` (from /proc)."""
    return live_pids(PPID, pid)


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid):
    """True if ``pid`` runs (a zombie nobody reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:].split()[0] != b"Z"


def kill_all(pids):
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def index_rows(home, sql, params=()):
    """Rows from the home's index, read with plain sqlite3 (read-only)."""
    conn = sqlite3.connect(f"file:{home.index_path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def runs_by_status(home):
    return dict(index_rows(home, "SELECT id, status FROM runs"))


def loss_points(home, run_id=None):
    """{run id: [steps of `loss` points]} from the index, in step order."""
    sql = "SELECT run, step FROM scalars WHERE tag = 'loss'"
    out = {}
    for run, step in index_rows(home, sql + " ORDER BY run, step"):
        out.setdefault(run, []).append(step)
    return out.get(run_id, []) if run_id else out


def printed_steps(run_dir):
    """Steps of the ``loss: i (step i)`` lines in a run's recorded output."""
    path = os.path.join(run_dir, ".rundb", "output")
    steps = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("loss: ") and line.rstrip().endswith(")"):
                    steps.append(int(line.rsplit(" ", 1)[1].rstrip(")\n")))
    except FileNotFoundError:
        pass  # a batch run prints nothing of its own
    return steps


def run_dirs(home):
    try:
        return sorted(os.listdir(home.runs_dir))
    except FileNotFoundError:
        return []


def assert_nothing_lost(home, rebuilds_allowed=1, expected=None):
    """After a fault and at most one `index rebuild`: every run directory is indexed,
    every ``loss`` line each run's output holds is indexed, and `index check` is clean.

    :param expected: {run id: number of points its child wrote}, when the test knows.
    """
    check = rundb("index", "check", home=home, timeout=120)
    if check.returncode != 0:
        assert rebuilds_allowed >= 1, check.stdout + check.stderr
        rebuilt = rundb("index", "rebuild", home=home, timeout=120)
        assert rebuilt.returncode == 0, rebuilt.stderr
        check = rundb("index", "check", home=home, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Traceback" not in check.stderr
    statuses = runs_by_status(home)
    assert sorted(statuses) == run_dirs(home)
    points = loss_points(home)
    for run_id in statuses:
        printed = printed_steps(home.run_dir(run_id))
        assert points.get(run_id, []) == sorted(printed), run_id
        if expected and run_id in expected:
            assert len(printed) == expected[run_id], run_id
    return statuses


def one_line_error(result):
    """The stderr of a failed command: exactly one `rundb: ` line, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rundb: "), result.stderr
    return lines[0]
