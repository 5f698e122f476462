"""Scalar ingest through ``rundb run``: a real child process printing scalar lines.

Three figures from one run:

* rundb's ingest rate: ``rundb run -- cat FILE`` over a file of N ``loss: x (step n)``
  lines (the child costs nothing, so this is rundb's own throughput, end to end: tee,
  output file, parsing, index), against raw ``executemany`` of the same N points into
  the same table of a fresh index;
* the child's slowdown: a Python script printing the N lines, alone (stdout to a pipe)
  and under ``rundb run``.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import python_cmd, rundb_cmd, time_cmd  # noqa: E402

CHILD = """
import sys, time
start = time.perf_counter()
w = sys.stdout.write
for n in range({n}):
    w(f"loss: {{1.0 / (n + 1):.6f}} (step {{n}})\\n")
sys.stdout.flush()
print(f"child-elapsed: {{time.perf_counter() - start}}", file=sys.stderr)
"""


def child_elapsed(text):
    """The child's own running time, from the last line it prints on stderr."""
    for line in reversed(text.splitlines()):
        if line.startswith("child-elapsed: "):
            return float(line.split()[1])
    raise ValueError("the child did not report its time")


def raw_executemany(path, n, batch=200_000):
    from rundb.index.db import open_index

    index = open_index(path)
    rows = [(1, 1, i, 1.0 / (i + 1), 0.0) for i in range(n)]
    start = time.perf_counter()
    for i in range(0, n, batch):
        with index.atomic() as conn:
            conn.executemany(
                "INSERT INTO scalar_point (rid, key, step, value, time) VALUES (?, ?, ?, ?, ?)",
                rows[i : i + batch])
    elapsed = time.perf_counter() - start
    index.close()
    return elapsed


def indexed_points(home):
    import sqlite3

    conn = sqlite3.connect(os.path.join(home, "index.db"))
    return conn.execute("SELECT count(*) FROM scalar_point").fetchone()[0]


def _stderr_of(argv, cwd):
    import subprocess

    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True).stderr


def _run_output(home):
    runs = os.path.join(home, "runs")
    (run_id,) = os.listdir(runs)
    with open(os.path.join(runs, run_id, ".rundb", "output"), errors="replace") as f:
        return f.read()[-4096:]


def run(n=1_000_000, repeats=1, workdir=None):
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        child = os.path.join(tmp, "child.py")
        with open(child, "w") as f:
            f.write(CHILD.format(n=n))
        lines = os.path.join(tmp, "lines.txt")
        with open(lines, "w") as f:
            for i in range(n):
                f.write(f"loss: {1.0 / (i + 1):.6f} (step {i})\n")
        raw = raw_executemany(os.path.join(tmp, "raw.db"), n)
        homes = iter(range(100))

        def fresh_home():
            return {"RUNDB_HOME": os.path.join(tmp, f"home{next(homes)}")}

        cat_env = fresh_home()
        cat = time_cmd(rundb_cmd("run", "-y", "-q", "--", "cat", lines), cat_env, repeats, warmup=0, cwd=tmp)
        points = indexed_points(cat_env["RUNDB_HOME"])
        alone = time_cmd(python_cmd(child), None, repeats, warmup=0, cwd=tmp)
        alone_child = child_elapsed(alone["err"] or _stderr_of(python_cmd(child), tmp))
        tracked_env = fresh_home()
        tracked = time_cmd(rundb_cmd("run", "child.py", "-y", "-q"), tracked_env, repeats, warmup=0, cwd=tmp)
        tracked_child = child_elapsed(_run_output(tracked_env["RUNDB_HOME"]))
    rate = n / cat["median"]
    return {
        "points": n, "indexed": points, "raw_executemany_s": raw, "raw_rate": n / raw,
        "rundb_cat_s": cat["median"], "rundb_rate": rate, "rate_ratio": rate / (n / raw),
        "child_alone_s": alone_child, "child_tracked_s": tracked_child,
        "slowdown": tracked_child / alone_child,
        "rundb_run_wall_s": tracked["median"], "ok": cat["ok"] and tracked["ok"],
    }


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:20} {v}")
