"""`make bench-before-after`: start-up and `compare --csv -` of two versions, side by side.

    .venv/bin/python bench/before_after.py --before 2b8902b [--after HEAD] [--home HOME]

Each version's sources (``git archive`` of the ref) run from a temporary directory through
``PYTHONPATH`` with this virtualenv's interpreter and packages, so the two differ only in
rundb's own code. The index is the 10,000-run corpus (bench/.work, or ``--home``); the
older version gets a copy brought down to its schema (tables and columns it does not know
dropped, its ``user_version``), through SQLite's backup API. Runs alternate A, B, A, B
so that load on a shared machine falls on both alike; medians of ``--repeats`` runs.
"""

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import corpus  # noqa: E402
import timing  # noqa: E402


def sources(ref, dest):
    """The rundb and rundb_cli packages of ``ref`` under ``dest`` (returned)."""
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.run(["git", "-C", REPO, "archive", ref, "rundb", "cli"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    # (every command runs outside this repository: `python -m`/`-c` import from the cwd first)
    os.symlink("cli", os.path.join(dest, "rundb_cli"))
    return dest


def env_for(src, home):
    return {"PYTHONPATH": src, "RUNDB_HOME": home, "PYTHONDONTWRITEBYTECODE": ""}


def home_for(src, corpus_home, dest):
    """A home whose index is ``corpus_home``'s, at the schema the code in ``src`` knows."""
    os.makedirs(os.path.join(dest, "runs"), exist_ok=True)
    probe = os.path.join(dest, "probe.db")
    subprocess.run([sys.executable, "-c",
                    "import sys; from rundb.index.db import open_index; "
                    "open_index(sys.argv[1]).close()", probe],
                   env={**os.environ, "PYTHONPATH": src}, cwd=dest, check=True)
    want = sqlite3.connect(probe)
    version = want.execute("PRAGMA user_version").fetchone()[0]
    tables = {name: [row[1] for row in want.execute(f'PRAGMA table_info("{name}")')]
              for (name,) in want.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    want.close()
    src_db = sqlite3.connect(f"file:{os.path.join(corpus_home, 'index.db')}?mode=ro", uri=True)
    path = os.path.join(dest, "index.db")
    out = sqlite3.connect(path, isolation_level=None)
    src_db.backup(out)
    src_db.close()
    have = [name for (name,) in out.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for name in have:
        if name not in tables:
            out.execute(f'DROP TABLE "{name}"')
            continue
        for col in [row[1] for row in out.execute(f'PRAGMA table_info("{name}")')]:
            if col not in tables[name]:
                out.execute(f'ALTER TABLE "{name}" DROP COLUMN "{col}"')
    out.execute(f"PRAGMA user_version = {version}")
    out.execute("PRAGMA journal_mode = WAL")
    out.close()
    os.unlink(probe)
    return dest


def measure(cases, repeats):
    """{(case, side): [seconds]}: each command run once per round, A then B."""
    times = {}
    for _ in range(repeats):
        for name, side, argv, env in cases:
            # cwd: not this repository, whose rundb/ `python -m` would import first
            t = timing.time_cmd(argv, env, repeats=1, warmup=0, cwd=env.get("RUNDB_HOME"))
            assert t["ok"], (name, side, argv)
            times.setdefault((name, side), []).append(t["median"])
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="2b8902b", help="git ref of the older version")
    parser.add_argument("--after", default="HEAD", help="git ref of the newer version")
    parser.add_argument("--home", help="a rundb home with the runs to compare "
                                       "(default: the 10,000-run corpus)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    import statistics

    corpus_home = args.home or corpus.cached_home(10000, 100)
    with tempfile.TemporaryDirectory(prefix="rundb-before-after-") as tmp:
        src = {side: sources(ref, os.path.join(tmp, side, "src"))
               for side, ref in (("before", args.before), ("after", args.after))}
        home = {side: home_for(src[side], corpus_home, os.path.join(tmp, side, "home"))
                for side in src}
        main_cmd = [sys.executable, "-m", "rundb_cli.main"]
        cases = [("python -c 'import click'", "floor", [sys.executable, "-c", "import click"], {})]
        for side in ("before", "after"):
            env = env_for(src[side], home[side])
            cases.append(("rundb --help", side, [*main_cmd, "--help"], env))
        for side in ("before", "after"):
            env = env_for(src[side], home[side])
            cases.append(("compare --csv - (10,000 runs)", side, [*main_cmd, "compare", "--csv", "-"], env))
        for name, side, argv_, env in cases:  # warm-up (and .pyc) for each
            timing.time_cmd(argv_, env, repeats=1, warmup=0, cwd=env.get("RUNDB_HOME"))
        times = measure(cases, args.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med[("python -c 'import click'", "floor")]
    lines = [f"before = {args.before}, after = {args.after}; medians of {args.repeats} "
             "alternating runs",
             "",
             "| measure | before (s) | after (s) | after / before | vs import click (before, after) |",
             "| --- | ---: | ---: | ---: | --- |"]
    for name in ("rundb --help", "compare --csv - (10,000 runs)"):
        b, a = med[(name, "before")], med[(name, "after")]
        lines.append(f"| {name} | {b:.3f} | {a:.3f} | {a / b:.2f}x | "
                     f"{b / floor:.2f}x, {a / floor:.2f}x |")
    lines.append(f"| python -c 'import click' | {floor:.3f} | | | |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
