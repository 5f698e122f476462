"""`make bench-scale` (bench/run.py --scale): page and whole-table questions at 1,000 to
1,000,000 runs, rundb against hand-written SQL through sqlite3 (the floor), whole process
against whole process, with each process's peak RSS.

    .venv/bin/python bench/scale.py                      # 1k, 10k, 100k, 1M runs
    .venv/bin/python bench/scale.py --sizes 1000 10000   # fewer sizes
    .venv/bin/python bench/scale.py --repeats 3 --no-doc

The corpora are indexes written straight into bench/.cache/scale-N/index.db by
bench/scale_corpus.py (no run directories: every question here reads the index only);
the 1,000,000-run one takes about 5 minutes and 6.5 GB once. Each question and its floor
run one after the other, repeats times each, and the median is reported: on this shared
2-core machine the ratio (rundb / floor, same run, the two timed alternately) is the
figure; seconds are noisy. The CPU ratio (user + system time of each process, from wait4)
holds up better when other work shares the machine.

Page questions should cost the same at every size ("x 1k": the time at this size over the
time at 1,000 runs); whole-table questions grow with the runs, within 1.2x of the floor.
"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import scale_corpus  # noqa: E402

SIZES = (1_000, 10_000, 100_000, 1_000_000)
BIN = os.path.dirname(sys.executable)

_CONNECT = "import sqlite3, sys\nconn = sqlite3.connect(sys.argv[1])\n"

FLOOR_SELECT = _CONNECT + r'''
row = conn.execute("SELECT r.id FROM scalar_stat s JOIN run r ON r.rid = s.rid "
                   "WHERE s.key = (SELECT id FROM scalar_key WHERE tag = 'loss') "
                   "AND s.last_val IS NOT NULL AND r.deleted = 0 "
                   "ORDER BY s.last_val LIMIT 1").fetchone()
print(row[0])
'''

FLOOR_RUNS = _CONNECT + r'''
import time
where = "deleted = 0" + (" AND op = ?" if len(sys.argv) > 2 else "")
rows = conn.execute("SELECT id, op, started, status, label FROM run WHERE " + where +
                    " ORDER BY created DESC, rid DESC LIMIT 20", sys.argv[2:]).fetchall()
for i, (id_, op, started, status, label) in enumerate(rows, 1):
    print(f"[{i}:{id_[:8]}]  {op}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started / 1e6))}  {status}  {label}")
'''

FLOOR_FILTER = _CONNECT + r'''
import time
lr = conn.execute("SELECT id FROM flag_name WHERE name = 'lr'").fetchone()[0]
rows = conn.execute("SELECT r.id, r.op, r.started, r.status, r.label FROM run r "
                    "WHERE r.deleted = 0 AND (SELECT f.value FROM run_flag f "
                    "WHERE f.rid = r.rid AND f.name = ?) > 0.01 "
                    "ORDER BY r.created DESC, r.rid DESC LIMIT 20", (lr,)).fetchall()
for i, (id_, op, started, status, label) in enumerate(rows, 1):
    print(f"[{i}:{id_[:8]}]  {op}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started / 1e6))}  {status}  {label}")
'''

# The top N by a scalar with every flag and scalar of those runs, as CSV.
FLOOR_TOP = _CONNECT + r'''
import csv
n, key, desc = int(sys.argv[2]), sys.argv[3], sys.argv[4] == "desc"
rids = [r[0] for r in conn.execute(
    "SELECT s.rid FROM scalar_stat s JOIN run r ON r.rid = s.rid WHERE s.key = "
    "(SELECT id FROM scalar_key WHERE tag = ?) AND s.min_val IS NOT NULL AND r.deleted = 0 "
    "AND instr(r.op, '+') = 0 ORDER BY s.min_val " + ("DESC" if desc else "") + " LIMIT ?",
    (key, n))]
marks = ",".join("?" * len(rids))
runs = {r[0]: r for r in conn.execute(
    f"SELECT rid, id, op, started, stopped, status, label FROM run WHERE rid IN ({marks})", rids)}
flags, stats = {}, {}
for rid, name, value in conn.execute("SELECT f.rid, n.name, f.value FROM run_flag f JOIN flag_name n "
                                     f"ON n.id = f.name WHERE f.rid IN ({marks})", rids):
    flags.setdefault(rid, {})[name] = value
for rid, tag, value in conn.execute("SELECT s.rid, k.tag, s.last_val FROM scalar_stat s JOIN scalar_key k "
                                    f"ON k.id = s.key WHERE s.rid IN ({marks})", rids):
    stats.setdefault(rid, {})[tag] = value
names = sorted({k for f in flags.values() for k in f})
tags = sorted({k for s in stats.values() for k in s})
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["run", "operation", "started", "status", "label", *names, *tags])
for rid in rids:
    _, id_, op, started, stopped, status, label = runs[rid]
    w.writerow([id_[:8], op, started, status, label, *[flags.get(rid, {}).get(k) for k in names],
                *[stats.get(rid, {}).get(t) for t in tags]])
'''

FLOOR_QUERY = _CONNECT + r'''
import csv
rows = conn.execute(
    "SELECT r.id, f.value, s.last_val, a.last_val FROM scalar_stat v JOIN run r ON r.rid = v.rid "
    "LEFT JOIN run_flag f ON f.rid = r.rid AND f.name = (SELECT id FROM flag_name WHERE name = 'lr') "
    "LEFT JOIN scalar_stat s ON s.rid = r.rid AND s.key = (SELECT id FROM scalar_key WHERE tag = 'loss') "
    "LEFT JOIN scalar_stat a ON a.rid = r.rid AND a.key = (SELECT id FROM scalar_key WHERE tag = 'acc') "
    "WHERE v.key = (SELECT id FROM scalar_key WHERE tag = 'val_loss') AND v.min_val IS NOT NULL "
    "AND r.deleted = 0 ORDER BY v.min_val LIMIT 20").fetchall()
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["run", "lr", "loss", "acc"])
w.writerows(rows)
'''

# Every run's flags, the loss's last step and last scalar values, streamed as CSV (the
# whole-table floor: what compare --csv prints).
FLOOR_COMPARE = _CONNECT + r'''
import csv, time
names = [r[0] for r in conn.execute("SELECT name FROM flag_name ORDER BY name")]
keys = conn.execute("SELECT id, tag FROM scalar_key ORDER BY tag").fetchall()
flag_ids = dict(conn.execute("SELECT name, id FROM flag_name"))
tags = [t for _k, t in keys]
step = tags.index("loss") if "loss" in tags else 0  # rundb's step column: the loss's last step
cols = ", ".join([f"f{i}.value" for i in range(len(names))] + [f"s{step}.last_step"] +
                 [f"s{i}.last_val" for i in range(len(keys))])
joins = " ".join([f"LEFT JOIN run_flag f{i} ON f{i}.rid = r.rid AND f{i}.name = {flag_ids[n]}"
                  for i, n in enumerate(names)] +
                 [f"LEFT JOIN scalar_stat s{i} ON s{i}.rid = r.rid AND s{i}.key = {k}"
                  for i, (k, _t) in enumerate(keys)])
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["run", "operation", "started", "time", "status", "label", *names, "step", *tags])
for row in conn.execute(f"SELECT r.id, r.op, r.started, r.stopped, r.status, r.label, {cols} "
                        f"FROM run r {joins} WHERE r.deleted = 0 AND instr(r.op, '+') = 0 "
                        "ORDER BY r.created DESC, r.rid DESC"):
    id_, op, started, stopped, status, label = row[:6]
    secs = int((stopped - started) / 1e6)
    w.writerow([id_[:8], op, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started / 1e6)),
                f"{secs // 3600}:{secs % 3600 // 60:02d}:{secs % 60:02d}", status, label, *row[6:]])
'''

# Every table's rows copied into a new file, then its indexes and views (what export --sql
# writes for all runs).
FLOOR_SQL = _CONNECT + r'''
out = sqlite3.connect(sys.argv[2])
out.execute("PRAGMA journal_mode = OFF"); out.execute("PRAGMA synchronous = OFF")
out.execute("ATTACH ? AS src", (sys.argv[1],))
for (sql,) in out.execute("SELECT sql FROM src.sqlite_master WHERE type = 'table'").fetchall():
    out.execute(sql)
for (name,) in out.execute("SELECT name FROM src.sqlite_master WHERE type = 'table'").fetchall():
    out.execute(f"INSERT INTO main.{name} SELECT * FROM src.{name}")
for (sql,) in out.execute("SELECT sql FROM src.sqlite_master WHERE type IN ('index', 'view') "
                          "AND sql IS NOT NULL").fetchall():
    out.execute(sql)  # the indexes and views an index needs, made after the rows
out.commit()
'''


def page_questions(index):
    """(name, rundb argv, floor argv): questions that print a page."""
    py = sys.executable
    op = scale_corpus.op_name(1)
    return [
        ("select --min loss", ["select", "--min", "loss"], [py, "-c", FLOOR_SELECT, index]),
        ("runs -n 20", ["runs", "-n", "20"], [py, "-c", FLOOR_RUNS, index]),
        (f"runs -o {op} -n 20", ["runs", "-o", op, "-n", "20"],
         [py, "-c", FLOOR_RUNS, index, op]),
        ("runs -F '=lr > 0.01' -n 20", ["runs", "-F", "=lr > 0.01", "-n", "20"],
         [py, "-c", FLOOR_FILTER, index]),
        ("compare --min 'min loss' --top 20 --csv -",
         ["compare", "--min", "min loss", "--top", "20", "--csv", "-"],
         [py, "-c", FLOOR_TOP, index, "20", "loss", "asc"]),
        ("query ... order by min val_loss limit 20",
         ["query", "--csv", "-",
          "select .run, =lr, loss, acc order by min val_loss limit 20"],
         [py, "-c", FLOOR_QUERY, index]),
    ]


def table_questions(index, tmp):
    py = sys.executable
    return [
        ("compare --csv -", ["compare", "--csv", "-"], [py, "-c", FLOOR_COMPARE, index]),
        ("export --csv -", ["export", "--csv", "-", "-y"], [py, "-c", FLOOR_COMPARE, index]),
        ("export --sql FILE", ["export", "--sql", os.path.join(tmp, "out.db"), "-y"],
         [py, "-c", FLOOR_SQL, index, os.path.join(tmp, "floor.db")]),
    ]


def run_once(argv, env):
    """(seconds, CPU seconds, peak RSS in MB, exit status, stdout bytes) of one process."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=null)
        size = 0
        while True:
            chunk = proc.stdout.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
        _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode,
            size)


