"""`make bench`: rundb's figures in one table, as ratios measured in the same run.

    .venv/bin/python bench/run.py            # 1,000 and 10,000 runs x 100 steps
    .venv/bin/python bench/run.py --quick    # 1,000 runs only, fewer repeats
    .venv/bin/python bench/run.py --full     # adds 100,000 runs x 10 steps and the optimizers

Corpora are generated once into bench/.work/ (ignored by git) and reused. Results go to
bench/results/<date>.json, and the table into docs/performance.md between its markers.
Absolute seconds on a shared 2-core machine are noisy; the ratios are what we track.
"""

import argparse
import datetime
import json
import os
import platform
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import bench_cli  # noqa: E402
import bench_index  # noqa: E402
import bench_ingest  # noqa: E402
import corpus  # noqa: E402
from report import update_doc  # noqa: E402

WORK = corpus.WORK



def read_questions(sizes, repeats):
    rows = []
    for n_runs, steps in sizes:
        home = corpus.cached_home(n_runs, steps)
        env = {"RUNDB_HOME": home}
        for name, ours, floor in bench_cli.questions(os.path.join(home, "index.db")):
            a = bench_cli.time_cmd(ours, env, repeats)
            b = bench_cli.time_cmd(floor, env, repeats)
            rows.append(row(
                f"{name} ({n_runs:,} x {steps})", a["median"], b["median"], "<= 2x floor",
                spread=(a["min"], a["max"]), rss=a["rss_mb"],
                ok=a["ok"] and b["ok"] and bench_cli._same(name, a["out"], b["out"]),
            ))
    return rows


def row(measure, rundb, baseline, goal, ratio=None, spread=None, rss=None, ok=True, unit="s"):
    if ratio is None and baseline:
        ratio = rundb / baseline
    return {"measure": measure, "rundb": rundb, "baseline": baseline, "ratio": ratio,
            "goal": goal, "spread": spread, "rss_mb": rss, "ok": ok, "unit": unit}


def run(quick=False, full=False):
    os.makedirs(WORK, exist_ok=True)
    repeats = 3 if quick else 5
    sizes = [(1000, 100)] if quick else [(1000, 100), (10000, 100)]
    if full:
        sizes.append((100000, 10))
    rows = []
    for r in bench_cli.startup(repeats=10):
        rows.append(row(f"start: {r['question']} vs python -c 'import click'", r["rundb_s"],
                        r["floor_s"], "<= 1.5x", rss=r["rundb_rss_mb"], ok=r["ok"]))
    rows += read_questions(sizes, repeats)
    ingest = bench_ingest.run(n=200_000 if quick else 1_000_000, workdir=WORK)
    rows.append(row(f"ingest: points/s, rundb run -- cat ({ingest['points']:,} lines) vs raw executemany",
                    ingest["rundb_rate"], ingest["raw_rate"], ">= 0.6x", unit="points/s",
                    ok=ingest["ok"] and ingest["indexed"] == ingest["points"]))
    rows.append(row("ingest: the child's own time printing them, under rundb run vs alone",
                    ingest["child_tracked_s"], ingest["child_alone_s"], "< 1.3x", ok=ingest["ok"]))
    rows.append(row("ingest: rundb run wall time incl. indexing to the last point",
                    ingest["rundb_run_wall_s"], None, "", ok=ingest["ok"]))
    ten_k = corpus.cached_home(10000, 100) if not quick else corpus.cached_home(1000, 100)
    hist = bench_index.history_lookup(ten_k)
    rows.append(row(f"optimizer history lookup ({hist['trials']:,} prior trials)",
                    hist["lookup_ms"], None, "< 50 ms", unit="ms"))
    rebuild = bench_index.rebuild_rate(corpus.cached_home(1000, 100), workdir=WORK)
    rows.append(row("index rebuild (1,000 x 100)", rebuild["runs_per_s"], None, "",
                    unit="runs/s"))
    rows.append(row("index rebuild (1,000 x 100)", rebuild["points_per_s"], None, "",
                    unit="points/s"))
    import bench_provenance

    prov = bench_provenance.run()
    rows.append(row("provenance: added to run start (before the child starts)",
                    prov["before_start_ms"], None, "< 50 ms", unit="ms"))
    rows.append(row("provenance: in the runner once the child runs (git + cached packages)",
                    prov["git_ms"] + prov["packages_cached_ms"], None, "< 50 ms", unit="ms"))
    rows.append(row(f"provenance: package set after an install ({prov['packages']} packages)",
                    prov["packages_uncached_ms"], None, "< 50 ms", unit="ms"))
    import bench_sysmetrics

    sysm = bench_sysmetrics.run()
    rows.append(row(f"sys metrics: one sample of a {sysm['processes']}-process tree (every 10 s)",
                    sysm["sample_ms"], None, "< 50 ms", unit="ms", ok=sysm["ok"]))
    import bench_query

    q = bench_query.run()
    rows.append(row("parse + compile, 20-column query", q["parse_compile_ms"], None, "< 2 ms", unit="ms"))
    rows.append(row(f"grouped vs ungrouped query, mean/std per group ({q['group_runs']:,} runs)",
                    q["grouped_ms"], q["ungrouped_ms"], "<= 2x", unit="ms"))
    import bench_tfevents

    tf = bench_tfevents.run(n=200_000, tb_n=10_000, repeat=2)
    rows.append(row("TF event file read: rundb reader vs tensorboard's loader",
                    tf["rundb_scalars_per_s"], tf["tensorboard_scalars_per_s"], ">= 200,000/s",
                    unit="scalars/s"))
    if full:
        import bench_optimizers

        opt = bench_optimizers.run(seeds=10, trials=20)
        rows.append(row("gp vs random: seeds within 5% of the optimum (10 seeds x 20 trials)",
                        opt["gp"]["hits"], opt["random"]["hits"], "gp > random", unit="runs"))
    return rows


