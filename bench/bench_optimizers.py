"""Bench: does gp beat random search on a 2-D quadratic, and what does a suggestion cost?

The objective is ``(x - 0.5)**2 + (y + 0.7)**2`` over ``x=[-2.0:2.0] y=[-2.0:2.0]``
(optimum 0 at (0.5, -0.7)). For each seed, a batch of ``trials`` trials runs through
``rundb.ops.optimizers.suggest`` exactly as a batch would (3 random starts for gp).
A batch "hits" when its best trial lies within 5% of the range width (0.2) of the
optimum. Also reported: how often the best loss is within 5% of the loss range over
the box (a looser test), the mean best loss, and the mean seconds per gp
suggestion that fits the model (trials after the random starts).

    .venv/bin/python bench/bench_optimizers.py [SEEDS] [TRIALS]
"""

import contextlib
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rundb.ops import optimizers  # noqa: E402
from rundb.ops.searchspace import flag_dims  # noqa: E402

FLAGS = {"x": "[-2.0:2.0]", "y": "[-2.0:2.0]"}
OPTIMUM = (0.5, -0.7)
LOW, HIGH = -2.0, 2.0
TOLERANCE = 0.05


def objective(trial):
    return (trial["x"] - OPTIMUM[0]) ** 2 + (trial["y"] - OPTIMUM[1]) ** 2


def _loss_range():
    corners = [{"x": x, "y": y} for x in (LOW, HIGH) for y in (LOW, HIGH)]
    return max(objective(c) for c in corners)  # the minimum is 0, inside the box


def _batch(algorithm, seed, trials):
    names, dims, initials = flag_dims(FLAGS)
    settings = optimizers.opt_flags(algorithm, {})
    history, fit_seconds = [], []
    for i in range(1, trials + 1):
        start = time.perf_counter()
        trial, line = optimizers.suggest(
            algorithm, names, dims, history, i, trials, settings, seed, "loss", initials
        )
        if line and line.startswith("Found"):
            fit_seconds.append(time.perf_counter() - start)
        history.append((trial, objective(trial)))
    best, loss = min(history, key=lambda h: h[1])
    distance = math.dist((best["x"], best["y"]), OPTIMUM)
    return distance, loss, fit_seconds


def run(seeds=10, trials=20):
    """Run gp and random batches over ``seeds`` seeds; return the figures."""
    tolerance_distance = TOLERANCE * (HIGH - LOW)
    tolerance_loss = TOLERANCE * _loss_range()
    results = {"seeds": seeds, "trials": trials}
    for algorithm in ("gp", "random"):
        hits = loss_hits = 0
        best_losses, fit_seconds = [], []
        for seed in range(seeds):
            distance, loss, seconds = _batch(algorithm, seed, trials)
            hits += distance <= tolerance_distance
            loss_hits += loss <= tolerance_loss
            best_losses.append(loss)
            fit_seconds.extend(seconds)
        results[algorithm] = {
            "hits": hits,
            "loss_hits": loss_hits,
            "mean_best_loss": statistics.fmean(best_losses),
            "seconds_per_suggestion": statistics.fmean(fit_seconds) if fit_seconds else None,
        }
    return results


def thread_limit_speedup(fits=10, seed=0):
    """Median seconds per gp fit with and without the adapter's one-thread limit.

    The two settings alternate fit by fit, so load from other processes falls on
    both alike.
    """
    import threadpoolctl

    names, dims, _ = flag_dims(FLAGS)
    history = []
    for i in range(1, 13):
        trial, _ = optimizers.suggest("random", names, dims, [], i, 20, None, seed)
        history.append((trial, objective(trial)))

    def fit(i):
        start = time.perf_counter()
        optimizers.suggest("gp", names, dims, history, 13 + i, 40, None, seed)
        return time.perf_counter() - start

    real_limits = threadpoolctl.threadpool_limits
    limited, unlimited = [], []
    for i in range(fits):
        limited.append(fit(i))
        threadpoolctl.threadpool_limits = lambda limits: contextlib.nullcontext()
        try:
            unlimited.append(fit(i))
        finally:
            threadpoolctl.threadpool_limits = real_limits
    return {
        "one_thread": statistics.median(limited),
        "default_threads": statistics.median(unlimited),
    }


def main(argv):
    seeds = int(argv[0]) if argv else 10
    trials = int(argv[1]) if len(argv) > 1 else 20
    results = run(seeds, trials)
    print(f"2-D quadratic, optimum {OPTIMUM} in [-2:2]x[-2:2], {seeds} seeds x {trials} trials")
    header = ("optimizer", "near optimum", "loss <= 5%", "mean best loss", "s/suggestion")
    print("{:<10} {:>12} {:>10} {:>15} {:>13}".format(*header))
    for algorithm in ("gp", "random"):
        r = results[algorithm]
        secs = r["seconds_per_suggestion"]
        secs = "-" if secs is None else f"{secs:.3f}"
        print(
            f"{algorithm:<10} {r['hits']:>6}/{seeds:<5} {r['loss_hits']:>5}/{seeds:<4} "
            f"{r['mean_best_loss']:>15.5f} {secs:>13}"
        )
    speed = thread_limit_speedup()
    print(
        f"gp fit, 12 points (median): {speed['one_thread']:.3f} s with one thread, "
        f"{speed['default_threads']:.3f} s with default threads "
        f"({speed['default_threads'] / speed['one_thread']:.1f}x)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
