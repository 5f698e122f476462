"""The shared PostgreSQL index against the SQLite one, as ratios measured in one run.

    .venv/bin/python bench/bench_pg.py                 # 1,000 and 10,000 runs, ingest, 16 writers
    .venv/bin/python bench/bench_pg.py --quick         # 1,000 runs, fewer points
    RUNDB_BENCH_PG=postgresql://USER@HOST:PORT/postgres  (default: the local server)

* reads: ``rundb compare --csv -`` and ``rundb select --min loss`` over the bench corpus
  (bench/corpus.py), its SQLite home pushed into a fresh PostgreSQL database with
  ``rundb index push``; each next to the hand-written SQL floor on the same backend
  (a plain Python script with sqlite3 or psycopg). The outputs of the two backends must
  be identical;
* ingest: ``rundb run -- cat FILE`` of N ``loss: x (step n)`` lines into each backend;
* concurrency: 16 ``rundb run`` processes of 20,000 points each into one PostgreSQL
  index, then 4 concurrent grid batches (4 trials each); points counted, ``index check``.

The table goes into docs/performance.md between ``<!-- pg:begin -->`` and ``<!-- pg:end -->``.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import bench_cli  # noqa: E402
import corpus  # noqa: E402
from timing import python_cmd, rundb_cmd, time_cmd  # noqa: E402

SERVER = os.environ.get("RUNDB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

# The floors of bench_cli, with psycopg on the PostgreSQL index (same SQL, PG spelling).
FLOOR_COMPARE_PG = bench_cli.FLOOR_COMPARE.replace(
    "import csv, sqlite3, sys, time\nconn = sqlite3.connect(sys.argv[1])",
    "import csv, psycopg, sys, time\nconn = psycopg.connect(sys.argv[1])",
).replace("instr(op, '+') = 0", "strpos(op, '+') = 0")
FLOOR_SELECT_PG = bench_cli.FLOOR_SELECT.replace(
    "import sqlite3, sys\nconn = sqlite3.connect(sys.argv[1])",
    "import psycopg, sys\nconn = psycopg.connect(sys.argv[1])",
)


def database(name, fresh=False):
    """The URL of database *name* on the bench server (created if missing)."""
    import psycopg
    from urllib.parse import urlsplit, urlunsplit

    with psycopg.connect(SERVER, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(SERVER)
    return urlunsplit(parts._replace(path="/" + name))


def shared_corpus(n_runs, steps):
    """(SQLite home, PostgreSQL URL, seconds the push took or None when cached)."""
    home = corpus.cached_home(n_runs, steps)
    url = database(f"rundb_bench_{n_runs}_{steps}")
    from rundb.home import Home
    from rundb.index.db import open_index

    with open_index(url) as ix:
        have = ix.conn.execute("SELECT count(*) FROM run").fetchone()[0]
    if have == n_runs:
        return home, url, None
    start = time.perf_counter()
    from rundb import api

    api.push_index(Home(home), url)
    return home, url, time.perf_counter() - start


def reads(sizes, repeats):
    rows = []
    for n_runs, steps in sizes:
        home, url, push_s = shared_corpus(n_runs, steps)
        index_path = os.path.join(home, "index.db")
        sq_env = {"RUNDB_HOME": home, "RUNDB_INDEX": ""}
        pg_env = {"RUNDB_HOME": home, "RUNDB_INDEX": url}
        for name, args, sq_floor, pg_floor in (
            ("compare --csv -", ("compare", "--csv", "-"),
             python_cmd("-c", bench_cli.FLOOR_COMPARE, index_path),
             python_cmd("-c", FLOOR_COMPARE_PG, url)),
            ("select --min loss", ("select", "--min", "loss"),
             python_cmd("-c", bench_cli.FLOOR_SELECT, index_path),
             python_cmd("-c", FLOOR_SELECT_PG, url)),
        ):
            pg = time_cmd(rundb_cmd(*args), pg_env, repeats)
            sq = time_cmd(rundb_cmd(*args), sq_env, repeats)
            pgf = time_cmd(pg_floor, None, repeats)
            sqf = time_cmd(sq_floor, None, repeats)
            same = pg["ok"] and sq["ok"] and pg["out"] == sq["out"]
            rows.append({
                "measure": f"{name} ({n_runs:,} x {steps})",
                "pg": pg["median"], "sqlite": sq["median"],
                "pg_floor": pgf["median"], "sqlite_floor": sqf["median"],
                "same_output": same,
            })
        if push_s is not None:
            rows.append({"measure": f"index push ({n_runs:,} x {steps})", "pg": push_s})
    return rows


def push_pull(n_runs, steps):
    """`index push` of the SQLite corpus into a fresh database, again (must change
    nothing), `index pull` into an empty home; `compare --csv -` identical on all three."""
    home = corpus.cached_home(n_runs, steps)
    url = database(f"rundb_bench_push_{n_runs}", fresh=True)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty")
        env = {"RUNDB_INDEX": ""}
        for name, argv in (("push", rundb_cmd("-H", home, "index", "push", url)),
                           ("push again", rundb_cmd("-H", home, "index", "push", url)),
                           ("pull", rundb_cmd("-H", empty, "index", "pull", url))):
            r = time_cmd(argv, env, repeats=1, warmup=0)
            out[name] = {"seconds": r["median"], "ok": r["ok"]}
        again = subprocess.run(rundb_cmd("-H", home, "index", "push", url), capture_output=True,
                               text=True, env=dict(os.environ, RUNDB_INDEX=""))
        out["push again"]["unchanged"] = again.stderr.strip().endswith(
            f"0 added, 0 updated, {n_runs} unchanged")
        csvs = [subprocess.run(rundb_cmd("-H", h, "compare", "--csv", "-"), capture_output=True,
                               text=True, env=dict(os.environ, RUNDB_INDEX=i)).stdout
                for h, i in ((home, ""), (home, url), (empty, ""))]
        out["identical"] = csvs[0] == csvs[1] == csvs[2] and csvs[0].count("\n") == n_runs + 1
    return out


def ingest(n):
    """points/s of ``rundb run -- cat FILE`` into a fresh PostgreSQL index and SQLite home."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        lines = os.path.join(tmp, "lines.txt")
        with open(lines, "w") as f:
            for i in range(n):
                f.write(f"loss: {1.0 / (i + 1):.6f} (step {i})\n")
        for backend in ("sqlite", "postgresql"):
            url = database("rundb_bench_ingest", fresh=True) if backend == "postgresql" else ""
            home = os.path.join(tmp, f"home-{backend}")
            env = {"RUNDB_HOME": home, "RUNDB_INDEX": url}
            start = time.perf_counter()
            r = time_cmd(rundb_cmd("run", "-y", "--", "cat", lines), env, repeats=1, warmup=0)
            elapsed = time.perf_counter() - start
            out[backend] = {"seconds": elapsed, "points_per_s": n / elapsed, "ok": r["ok"]}
            count = _points(url or os.path.join(home, "index.db"))
            out[backend]["indexed"] = count
    return out