def measure_pair(ours, floor, env, repeats, cleanup=(), warmup=1):
    """Time ``ours`` and ``floor`` alternately (ours, floor, ours, ...), so that a change in
    the machine's load falls on both sides of the ratio; the first ``warmup`` rounds warm
    the page cache and are not counted."""
    sides = [ours, floor]
    stats = [{"times": [], "cpu": [], "rss_mb": 0.0, "ok": True, "bytes": 0} for _ in sides]
    for i in range(repeats + warmup):
        for argv, st in zip(sides, stats):
            for path in cleanup:
                if os.path.exists(path):
                    os.remove(path)
            t, cpu, r, code, size = run_once(argv, env)
            st["ok"] = st["ok"] and code == 0
            if i >= warmup:
                st["times"].append(t)
                st["cpu"].append(cpu)
                st["rss_mb"] = max(st["rss_mb"], r)
                st["bytes"] = size
    return [{"median": statistics.median(st["times"]), "cpu": statistics.median(st["cpu"]),
             "rss_mb": st["rss_mb"], "ok": st["ok"], "bytes": st["bytes"]} for st in stats]


def startup(repeats):
    """Fixed costs: ``rundb --help`` against ``python -c "import click"``, and the
    interpreter alone."""
    env = dict(os.environ)
    rundb = os.path.join(BIN, "rundb")
    rows = []
    for name, ours, floor in (
            ("rundb --help (vs import click)", [rundb, "--help"],
             [sys.executable, "-c", "import click"]),
            ("python -c 'import click' (vs python -c pass)",
             [sys.executable, "-c", "import click"], [sys.executable, "-c", "pass"])):
        a, b = measure_pair(ours, floor, env, repeats)
        rows.append({"kind": "startup", "question": name, "runs": 0, "rundb_s": a["median"],
                     "floor_s": b["median"], "ratio": a["median"] / b["median"],
                     "cpu_ratio": a["cpu"] / max(b["cpu"], 1e-9), "vs_first": None,
                     "rss_mb": a["rss_mb"], "floor_rss_mb": b["rss_mb"],
                     "ok": a["ok"] and b["ok"], "bytes": a["bytes"]})
        print(_line(rows[-1]), file=sys.stderr, flush=True)
    return rows


