"""A small web view over the index (``rundb view``): standard library only.

One HTML page (inline CSS and JavaScript; nothing is fetched from elsewhere) and a JSON API,
all answered from the index through :mod:`rundb.api`; no run directory is read::

    GET /                                       the page: runs, a filter box, a compare
                                                table and, per run, its scalar curves (SVG)
    GET /api/runs?filter=EXPR&limit=N           runs, newest first (the data of `rundb runs`)
    GET /api/compare?columns=Q&filter=EXPR      {"headers", "kinds", "rows", "run_ids"}
                                                (the data of `rundb compare`)
    GET /api/runs/<run>                         {"run", "scalars"}: attributes, flags and
                                                scalar summaries
    GET /api/runs/<run>/scalars?tag=KEY         {"run", "series": [{"key", "prefix", "tag",
                                                "points": [[step, value, time], ...]}]}

``<run>`` is a full or short id. Errors are JSON ``{"error": "<one line>"}``: 400 for a
malformed filter, columns or parameter, 404 for an unknown run or path, 500 for anything
else. The server binds 127.0.0.1 by default; bound to a loopback address, it answers only
requests whose Host is a loopback name, so a web page elsewhere cannot read it through DNS
rebinding.
"""

import html
import json
import logging
import math
import re
import socket
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .. import api
from ..errors import AmbiguousRun, QueryError, RundbError, RunNotFound, TimeRangeError

log = logging.getLogger("rundb")

__all__ = ["make_server", "server_url"]

#: Runs listed (and compared) when the request names no limit.
DEFAULT_LIMIT = 200

_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


class BadRequest(RundbError):
    "A malformed request parameter (answered with HTTP 400)."


