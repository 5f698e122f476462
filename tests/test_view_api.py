"""The web view's JSON API (rundb.web.view over rundb.api.web): the runs table (sorted and
paged in SQL), series of several runs, a run's output and files, the filter menus; errors
as JSON with a message; no request of any route or method changes the index."""

import json
import sqlite3
import urllib.parse
import urllib.request

import pytest
from test_view import fetch, get_json, make_run, q, server  # noqa: F401 - fixtures

from rundb import api
from rundb.web.view import ROUTES


@pytest.fixture
def grid(home, index):
    """Six runs: lr x opt, with loss, val_loss and val_acc curves; one marked and tagged."""
    runs = []
    for i, (lr, opt) in enumerate([(0.1, "adam"), (0.1, "sgd"), (0.01, "adam"),
                                   (0.01, "sgd"), (0.001, "adam"), (0.001, "sgd")]):
        final = round(1.0 - lr * 5 - (0.1 if opt == "adam" else 0.0) + i * 0.001, 4)
        curve = [(s, final + (5 - s) * 0.1) for s in range(1, 6)]
        runs.append(make_run(home, index, flags={"lr": lr, "opt": opt},
                             label=f"lr={lr} opt={opt}",
                             scalars={"loss": curve, "val_loss": [(5, final + 0.05)],
                                      "val_acc": [(5, 1 - final)]}))
    api.mark_runs(home, [runs[0].id])
    api.tag_runs(home, [runs[1].id], add=["best"])
    return runs


def table(server, **params):  # noqa: F811
    return get_json(server + "api/table?" + urllib.parse.urlencode(params, doseq=True))


def column(data, header):
    at = data["headers"].index(header)
    return [row[at] for row in data["rows"]]


def test_table_shape_and_types(server, grid):
    data = table(server)
    assert set(data) == {"total", "offset", "limit", "headers", "kinds", "specs", "rows",
                         "run_ids", "ids", "grouped", "spreads"}
    assert (data["total"], data["offset"], data["limit"], data["grouped"]) == (6, 0, 50, False)
    assert data["headers"] == ["run", "operation", "started", "time", "status", "label",
                               "lr", "opt", "step", "loss", "val_acc", "val_loss"]
    assert data["kinds"] == ["core"] * 6 + ["flag", "flag", "step", "scalar", "scalar", "scalar"]
    assert data["specs"] == [".run", ".operation", ".started", ".time", ".status", ".label",
                             "=lr", "=opt", "loss step", "loss", "val_acc", "val_loss"]
    assert data["ids"] == [r.id for r in reversed(grid)]  # newest first, full ids
    assert data["run_ids"] == [r.short_id for r in reversed(grid)]
    for row in data["rows"]:
        assert len(row) == len(data["headers"])
        assert isinstance(row[6], float) and isinstance(row[7], str)
        assert isinstance(row[8], int) and isinstance(row[9], float)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_table_sorts_in_sql_over_every_page(server, grid, order):
    losses = sorted(column(table(server), "loss"), reverse=order == "desc")
    pages = [table(server, sort="loss", order=order, limit=2, offset=o) for o in (0, 2, 4)]
    assert [p["total"] for p in pages] == [6, 6, 6]
    assert [v for p in pages for v in column(p, "loss")] == losses


def test_table_sort_by_flag_and_attribute(server, grid):
    assert column(table(server, sort="=lr"), "lr") == [0.001, 0.001, 0.01, 0.01, 0.1, 0.1]
    data = table(server, sort=".label", order="desc")
    assert column(data, "label") == sorted(column(data, "label"), reverse=True)


def test_runs_without_the_sort_column_come_last(server, home, index, grid):
    make_run(home, index, label="no scalars")
    for order in ("asc", "desc"):
        assert column(table(server, sort="loss", order=order), "label")[-1] == "no scalars"


