"""The web view over the index (``rundb view``): a standard-library HTTP server.

The pages are Jinja2 templates (package data, rendered with autoescaping, so every text
from the index or the URL reaches the HTML escaped by one rule); their script, styles and
the charting library (Apache ECharts, vendored from its npm package in ``static/vendor``)
are static files; the script builds everything else from the JSON API below with text
nodes only. Every answer comes from the index through :mod:`rundb.api`::

    GET /                                       the runs page: table, curves, sweep views
    GET /run/<run>                              one run: flags, attributes, scalars,
                                                curves, output tail, files
    GET /static/<file>, /static/vendor/<file>   script, styles, ECharts
    GET /api/table?filter=&columns=&strict=&sort=&order=&limit=&offset=
                   &status=&op=&tag=&marked=&batch=&include_batch=
                                                one sorted page of the runs table:
                                                {"total", "offset", "limit", "headers",
                                                "kinds", "specs", "rows", "run_ids",
                                                "ids", "grouped", "spreads"}
    GET /api/series?run=ID&run=ID&key=K&key=K&max_points=N
                                                {"series": [{"run", "key", "prefix",
                                                "tag", "points": [[step, value, time]]}]}
    GET /api/choices                            {"statuses", "ops"} for the filter menus
    GET /api/runs?filter=EXPR&limit=N           runs, newest first (as `rundb runs`)
    GET /api/compare?columns=Q&filter=EXPR      {"headers", "kinds", "rows", "run_ids"}
    GET /api/runs/<run>                         {"run", "scalars"}: the run (its one JSON
                                                form) and its scalar summaries
    GET /api/runs/<run>/scalars?tag=KEY         {"run", "series": [...]}
    GET /api/runs/<run>/output?lines=N          {"run", "status", "text", "note"}
    GET /api/runs/<run>/files                   {"run", "files": [{"path", "size",
                                                "is_dir"}], "note"}

The Content-Security-Policy allows scripts and styles from the view itself and nothing
inline. Requests only read: no GET records vanished runs as errors or writes anything
else, and no other method is answered.

``<run>`` is a full or short id. Errors are JSON ``{"error": "<one line>"}``: 400 for a
malformed filter, columns or parameter, 404 for an unknown run or path, 405 for a method
other than GET/HEAD, 500 for anything else. The server binds 127.0.0.1 by default; bound
to a loopback address, it answers only requests whose Host is a loopback name, so a web
page elsewhere cannot read it through DNS rebinding.
"""

import functools
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

__all__ = ["make_server", "server_url", "LOOPBACK_NAMES"]

#: Runs listed (and compared) when the request names no limit.
DEFAULT_LIMIT = 200

#: Rows on a page of the runs table when the request names no limit.
PAGE_ROWS = 50

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}

#: Scripts and styles only from the view itself, nothing inline; no frames, plugins or
#: form posts elsewhere.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

#: The static files served, by URL name: (package resource, content type).
_JS, _CSS, _TEXT = ("text/javascript; charset=utf-8", "text/css; charset=utf-8",
                    "text/plain; charset=utf-8")
_STATIC = {
    "view.js": ("static/view.js", _JS),
    "view.css": ("static/view.css", _CSS),
    "vendor/echarts.min.js": ("static/vendor/echarts.min.js", _JS),
    "vendor/ECHARTS-LICENSE": ("static/vendor/ECHARTS-LICENSE", _TEXT),
    "vendor/ECHARTS-NOTICE": ("static/vendor/ECHARTS-NOTICE", _TEXT),
    "vendor/ECHARTS-LICENSE-d3": ("static/vendor/ECHARTS-LICENSE-d3", _TEXT),
}


class BadRequest(RundbError):
    "A malformed request parameter (answered with HTTP 400)."


class _NotFound(RunNotFound):
    "A path the view does not serve (answered with HTTP 404)."


def make_server(home, host="127.0.0.1", port=0):
    """A ThreadingHTTPServer serving the view of ``home``; call ``serve_forever()`` on it.

    Port 0 picks a free port: read it from ``server.server_address`` (or use
    :func:`server_url`). Stop it with ``shutdown()`` and ``server_close()``.
    """
    server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), _Handler)
    server.daemon_threads = True
    server.home = home
    server.loopback_only = host in LOOPBACK_NAMES
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