def make_server(home, host="127.0.0.1", port=0):
    """A ThreadingHTTPServer serving the view of ``home``; call ``serve_forever()`` on it.

    Port 0 picks a free port: read it from ``server.server_address`` (or use
    :func:`server_url`). Stop it with ``shutdown()`` and ``server_close()``.
    """
    server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), _Handler)
    server.daemon_threads = True
    server.home = home
    server.loopback_only = host in _LOOPBACK_NAMES
    return server


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def server_url(server):
    """The http:// URL a server made by :func:`make_server` answers on."""
    host, port = server.server_address[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


# --- request handling ----------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "rundb-view"

    def do_GET(self):  # noqa: N802 - the name http.server dispatches to
        url = urllib.parse.urlsplit(self.path)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if self.server.loopback_only and not _loopback_host(self.headers.get("Host", "")):
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "this view answers local requests only"})
            return
        for pattern, handler in _ROUTES:
            match = pattern.match(url.path)
            if match:
                break
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})
            return
        try:
            status, content_type, body = handler(self.server.home, params,
                                                 *map(urllib.parse.unquote, match.groups()))
        except (QueryError, TimeRangeError, AmbiguousRun, BadRequest) as e:
            status, content_type, body = _json_reply(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        except RunNotFound as e:
            status, content_type, body = _json_reply(HTTPStatus.NOT_FOUND, {"error": str(e)})
        except RundbError as e:
            status, content_type, body = _json_reply(HTTPStatus.INTERNAL_SERVER_ERROR,
                                                     {"error": str(e)})
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the server
            log.exception("rundb view: %s failed", self.path)
            status, content_type, body = _json_reply(HTTPStatus.INTERNAL_SERVER_ERROR,
                                                     {"error": f"{type(e).__name__}: {e}"})
        self._send(status, content_type, body)

    def _send_json(self, status, data):
        self._send(*_json_reply(status, data))

    def _send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy",
                             "default-src 'none'; connect-src 'self'; img-src 'self' data:; "
                             "style-src 'unsafe-inline'; script-src 'unsafe-inline'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        log.debug("rundb view: " + format, *args)


def _loopback_host(value):
    host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    return host.lower() in _LOOPBACK_NAMES


def _json_reply(status, data):
    return status, "application/json; charset=utf-8", _dumps(data).encode("utf-8")


def _dumps(data):
    try:
        return json.dumps(data, allow_nan=False, default=str)
    except ValueError:  # NaN or infinity somewhere: JSON has no such numbers, send null
        return json.dumps(_finite(data), allow_nan=False, default=str)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# --- endpoints ------------------------------------------------------------------------


def _run_filter(params, **extra):
    from ..api.selection import RunFilter

    return RunFilter(filter=params.get("filter") or None, **extra)


def _limit(params):
    text = params.get("limit")
    if text is None or text == "":
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise BadRequest(f"limit must be a whole number, not {text!r}") from None
    if limit < 0:
        raise BadRequest("limit must not be negative")
    return limit or None  # 0: no limit


def _list_runs(home, params):
    """(runs, total) for the runs endpoints and the page."""
    flt = _run_filter(params)
    limit = _limit(params)
    runs = api.runs(home, (), flt, limit=limit)
    total = api.count_runs(home, flt) if limit and len(runs) == limit else len(runs)
    return runs, total


def _api_runs(home, params):
    runs, total = _list_runs(home, params)
    return _json_reply(HTTPStatus.OK, {"total": total, "runs": [run_dict(r) for r in runs]})


def _api_compare(home, params):
    table = api.compare(home, (), _run_filter(params, include_batch=_flag(params, "include_batch")),
                        columns=params.get("columns") or None, top=_limit(params))
    return _json_reply(HTTPStatus.OK, {"headers": table.headers, "kinds": table.kinds,
                                       "rows": table.rows, "run_ids": table.run_ids})


def _api_run(home, params, spec):
    from ..query.catalog import scalar_key_name

    run, summaries = api.run_info(home, spec)
    scalars = [{"key": scalar_key_name(s["prefix"], s["tag"]), **s} for s in summaries]
    return _json_reply(HTTPStatus.OK, {"run": run_dict(run), "scalars": scalars})


def _api_scalars(home, params, spec):
    tag = params.get("tag") or None
    max_points = params.get("max_points")
    try:
        max_points = int(max_points) if max_points else None
    except ValueError:
        raise BadRequest(f"max_points must be a whole number, not {max_points!r}") from None
    run, series = scalar_series(home, spec, tag, all_scalars=_flag(params, "all"))
    if max_points and max_points > 0:
        for s in series:
            s["points"] = _thin(s["points"], max_points)
    return _json_reply(HTTPStatus.OK, {"run": run.id, "series": series})


def _flag(params, name):
    return params.get(name, "").lower() in ("1", "true", "yes")


def _page(home, params):
    status = HTTPStatus.OK
    error = ""
    try:
        runs, total = _list_runs(home, params)
    except (QueryError, TimeRangeError, BadRequest) as e:
        runs, total, error, status = [], 0, str(e), HTTPStatus.BAD_REQUEST
    rows = "\n".join(_run_row(i, run) for i, run in enumerate(runs, 1))
    count = f"{len(runs)} of {total}" if total > len(runs) else str(len(runs))
    page = (_PAGE
            .replace("{{home}}", html.escape(home.path))
            .replace("{{filter}}", html.escape(params.get("filter", ""), quote=True))
            .replace("{{error}}", html.escape(error))
            .replace("{{count}}", count)
            .replace("{{rows}}", rows or _NO_RUNS))
    return status, "text/html; charset=utf-8", page.encode("utf-8")


def _run_row(i, run):
    cells = [str(i), run.short_id, run.op, _time(run.started), run.status, run.label]
    tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
    return f'<tr data-id="{html.escape(run.id, quote=True)}" class="run {html.escape(run.status)}">{tds}</tr>'


_NO_RUNS = '<tr class="empty"><td colspan="6">No runs</td></tr>'

_ROUTES = [
    (re.compile(r"^/$"), _page),
    (re.compile(r"^/api/runs/?$"), _api_runs),
    (re.compile(r"^/api/compare/?$"), _api_compare),
    (re.compile(r"^/api/runs/([^/]+)/?$"), _api_run),
    (re.compile(r"^/api/runs/([^/]+)/scalars/?$"), _api_scalars),
]


# --- data -----------------------------------------------------------------------------


def run_dict(run):
    """A run as JSON data: what ``rundb runs --json`` shows, plus the short id."""
    return {
        "id": run.id, "short_id": run.short_id, "operation": run.op, "status": run.status,
        "started": _time(run.started), "stopped": _time(run.stopped), "marked": run.marked,
        "label": run.label, "tags": run.tags, "comment": run.comment, "parent": run.parent,
        "sourcecode_digest": run.sourcecode_digest, "run_dir": run.dir,
        "exit_status": run.exit_status, "flags": run.flags,
    }


def scalar_series(home, spec, key=None, all_scalars=False):
    """(Run, [series]) of one run's scalar points from the index, in write order.

    :param key: one scalar as users name it (``loss``, ``val#acc``); None for all of them
        (``sys/*`` left out unless ``all_scalars``)
    :raises RunNotFound: ``spec`` matches no run
    """
    from ..index import reader
    from ..query.catalog import BARE_PREFIXES, scalar_key_name, split_scalar_key
    from ..api.selection import select_one
    from ..index.db import open_home_index

    prefix, tag = split_scalar_key(key) if key else (None, None)
    with open_home_index(home) as index:
        run = select_one(index, spec)
        points = reader.scalar_points(index, run.rid, prefix=prefix, tag=tag)
    series = {}
    for p, t, step, value, wall in points:
        if key and prefix is None and p not in BARE_PREFIXES:
            continue
        if not key and not all_scalars and t.startswith("sys/"):
            continue
        s = series.get((p, t))
        if s is None:
            s = series[(p, t)] = {"key": scalar_key_name(p, t), "prefix": p, "tag": t,
                                  "points": []}
        s["points"].append([step, value, wall])
    return run, [series[k] for k in sorted(series)]


def _thin(points, n):
    """At most ``n`` points, evenly spaced, always keeping the first and the last."""
    if len(points) <= n:
        return points
    if n == 1:
        return points[-1:]
    last = len(points) - 1
    return [points[round(i * last / (n - 1))] for i in range(n)]


def _time(us):
    if us is None:
        return ""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6))


