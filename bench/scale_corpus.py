"""A run index of up to 1,000,000 runs, written straight into ``index.db`` for the scale
benchmarks (bench/scale.py). No run directories: the read questions ask the index only.

Each run has the 8 flags of :data:`corpus.FLAGS` (float, int and str values), 10 scalar
keys with summaries (``scalar_stat``) and 10 points each (``scalar_point``, 100 points a
run), three attributes, and one of a few hundred operations. About 1 run in 100 is a batch
(``train+random``) whose following runs are its trials (``parent``); 0.5% are deleted.

Values follow plausible shapes: ``lr`` log-uniform, loss falling from about 2.3 toward a
floor the flags decide, accuracies rising as loss falls. Runs start 30 s apart (with
jitter) in rid order, as an index grown over years holds them.

    python bench/scale_corpus.py 1000000       # builds bench/.cache/scale-1000000/ once

The home is cached in ``bench/.cache/`` (ignored by git) and reused; a half-built one (no
``.complete`` marker) is rebuilt. Points are made by SQL from the summaries (linear from
first to last value), so building 100,000,000 points costs seconds of C, not Python.
"""

import math
import os
import random
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

CACHE = os.path.join(HERE, ".cache")
#: Bumped when the corpus changes: cached indexes of another version are rebuilt.
VERSION = 2

FLAGS = ("lr", "batch_size", "dropout", "optimizer", "layers", "seed", "momentum", "activation")
#: 10 scalar keys: (prefix, tag). Tags are distinct, so a bare tag names one key.
KEYS = ((".rundb", "loss"), (".rundb", "acc"), (".rundb", "val_loss"), (".rundb", "val_acc"),
        (".rundb", "lr_sched"), ("", "grad_norm"), ("", "throughput"), ("", "f1"),
        ("", "auc"), ("", "epoch_time"))
POINTS = 10
N_OPS = 300
EPOCH_US = 1_600_000_000_000_000
SPACING_US = 30_000_000
_OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
_ACTIVATIONS = ("relu", "gelu", "tanh", "silu")
_BATCH_SIZES = (16, 32, 64, 128, 256)
_CHUNK = 20_000


def op_name(i):
    "The i-th of N_OPS operation names (models x operations, as Guild names them)."
    return f"model{i // 3}:{('train', 'eval', 'prepare')[i % 3]}"


def home_path(n_runs):
    return os.path.join(CACHE, f"scale-{n_runs}-v{VERSION}")


def cached_home(n_runs, progress=True):
    """The path of a home whose index holds ``n_runs`` runs, built once."""
    path = home_path(n_runs)
    if not os.path.exists(os.path.join(path, ".complete")):
        build(path, n_runs, progress)
    return path