def test_table_columns_from_the_query_language(server, grid):
    data = table(server, columns="min loss, val_*")
    assert data["headers"][-1] == "min loss" and data["specs"][-1] == "min loss"
    data = table(server, columns="min loss, val_*", strict=1)
    assert data["headers"][:2] == ["run", "min loss"]
    assert sorted(data["headers"][2:]) == ["val_acc", "val_loss"]
    assert data["specs"][:2] == [".run", "min loss"]
    data = table(server, columns="=lr where loss < 0.5 order by loss", strict=1)
    assert data["total"] == len(data["rows"]) and all(
        lr >= 0.1 for lr in column(data, "lr"))


def test_table_filters(server, grid):
    assert table(server, filter="=opt = sgd")["total"] == 3
    assert table(server, filter="=lr > 0.005 and =opt = adam")["total"] == 2
    assert table(server, marked="1")["ids"] == [grid[0].id]
    assert table(server, marked="0")["total"] == 5
    assert table(server, tag="best")["ids"] == [grid[1].id]
    assert table(server, status="completed")["total"] == 6
    assert table(server, status="error")["total"] == 0
    assert table(server, op="train")["total"] == 6 and table(server, op="nope")["total"] == 0


def test_table_batch_filter(server, home, index, grid):
    from rundb.index import store
    from rundb.ops.runner import new_run

    batch = make_run(home, index, op="train.py+")
    trial = new_run(home, index, "train.py", {"lr": 0.5}, parent=batch.id)
    store.save_run(index, trial, status="completed", stopped=trial.started + 1, exit_status=0)
    assert table(server, batch=batch.id)["ids"] == [trial.id]
    assert batch.id not in table(server, include_batch=0)["ids"]
    assert batch.id in table(server)["ids"]


def test_table_group_by(server, grid):
    data = table(server, columns="loss group by =opt")
    assert data["grouped"] is True and data["ids"] == []
    assert data["headers"][:2] == ["opt", "count(*)"]
    assert sorted(column(data, "opt")) == ["adam", "sgd"]
    assert column(data, "count(*)") == [3, 3]


def test_series_of_several_runs(server, grid):
    a, b = grid[0], grid[1]
    data = get_json(server + "api/series?" + q(run=a.id) + "&" + q(run=b.short_id) + "&"
                    + q(key="loss") + "&" + q(key="val_acc"))
    got = [(s["run"], s["key"], len(s["points"])) for s in data["series"]]
    assert got == [(a.id, "loss", 5), (a.id, "val_acc", 1), (b.id, "loss", 5), (b.id, "val_acc", 1)]
    step, value, wall = data["series"][0]["points"][0]
    assert (step, type(value), type(wall)) == (1, float, float)
    data = get_json(server + "api/series?" + q(run=a.id, max_points=2))
    assert {s["key"]: [p[0] for p in s["points"]] for s in data["series"]}["loss"] == [1, 5]
    # an unknown run is left out, not an error
    data = get_json(server + "api/series?" + q(run="ffffffff"))
    assert data == {"series": []}


def test_run_output_and_files(server, home, index, grid):
    run = grid[0]
    with open(home.run_dir(run.id) + "/model.txt", "w") as f:
        f.write("w")
    data = get_json(server + f"api/runs/{run.short_id}/files")
    assert data["run"] == run.id and data["note"] is None
    assert {"path": "model.txt", "size": 1, "is_dir": False} in data["files"]
    data = get_json(server + f"api/runs/{run.short_id}/output?lines=5")
    assert set(data) == {"run", "status", "text", "note"} and data["status"] == "completed"
    assert isinstance(data["text"], str)


def test_choices(server, grid):
    data = get_json(server + "api/choices")
    assert "completed" in data["statuses"] and "running" in data["statuses"]
    assert data["ops"] == ["train.py"]


def test_run_page_is_served(server, grid):
    status, content_type, body = fetch(server + f"run/{grid[0].short_id}")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert f'data-id="{grid[0].id}"' in body and "<td>lr</td><td>0.1</td>" in body
    status, _, body = fetch(server + "run/ffffffff")
    assert status == 404 and json.loads(body) == {"error": "no run matches 'ffffffff'"}


