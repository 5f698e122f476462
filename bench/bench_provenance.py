"""What recording provenance adds to a run: the attributes gathered before the child
starts (the start-up cost users wait for), and the git commit plus package set gathered
by the runner once the child runs (cached package set, and uncached: after an install)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _best(fn, repeats):
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best * 1000


def run(repeats=20):
    from rundb.home import Home
    from rundb.ops import provenance

    tmp = tempfile.mkdtemp(prefix="rundb-bench-prov-")
    try:
        home = Home(os.path.join(tmp, "home")).ensure()
        run_dir = os.path.join(tmp, "run")
        os.makedirs(os.path.join(run_dir, ".rundb"))
        before = _best(provenance.basic_attrs, repeats)

        def cold():
            shutil.rmtree(os.path.join(home.path, "packages"), ignore_errors=True)
            provenance.record_packages(home)

        uncached = _best(cold, max(3, repeats // 4))
        provenance.record_packages(home)
        cached = _best(lambda: provenance.record_packages(home), repeats)
        git = _best(lambda: provenance.vcs_commit(REPO), max(3, repeats // 4))
        return {"before_start_ms": before, "packages_cached_ms": cached,
                "packages_uncached_ms": uncached, "git_ms": git,
                "packages": len(provenance.installed_packages())}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