_GOAL = re.compile(r"^([<>]=?)\s*([\d,.]+)\s*(x|ms|/s)?")


def goal_met(r):
    """'yes'/'no' against the row's goal ('' when it has none): a ratio for 'Nx' goals,
    else the rundb figure itself; 'gp > random' compares rundb with the baseline."""
    goal = r["goal"]
    if goal == "gp > random":
        return "yes" if r["rundb"] > r["baseline"] else "no"
    m = _GOAL.match(goal)
    if not m:
        return ""
    op, limit, unit = m.group(1), float(m.group(2).replace(",", "")), m.group(3)
    value = r["ratio"] if unit == "x" else r["rundb"]
    if value is None:
        return ""
    ok = {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[op]
    return "yes" if ok else "no"


def fmt(v, unit):
    if v is None:
        return ""
    if unit == "s":
        return f"{v:.3f} s"
    if unit == "ms":
        return f"{v:.2f} ms"
    return f"{v:,.0f}"


def table(rows):
    header = ["measure", "rundb", "baseline", "ratio", "goal", "met", "correct"]
    lines = [header]
    for r in rows:
        lines.append([r["measure"], fmt(r["rundb"], r["unit"]), fmt(r["baseline"], r["unit"]),
                      f"{r['ratio']:.2f}x" if r["ratio"] else "", r["goal"], goal_met(r),
                      "yes" if r["ok"] else "NO"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def write_results(rows, text):
    for r in rows:
        r["met"] = goal_met(r)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"{stamp}.json")
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "load": os.getloadavg()}
    with open(path, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    load = ", ".join(f"{x:.1f}" for x in meta["load"])
    update_doc("bench", f"Measured {meta['date']} on {meta['cpus']} cores (load average {load}), "
                        f"Python {meta['python']}:\n\n{text}")
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,000 runs only, fewer repeats")
    p.add_argument("--full", action="store_true", help="add 100,000 runs and the optimizers")
    p.add_argument("--scale", action="store_true",
                   help="instead: 1,000 to 1,000,000 runs (bench/scale.py, make bench-scale); "
                        "arguments after --scale go to it")
    args, rest = p.parse_known_args()
    if args.scale:
        import scale

        return scale.main(rest)
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    rows = run(quick=args.quick, full=args.full)
    text = table(rows)
    print(text)
    print(f"\nwritten: {write_results(rows, text)}")


if __name__ == "__main__":
    main()
