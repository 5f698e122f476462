"""What sampling system metrics costs the runner: one sample of a process tree (psutil:
CPU % and RSS of each process), taken every 10 s while a run runs."""

import subprocess
import sys
import time


def run(repeats=50, children=4):
    from rundb.ops.sysmetrics import ProcessTree

    # A small tree like a training script with data-loader workers.
    code = ("import subprocess, sys, time\n"
            f"ps = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']) "
            f"for _ in range({children})]\n"
            "time.sleep(60)\n")
    root = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(1.0)
        tree = ProcessTree(root.pid)
        best = None
        for _ in range(repeats):
            start = time.perf_counter()
            values = tree.sample()
            elapsed = time.perf_counter() - start
            best = elapsed if best is None else min(best, elapsed)
        return {"sample_ms": best * 1000, "processes": len(tree.procs),
                "per_run_second_ms": best * 1000 / 10, "ok": "sys/cpu" in values}
    finally:
        for p in __import__("psutil").Process(root.pid).children(recursive=True):
            p.kill()
        root.kill()
        root.wait()


if __name__ == "__main__":
    print(run())
