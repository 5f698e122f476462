"""What the page indexes of schema migration 5 cost the write side: the same runs and
scalars written through rundb's writer into an index with them and one without (dropped
after creation), alternately in one run, plus raw ``executemany`` of the same points (the
ingest budget's floor: rundb >= 0.6x of it).

    .venv/bin/python bench/scale_ingest.py [RUNS]      # default 400 runs x 10 keys x 100 steps

Each run is inserted (its flags and attributes), then its points are added in flushes of
10 steps per key, as a running script's are (every flush merges each key's summary into
``scalar_stat``, so updates the summary indexes).
"""

import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from rundb.index import writer  # noqa: E402
from rundb.index.db import open_index  # noqa: E402
from rundb.run import Run  # noqa: E402

PAGE_INDEXES = ("scalar_stat_last_idx", "scalar_stat_min_idx", "scalar_stat_max_idx",
                "run_op_created_idx", "run_started_idx", "run_attr_name_idx")
KEYS = 10
STEPS = 100
FLUSH = 10


def _runs(n):
    rng = random.Random(0)
    out = []
    for i in range(n):
        run = Run(id=uuid.UUID(int=rng.getrandbits(128)).hex, op=f"m{i % 30}:train",
                  status="running", created=1_700_000_000_000_000 + i, started=1_700_000_000_000_000 + i,
                  flags={"lr": rng.random(), "opt": "adam", "layers": 3}, attrs={"cmd": ["x"]})
        series = {(".rundb", f"k{k}"): [rng.random() for _ in range(STEPS)] for k in range(KEYS)}
        out.append((run, series))
    return out


def write_runs(index, runs, steps, flush):
    """Insert ``[(run, {key: values})]`` through the writer, ``flush`` steps a batch (as a
    running script's indexer does)."""
    for run, series in runs:
        rid = writer.insert_run(index, run)
        for lo in range(0, steps, flush):
            batch = list(range(lo, lo + flush))
            writer.add_series(index, rid, {key: (batch, values[lo:lo + flush], 0.0)
                                           for key, values in series.items()})


def write(path, runs, drop):
    index = open_index(path)
    if drop:
        for name in drop:
            index.conn.execute(f"DROP INDEX {name}")
    start = time.perf_counter()
    write_runs(index, runs, STEPS, FLUSH)
    elapsed = time.perf_counter() - start
    index.close()
    return elapsed


def raw(path, runs):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # as rundb's index
    conn.execute("CREATE TABLE scalar_point (rid INTEGER NOT NULL, key INTEGER NOT NULL, "
                 "step INTEGER NOT NULL, value REAL, time REAL)")
    conn.execute("CREATE INDEX scalar_point_idx ON scalar_point (rid, key, step)")
    start = time.perf_counter()
    for rid, (_run, series) in enumerate(runs, 1):
        for lo in range(0, STEPS, FLUSH):
            rows = [(rid, k, s, values[s], 0.0) for k, values in enumerate(series.values())
                    for s in range(lo, lo + FLUSH)]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO scalar_point VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main(n=400, rounds=5):
    runs = _runs(n)
    points = n * KEYS * STEPS
    best = {"with": float("inf"), "without": float("inf"), "raw": float("inf")}
    for _ in range(rounds):
        for name, drop in (("with", None), ("without", PAGE_INDEXES), ("raw", "raw")):
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "index.db")
                t = raw(path, runs) if drop == "raw" else write(path, runs, drop)
                best[name] = min(best[name], t)
    print(f"{n} runs x {KEYS} keys x {STEPS} steps, flushes of {FLUSH} steps, best of {rounds}")
    print("| writer into | s | points/s | vs raw executemany |")
    print("| --- | ---: | ---: | ---: |")
    for name, label in (("without", "index without the page indexes (schema 4's)"),
                        ("with", "index with them (schema 5)"),
                        ("raw", "raw executemany into scalar_point")):
        print(f"| {label} | {best[name]:.2f} | {points / best[name]:,.0f} | "
              f"{best['raw'] / best[name]:.2f}x |")
    print(f"cost of the page indexes: {best['with'] / best['without']:.2f}x the write time")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
