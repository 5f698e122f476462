"""The notebook API over many runs: ``ipy.runs().compare()`` against pandas on the index.

``run()`` returns the figures as a dict; ``python bench/bench_ipy.py [N_RUNS]`` prints a
table. Goal: ``runs().compare()`` within 2x of the floor.

* floor: the same DataFrame built by hand with ``pandas.read_sql`` on ``index.db``: three
  queries (runs, flags, scalar summaries), two pivots, a join, the typed ``started``
  (local time) and ``time`` columns; no run filter beyond "not deleted, not a batch"
* runs().compare(): the notebook call, in one process after a warm-up (pandas, the
  query compiler and PLY tables already loaded), both steps together
* runs(), compare(): each step alone (compare of a frame already read)

The corpus is bench/corpus.py's (op ``train``, 8 flags, 5 scalars), written through rundb's
own writer into bench/.work/home-<N>x<STEPS>-s0 once and reused (``bench/run.py`` makes the
same homes). Both DataFrames are checked equal before any time is reported.
"""

import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
from timing import best_of  # noqa: E402

def read_sql_compare(index_path):
    """The compare DataFrame built directly with pandas.read_sql (the floor)."""
    import pandas as pd
    from dateutil.tz import tzlocal

    conn = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
    try:
        runs = pd.read_sql(
            "SELECT rid, substr(id, 1, 8) AS run, op AS operation, started, stopped, status, "
            "label FROM run WHERE deleted = 0 AND instr(op, '+') = 0 "
            "ORDER BY created DESC, rid DESC", conn)
        flags = pd.read_sql(
            "SELECT f.rid, n.name, f.value FROM run_flag f JOIN flag_name n ON n.id = f.name "
            "JOIN run r ON r.rid = f.rid WHERE r.deleted = 0 AND instr(r.op, '+') = 0", conn)
        scalars = pd.read_sql(
            "SELECT s.rid, k.tag, s.last_val, s.last_step FROM scalar_stat s "
            "JOIN scalar_key k ON k.id = s.key JOIN run r ON r.rid = s.rid "
            "WHERE r.deleted = 0 AND instr(r.op, '+') = 0 AND k.prefix IN ('', '.rundb')",
            conn)
    finally:
        conn.close()
    flag_cols = flags.pivot(index="rid", columns="name", values="value")
    flag_cols = flag_cols[sorted(flag_cols.columns)].infer_objects()
    values = scalars.pivot(index="rid", columns="tag", values="last_val")
    values = values[sorted(values.columns)]
    step_tag = "loss" if "loss" in values.columns else values.columns[0]
    steps = scalars[scalars["tag"] == step_tag].set_index("rid")["last_step"].rename("step")
    started = (pd.to_datetime(runs["started"], unit="us", utc=True)
               .dt.tz_convert(tzlocal()).dt.tz_localize(None).astype("datetime64[ns]"))
    elapsed = pd.to_timedelta((runs["stopped"] - runs["started"]).astype("float64"), unit="us")
    frame = runs[["rid", "run", "operation"]].assign(
        started=started, time=elapsed.astype("timedelta64[ns]"),
        status=runs["status"], label=runs["label"])
    frame = (frame.join(flag_cols, on="rid").join(steps, on="rid").join(values, on="rid")
             .drop(columns="rid").reset_index(drop=True))
    frame.columns.name = None
    return frame


def run(n_runs=10000, steps=10, repeats=5):
    """Time ``ipy.runs().compare()`` and its floor over ``n_runs`` runs; return figures.

    :returns: dict with seconds (``compare``, ``runs``, ``compare_only``, ``floor``),
        ``ratio`` (compare / floor), ``rows`` and ``columns`` of the DataFrame.
    """
    import pandas as pd

    from rundb import ipy

    home = corpus.cached_home(n_runs, steps)
    index_path = os.path.join(home, "index.db")
    with ipy.use_home(home):
        ours = ipy.runs().compare()  # warm-up: imports, PLY tables, SQLite page cache
        floor = read_sql_compare(index_path)
        # Same columns, values and dtypes, or the timings mean nothing.
        pd.testing.assert_frame_equal(ours, floor, check_dtype=False, check_index_type=False)
        assert [str(t) for t in ours.dtypes] == [str(t) for t in floor.dtypes], (
            list(ours.dtypes), list(floor.dtypes))
        t_compare = best_of(lambda: ipy.runs().compare(), repeats)
        t_runs = best_of(lambda: ipy.runs(), repeats)
        frame = ipy.runs()
        t_compare_only = best_of(frame.compare, repeats)
    t_floor = best_of(lambda: read_sql_compare(index_path), repeats)
    return {
        "n_runs": n_runs, "steps": steps, "rows": len(ours), "columns": len(ours.columns),
        "compare": t_compare, "runs": t_runs, "compare_only": t_compare_only,
        "floor": t_floor, "ratio": t_compare / t_floor,
    }


def main(argv):
    n_runs = int(argv[1]) if len(argv) > 1 else 10000
    r = run(n_runs)
    print(f"ipy over {r['n_runs']:,} runs ({r['rows']:,} rows x {r['columns']} columns), "
          "best of 5, seconds")
    print(f"{'measure':<34}{'seconds':>10}{'x floor':>10}")
    for name, key in (("runs().compare()", "compare"), ("  runs()", "runs"),
                      ("  compare() of a frame", "compare_only"),
                      ("floor: pandas.read_sql + pivot", "floor")):
        print(f"{name:<34}{r[key]:>10.3f}{r[key] / r['floor']:>10.2f}")
    print(f"goal: runs().compare() <= 2x floor: {'met' if r['ratio'] <= 2 else 'NOT met'} "
          f"({r['ratio']:.2f}x)")


if __name__ == "__main__":
    main(sys.argv)
