"""rundb's commands against hand-written SQL on the same index file (the floor).

Whole process against whole process: ``rundb compare --csv -`` (all flags and the last
value of every scalar), the same with ``min loss`` added, ``rundb select --min loss``,
``rundb select --min "min loss"`` and ``rundb runs -n 20``, each next to a plain Python
script that answers the same question with sqlite3; and CLI start-up against
``python -c "import click"``.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus  # noqa: E402
from timing import python_cmd, rundb_cmd, time_cmd  # noqa: E402

FLOOR_COMPARE = r'''
import csv, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1])
extra = len(sys.argv) > 2
runs = conn.execute("SELECT rid, id, op, started, stopped, status, label FROM run "
                    "WHERE deleted = 0 AND instr(op, '+') = 0 ORDER BY created DESC, rid DESC").fetchall()
flags, names = {}, set()
for rid, name, value in conn.execute("SELECT f.rid, n.name, f.value FROM run_flag f JOIN flag_name n ON n.id = f.name"):
    flags.setdefault(rid, {})[name] = value
    names.add(name)
stats, tags = {}, set()
sql = "SELECT s.rid, k.tag, s.last_val, s.last_step, s.min_val FROM scalar_stat s JOIN scalar_key k ON k.id = s.key"
for rid, tag, last, step, low in conn.execute(sql):
    stats.setdefault(rid, {})[tag] = (last, step, low)
    tags.add(tag)
names, tags = sorted(names), sorted(tags)
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["run", "operation", "started", "time", "status", "label", *names, "step", *tags]
           + (["min loss"] if extra else []))
for rid, id_, op, started, stopped, status, label in runs:
    f, s = flags.get(rid, {}), stats.get(rid, {})
    secs = int((stopped - started) / 1e6)
    row = [id_[:8], op, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started / 1e6)),
           f"{secs // 3600}:{secs % 3600 // 60:02d}:{secs % 60:02d}", status, label,
           *[f.get(n) for n in names], s.get("loss", (None, None))[1],
           *[s.get(t, (None,))[0] for t in tags]]
    if extra:
        row.append(s.get("loss", (None, None, None))[2])
    w.writerow(row)
'''

FLOOR_SELECT = r'''
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
col = "s.min_val" if len(sys.argv) > 2 else "s.last_val"
row = conn.execute(f"SELECT r.id FROM run r JOIN scalar_stat s ON s.rid = r.rid JOIN scalar_key k "
                   f"ON k.id = s.key WHERE k.tag = 'loss' AND r.deleted = 0 ORDER BY {col} LIMIT 1").fetchone()
print(row[0])
'''

FLOOR_RUNS = r'''
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute("SELECT id, op, started, status, label FROM run WHERE deleted = 0 "
                    "ORDER BY created DESC, rid DESC LIMIT 20").fetchall()
for i, (id_, op, started, status, label) in enumerate(rows, 1):
    print(f"[{i}:{id_[:8]}]  {op}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started / 1e6))}  {status}  {label}")
'''


def build_home(path, n_runs, steps, seed=0):
    start = time.perf_counter()
    corpus.write_rundb(path, corpus.generate(n_runs, steps, seed))
    return time.perf_counter() - start


def questions(index_path):
    """(name, rundb argv, floor argv) for each timed question."""
    return [
        ("runs -n 20", rundb_cmd("runs", "-n", "20"), python_cmd("-c", FLOOR_RUNS, index_path)),
        ("compare --csv -", rundb_cmd("compare", "--csv", "-"),
         python_cmd("-c", FLOOR_COMPARE, index_path)),
        ("compare --csv - -c 'min loss'", rundb_cmd("compare", "--csv", "-", "-c", "min loss"),
         python_cmd("-c", FLOOR_COMPARE, index_path, "min")),
        ("select --min loss", rundb_cmd("select", "--min", "loss"),
         python_cmd("-c", FLOOR_SELECT, index_path)),
        ("select --min 'min loss'", rundb_cmd("select", "--min", "min loss"),
         python_cmd("-c", FLOOR_SELECT, index_path, "min")),
    ]


def run_sizes(sizes=((1000, 100), (10000, 100)), repeats=5, workdir=None):
    """Time every question at each (runs, steps) size; returns a list of result dicts."""
    results = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for n_runs, steps in sizes:
            home = os.path.join(tmp, f"home-{n_runs}x{steps}")
            build_s = build_home(home, n_runs, steps)
            env = {"RUNDB_HOME": home}
            index_path = os.path.join(home, "index.db")
            for name, ours, floor in questions(index_path):
                a = time_cmd(ours, env, repeats)
                b = time_cmd(floor, env, repeats)
                results.append({
                    "question": name, "runs": n_runs, "steps": steps, "rundb_s": a["median"],
                    "rundb_spread": [a["min"], a["max"]], "rundb_rss_mb": a["rss_mb"],
                    "floor_s": b["median"], "ratio": a["median"] / b["median"],
                    "ok": a["ok"] and b["ok"], "same_answer": _same(name, a["out"], b["out"]),
                    "corpus_build_s": build_s,
                })
    return results


def _same(name, ours, floor):
    if name.startswith("select"):
        return ours.strip() == floor.strip()
    return len(ours.splitlines()) == len(floor.splitlines())


def startup(repeats=10):
    """``rundb`` and ``rundb --help`` against ``python -c 'import click'``."""
    base = time_cmd(python_cmd("-c", "import click"), repeats=repeats)
    out = []
    for name, argv in (("rundb", rundb_cmd()), ("rundb --help", rundb_cmd("--help"))):
        t = time_cmd(argv, repeats=repeats)
        out.append({"question": name, "rundb_s": t["median"], "floor_s": base["median"],
                    "ratio": t["median"] / base["median"], "rundb_rss_mb": t["rss_mb"], "ok": t["ok"]})
    return out


if __name__ == "__main__":
    for row in startup() + run_sizes(((1000, 100),), repeats=3):
        print(row)
