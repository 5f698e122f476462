"""`rundb view`: the web view's server on a real home, fetched over HTTP."""

import json
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from rundb import api
from rundb.index import store, writer
from rundb.ops.runner import new_run
from rundb.web.view import make_server, server_url


def make_run(home, index, op="train.py", flags=None, scalars=None, status="completed", label=""):
    """A finished run written through the real writer: scalars = {key: [(step, value)]}."""
    run = new_run(home, index, op, flags or {}, label=label)
    points = []
    for key, series in (scalars or {}).items():
        prefix, tag = key.split("#") if "#" in key else (".rundb", key)
        points += [(prefix, tag, step, float(v), 1_700_000_000.0 + step) for step, v in series]
    writer.add_scalars(index, run.rid, points)
    return store.save_run(index, run, status=status, stopped=run.started + 2_000_000,
                          exit_status=0 if status == "completed" else 1)


@pytest.fixture
def runs(home, index):
    a = make_run(home, index, flags={"lr": 0.1, "opt": "adam"}, label="lr=0.1",
                 scalars={"loss": [(1, 1.0), (2, 0.5), (3, 0.25)], "val#acc": [(3, 0.7)],
                          "sys/cpu": [(1, 50)]})
    b = make_run(home, index, flags={"lr": 0.01, "opt": "sgd"}, label="lr=0.01",
                 scalars={"loss": [(1, 2.0), (2, float("nan")), (3, 1.5)]})
    c = make_run(home, index, op="train.py+", status="error")  # a batch run
    return a, b, c