def _points(location):
    from rundb.index.db import open_index

    with open_index(location) as ix:
        return ix.conn.execute("SELECT count(*) FROM scalar_point").fetchone()[0]


MANY = """
n = 20000
seed = 0
for i in range(n):
    print(f"loss: {1.0 / (i + 1 + seed)} (step {i})")
"""


def concurrency(procs=16, points=20000, batches=4, trials=4):
    url = database("rundb_bench_concurrency", fresh=True)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = os.path.join(tmp, "p")
        os.makedirs(project)
        with open(os.path.join(project, "many.py"), "w") as f:
            f.write(MANY)
        home = os.path.join(tmp, "home")
        env = dict(os.environ, RUNDB_HOME=home, RUNDB_INDEX=url)
        for what, argv, expected in (
            (f"{procs} runs x {points:,} points",
             [[*rundb_cmd("run", "-y", "many.py", f"n={points}", f"seed={i}")]
              for i in range(procs)], procs * points),
            (f"{batches} grid batches x {trials} trials x {points:,} points",
             [[*rundb_cmd("run", "-y", "many.py", f"n={points}",
                          "seed=[" + ",".join(str(100 * b + t) for t in range(trials)) + "]")]
              for b in range(batches)], batches * trials * points),
        ):
            before = _points(url)
            start = time.perf_counter()
            running = [subprocess.Popen(a, cwd=project, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE) for a in argv]
            ok = all(p.wait() == 0 for p in running)
            elapsed = time.perf_counter() - start
            indexed = _points(url) - before
            check = subprocess.run(rundb_cmd("index", "check"), env=env, capture_output=True,
                                   text=True)
            out[what] = {"seconds": elapsed, "indexed": indexed, "expected": expected,
                         "ok": ok, "check_clean": check.returncode == 0,
                         "points_per_s": indexed / elapsed}
    return out


