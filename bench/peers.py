"""rundb against Guild AI and MLflow on the same corpus, whole process against whole process.

Run ``make bench-peers`` (it builds the peer virtualenvs in ``bench/.peers/`` first), or
``.venv/bin/python bench/peers.py [--runs N] [--steps S] [--repeats R]``.

The corpus of :mod:`corpus` is written into a rundb home (through rundb's writer), a Guild
home (Guild 0.9's on-disk layout) and an MLflow SQLite store (through MLflow's client), all
in a temporary directory. Then each command is started as a new process: one warm-up, then
``repeats`` timed runs (median, min and max wall time; peak RSS of the process from GNU
``time``). The commands of one task take turns within each round, so load elsewhere on the
machine weighs on all of them alike. Guild's ``compare`` is also timed once cold, with its
cache removed.

A command that fails (for instance a rundb command not written yet) is recorded with its
error instead of stopping the benchmark. Every answer is checked against the corpus: the
row count of each CSV, and the id each ``select`` prints against the run with the lowest last
loss. Ratios are peer time / rundb time, measured in the same run. Results go to
``bench/results/peers-<date>.json``.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PEERS = os.path.join(BENCH, ".peers")
SCRIPTS = os.path.join(BENCH, "peers")
RESULTS = os.path.join(BENCH, "results")

sys.path.insert(0, BENCH)

import corpus  # noqa: E402
from report import update_doc  # noqa: E402

RUNDB = os.path.join(REPO, ".venv", "bin", "rundb")
PYTHON = sys.executable
GUILD = os.path.join(PEERS, "guild", "bin", "guild")
MLFLOW = os.path.join(PEERS, "mlflow", "bin", "mlflow")
MLFLOW_PY = os.path.join(PEERS, "mlflow", "bin", "python")
#: GNU time, for each command's own peak RSS; without it, wait4's figure (an upper bound)
TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run(n_runs=1000, steps=100, repeats=5, seed=0, workdir=None):
    """Build the three stores and time every command; return the results as a dict.

    :param workdir: where the stores go (kept; reused when they hold the same corpus);
        default a temporary directory (removed)
    """
    tmp = None
    if workdir is None:
        tmp = workdir = tempfile.mkdtemp(prefix="rundb-peers-")
    try:
        return _run(n_runs, steps, repeats, seed, os.path.abspath(workdir))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(n_runs, steps, repeats, seed, work):
    stores = _reuse(n_runs, steps, seed, work) or _build(n_runs, steps, seed, work)
    specs = list(corpus.generate(n_runs, steps, seed))
    best = min(specs, key=lambda s: s.last("loss"))
    expect = {"rows": n_runs, "min_loss_id": best.id}
    t = _Timer(repeats, work)
    rundb_home, guild_home, mlflow_uri = stores["rundb"], stores["guild"], stores["mlflow"]
    rundb = [RUNDB, "-H", rundb_home]
    guild_cwd = os.path.join(guild_home, "project")
    index_db = os.path.join(rundb_home, "index.db")
    floor = [PYTHON, os.path.join(SCRIPTS, "sqlite_floor.py")]
    ml = [MLFLOW_PY]

    guild = {"env": {"GUILD_HOME": guild_home}, "cwd": guild_cwd}
    rows = []

    def task(name, commands):
        # commands: (tool, argv, options for _Timer, check of the output or None)
        results = t.group([(argv, kw) for _tool, argv, kw, _check in commands])
        for (tool, _argv, _kw, check), result in zip(commands, results):
            result.update(task=name, tool=tool)
            stdout = result.pop("stdout", None)
            if check and result["ok"]:
                result["check"] = check(stdout, expect)
            rows.append(result)

    task("startup", [
        ("python -c pass", [PYTHON, "-c", "pass"], {}, None),
        ("python -c 'import click'", [PYTHON, "-c", "import click"], {}, None),
        ("rundb --help", [RUNDB, "--help"], {}, None),
        ("guild --help", [GUILD, "--help"], guild, None),
        ("mlflow --help", [MLFLOW, "--help"], {}, None),
    ])
    task("runs -n 20", [
        ("rundb", [*rundb, "runs", "-n", "20"], {}, _check_lines(20)),
        ("guild", [GUILD, "runs", "-n", "20"], guild, _check_lines(20)),
    ])
    # Cold: Guild's run index (its cache dir) is rebuilt from every run directory.
    shutil.rmtree(os.path.join(guild_home, "cache"), ignore_errors=True)
    task("compare --csv -", [
        ("guild (cold)", [GUILD, "compare", "--csv", "-"], {**guild, "cold": True}, _check_csv),
    ])
    task("compare --csv -", [
        ("sqlite3 floor", [*floor, "compare", index_db], {}, _check_csv),
        ("rundb", [*rundb, "compare", "--csv", "-"], {}, _check_csv),
        ("guild", [GUILD, "compare", "--csv", "-"], guild, _check_csv),
        ("mlflow search_runs", [*ml, os.path.join(SCRIPTS, "mlflow_compare.py"), mlflow_uri], {},
         _check_csv),
    ])
    task("select --min loss", [
        ("sqlite3 floor", [*floor, "select", index_db], {}, _check_id),
        ("rundb", [*rundb, "select", "--min", "loss"], {}, _check_id),
        ("guild", [GUILD, "select", "--min", "loss"], guild, _check_id),
        ("mlflow search_runs", [*ml, os.path.join(SCRIPTS, "mlflow_select.py"), mlflow_uri], {},
         _check_id),
    ])

    _ratios(rows)
    return {
        "budgets": _budgets(rows),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "n_runs": n_runs,
        "steps": steps,
        "repeats": repeats,
        "seed": seed,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "versions": {"guildai": _version("guild", "guildai"),
                     "mlflow": _version("mlflow", "mlflow")},
        "build_seconds": stores["seconds"],
        "rows": rows,
    }


# --- building the stores ----------------------------------------------------------------------


_STORES = "stores.json"


def _reuse(n_runs, steps, seed, work):
    """The stores already built in ``work`` for this corpus, or None."""
    try:
        with open(os.path.join(work, _STORES)) as f:
            stores = json.load(f)
    except (OSError, ValueError):
        return None
    if stores.get("corpus") != [n_runs, steps, seed]:
        return None
    stores["seconds"]["reused"] = True
    return stores


def _build(n_runs, steps, seed, work):
    """Write the corpus into the three stores under ``work``; MLflow loads in parallel."""
    if os.path.exists(work) and os.listdir(work):
        raise SystemExit(f"{work} is not empty and holds no stores for this corpus")
    rundb_home = os.path.join(work, "rundb")
    guild_home = os.path.join(work, "guild")
    mlflow_dir = os.path.join(work, "mlflow")
    os.makedirs(mlflow_dir, exist_ok=True)
    mlflow_uri = "sqlite:///" + os.path.join(mlflow_dir, "mlflow.db")
    seconds = {}
    ml_log = open(os.path.join(work, "mlflow-load.log"), "w")
    t0 = time.perf_counter()
    ml_proc = None
    if os.path.exists(MLFLOW_PY):
        ml_proc = subprocess.Popen(
            [MLFLOW_PY, os.path.join(SCRIPTS, "mlflow_load.py"), mlflow_uri, str(n_runs),
             str(steps), str(seed)],
            cwd=mlflow_dir, stdout=ml_log, stderr=subprocess.STDOUT,
        )
    t = time.perf_counter()
    corpus.write_rundb(rundb_home, corpus.generate(n_runs, steps, seed))
    seconds["rundb"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    corpus.write_guild(guild_home, corpus.generate(n_runs, steps, seed))
    seconds["guild"] = round(time.perf_counter() - t, 2)
    if ml_proc is not None:
        rc = ml_proc.wait()
        seconds["mlflow"] = round(time.perf_counter() - t0, 2)
        if rc:
            seconds["mlflow_error"] = _tail(os.path.join(work, "mlflow-load.log"))
    ml_log.close()
    stores = {"rundb": rundb_home, "guild": guild_home, "mlflow": mlflow_uri,
              "seconds": seconds, "corpus": [n_runs, steps, seed]}
    if "mlflow_error" not in seconds:
        with open(os.path.join(work, _STORES), "w") as f:
            json.dump(stores, f)
    return stores


# --- timing processes -------------------------------------------------------------------------


class _Timer:
    def __init__(self, repeats, work):
        self.repeats = repeats
        self.work = work
        self.n = 0

    def group(self, commands):
        """Time commands ``[(argv, {env, cwd, cold}), ...]`` side by side.

        Each command runs once as a warm-up, then ``repeats`` rounds run every command once
        in turn, so a burst of load elsewhere on the machine hits them all alike. A ``cold``
        command runs once, timed, with no warm-up. A command that fails is dropped from the
        rounds and reported with its error.
        """
        state = []
        for argv, kw in commands:
            env = dict(os.environ)
            env.update(kw.get("env") or {})
            entry = {"argv": argv, "env": env, "cwd": kw.get("cwd") or self.work,
                     "times": [], "rss": [], "error": None, "out": ""}
            if not os.path.exists(argv[0]):
                entry["error"] = f"{_short([argv[0]])} not found (run make bench-peers)"
            state.append(entry)
        rounds = [None] if any(kw.get("cold") for _, kw in commands) else [
            "warm-up", *range(self.repeats)]
        for r in rounds:
            for entry in state:
                if entry["error"]:
                    continue
                seconds, peak_kb, rc, out, err = self._once(entry["argv"], entry["env"],
                                                            entry["cwd"])
                if rc != 0:
                    entry["error"] = _last_line(err) or f"exit status {rc}"
                    entry["rc"] = rc
                    continue
                entry["out"] = out
                if r != "warm-up":
                    entry["times"].append(seconds)
                    entry["rss"].append(peak_kb)
        return [self._result(entry) for entry in state]

    @staticmethod
    def _result(entry):
        argv = _short(entry["argv"])
        if entry["error"]:
            return {"ok": False, "argv": argv, "rc": entry.get("rc"), "error": entry["error"]}
        times = entry["times"]
        return {
            "ok": True,
            "argv": argv,
            "median": statistics.median(times),
            "min": min(times),
            "max": max(times),
            "times": [round(x, 4) for x in times],
            "rss_mb": round(max(entry["rss"]) / 1024, 1),
            "stdout": entry["out"],
        }

    def _once(self, argv, env, cwd):
        self.n += 1
        out_path = os.path.join(self.work, f"out-{self.n}.txt")
        err_path = os.path.join(self.work, f"err-{self.n}.txt")
        rss_path = os.path.join(self.work, f"rss-{self.n}.txt")
        if TIME:
            # GNU time forks the command from its own small process, so %M is the
            # command's peak RSS alone (about 1 ms more wall time, the same for every tool).
            # wait4 on a child forked or vforked from here would count this process's size.
            argv = [TIME, "-f", "%M", "-o", rss_path, *argv]
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - t0
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
        peak_kb = usage.ru_maxrss
        if TIME:
            with open(rss_path) as f:
                peak_kb = int(f.read().split()[-1])
            os.remove(rss_path)
        with open(out_path, encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(err_path, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        os.remove(out_path)
        os.remove(err_path)
        return seconds, peak_kb, rc, stdout, stderr


def _short(argv):
    """The command line with this checkout's paths made relative (also inside URIs)."""
    return " ".join(os.path.relpath(a, REPO) if os.path.isabs(a) and a.startswith(REPO)
                    else a.replace(REPO + os.sep, "") for a in argv)


