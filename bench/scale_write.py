"""The write side at scale: ``index rebuild`` and ``index check`` of many run directories,
and 16 concurrent writer processes against one process's raw ``executemany``.

    .venv/bin/python bench/scale_write.py                  # 100,000 run directories
    .venv/bin/python bench/scale_write.py --runs 10000

The home holds ``--runs`` run directories of bench/corpus.py's runs (8 flags, 2 steps of
its 5 scalars: 10 scalar lines in ``.rundb/output``), written once through rundb's own
path (bench/corpus.write_rundb: meta.json, output file) by a pool of processes, each into
a part home whose run directories are then moved into one; it is cached in
``bench/.cache/`` (ignored by git) and reused. Its index is the one the timed
``rundb index rebuild`` writes.

Timed as whole processes (``rundb index rebuild``, then ``rundb index check``), runs/s.

Writers: ``--writers`` processes (default 16) each insert their own runs into one fresh
index (rundb.index.writer.insert_run and add_series through open_index, the points of
each run in flushes of 10 steps per key, as a running script's are). The floor is one
process doing raw ``executemany`` of the same point rows into ``scalar_point`` of the
same kind of index, one transaction per flush. Both in the same run; the ratio is
aggregate points/s of the writers over the floor's (budget: >= 0.6x).
"""

import argparse
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
from timing import rundb_cmd, time_cmd  # noqa: E402

CACHE = os.path.join(HERE, ".cache")
VERSION = 1
STEPS = 2  # x 5 tags: 10 scalar lines a run
KEYS = 10
WRITER_STEPS = 100
FLUSH = 10


# --- the home of run directories -----------------------------------------------------------

def home_path(n_runs, cache=CACHE):
    return os.path.join(cache, f"write-{n_runs}-v{VERSION}")


def cached_home(n_runs, cache=CACHE, jobs=None):
    """A home of ``n_runs`` run directories (no index), built once."""
    path = home_path(n_runs, cache)
    if not os.path.exists(os.path.join(path, ".complete")):
        build(path, n_runs, jobs)
    return path


def _write_part(args):
    part, lo, hi = args
    os.environ["RUNDB_FSYNC"] = "0"  # a bulk corpus; rebuilt if cut short
    corpus.write_rundb(part, (corpus._run(i, STEPS, 0) for i in range(lo, hi)))
    return hi - lo


def build(path, n_runs, jobs=None):
    shutil.rmtree(path, ignore_errors=True)
    runs_dir = os.path.join(path, "runs")
    os.makedirs(runs_dir)
    chunk = 1000
    parts = [(os.path.join(path, f".part-{lo}"), lo, min(lo + chunk, n_runs))
             for lo in range(0, n_runs, chunk)]
    start, done = time.perf_counter(), 0
    with multiprocessing.Pool(jobs or os.cpu_count()) as pool:
        for (part, _lo, _hi), n in zip(parts, pool.imap(_write_part, parts)):
            for name in os.listdir(os.path.join(part, "runs")):
                os.rename(os.path.join(part, "runs", name), os.path.join(runs_dir, name))
            shutil.rmtree(part)
            done += n
            _progress(done, n_runs, start, "writing run directories")
    with open(os.path.join(path, ".complete"), "w") as f:
        f.write(f"{time.perf_counter() - start:.1f}\n")


def _progress(done, total, start, what):
    rate = done / max(time.perf_counter() - start, 1e-9)
    sys.stderr.write(f"\r{what}: {done:,}/{total:,} ({rate:,.0f}/s)")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


# --- rebuild and check ---------------------------------------------------------------------

def time_rundb(home, *args):
    env = {"RUNDB_HOME": home, "RUNDB_FSYNC": os.environ.get("RUNDB_FSYNC", "1")}
    result = time_cmd(rundb_cmd(*args), env=env, repeats=1, warmup=0)
    return result["median"], result["ok"]


# --- concurrent writers against raw executemany --------------------------------------------

def _writer_runs(worker, n):
    from rundb.run import Run

    rng = random.Random(f"writer:{worker}")
    for i in range(n):
        run = Run(id=uuid.UUID(int=rng.getrandbits(128)).hex, op=f"m{i % 30}:train",
                  status="running", created=1_700_000_000_000_000 + i,
                  started=1_700_000_000_000_000 + i,
                  flags={"lr": rng.random(), "opt": "adam", "layers": 3}, attrs={"cmd": ["x"]})
        series = {(".rundb", f"k{k}"): [rng.random() for _ in range(WRITER_STEPS)]
                  for k in range(KEYS)}
        yield run, series


def _writer(args):
    """One writer process: its own runs, through open_index and the writer."""
    path, worker, n, barrier = args
    from rundb.index.db import open_index
    from scale_ingest import write_runs

    runs = list(_writer_runs(worker, n))
    index = open_index(path)
    barrier.wait()
    start = time.perf_counter()
    write_runs(index, runs, WRITER_STEPS, FLUSH)
    end = time.perf_counter()
    index.close()
    return start, end


def concurrent_writers(path, writers, runs_each):
    from rundb.index.db import open_index

    open_index(path).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(writers)
        with ctx.Pool(writers) as pool:
            spans = pool.map(_writer, [(path, w, runs_each, barrier) for w in range(writers)])
    return max(e for _, e in spans) - min(s for s, _ in spans)


def _summary(rid, kid, steps, values):
    low, high = min(values), max(values)
    return (rid, kid, values[0], steps[0], values[-1], steps[-1], low,
            steps[values.index(low)], high, steps[values.index(high)], len(values), sum(values))