def table(reads_rows, ingest_row, conc):
    lines = [
        "| measure | PostgreSQL | SQLite | PG / SQLite | PG floor | SQLite floor | PG / PG floor | same output |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in reads_rows:
        if "sqlite" not in r:
            lines.append(f"| {r['measure']} | {r['pg']:.2f} s | | | | | | |")
            continue
        lines.append(
            f"| {r['measure']} | {r['pg']:.3f} s | {r['sqlite']:.3f} s | "
            f"{r['pg'] / r['sqlite']:.2f}x | {r['pg_floor']:.3f} s | {r['sqlite_floor']:.3f} s | "
            f"{r['pg'] / r['pg_floor']:.2f}x | {'yes' if r['same_output'] else 'NO'} |")
    if ingest_row:
        pg, sq = ingest_row["postgresql"], ingest_row["sqlite"]
        lines.append(
            f"| ingest, `rundb run -- cat` of {pg['indexed']:,} points | "
            f"{pg['points_per_s']:,.0f} points/s | {sq['points_per_s']:,.0f} points/s | "
            f"{pg['points_per_s'] / sq['points_per_s']:.2f}x | | | | "
            f"{'yes' if pg['indexed'] == sq['indexed'] else 'NO'} |")
    out = ["\n".join(lines), ""]
    if conc:
        out.append("| concurrent writers into one PostgreSQL index | seconds | points indexed | "
                   "points/s | index check |")
        out.append("| --- | --- | --- | --- | --- |")
        for what, c in conc.items():
            out.append(f"| {what} | {c['seconds']:.1f} | {c['indexed']:,} of {c['expected']:,} | "
                       f"{c['points_per_s']:,.0f} | {'clean' if c['check_clean'] else 'DIFFERS'} |")
    return "\n".join(out)


def update_doc(text):
    path = os.path.join(REPO, "docs", "performance.md")
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    begin, end = "<!-- pg:begin -->", "<!-- pg:end -->"
    block = f"{begin}\n{text}\n{end}"
    if begin in doc:
        doc = doc.split(begin)[0] + block + doc.split(end, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    os.makedirs(corpus.WORK, exist_ok=True)
    sizes = [(1000, 100)] if args.quick else [(1000, 100), (10000, 100)]
    repeats = 3 if args.quick else 5
    rows = reads(sizes, repeats)
    pp = push_pull(1000, 100)
    print(f"push/pull 1,000 runs: {pp}", file=sys.stderr)
    ing = ingest(50_000 if args.quick else 200_000)
    conc = concurrency(points=2000 if args.quick else 20000)
    text = table(rows, ing, conc)
    print(text)
    if not args.no_doc:
        update_doc(text)


if __name__ == "__main__":
    main()