def _last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _tail(path):
    with open(path, errors="replace") as f:
        return _last_line(f.read())


# --- checking answers -------------------------------------------------------------------------


def _check_lines(n):
    def check(stdout, expect):
        lines = [line for line in stdout.splitlines() if line.startswith("[")]
        want = min(n, expect["rows"])
        return "ok" if len(lines) == want else f"{len(lines)} runs listed, expected {want}"

    return check


def _check_csv(stdout, expect):
    import csv
    import io

    rows = list(csv.reader(io.StringIO(stdout)))
    got = len(rows) - 1
    if got != expect["rows"]:
        return f"{got} rows, expected {expect['rows']}"
    return f"ok ({len(rows[0])} columns)"


def _check_id(stdout, expect):
    got = stdout.strip().splitlines()[0].strip() if stdout.strip() else ""
    want = expect["min_loss_id"]
    if len(got) >= 8 and want.startswith(got):
        return "ok"
    return f"printed {got!r}, expected {want[:8]}"


# --- reporting --------------------------------------------------------------------------------


def _ratios(rows):
    base = {r["task"]: r for r in rows if r["tool"] == "rundb" and r.get("ok")}
    base["startup"] = next((r for r in rows if r["tool"] == "rundb --help" and r.get("ok")),
                           None)
    for r in rows:
        b = base.get(r["task"])
        if r.get("ok") and b and r is not b:
            r["ratio_to_rundb"] = round(r["median"] / b["median"], 2)