class _Params(dict):
    """A query string's parameters: ``params[name]`` is the last value given,
    ``params.all(name)`` every value, in order."""

    def __init__(self, query):
        self._lists = urllib.parse.parse_qs(query)
        super().__init__({k: v[-1] for k, v in self._lists.items()})

    def all(self, name):
        return [v for v in self._lists.get(name, []) if v]


class _Handler(BaseHTTPRequestHandler):
    server_version = "rundb-view"

    def do_GET(self):  # noqa: N802 - the name http.server dispatches to
        url = urllib.parse.urlsplit(self.path)
        params = _Params(url.query)
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
        except (QueryError, TimeRangeError, AmbiguousRun, BadRequest, ValueError) as e:
            status, content_type, body = _json_reply(HTTPStatus.BAD_REQUEST, {"error": _line(e)})
        except RunNotFound as e:
            status, content_type, body = _json_reply(HTTPStatus.NOT_FOUND, {"error": _line(e)})
        except RundbError as e:
            status, content_type, body = _json_reply(HTTPStatus.INTERNAL_SERVER_ERROR,
                                                     {"error": _line(e)})
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the server
            log.exception("rundb view: %s failed", self.path)
            status, content_type, body = _json_reply(HTTPStatus.INTERNAL_SERVER_ERROR,
                                                     {"error": _line(f"{type(e).__name__}: {e}")})
        self._send(status, content_type, body)

    def do_HEAD(self):  # noqa: N802
        self._head_only = True
        self.do_GET()

    def _refuse(self):
        self._send_json(HTTPStatus.METHOD_NOT_ALLOWED,
                        {"error": f"this view only reads: {self.command} is not allowed"},
                        allow="GET, HEAD")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    def _send_json(self, status, data, **headers):
        self._send(*_json_reply(status, data), **headers)

    def _send(self, status, content_type, body, allow=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if allow:
            self.send_header("Allow", allow)
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if not getattr(self, "_head_only", False):
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        log.debug("rundb view: " + format, *args)


def _line(error):
    return " ".join(str(error).split()) or type(error).__name__


def _loopback_host(value):
    host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    return host.lower() in LOOPBACK_NAMES


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


# --- parameters -----------------------------------------------------------------------


def _whole(params, name, default, minimum=0):
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {text!r}") from None
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}")
    return value


def _limit(params):
    return _whole(params, "limit", DEFAULT_LIMIT) or None  # 0: no limit


def _flag(params, name):
    return params.get(name, "").lower() in ("1", "true", "yes", "on")


def _run_filter(params, **extra):
    from ..api.selection import RunFilter

    return RunFilter(filter=params.get("filter") or None, **extra)


def _table_filter(params):
    """The RunFilter of the runs table's boxes: filter, status, op, tag, marked, batch."""
    from ..api.selection import RunFilter

    statuses = params.all("status")
    marked = params.get("marked", "")
    if marked not in ("", "1", "0", "yes", "no", "true", "false"):
        raise BadRequest(f"marked must be 1 or 0, not {marked!r}")
    return RunFilter(
        filter=params.get("filter") or None,
        statuses=[s for value in statuses for s in value.split(",") if s],
        ops=params.all("op"), tags=params.all("tag"),
        marked=None if marked == "" else marked in ("1", "yes", "true"),
        parent=params.get("batch") or None,
        include_batch=params.get("include_batch", "1") not in ("0", "no", "false"))


def _table_options(params):
    order = params.get("order", "")
    if order not in ("", "asc", "desc"):
        raise BadRequest(f"order must be asc or desc, not {order!r}")
    from ..api.web import MAX_PAGE

    limit = _whole(params, "limit", PAGE_ROWS)
    if limit > MAX_PAGE:
        raise BadRequest(f"limit must be at most {MAX_PAGE}")
    return dict(columns=params.get("columns") or None, strict=_flag(params, "strict"),
                sort=params.get("sort") or None, desc=order == "desc", limit=limit,
                offset=_whole(params, "offset", 0))


