"""Bench: parallel trials on Dask (issue 17).

1. Per-trial overhead: a grid of K trials of a script that does nothing (``pass``), run
   serially (the in-process batch path) and through Dask (``--cluster`` to a one-worker
   LocalCluster started beforehand, so cluster start-up is not counted). Overhead per
   trial = (Dask - serial) / K. The start-up of a LocalCluster for ``--parallel N`` is
   timed separately (a 1-trial grid with --parallel 2 minus the same serially).
2. Speed-up: a 16-trial grid of a CPU-bound script (a pure-Python loop of about ``WORK``
   seconds on an idle core), serially and with ``--parallel 2`` (LocalCluster included).

Goals: overhead < 0.3 s per trial; speed-up >= 1.7x on 2 cores. Figures on a shared,
loaded machine swing a lot: quote the ratios of one run.

    .venv/bin/python bench/bench_parallel.py [K] [WORK]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

PASS = "x = 1\npass\n"
CPU = """
import time
x = 1
work = {work}
n, t0 = 0, time.process_time()
while time.process_time() - t0 < work:
    n += 1
print(f"loss: {{1 / (n + 1)}}")
"""


def _rundb(home, cwd, *args):
    env = dict(os.environ, RUNDB_HOME=home)
    env.pop("RUNDB_INDEX", None)
    env.pop("RUNDB_DASK_SCHEDULER", None)
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "rundb_cli.main", "run", "-y", "-q", *args],
                       cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"bench: rundb run {' '.join(args)} failed:\n{p.stderr}")
    return elapsed


def _grid(n):
    return "x=[" + ",".join(str(i) for i in range(1, n + 1)) + "]"


def run(k=8, work=2.0):
    from distributed import LocalCluster

    out = {}
    with tempfile.TemporaryDirectory(prefix="rundb-bench-par-") as tmp:
        with open(os.path.join(tmp, "nop.py"), "w") as f:
            f.write(PASS)
        with open(os.path.join(tmp, "cpu.py"), "w") as f:
            f.write(CPU.format(work=work))
        home = os.path.join(tmp, "home")
        _rundb(home, tmp, "nop.py", "x=0")  # warm up: caches, index created
        serial = _rundb(home, tmp, "nop.py", _grid(k))
        with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
            dask = _rundb(home, tmp, "nop.py", _grid(k), "--cluster", c.scheduler_address)
        out["trials"] = k
        out["serial_s"] = serial
        out["dask_s"] = dask
        out["overhead_per_trial_s"] = (dask - serial) / k
        one_serial = _rundb(home, tmp, "nop.py", "x=[1]")
        one_local = _rundb(home, tmp, "nop.py", "x=[1]", "--parallel", "2")
        out["local_cluster_startup_s"] = one_local - one_serial
        shutil.rmtree(home)
        cpu_serial = _rundb(home, tmp, "cpu.py", _grid(16))
        cpu_parallel = _rundb(home, tmp, "cpu.py", _grid(16), "--parallel", "2")
        out["cpu_work_s"] = work
        out["cpu_serial_s"] = cpu_serial
        out["cpu_parallel2_s"] = cpu_parallel
        out["speedup"] = cpu_serial / cpu_parallel
        out["load_avg_1m"] = os.getloadavg()[0]
        out["cores"] = os.cpu_count()
    return out


if __name__ == "__main__":
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    work = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    print(json.dumps(run(k, work), indent=2))
