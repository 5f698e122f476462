"""Timing whole processes: median, spread and peak RSS over several runs after a warm-up."""

import os
import statistics
import subprocess
import sys
import time

BIN = os.path.dirname(sys.executable)


def rundb_cmd(*args):
    """argv for the installed ``rundb`` console script (what users run)."""
    return [os.path.join(BIN, "rundb"), *args]


def python_cmd(*args):
    return [sys.executable, *args]


def time_cmd(argv, env=None, repeats=5, warmup=1, cwd=None):
    """Run ``argv`` ``warmup + repeats`` times; figures of the timed runs.

    :returns: dict(median, min, max (seconds), rss_mb (peak of the runs), ok, out (last stdout))
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    times, rss, out, ok = [], 0, b"", True
    for i in range(warmup + repeats):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        stdout, stderr = proc.communicate()
        elapsed = time.perf_counter() - start
        ok = ok and proc.returncode == 0
        if i >= warmup:
            times.append(elapsed)
            out = stdout
        rss = max(rss, _child_rss_mb())
    return {
        "median": statistics.median(times), "min": min(times), "max": max(times),
        "rss_mb": rss, "ok": ok, "out": out.decode("utf-8", "replace"),
        "err": stderr.decode("utf-8", "replace")[-500:] if not ok else "",
    }


def _child_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def best_of(fn, repeats=5):
    """Smallest wall time of ``fn()`` over ``repeats`` calls (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