# --- endpoints ------------------------------------------------------------------------


def _table_json(home, params):
    options = _table_options(params)
    page = api.runs_table(home, _table_filter(params), **options)
    table = page.table
    return {"total": page.total, "offset": options["offset"], "limit": options["limit"],
            "headers": table.headers, "kinds": table.kinds, "specs": page.specs,
            "rows": table.rows, "run_ids": table.run_ids, "ids": page.ids,
            "grouped": page.grouped,
            "spreads": [list(s) for s in table.spreads]}


def _api_table(home, params):
    return _json_reply(HTTPStatus.OK, _table_json(home, params))


def _api_choices(home, params):
    return _json_reply(HTTPStatus.OK, api.view_choices(home))


def _api_series(home, params):
    runs = params.all("run")
    if not runs:
        raise BadRequest("name at least one run (run=ID)")
    if len(runs) > 100:
        raise BadRequest("at most 100 runs at once")
    max_points = _whole(params, "max_points", 0)
    series = api.run_series(home, runs, params.all("key") or None,
                            all_scalars=_flag(params, "all"), max_points=max_points or None)
    return _json_reply(HTTPStatus.OK, {"series": series})


def _list_runs(home, params):
    """(runs, total) for the runs endpoint."""
    flt = _run_filter(params)
    limit = _limit(params)
    runs = api.runs(home, (), flt, limit=limit, reap=False)
    total = api.count_runs(home, flt) if limit and len(runs) == limit else len(runs)
    return runs, total


def _api_runs(home, params):
    runs, total = _list_runs(home, params)
    return _json_reply(HTTPStatus.OK, {"total": total, "runs": [run_dict(r) for r in runs]})


def _api_compare(home, params):
    table = api.compare(home, (), _run_filter(params, include_batch=_flag(params, "include_batch")),
                        columns=params.get("columns") or None, top=_limit(params), reap=False)
    return _json_reply(HTTPStatus.OK, {"headers": table.headers, "kinds": table.kinds,
                                       "rows": table.rows, "run_ids": table.run_ids})


def _api_run(home, params, spec):
    from ..catalog import scalar_key_name

    run, summaries = api.run_details(home, spec)
    scalars = [{"key": scalar_key_name(s["prefix"], s["tag"]), **s} for s in summaries]
    return _json_reply(HTTPStatus.OK, {"run": run_dict(run), "scalars": scalars})


def _api_scalars(home, params, spec):
    max_points = _whole(params, "max_points", 0)
    run, series = api.one_run_series(home, spec, params.get("tag") or None,
                                     all_scalars=_flag(params, "all"))
    if max_points:
        from ..api.web import thin

        for s in series:
            s["points"] = thin(s["points"], max_points)
    return _json_reply(HTTPStatus.OK, {"run": run.id, "series": series})


def _api_output(home, params, spec):
    lines = _whole(params, "lines", 200, minimum=1)
    run, text, note = api.run_output_tail(home, spec, min(lines, 5000))
    return _json_reply(HTTPStatus.OK, {"run": run.id, "status": run.status, "text": text,
                                       "note": note})


def _api_files(home, params, spec):
    run, files, note = api.run_file_list(home, spec)
    return _json_reply(HTTPStatus.OK, {
        "run": run.id, "note": note,
        "files": [{"path": f.path, "size": f.size, "is_dir": f.is_dir} for f in files]})


def _page(home, params):
    status = HTTPStatus.OK
    error = ""
    table = {"headers": [], "kinds": [], "rows": [], "ids": [], "total": 0, "grouped": False}
    try:
        table = _table_json(home, params)
    except (QueryError, TimeRangeError, BadRequest, ValueError) as e:
        error, status = _line(e), HTTPStatus.BAD_REQUEST
    rows = []
    for r, row in enumerate(table["rows"]):
        run_id = table["ids"][r] if table["ids"] else ""
        status_text = _status_of(table, row)
        rows.append({"id": run_id or "", "status": status_text,
                     "status_class": _status_class(status_text),
                     "cells": [_cell(v, kind, header)
                               for v, kind, header in zip(row, table["kinds"], table["headers"])]})
    headers = [{"text": h, "kind": k} for h, k in zip(table["headers"], table["kinds"])]
    shown = len(rows)
    count = f"1–{shown} of {table['total']}" if table["total"] > shown else str(shown)
    page = _template("index.html").render(
        home=home.path, params=params, error=error, headers=headers, rows=rows,
        grouped=table["grouped"], count=count, choices=_choices_or_empty(home))
    return status, "text/html; charset=utf-8", page.encode("utf-8")


