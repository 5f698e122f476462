"""Export and import rates, each timed as a whole ``rundb`` process (runs/s):

* ``rundb export --sql FILE`` of N runs (every table's rows of the runs, set-based copy);
* ``rundb export --csv FILE`` of N runs (the compare columns, one row per run);
* ``rundb import --guild GUILD_HOME -y`` of 1,000 Guild AI runs (copy, convert, index).

The corpus comes from ``bench/corpus.py``: N runs of op ``train`` with 8 flags and 5 scalars
of ``steps`` points each, written through rundb's own writer path (``new_run`` +
``writer.add_scalars``), and the same kind of runs in Guild AI 0.9's on-disk layout.

``run()`` returns the figures as a dict; ``python bench/bench_export.py [N [STEPS]]``
prints a table.
"""

import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus  # noqa: E402

GUILD_RUNS = 1000


def _rundb(home, *args):
    cmd = [sys.executable, "-m", "rundb_cli.main", "-H", home, *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return seconds


def run(n_runs=10000, steps=100, guild_runs=GUILD_RUNS):
    """Build the corpora in a temporary directory and time the three commands.

    :param n_runs: runs exported with --sql and --csv
    :param steps: points per scalar (5 scalars a run)
    :param guild_runs: Guild AI runs imported
    """
    with tempfile.TemporaryDirectory(prefix="rundb-bench-export-") as tmp:
        home = os.path.join(tmp, "home")
        t0 = time.perf_counter()
        corpus.write_rundb(home, corpus.generate(n_runs, steps))
        corpus_s = time.perf_counter() - t0
        guild_home = os.path.join(tmp, "guild")
        corpus.write_guild(guild_home, corpus.generate(guild_runs, steps, seed=1))

        db = os.path.join(tmp, "runs.db")
        sql_s = _rundb(home, "export", "--sql", db)
        conn = sqlite3.connect(db)
        exported = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        points = conn.execute("SELECT count(*) FROM scalar_point").fetchone()[0]
        conn.close()
        assert exported == n_runs and points == n_runs * steps * len(corpus.TAGS), (
            exported, points)
        sql_mb = os.path.getsize(db) / 1e6

        csv_path = os.path.join(tmp, "runs.csv")
        csv_s = _rundb(home, "export", "--csv", csv_path)
        with open(csv_path) as f:
            csv_rows = sum(1 for _ in f) - 1
        assert csv_rows == n_runs, csv_rows

        target = os.path.join(tmp, "imported")
        guild_s = _rundb(target, "import", "--guild", guild_home, "-y")
        conn = sqlite3.connect(os.path.join(target, "index.db"))
        imported = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        conn.close()
        assert imported == guild_runs, imported

    return {
        "n_runs": n_runs,
        "steps": steps,
        "points": n_runs * steps * len(corpus.TAGS),
        "corpus_seconds": corpus_s,
        "export_sql_seconds": sql_s,
        "export_sql_runs_per_s": n_runs / sql_s,
        "export_sql_mb": round(sql_mb, 1),
        "export_csv_seconds": csv_s,
        "export_csv_runs_per_s": n_runs / csv_s,
        "guild_runs": guild_runs,
        "import_guild_seconds": guild_s,
        "import_guild_runs_per_s": guild_runs / guild_s,
    }


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 10000
    steps = int(argv[2]) if len(argv) > 2 else 100
    r = run(n, steps)
    print(f"corpus: {r['n_runs']:,} runs x 5 scalars x {r['steps']} steps = {r['points']:,} "
          f"points (written in {r['corpus_seconds']:.1f} s)")
    print(f"{'command (whole process)':<36} {'runs':>7} {'seconds':>8} {'runs/s':>9}")
    rows = [
        (f"export --sql ({r['export_sql_mb']} MB)", r["n_runs"], r["export_sql_seconds"],
         r["export_sql_runs_per_s"]),
        ("export --csv", r["n_runs"], r["export_csv_seconds"], r["export_csv_runs_per_s"]),
        ("import --guild", r["guild_runs"], r["import_guild_seconds"],
         r["import_guild_runs_per_s"]),
    ]
    for name, runs, seconds, rate in rows:
        print(f"{name:<36} {runs:>7,} {seconds:>8.2f} {rate:>9,.0f}")


if __name__ == "__main__":
    main(sys.argv)