@pytest.fixture
def server(home):
    srv = make_server(home, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server_url(srv)
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def fetch(url, headers=None):
    """(status, content type, body text) of a GET, error statuses included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers["Content-Type"], e.read().decode()


def get_json(url, expect=200):
    status, content_type, body = fetch(url)
    assert status == expect, body
    assert content_type == "application/json; charset=utf-8"
    return json.loads(body)


def q(**params):
    return urllib.parse.urlencode(params)


def test_page_lists_runs(server, runs):
    a, b, c = runs
    status, content_type, body = fetch(server)
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert body.startswith("<!doctype html>")
    for run in runs:
        assert f"<td>{run.short_id}</td>" in body
    assert body.index(c.short_id) < body.index(b.short_id) < body.index(a.short_id)  # newest first
    # Nothing fetched from elsewhere: the view's script, the charting library it ships and
    # one style sheet, all from the view.
    assert body.count("<script") == 2 and '<script src="/static/view.js"></script>' in body
    assert '<script src="/static/vendor/echarts.min.js"></script>' in body
    assert '<link rel="stylesheet" href="/static/view.css">' in body
    assert "http://" not in body and "https://" not in body


def test_page_filter_and_bad_filter(server, runs):
    a, b, _c = runs
    status, _, body = fetch(server + "?" + q(filter="=lr > 0.05"))
    assert status == 200 and a.short_id in body and b.short_id not in body
    assert 'value="=lr &gt; 0.05"' in body
    status, _, body = fetch(server + "?" + q(filter="=lr >"))
    assert status == 400
    assert a.short_id not in body and 'class="error">unexpected end of' in body


def test_api_runs(server, runs):
    a, b, c = runs
    data = get_json(server + "api/runs")
    assert data["total"] == 3
    assert [r["id"] for r in data["runs"]] == [c.id, b.id, a.id]
    first = data["runs"][2]
    assert (first["short_id"], first["operation"], first["status"], first["label"]) == (
        a.short_id, "train.py", "completed", "lr=0.1")
    assert first["flags"] == {"lr": 0.1, "opt": "adam"}
    assert len(first["started"]) == len("2024-01-01 00:00:00")

    data = get_json(server + "api/runs?" + q(filter="=opt = sgd"))
    assert [r["id"] for r in data["runs"]] == [b.id]
    data = get_json(server + "api/runs?" + q(limit=1))
    assert (data["total"], len(data["runs"])) == (3, 1)


def test_api_compare(server, runs):
    a, b, _c = runs
    data = get_json(server + "api/compare")
    assert data["headers"] == ["run", "operation", "started", "time", "status", "label",
                               "lr", "opt", "step", "loss", "val#acc"]
    assert data["run_ids"] == [b.short_id, a.short_id]  # the batch run is left out
    assert data["rows"][1][6:] == [0.1, "adam", 3, 0.25, pytest.approx(0.7)]
    assert data["kinds"][6:] == ["flag", "flag", "step", "scalar", "scalar"]

    data = get_json(server + "api/compare?" + q(columns="min loss", filter="=lr < 0.05"))
    assert data["headers"][-1] == "min loss"
    assert data["run_ids"] == [b.short_id] and data["rows"][0][-1] == 1.5


def test_api_compare_grouped(server, runs):
    # a grouped query in the columns box: one row per group, mean/std/count per column
    data = get_json(server + "api/compare?" + q(columns="loss group by =opt"))
    assert data["headers"][:2] == ["opt", "count(*)"]
    assert {"mean(loss)", "std(loss)", "count(loss)"} <= set(data["headers"])
    rows = {row[0]: dict(zip(data["headers"], row)) for row in data["rows"]}
    assert set(rows) == {"adam", "sgd"} and rows["adam"]["mean(loss)"] == 0.25
    assert rows["sgd"]["count(*)"] == 1 and rows["sgd"]["std(loss)"] is None
    assert data["run_ids"] == []
    # a count(*) written in the columns is the one count(*) column
    data = get_json(server + "api/compare?" + q(columns="loss, count(*) group by =opt"))
    assert data["headers"].count("count(*)") == 1


def test_api_run_info(server, runs):
    a, _b, _c = runs
    data = get_json(server + f"api/runs/{a.short_id}")
    assert data["run"]["id"] == a.id and data["run"]["flags"] == {"lr": 0.1, "opt": "adam"}
    by_key = {s["key"]: s for s in data["scalars"]}
    assert sorted(by_key) == ["loss", "sys/cpu", "val#acc"]
    assert (by_key["loss"]["last_val"], by_key["loss"]["min_val"], by_key["loss"]["count"]) == (
        0.25, 0.25, 3)
    assert by_key["val#acc"]["prefix"] == "val"


def test_api_scalars(server, runs):
    a, b, _c = runs
    data = get_json(server + f"api/runs/{a.id}/scalars?" + q(tag="loss"))
    assert data["run"] == a.id
    (series,) = data["series"]
    assert (series["key"], series["prefix"], series["tag"]) == ("loss", ".rundb", "loss")
    assert series["points"] == [[1, 1.0, 1_700_000_001.0], [2, 0.5, 1_700_000_002.0],
                                [3, 0.25, 1_700_000_003.0]]

    data = get_json(server + f"api/runs/{a.id}/scalars")
    assert [s["key"] for s in data["series"]] == ["loss", "val#acc"]  # sys/* left out
    data = get_json(server + f"api/runs/{a.id}/scalars?all=1")
    assert [s["key"] for s in data["series"]] == ["loss", "sys/cpu", "val#acc"]
    data = get_json(server + f"api/runs/{a.id}/scalars?" + q(tag="val#acc"))
    assert data["series"][0]["points"] == [[3, pytest.approx(0.7), 1_700_000_003.0]]
    data = get_json(server + f"api/runs/{a.id}/scalars?" + q(tag="loss", max_points=2))
    assert [p[0] for p in data["series"][0]["points"]] == [1, 3]

    # a NaN point is kept as null (JSON has no NaN)
    data = get_json(server + f"api/runs/{b.id}/scalars?" + q(tag="loss"))
    assert [p[1] for p in data["series"][0]["points"]] == [2.0, None, 1.5]


@pytest.mark.parametrize("path,params", [
    ("api/runs", {"filter": "=lr >"}),
    ("api/runs", {"filter": "insert x"}),
    ("api/compare", {"filter": "=lr >"}),
    ("api/compare", {"columns": "min loss,"}),
    ("api/compare", {"columns": "loss group by mean(loss)"}),
    ("api/compare", {"columns": "loss group by =opt having std() > 0"}),
    ("api/runs", {"limit": "many"}),
])
def test_bad_requests_are_400_with_one_line_error(server, runs, path, params):
    data = get_json(server + path + "?" + q(**params), expect=400)
    assert list(data) == ["error"] and "\n" not in data["error"] and data["error"]


def test_bad_filter_error_is_the_one_the_cli_prints(cli, server, runs):
    data = get_json(server + "api/runs?" + q(filter="insert x"), expect=400)
    assert data == {"error": "unexpected token 'x', line 1, pos 7"}
    assert cli("runs", "-F", "insert x").stderr == f"rundb: {data['error']}\n"


@pytest.mark.parametrize("path", [
    "api/runs/ffffffff", "api/runs/ffffffff/scalars", "api/runs/99", "api/nothing", "nope",
])
def test_unknown_runs_and_paths_are_404(server, runs, path):
    data = get_json(server + path, expect=404)
    assert list(data) == ["error"]


def test_unknown_run_message(server, runs):
    assert get_json(server + "api/runs/ffffffff", expect=404) == {
        "error": "no run matches 'ffffffff'"}


def test_foreign_host_header_is_refused(server, runs):
    status, _, body = fetch(server + "api/runs", headers={"Host": "evil.example:80"})
    assert status == 403 and "local requests only" in body
    status, _, _ = fetch(server + "api/runs", headers={"Host": "localhost"})
    assert status == 200


def test_deleted_runs_are_not_shown(server, home, runs):
    a, _b, _c = runs
    api.delete_runs(home, [a.id])
    data = get_json(server + "api/runs")
    assert a.id not in [r["id"] for r in data["runs"]]
    get_json(server + f"api/runs/{a.id}", expect=404)


def test_view_command_help_lists_options(cli):
    result = cli("view", "--help")
    assert result.exit_code == 0
    for option in ("--host", "--port", "--browser / --no-browser"):
        assert option in result.stdout


def test_the_json_of_a_run_is_one_form_everywhere(cli, home, index, runs, server):
    """runs info --json, runs --json, the web view's API and the notebook's Run.json()
    give one run the same keys, types and values."""
    from rundb import ipy

    a = runs[0]
    from_info = json.loads(cli("runs", "info", a.id, "--json").stdout)
    from_info.pop("scalars")
    from_list = next(r for r in json.loads(cli("runs", "--json").stdout) if r["id"] == a.id)
    from_web = get_json(server + f"api/runs/{a.id}")["run"]
    with ipy.use_home(home.path):
        from_notebook = next(r for r in ipy.runs().run if r.id == a.id).json()
    assert from_info == from_list == from_web == from_notebook
    assert from_info["marked"] is False and from_info["flags"] == {"lr": 0.1, "opt": "adam"}
    assert from_info["short_id"] == a.short_id and from_info["stopped"]