# --- the page -------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rundb</title>
<style>
:root { --fg: #1d232a; --muted: #6a737d; --line: #e1e4e8; --accent: #0969da; --bg: #fff;
        --sel: #eaf2fd; --ok: #1a7f37; --bad: #cf222e; --run: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 1em; padding: .8em 1.2em;
         border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 1.3em; }
header .home, .mono, td { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
header .home { color: var(--muted); font-size: .9em; }
main { padding: 0 1.2em 2em; }
h2 { font-size: 1.05em; margin: 1.4em 0 .5em; }
h2 small { color: var(--muted); font-weight: normal; }
h3 { font-size: .95em; margin: .8em 0 .3em; }
form { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; margin-top: 1em; }
input[type=text] { flex: 1 1 30em; max-width: 50em; padding: .35em .5em; font: inherit;
                   font-family: ui-monospace, monospace; border: 1px solid #c9d1d9;
                   border-radius: 4px; }
button { padding: .35em .9em; font: inherit; border: 1px solid #c9d1d9; border-radius: 4px;
         background: #f6f8fa; cursor: pointer; }
.error { color: var(--bad); font-family: ui-monospace, monospace; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: .25em .7em; border-bottom: 1px solid var(--line); text-align: left;
         white-space: nowrap; }
th { font-weight: 600; background: #f6f8fa; position: sticky; top: 0; }
td.num { text-align: right; }
tr.run { cursor: pointer; }
tr.run:hover { background: #f6f8fa; }
tr.selected, tr.selected:hover { background: var(--sel); }
tr.completed td:nth-child(5) { color: var(--ok); }
tr.error td:nth-child(5) { color: var(--bad); }
tr.running td:nth-child(5) { color: var(--run); }
tr.empty td { color: var(--muted); font-family: inherit; }
.cols { display: flex; gap: 2.5em; flex-wrap: wrap; align-items: flex-start; }
#charts { display: flex; flex-wrap: wrap; gap: 1em; margin-top: .8em; }
.chart { border: 1px solid var(--line); border-radius: 6px; padding: .4em .6em; }
.chart h4 { margin: 0 0 .2em; font: 600 12px ui-monospace, monospace; }
.chart svg { display: block; }
.chart .axis { stroke: #d0d7de; }
.chart .curve { fill: none; stroke: var(--accent); stroke-width: 1.5; }
.chart .dot { fill: var(--accent); }
.chart text { font: 10px ui-monospace, monospace; fill: var(--muted); }
.chart .readout { fill: var(--fg); }
.hint { color: var(--muted); }
</style>
</head>
<body>
<header><h1>rundb</h1><span class="home">{{home}}</span></header>
<main>
<form id="filter-form" method="get" action="/">
  <input type="text" id="filter" name="filter" value="{{filter}}"
         placeholder="filter, e.g. =lr &gt; 0.01 and loss &lt; 0.3" autocomplete="off">
  <button type="submit">Filter</button>
  <span id="error" class="error">{{error}}</span>
</form>

<h2>Runs <small id="count">{{count}}</small></h2>
<div class="scroll">
<table id="runs">
<thead><tr><th>#</th><th>run</th><th>operation</th><th>started</th><th>status</th><th>label</th></tr></thead>
<tbody>
{{rows}}
</tbody>
</table>
</div>

<section id="detail" hidden>
<h2>Run <span id="detail-title" class="mono"></span></h2>
<div class="cols">
  <div><h3>Flags</h3><table id="flags"></table></div>
  <div><h3>Scalars</h3><table id="summary"></table></div>
</div>
<div id="charts"></div>
</section>

<h2>Compare</h2>
<form id="columns-form">
  <input type="text" id="columns" placeholder="extra columns, e.g. min loss, =lr, .label"
         autocomplete="off">
  <button type="submit">Columns</button>
  <span id="compare-error" class="error"></span>
</form>
<div class="scroll"><table id="compare"></table></div>
</main>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...kids) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
                                      : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid instanceof Node ? kid : String(kid));
  return node;
}

function fmt(v, kind) {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") {
    if (kind === "scalar" || !Number.isInteger(v)) return Number(v.toPrecision(6)).toString();
    return String(v);
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

async function getJSON(url) {
  const response = await fetch(url);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return q.toString();
}

let selected = null;
const LIMIT = new URLSearchParams(location.search).get("limit") || "";

function renderRuns(data) {
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  data.runs.forEach((run, i) => {
    const tr = el("tr", {"data-id": run.id, "class": "run " + run.status},
      el("td", {}, i + 1), el("td", {}, run.short_id), el("td", {}, run.operation),
      el("td", {}, run.started), el("td", {}, run.status), el("td", {}, run.label));
    body.append(tr);
  });
  if (!data.runs.length) body.append(el("tr", {"class": "empty"}, el("td", {colspan: 6}, "No runs")));
  $("count").textContent = data.total > data.runs.length
    ? data.runs.length + " of " + data.total : String(data.runs.length);
  markSelected();
}

function markSelected() {
  for (const tr of $("runs").tBodies[0].rows)
    tr.classList.toggle("selected", tr.dataset.id === selected);
}

async function loadRuns() {
  const filter = $("filter").value.trim();
  const search = query({filter, limit: LIMIT});
  history.replaceState(null, "", search ? "?" + search : location.pathname);
  try {
    renderRuns(await getJSON("/api/runs?" + search));
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
    return;
  }
  loadCompare();
}

async function loadCompare() {
  const params = {filter: $("filter").value.trim(), columns: $("columns").value.trim(),
                  limit: LIMIT};
  let data;
  try {
    data = await getJSON("/api/compare?" + query(params));
    $("compare-error").textContent = "";
  } catch (e) {
    $("compare-error").textContent = e.message;
    return;
  }
  const table = $("compare");
  const numeric = data.headers.map((_, i) =>
    data.rows.some((r) => typeof r[i] === "number") && data.kinds[i] !== "core");
  const head = el("tr", {}, ...data.headers.map((h) => el("th", {}, h)));
  const rows = data.rows.map((row, r) => {
    const tr = el("tr", {"class": "run", "data-id": data.run_ids[r] || ""},
      ...row.map((v, i) => el("td", numeric[i] ? {"class": "num"} : {}, fmt(v, data.kinds[i]))));
    return tr;
  });
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  if (!rows.length) table.tBodies[0].append(el("tr", {"class": "empty"},
    el("td", {colspan: data.headers.length}, "No runs")));
}

async function showRun(id) {
  selected = id;
  markSelected();
  let info, scalars;
  try {
    [info, scalars] = await Promise.all([
      getJSON("/api/runs/" + encodeURIComponent(id)),
      getJSON("/api/runs/" + encodeURIComponent(id) + "/scalars?max_points=400")]);
  } catch (e) {
    $("error").textContent = e.message;
    return;
  }
  const run = info.run;
  $("detail").hidden = false;
  $("detail-title").textContent = run.short_id + "  " + run.operation +
    (run.label ? "  " + run.label : "") + "  (" + run.status + ")";
  const flags = Object.keys(run.flags).sort().map((k) =>
    el("tr", {}, el("td", {}, k), el("td", {}, fmt(run.flags[k]))));
  $("flags").replaceChildren(...(flags.length ? flags : [el("tr", {"class": "empty"}, el("td", {}, "none"))]));
  const head = el("tr", {}, ...["scalar", "last", "step", "min", "max", "count"].map((h) => el("th", {}, h)));
  const rows = info.scalars.map((s) => el("tr", {},
    el("td", {}, s.key), el("td", {"class": "num"}, fmt(s.last_val, "scalar")),
    el("td", {"class": "num"}, fmt(s.last_step)), el("td", {"class": "num"}, fmt(s.min_val, "scalar")),
    el("td", {"class": "num"}, fmt(s.max_val, "scalar")), el("td", {"class": "num"}, fmt(s.count))));
  $("summary").replaceChildren(head, ...rows);
  $("charts").replaceChildren(...scalars.series.map(chart));
  if (!scalars.series.length) $("charts").append(el("span", {"class": "hint"}, "No scalars"));
}

function chart(series) {
  const W = 340, H = 170, L = 52, R = 10, T = 8, B = 22;
  const pts = series.points.filter((p) => p[1] !== null);
  const svg = el("svg:svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`});
  const box = el("div", {"class": "chart"}, el("h4", {}, series.key), svg);
  if (!pts.length) { svg.append(el("svg:text", {x: L, y: H / 2}, "no values")); return box; }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  svg.append(
    el("svg:line", {"class": "axis", x1: L, y1: H - B, x2: W - R, y2: H - B}),
    el("svg:line", {"class": "axis", x1: L, y1: T, x2: L, y2: H - B}),
    el("svg:text", {x: L - 4, y: T + 8, "text-anchor": "end"}, fmt(y1, "scalar")),
    el("svg:text", {x: L - 4, y: H - B, "text-anchor": "end"}, fmt(y0, "scalar")),
    el("svg:text", {x: L, y: H - 6}, fmt(x0)),
    el("svg:text", {x: W - R, y: H - 6, "text-anchor": "end"}, fmt(x1)));
  const line = pts.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ");
  if (pts.length === 1) svg.append(el("svg:circle", {"class": "dot", cx: sx(pts[0][0]), cy: sy(pts[0][1]), r: 3}));
  else svg.append(el("svg:polyline", {"class": "curve", points: line}));
  const dot = el("svg:circle", {"class": "dot", r: 3, visibility: "hidden"});
  const readout = el("svg:text", {"class": "readout", x: W - R, y: T + 8, "text-anchor": "end"});
  svg.append(dot, readout);
  svg.addEventListener("mousemove", (ev) => {
    const rect = svg.getBoundingClientRect();
    const x = x0 + (ev.clientX - rect.left - L) / (W - L - R) * (x1 - x0);
    let best = pts[0];
    for (const p of pts) if (Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p;
    dot.setAttribute("cx", sx(best[0])); dot.setAttribute("cy", sy(best[1]));
    dot.setAttribute("visibility", "visible");
    readout.textContent = "step " + best[0] + ": " + fmt(best[1], "scalar");
  });
  svg.addEventListener("mouseleave", () => { dot.setAttribute("visibility", "hidden"); readout.textContent = ""; });
  return box;
}

$("filter-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadRuns(); });
$("columns-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadCompare(); });
for (const id of ["runs", "compare"]) {
  $(id).addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr.run");
    if (tr && tr.dataset.id) showRun(tr.dataset.id);
  });
}
if (!$("error").textContent) loadCompare();
</script>
</body>
</html>
"""