def raw_executemany(path, writers, runs_each):
    """One process: the same rows, raw executemany into the same tables: each run's row,
    then per flush its points (``scalar_point``) and each key's summary so far
    (``scalar_stat``, replaced), all computed before the clock starts."""
    from rundb.index import writer
    from rundb.index.db import open_index

    open_index(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")  # as rundb's index
    keys = []
    for k in range(KEYS):
        conn.execute("INSERT INTO scalar_key (prefix, tag) VALUES (?, ?)", (".rundb", f"k{k}"))
        keys.append(conn.execute("SELECT id FROM scalar_key WHERE prefix = ? AND tag = ?",
                                 (".rundb", f"k{k}")).fetchone()[0])
    work = []
    all_runs = [r for w in range(writers) for r in _writer_runs(w, runs_each)]
    for rid, (run, series) in enumerate(all_runs, 1):
        values = list(series.values())
        flushes = []
        for lo in range(0, WRITER_STEPS, FLUSH):
            points = [(rid, keys[k], s, values[k][s], 0.0) for k in range(KEYS)
                      for s in range(lo, lo + FLUSH)]
            stats = [_summary(rid, keys[k], list(range(lo + FLUSH)), values[k][:lo + FLUSH])
                     for k in range(KEYS)]
            flushes.append((points, stats))
        work.append(([rid, *writer._run_values(run)], flushes))
    cols = ("rid",) + writer._RUN_COLUMNS
    insert_run = f"INSERT INTO run ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    start = time.perf_counter()
    for run_row, flushes in work:
        conn.execute("BEGIN")
        conn.execute(insert_run, run_row)
        conn.execute("COMMIT")
        for points, stats in flushes:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO scalar_point (rid, key, step, value, time) "
                             "VALUES (?, ?, ?, ?, ?)", points)
            conn.executemany("INSERT OR REPLACE INTO scalar_stat (rid, key, first_val, "
                             "first_step, last_val, last_step, min_val, min_step, max_val, "
                             "max_step, count, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                             "?, ?)", stats)
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def writers_vs_raw(writers, runs_each, workdir=None):
    points = writers * runs_each * KEYS * WRITER_STEPS
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        raw_s = raw_executemany(os.path.join(tmp, "raw.db"), writers, runs_each)
        many_s = concurrent_writers(os.path.join(tmp, "many.db"), writers, runs_each)
    return points, raw_s, many_s


# --- the table -----------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100_000, help="run directories (100,000)")
    ap.add_argument("--writers", type=int, default=16, help="writer processes (16)")
    ap.add_argument("--writer-runs", type=int, default=25,
                    help="runs each writer writes (25, x 10 keys x 100 steps)")
    ap.add_argument("--cache", default=CACHE, help="where the home is kept (bench/.cache)")
    ap.add_argument("--jobs", type=int, default=None, help="processes building the home")
    ap.add_argument("--only", default="rebuild,check,writers",
                    help="what to time, of rebuild,check,writers (all three)")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    if only - {"rebuild", "check", "writers"}:
        ap.error(f"--only: unknown part(s) {sorted(only - {'rebuild', 'check', 'writers'})}")

    n = args.runs
    rows, ok = [], True
    if only & {"rebuild", "check"}:
        home = cached_home(n, args.cache, args.jobs)
        index = os.path.join(home, "index.db")
    if "rebuild" in only or ("check" in only and not os.path.exists(index)):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(index + suffix):
                os.remove(index + suffix)
        rebuild_s, rebuild_ok = time_rundb(home, "index", "rebuild")
        ok = ok and rebuild_ok
        rows.append((f"`rundb index rebuild`, {n:,} run dirs", f"{rebuild_s:.1f}",
                     f"{n / rebuild_s:,.0f} runs/s", ">= 1,000 runs/s",
                     n / rebuild_s >= 1000 and rebuild_ok))
    if "check" in only:
        check_s, check_ok = time_rundb(home, "index", "check")
        ok = ok and check_ok
        rows.append((f"`rundb index check`, {n:,} run dirs", f"{check_s:.1f}",
                     f"{n / check_s:,.0f} runs/s", "< 60 s", check_s < 60 and check_ok))
    if "writers" in only:
        points, raw_s, many_s = writers_vs_raw(args.writers, args.writer_runs)
        ratio = raw_s / many_s
        rows += [
            (f"raw `executemany`, 1 process, {points:,} points", f"{raw_s:.2f}",
             f"{points / raw_s:,.0f} points/s", "(floor)", True),
            (f"{args.writers} writer processes (add_series), {points:,} points",
             f"{many_s:.2f}", f"{points / many_s:,.0f} points/s ({ratio:.2f}x)", ">= 0.6x",
             ratio >= 0.6),
        ]
    print(f"{n:,} run directories ({STEPS} steps x {len(corpus.TAGS)} scalars each); "
          f"{args.writers} writers x {args.writer_runs} runs x {KEYS} keys x {WRITER_STEPS} "
          f"steps, flushes of {FLUSH} steps")
    print("| what | s | rate | budget | met |")
    print("| --- | ---: | ---: | --- | --- |")
    for what, secs, rate, budget, met in rows:
        print(f"| {what} | {secs} | {rate} | {budget} | {'yes' if met else 'NO'} |")
    if not ok:
        print("rebuild or check failed (exit status not 0)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