#: ARCHITECTURE.md's budgets: (task, rundb tool, reference tool, limit on rundb / reference)
BUDGETS = (
    ("startup", "rundb --help", "python -c 'import click'", 1.5),
    ("compare --csv -", "rundb", "sqlite3 floor", 2.0),
    ("select --min loss", "rundb", "sqlite3 floor", 2.0),
)


def _budgets(rows):
    found = {(r["task"], r["tool"]): r for r in rows if r.get("ok")}
    out = []
    for task, ours, ref, limit in BUDGETS:
        a, b = found.get((task, ours)), found.get((task, ref))
        ratio = round(a["median"] / b["median"], 2) if a and b else None
        out.append({"task": task, "rundb": ours, "reference": ref, "limit": limit,
                    "ratio": ratio, "within": ratio is not None and ratio <= limit})
    return out


def _version(venv, dist):
    found = glob.glob(os.path.join(PEERS, venv, "lib", "python*", "site-packages",
                                   f"{dist}-*.dist-info"))
    return os.path.basename(found[0])[len(dist) + 1 : -len(".dist-info")] if found else None


def format_table(results):
    """The results as a plain-text table."""
    head = ("task", "tool", "median s", "min-max s", "peak MB", "x rundb", "check")
    lines = []
    for r in results["rows"]:
        if r.get("ok"):
            lines.append((r["task"], r["tool"], f"{r['median']:.3f}",
                          f"{r['min']:.3f}-{r['max']:.3f}", f"{r['rss_mb']:.0f}",
                          f"{r['ratio_to_rundb']:.2f}" if "ratio_to_rundb" in r else "",
                          r.get("check", "")))
        else:
            lines.append((r["task"], r["tool"], "FAILED", "", "", "", r.get("error", "")))
    widths = [max(len(str(row[i])) for row in [head, *lines]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'>' if i in (2, 3, 4, 5) else '<'}{w}}}" for i, w in enumerate(widths))
    out = [
        f"{results['n_runs']} runs x {results['steps']} steps x {len(corpus.TAGS)} scalars, "
        f"{len(corpus.FLAGS)} flags; median of {results['repeats']} after a warm-up "
        f"(guild {results['versions']['guildai']}, mlflow {results['versions']['mlflow']}, "
        f"python {results['machine']['python']})",
        f"stores written in: {results['build_seconds']}",
        fmt.format(*head),
        fmt.format(*("-" * w for w in widths)),
    ]
    prev = None
    for row in lines:
        if prev is not None and row[0] != prev:
            out.append("")
        prev = row[0]
        out.append(fmt.format(*row).rstrip())
    out.append("")
    out.append("budgets (ARCHITECTURE.md), rundb / reference, medians of this run:")
    for b in results["budgets"]:
        ratio = "n/a (failed)" if b["ratio"] is None else f"{b['ratio']:.2f}x"
        verdict = "" if b["ratio"] is None else ("  within" if b["within"] else "  OVER")
        out.append(f"  {b['task']}: {b['rundb']} / {b['reference']} = {ratio} "
                   f"(limit {b['limit']}x){verdict}")
    return "\n".join(out)


def save(results):
    """Write ``bench/results/peers-<date>.json``; return its path."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"peers-{results['date'][:10]}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=1000, help="runs in the corpus (default 1000)")
    p.add_argument("--steps", type=int, default=100, help="steps per scalar (default 100)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per command (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", help="keep the stores in this directory, and time the stores "
                   "already there when they were built for the same corpus")
    args = p.parse_args(argv)
    results = run(args.runs, args.steps, args.repeats, args.seed, args.workdir)
    text = format_table(results)
    print(text)
    print(f"\nwrote {os.path.relpath(save(results), REPO)}")
    update_doc("peers", f"Measured {results['date']}:\n\n```\n{text}\n```")


if __name__ == "__main__":
    main()