def run(sizes=SIZES, repeats=5, whole_repeats=1, tables=True, skip=(), only=None):
    import re

    rows = startup(repeats) if only is None else []
    base = {}
    for n in sizes:
        home = scale_corpus.cached_home(n)
        index = os.path.join(home, "index.db")
        env = dict(os.environ, RUNDB_HOME=home)
        rundb = os.path.join(BIN, "rundb")
        tmp = os.path.join(scale_corpus.CACHE, f"out-{os.getpid()}")  # one per bench process
        os.makedirs(tmp, exist_ok=True)
        questions = [("page", *q) for q in page_questions(index)]
        if tables:
            questions += [("table", *q) for q in table_questions(index, tmp)]
        for kind, name, ours, floor in questions:
            big = kind == "table" and n >= 100_000
            if (big and name in skip) or (only and not re.search(only, name)):
                continue
            reps = whole_repeats if big else repeats
            cleanup = [os.path.join(tmp, "out.db"), os.path.join(tmp, "floor.db")]
            # Whole-table questions over 100,000+ runs read the index once, cold or not
            # (it is larger than the page cache would keep between the two).
            a, b = measure_pair([rundb, *ours], floor, env, reps, cleanup,
                                warmup=0 if big else 1)
            key = (kind, name)
            if n == sizes[0]:
                base[key] = a["median"]
            rows.append({
                "kind": kind, "question": name, "runs": n, "rundb_s": a["median"],
                "floor_s": b["median"], "ratio": a["median"] / b["median"],
                "cpu_ratio": a["cpu"] / max(b["cpu"], 1e-9),
                "vs_first": a["median"] / base[key] if key in base else None,
                "rss_mb": a["rss_mb"], "floor_rss_mb": b["rss_mb"],
                # whole-table CSV: the floor prints the same bytes (checked at every size)
                "ok": a["ok"] and b["ok"] and (kind != "table" or "csv" not in name
                                               or a["bytes"] == b["bytes"]),
                "bytes": a["bytes"],
            })
            print(_line(rows[-1]), file=sys.stderr, flush=True)
    import shutil

    shutil.rmtree(os.path.join(scale_corpus.CACHE, f"out-{os.getpid()}"), ignore_errors=True)
    return rows