@pytest.mark.parametrize("params,message", [
    ({"sort": "nosuch"}, "nosuch"),
    ({"sort": "min loss,"}, ""),
    ({"order": "up"}, "order must be asc or desc, not 'up'"),
    ({"limit": "x"}, "limit must be a whole number, not 'x'"),
    ({"limit": "5000"}, "limit must be at most 1000"),
    ({"offset": "-1"}, "offset must be at least 0"),
    ({"status": "sleeping"}, "unknown status 'sleeping'"),
    ({"marked": "maybe"}, "marked must be 1 or 0, not 'maybe'"),
    ({"filter": "=lr >"}, "unexpected end of"),
    ({"columns": "min loss,"}, ""),
])
def test_table_errors_are_json_with_a_message(server, grid, params, message):
    data = get_json(server + "api/table?" + urllib.parse.urlencode(params), expect=400)
    assert list(data) == ["error"] and data["error"] and "\n" not in data["error"]
    assert message in data["error"]


def test_series_errors(server, grid):
    assert get_json(server + "api/series", expect=400) == {
        "error": "name at least one run (run=ID)"}
    assert "max_points" in get_json(server + "api/series?" + q(run="1", max_points="x"),
                                    expect=400)["error"]


def _request(url, method, headers=None):
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def _index_dump(home):
    conn = sqlite3.connect(home.index_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_no_url_changes_the_index(server, home, index, grid):
    """Every route, with every method, leaves the index byte for byte as it was, even with
    a run whose process has vanished (which the CLI's readers record as an error)."""
    import uuid

    from rundb.index import store
    from rundb.run import Run, this_host

    gone = Run(id=uuid.uuid4().hex, op="train", status="running", created=grid[-1].created + 1,
               host=this_host(), pid=2**22 + 12345)
    gone.dir = home.run_dir(gone.id)
    store.create_run(index, gone)
    before = _index_dump(home)
    run = grid[0].id
    for route in ROUTES:
        path = route.format(run=run).lstrip("/")
        for params in ("", "sort=loss&order=desc&limit=2&offset=1&filter=%3Dlr%3E0",
                       "columns=loss+group+by+%3Dopt"):
            url = server + path + (("&" if "?" in path else "?") + params if params else "")
            assert _request(url, "GET")[0] == 200, url
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, body = _request(server + path, method)
            assert status == 405 and json.loads(body) == {
                "error": f"this view only reads: {method} is not allowed"}
    assert _index_dump(home) == before


def test_every_route_refuses_a_foreign_host(server, grid):
    for route in ROUTES:
        path = route.format(run=grid[0].id).lstrip("/")
        status, body = _request(server + path, "GET", {"Host": "evil.example"})
        assert status == 403, path
        assert json.loads(body) == {"error": "this view answers local requests only"}


def test_any_status_renders_with_a_class_of_its_own(server, home, index, grid):
    """A status the view has no colour for (``pruned`` from issue 18, or any later one)
    renders as its text with a class made of its letters."""
    conn = sqlite3.connect(home.index_path)
    try:
        conn.execute("UPDATE run SET status = 'pruned' WHERE id = ?", (grid[0].id,))
        conn.execute("UPDATE run SET status = 'Odd <b>one</b>' WHERE id = ?", (grid[1].id,))
        conn.commit()
    finally:
        conn.close()
    status, _, body = fetch(server)
    assert status == 200
    assert f'<tr data-id="{grid[0].id}" class="run st-pruned">' in body
    assert '<td class="status st-pruned">pruned</td>' in body
    assert f'<tr data-id="{grid[1].id}" class="run st-oddboneb">' in body
    assert "Odd &lt;b&gt;one&lt;/b&gt;" in body and "<b>one" not in body
    assert "pruned" in column(table(server), "status")


def test_view_warns_when_listening_beyond_loopback(home):
    import os
    import subprocess
    import sys

    env = {**os.environ, "RUNDB_HOME": home.path}
    proc = subprocess.Popen([sys.executable, "-m", "rundb_cli.main", "view", "--host",
                             "0.0.0.0", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        url = proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)
    assert first.startswith("rundb: warning: listening on 0.0.0.0: any host that can reach")
    assert url.startswith("http://0.0.0.0:")