def _choices_or_empty(home):
    try:
        return api.view_choices(home)
    except RundbError:
        return {"statuses": [], "ops": []}


def _run_page(home, params, spec):
    run, summaries = api.run_details(home, spec)
    page = _template("run.html").render(home=home.path, run=run_dict(run))
    return HTTPStatus.OK, "text/html; charset=utf-8", page.encode("utf-8")


def _status_of(table, row):
    try:
        return str(row[table["headers"].index("status")] or "")
    except ValueError:
        return ""


def _status_class(status):
    """A CSS class for any status string (``st-`` and its letters): known statuses have
    a colour, any other (``pruned``, a future one) renders plainly."""
    return "st-" + re.sub(r"[^a-z0-9-]", "", status.lower())


def _cell(value, kind, header):
    """(text, CSS class) of one table cell, as the script renders it."""
    css = "label" if header == "label" and kind == "core" else ""
    if header == "status" and kind == "core":
        css = "status " + _status_class(str(value or ""))
    if value is None:
        return "", css
    if isinstance(value, bool):
        return ("yes" if value else "no"), css
    if isinstance(value, (int, float)):
        css = (css + " num").strip()
        if isinstance(value, float) and not math.isfinite(value):
            return "", css
        if kind == "scalar" or isinstance(value, float):
            return f"{value:.6g}", css
        return str(value), css
    if isinstance(value, (dict, list)):
        return json.dumps(value), css
    return str(value), css


@functools.lru_cache(maxsize=None)
def _template(name):
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("rundb.web", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template(name)


def _static(home, params, name):
    found = _STATIC.get(name)
    if found is None:
        raise _NotFound(f"no such page: /static/{name}")
    resource, content_type = found
    return HTTPStatus.OK, content_type, _resource(resource)


@functools.lru_cache(maxsize=None)
def _resource(name):
    from importlib.resources import files

    return files("rundb.web").joinpath(name).read_bytes()


_ROUTES = [
    (re.compile(r"^/$"), _page),
    (re.compile(r"^/run/([^/]+)/?$"), _run_page),
    (re.compile(r"^/static/((?:vendor/)?[A-Za-z0-9_-][A-Za-z0-9_.-]*)$"), _static),
    (re.compile(r"^/api/table/?$"), _api_table),
    (re.compile(r"^/api/series/?$"), _api_series),
    (re.compile(r"^/api/choices/?$"), _api_choices),
    (re.compile(r"^/api/runs/?$"), _api_runs),
    (re.compile(r"^/api/compare/?$"), _api_compare),
    (re.compile(r"^/api/runs/([^/]+)/?$"), _api_run),
    (re.compile(r"^/api/runs/([^/]+)/scalars/?$"), _api_scalars),
    (re.compile(r"^/api/runs/([^/]+)/output/?$"), _api_output),
    (re.compile(r"^/api/runs/([^/]+)/files/?$"), _api_files),
]

#: Every route's path, with ``{run}`` where it takes a run (for tests and docs).
ROUTES = ["/", "/run/{run}", "/static/view.js", "/api/table", "/api/series?run={run}",
          "/api/choices", "/api/runs", "/api/compare", "/api/runs/{run}",
          "/api/runs/{run}/scalars", "/api/runs/{run}/output", "/api/runs/{run}/files"]


# --- data -----------------------------------------------------------------------------


def run_dict(run):
    """A run as JSON data: the one JSON form of a run (rundb.run.run_json)."""
    from ..run import run_json

    return run_json(run)