def _line(r):
    vs = f"{r['vs_first']:.2f}x" if r["vs_first"] is not None else "-"
    return (f"| {r['question']} | {r['runs']:,} | {r['rundb_s']:.3f} | {r['floor_s']:.3f} | "
            f"{r['ratio']:.2f}x | {r['cpu_ratio']:.2f}x | {vs} | {r['rss_mb']:.0f} | "
            f"{r['floor_rss_mb']:.0f} |"
            + ("" if r["ok"] else " FAILED |"))


def table(rows, first):
    out = ["| question | runs | rundb (s) | floor (s) | rundb / floor | CPU: rundb / floor | vs "
           f"{first:,} runs | peak RSS (MB) | floor RSS (MB) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for kind in ("startup", "page", "table"):
        for r in sorted((r for r in rows if r["kind"] == kind),
                        key=lambda r: (r["question"], r["runs"])):
            out.append(_line(r))
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--whole-repeats", type=int, default=1,
                   help="repeats of whole-table questions at 100,000 runs and more")
    p.add_argument("--no-tables", action="store_true", help="page questions only")
    p.add_argument("--skip-big", nargs="*", default=[], metavar="QUESTION",
                   help="whole-table questions not to time at 100,000+ runs")
    p.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    p.add_argument("--only", metavar="REGEX", help="only the questions matching REGEX")
    args = p.parse_args(argv)
    rows = run(args.sizes, args.repeats, args.whole_repeats, not args.no_tables,
               args.skip_big, args.only)
    text = table(rows, args.sizes[0])
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"Measured {stamp} on {os.cpu_count()} cores, medians of {args.repeats} runs "
            f"(whole-table questions at 100,000+ runs: {args.whole_repeats}).\n\n" + text)
    print(text)
    if not args.no_doc:
        from report import update_doc

        if not update_doc("scale", text):
            print("docs/performance.md has no scale markers", file=sys.stderr)


if __name__ == "__main__":
    main()
