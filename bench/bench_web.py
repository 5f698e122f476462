"""`rundb view` over 10,000 runs: the first page, a page sorted by a metric, a deep page.

    .venv/bin/python bench/bench_web.py              # 10,000 runs x 10 steps
    .venv/bin/python bench/bench_web.py --runs 1000

Each row times HTTP requests to a real view server on 127.0.0.1 (the server in this
process, a urllib client): "first page" is what a browser asks for on opening the view,
the HTML (whose table holds the first 50 runs, rendered server-side) and then the
``/api/table`` answer the script draws from; the sorted rows ask ``/api/table`` for 50
rows sorted by a scalar. The floor is the same question as hand-written SQL through
``sqlite3`` on the same index file (the page's run ids in order, then its rows' flags and
scalar summaries), measured in the same run; ratios are what we track. Sorting and paging
happen on the server: a page is 50 rows whatever the number of runs.
"""

import argparse
import os
import sqlite3
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
from timing import best_of  # noqa: E402

PAGE = 50


def _get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        body = r.read()
        assert r.status == 200, (url, r.status)
        return body


def _floor(index_path, order_sql, offset):
    """The page's question as hand-written SQL: ordered ids, then flags and scalar stats."""
    conn = sqlite3.connect(index_path)
    try:
        rids = [row[0] for row in conn.execute(
            f"SELECT r.rid FROM run r {order_sql} LIMIT ? OFFSET ?", (PAGE, offset))]
        marks = ",".join("?" * len(rids))
        conn.execute(f"SELECT * FROM run WHERE rid IN ({marks})", rids).fetchall()
        conn.execute(f"SELECT * FROM run_flag WHERE rid IN ({marks})", rids).fetchall()
        conn.execute(f"SELECT * FROM scalar_stat WHERE rid IN ({marks})", rids).fetchall()
        # the column set: every flag name and scalar key of the matching runs
        conn.execute("SELECT DISTINCT name FROM run_flag").fetchall()
        conn.execute("SELECT DISTINCT key FROM scalar_stat").fetchall()
    finally:
        conn.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from rundb.home import Home
    from rundb.web.view import make_server, server_url

    path = corpus.cached_home(args.runs, args.steps)
    home = Home(path)
    index_path = os.path.join(path, "index.db")
    conn = sqlite3.connect(index_path)
    key = {tag: conn.execute("SELECT id FROM scalar_key WHERE tag = ?", (tag,)).fetchone()[0]
           for tag in ("loss", "val_acc")}
    optimizer = conn.execute("SELECT id FROM flag_name WHERE name = 'optimizer'").fetchone()[0]
    conn.close()
    by_loss = (f"LEFT JOIN scalar_stat s ON s.rid = r.rid AND s.key = {key['loss']} "
               "ORDER BY s.last_val IS NULL, s.last_val")
    adam_by_val_acc = (
        f"JOIN run_flag f ON f.rid = r.rid AND f.name = {optimizer} AND f.value = 'adam' "
        f"LEFT JOIN scalar_stat s ON s.rid = r.rid AND s.key = {key['val_acc']} "
        "ORDER BY s.last_val IS NULL, s.last_val DESC")
    newest = "ORDER BY r.created DESC, r.rid DESC"

    server = make_server(home, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    url = server_url(server)
    cases = [
        ("first page (HTML + /api/table)",
         lambda: (_get(url), _get(url + "api/table")),
         lambda: _floor(index_path, newest, 0)),
        ("sorted by loss, page 1",
         lambda: _get(url + "api/table?sort=loss&order=asc"),
         lambda: _floor(index_path, by_loss, 0)),
        (f"sorted by loss, rows {args.runs // 2}+",
         lambda: _get(url + f"api/table?sort=loss&order=asc&offset={args.runs // 2}"),
         lambda: _floor(index_path, by_loss, args.runs // 2)),
        ("filtered (=optimizer = adam), sorted by val_acc",
         lambda: _get(url + "api/table?filter=%3Doptimizer+%3D+adam&sort=val_acc&order=desc"),
         lambda: _floor(index_path, adam_by_val_acc, 0)),
    ]
    try:
        _get(url)  # templates, the catalog and the page cache warm once, as for a user
        print(f"rundb view over {args.runs:,} runs x {args.steps} steps "
              f"(best of {args.repeats}, one process)")
        print(f"{'request':<48} {'rundb (s)':>10} {'SQL floor (s)':>14} {'ratio':>7}")
        rows = []
        for name, ours, floor in cases:
            a = best_of(ours, args.repeats)
            b = best_of(floor, args.repeats)
            rows.append((name, a, b))
            print(f"{name:<48} {a:>10.3f} {b:>14.4f} {a / b:>7.1f}")
        first = rows[0][1]
        print(f"first page under 1 s: {'yes' if first < 1 else 'NO'} ({first:.3f} s)")
    finally:
        server.shutdown()
        server.server_close()
    return rows


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s in all)", file=sys.stderr)
