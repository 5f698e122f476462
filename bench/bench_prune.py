"""Bench: pruning a sweep with Optuna's MedianPruner (issue 18).

The sweep of the issue: ``curve.py`` (the script of tests/test_prune.py) prints one loss a
step, its curve fixed by its flag ``x`` (x < 0.3 descends towards x, larger x plateaus
high); 30 trials of 50 steps, a random search over x with one seed, run twice through the
real CLI: without pruning and with ``--prune median --prune-warmup 5``. Printed: the
trials pruned, the steps run (points of ``loss`` in the index), the best loss found, and
wall time, with the ratios pruned / unpruned from this one run.

Then the same sweep for twenty seeds replayed in-process (the seeds' x values drawn by
rundb's random search, each curve fed step by step to Optuna's MedianPruner through
rundb's study; a stop landing ``LAG`` steps after the decision): how the saving varies
with the first trials.

    .venv/bin/python bench/bench_prune.py [PACE] [SEED]
"""

import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from test_prune import CURVE, final_loss  # noqa: E402 - the test's script, one copy

TRIALS, STEPS, WARMUP = 30, 50, 5


def sweep(home, project, pace, seed, prune):
    env = dict(os.environ, RUNDB_HOME=home)
    env.pop("RUNDB_INDEX", None)
    args = [sys.executable, "-m", "rundb_cli.main", "run", "curve.py", "x=[0.0:1.0]",
            f"pace={pace}", f"steps={STEPS}", "-m", str(TRIALS), "--random-seed", str(seed),
            "-y", "-q"]
    if prune:
        args += ["--prune", "median", "--prune-warmup", str(WARMUP)]
    t0 = time.perf_counter()
    subprocess.run(args, cwd=project, env=env, check=True, capture_output=True)
    took = time.perf_counter() - t0
    db = sqlite3.connect(os.path.join(home, "index.db"))
    steps = db.execute("SELECT count(*) FROM scalars WHERE tag = 'loss'").fetchone()[0]
    pruned = db.execute("SELECT count(*) FROM runs WHERE status = 'pruned'").fetchone()[0]
    best = db.execute("SELECT min(s.min_val) FROM scalar_summary s JOIN runs r ON r.id = s.run "
                      "WHERE s.tag = 'loss' AND r.status = 'completed'").fetchone()[0]
    db.close()
    return {"steps": steps, "pruned": pruned, "best": best, "seconds": took}


def replay(seed, lag):
    """The sweep in-process: rundb's random draws, Optuna's MedianPruner via our study."""
    from rundb.ops.optimizers import suggest
    from rundb.ops.prune import PruneSpec, SearchStudy
    from rundb.ops.searchspace import flag_dims

    names, dims, initials = flag_dims({"x": "uniform[0.0:1.0]"})
    study = SearchStudy(None, prune=PruneSpec("median", "loss", WARMUP))
    total = 0
    for i in range(1, TRIALS + 1):
        x = suggest("random", names, dims, [], i, TRIALS, random_state=seed,
                    initials=initials)[0]["x"]
        run_id, stop = str(i), None
        study.bind(run_id)
        for step in range(1, STEPS + 1):
            loss = x + (1 - x) * math.exp(-step / 6) if x < 0.3 else (
                0.7 + 0.3 * x + 0.1 * math.exp(-step / 6))
            study.report(run_id, {step: loss})
            if stop is None and study.should_prune(run_id):
                stop = step + lag
            if stop is not None and step >= stop:
                break
        total += step
        study.finish(run_id, "pruned" if stop else "completed", final_loss(x, STEPS))
    return 1 - total / (TRIALS * STEPS)


def main():
    pace = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    root = tempfile.mkdtemp(prefix="rundb-bench-prune-")
    try:
        project = os.path.join(root, "project")
        os.makedirs(project)
        with open(os.path.join(project, "curve.py"), "w") as f:
            f.write(CURVE)
        plain = sweep(os.path.join(root, "plain"), project, pace, seed, prune=False)
        pruned = sweep(os.path.join(root, "pruned"), project, pace, seed, prune=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{TRIALS} trials x {STEPS} steps, {pace} s a step, random search seed {seed}")
    print(f"{'':28} {'no pruning':>12} {'median':>12} {'ratio':>8}")
    print(f"{'trials pruned':28} {plain['pruned']:>12} {pruned['pruned']:>12}")
    print(f"{'steps run':28} {plain['steps']:>12} {pruned['steps']:>12} "
          f"{pruned['steps'] / plain['steps']:>8.2f}")
    print(f"{'best loss (completed trials)':28} {plain['best']:>12.6f} {pruned['best']:>12.6f} "
          f"{pruned['best'] / plain['best']:>8.3f}")
    print(f"{'wall time (s)':28} {plain['seconds']:>12.1f} {pruned['seconds']:>12.1f} "
          f"{pruned['seconds'] / plain['seconds']:>8.2f}")
    for lag in (4, 7):
        savings = sorted(replay(s, lag) for s in range(1, 21))
        hits = sum(v >= 0.4 for v in savings)
        print(f"replay, 20 seeds, stop {lag} steps after the decision: saving >= 40% for "
              f"{hits} of 20 (min {savings[0]:.0%}, median {savings[10]:.0%}, "
              f"max {savings[-1]:.0%})")


if __name__ == "__main__":
    main()
