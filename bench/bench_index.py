"""Index-side figures: optimizer history lookup and ``index rebuild`` rate."""

import os
import shutil
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import best_of  # noqa: E402


def history_lookup(home_path, repeats=5):
    """One optimizer history query over every completed ``train`` run of a home."""
    from rundb.index.db import open_index
    from rundb.ops.batch import parse_objective, trial_history

    index = open_index(os.path.join(home_path, "index.db"))
    batch = SimpleNamespace(plan=SimpleNamespace(name="train"), prev_trials="operation",
                            objective=parse_objective("loss"))
    names = ["dropout", "lr", "momentum"]
    found = []
    elapsed = best_of(lambda: found.append(trial_history(index, batch, None, names)), repeats)
    history, _ = found[-1]
    index.close()
    return {"trials": len(history), "lookup_ms": elapsed * 1000}


def rebuild_rate(home_path, workdir=None):
    """Rebuild a copy of a home's index from its run directories."""
    from rundb.home import Home
    from rundb.index.rebuild import rebuild

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        copy = os.path.join(tmp, "home")
        shutil.copytree(home_path, copy)
        start = time.perf_counter()
        result = rebuild(Home(copy))
        elapsed = time.perf_counter() - start
        import sqlite3

        points = sqlite3.connect(os.path.join(copy, "index.db")).execute(
            "SELECT count(*) FROM scalar_point").fetchone()[0]
    return {"runs": result.indexed, "seconds": elapsed, "runs_per_s": result.indexed / elapsed,
            "points_per_s": points / elapsed}