def _progress(done, total, start, what):
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.perf_counter() - start, 1e-9)
    sys.stderr.write(f"\r{what} [{'#' * filled}{'.' * (width - filled)}] "
                     f"{done:,}/{total:,} ({rate:,.0f}/s)")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _run_rows(n_runs, rng):
    """Yields (run row, flags, stats) per run."""
    ops = [op_name(i) for i in range(N_OPS)]
    batch = None
    trials_left = 0
    for i in range(n_runs):
        rid = i + 1
        run_id = "%032x" % rng.getrandbits(128)
        created = EPOCH_US + i * SPACING_US + rng.randrange(SPACING_US // 2)
        started = created + rng.randrange(1_000_000)
        if trials_left == 0 and rng.random() < 0.01:
            op = ops[rng.randrange(0, N_OPS, 3)] + "+random"
            batch, trials_left = (run_id, op[: -len("+random")]), rng.randrange(5, 40)
            parent = None
        elif trials_left:
            op, parent = batch[1], batch[0]
            trials_left -= 1
        else:
            # a few operations are run much more often than others (Zipf-like)
            op, parent = ops[min(int(rng.paretovariate(0.8)) - 1, N_OPS - 1)], None
        status = rng.choices(("completed", "error", "terminated"), (92, 6, 2))[0]
        stopped = started + int(rng.lognormvariate(math.log(600e6), 1.0))
        deleted = 1 if rng.random() < 0.005 else 0
        flags = {
            "lr": 10 ** rng.uniform(-5, -0.5),
            "batch_size": rng.choice(_BATCH_SIZES),
            "dropout": round(rng.uniform(0.0, 0.6), 3),
            "optimizer": rng.choice(_OPTIMIZERS),
            "layers": rng.randint(1, 12),
            "seed": rng.randrange(2**31),
            "momentum": round(rng.uniform(0.8, 0.99), 4),
            "activation": rng.choice(_ACTIVATIONS),
        }
        quality = (abs(math.log10(flags["lr"]) + 2.5) / 2.5 + flags["dropout"]
                   + rng.gauss(0, 0.3))
        # A smooth floor (no clamping): float metrics rarely tie, and a page sorted by
        # one reads its ties (ORDER BY value, then newest first) in full.
        floor = 0.02 + 0.4 * math.log1p(math.exp(quality))
        loss = (rng.uniform(2.1, 2.5), floor)
        acc = (rng.uniform(0.05, 0.15), 1.0 - floor / (1.5 + floor))
        val_loss = (rng.uniform(2.1, 2.5), floor * rng.uniform(1.0, 1.6))
        val_acc = (rng.uniform(0.05, 0.15), max(0.0, acc[1] - rng.uniform(0, 0.1)))
        lr_sched = (flags["lr"], flags["lr"] * 0.01)
        grad = (rng.lognormvariate(1, 0.5), rng.lognormvariate(-1, 0.5))
        tput = (rng.uniform(100, 5000),) * 2
        f1 = (rng.uniform(0.0, 0.1), val_acc[1] * rng.uniform(0.9, 1.0))
        auc = (rng.uniform(0.45, 0.55), 0.5 + val_acc[1] / 2)
        etime = (rng.uniform(1, 100),) * 2
        stats = (loss, acc, val_loss, val_acc, lr_sched, grad, tput, f1, auc, etime)
        if status == "error" and rng.random() < 0.3:
            stats = stats[:5]  # crashed early: fewer keys
        row = (rid, run_id, op, status, created, started, stopped,
               0 if status == "completed" else 1, "", "", 0, parent, None,
               "host%d" % rng.randrange(20), "user", None, deleted)
        yield row, flags, stats


def build(path, n_runs, progress=True, seed=0):
    """Write the corpus of ``n_runs`` runs into ``path``/index.db (replacing it)."""
    import shutil

    from rundb.index.db import open_index

    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.join(path, "runs"))
    db_path = os.path.join(path, "index.db")
    open_index(db_path).close()  # the current schema, through the migrations
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -400000")
    # Secondary indexes are dropped for the bulk load and made again at the end (a sort
    # each, faster than keeping them current row by row); the schema is the same after.
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('run', 'run_flag', 'run_attr', 'scalar_stat', 'scalar_point')"
    ).fetchall()
    for name, _sql in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.executemany("INSERT INTO flag_name (id, name) VALUES (?, ?)",
                     list(enumerate(FLAGS, 1)))
    conn.executemany("INSERT INTO scalar_key (id, prefix, tag) VALUES (?, ?, ?)",
                     [(i, p, t) for i, (p, t) in enumerate(KEYS, 1)])
    rng = random.Random(f"scale-{seed}")
    start = time.perf_counter()
    runs, flags, stats, attrs = [], [], [], []
    conn.execute("BEGIN")
    for row, fl, st in _run_rows(n_runs, rng):
        rid = row[0]
        runs.append(row)
        for j, name in enumerate(FLAGS, 1):
            v = fl[name]
            flags.append((rid, j, v, type(v).__name__))
        for k, (first, last) in enumerate(st, 1):
            lo, hi = min(first, last), max(first, last)
            first_lo = first <= last
            stats.append((rid, k, first, 0, last, POINTS - 1,
                          lo, 0 if first_lo else POINTS - 1, hi, POINTS - 1 if first_lo else 0,
                          POINTS, (first + last) * POINTS / 2))
        attrs.append((rid, "cmd", '["python", "train.py"]'))
        attrs.append((rid, "random_seed", str(fl["seed"])))
        attrs.append((rid, "platform", '"Linux-x86_64"'))
        if len(runs) >= _CHUNK:
            _flush(conn, runs, flags, stats, attrs)
            if progress:
                _progress(rid, n_runs, start, "runs  ")
    _flush(conn, runs, flags, stats, attrs)
    conn.execute("COMMIT")
    if progress:
        _progress(n_runs, n_runs, start, "runs  ")
    # 10 points a key, linear from the first value to the last (so the summaries hold).
    t0 = time.perf_counter()
    step = 50_000
    for lo in range(1, n_runs + 1, step):
        conn.execute("BEGIN")
        conn.execute(
            "WITH RECURSIVE steps(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM steps "
            f"WHERE i < {POINTS - 1}) "
            "INSERT INTO scalar_point (rid, key, step, value, time) "
            "SELECT s.rid, s.key, steps.i, "
            f"s.first_val + (s.last_val - s.first_val) * steps.i / {POINTS - 1}.0, "
            "r.started / 1e6 + 60.0 * steps.i "
            "FROM scalar_stat s JOIN run r ON r.rid = s.rid, steps "
            "WHERE s.rid >= ? AND s.rid < ? ORDER BY s.rid, s.key, steps.i",
            (lo, lo + step))
        conn.execute("COMMIT")
        if progress:
            _progress(min(lo + step - 1, n_runs), n_runs, t0, "points")
    t0 = time.perf_counter()
    for i, (name, sql) in enumerate(indexes, 1):
        conn.execute(sql)
        if progress:
            _progress(i, len(indexes), t0, "indexes")
    # No ANALYZE: a user's index has no statistics either, and the plans must be the same.
    conn.close()
    with open(os.path.join(path, ".complete"), "w") as f:
        f.write(f"{n_runs}\n")
    if progress:
        print(f"built {n_runs:,} runs in {time.perf_counter() - start:.0f} s: {path}",
              file=sys.stderr)


def _flush(conn, runs, flags, stats, attrs):
    conn.executemany(f"INSERT INTO run (rid, id, op, status, created, started, stopped, "
                     "exit_status, label, comment, marked, parent, sourcecode_digest, host, "
                     f"user, pid, deleted) VALUES ({', '.join('?' * 17)})", runs)
    conn.executemany("INSERT INTO run_flag (rid, name, value, type) VALUES (?, ?, ?, ?)", flags)
    conn.executemany(f"INSERT INTO scalar_stat VALUES ({', '.join('?' * 12)})", stats)
    conn.executemany("INSERT INTO run_attr (rid, name, value) VALUES (?, ?, ?)", attrs)
    for rows in (runs, flags, stats, attrs):
        rows.clear()


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["1000"]:
        print(cached_home(int(arg)))
