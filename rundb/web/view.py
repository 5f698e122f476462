"""A small web view over the index (``rundb view``): standard library only.

One HTML page, its script and its style sheet (nothing is fetched from elsewhere) and a JSON
API, all answered from the index through :mod:`rundb.api`; no run directory is read::

    GET /                                       the page: runs, a filter box, a compare
                                                table and, per run, its scalar curves (SVG)
    GET /static/view.js, /static/view.css       the page's script and styles
    GET /api/runs?filter=EXPR&limit=N           runs, newest first (the data of `rundb runs`)
    GET /api/compare?columns=Q&filter=EXPR      {"headers", "kinds", "rows", "run_ids"}
                                                (the data of `rundb compare`)
    GET /api/runs/<run>                         {"run", "scalars"}: attributes, flags and
                                                scalar summaries
    GET /api/runs/<run>/scalars?tag=KEY         {"run", "series": [{"key", "prefix", "tag",
                                                "points": [[step, value, time], ...]}]}

The page is the Jinja2 template ``templates/index.html`` (package data) rendered with
autoescaping, so every text from the index or the URL reaches the HTML escaped by one rule;
its script builds the rest of the page with text nodes only. The Content-Security-Policy
allows scripts and styles from the view itself and nothing inline. Requests only read: no
GET records vanished runs as errors (the CLI's readers do that) or writes anything else.

``<run>`` is a full or short id. Errors are JSON ``{"error": "<one line>"}``: 400 for a
malformed filter, columns or parameter, 404 for an unknown run or path, 500 for anything
else. The server binds 127.0.0.1 by default; bound to a loopback address, it answers only
requests whose Host is a loopback name, so a web page elsewhere cannot read it through DNS
rebinding.
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

__all__ = ["make_server", "server_url"]

#: Runs listed (and compared) when the request names no limit.
DEFAULT_LIMIT = 200

_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}

#: Scripts and styles only from the view itself, nothing inline; no frames, plugins or
#: form posts elsewhere.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

#: The static files served, by URL name: (package resource, content type).
_STATIC = {
    "view.js": ("static/view.js", "text/javascript; charset=utf-8"),
    "view.css": ("static/view.css", "text/css; charset=utf-8"),
}


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
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("Referrer-Policy", "no-referrer")
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

    run, summaries = api.run_info(home, spec, reap=False)
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
    rows = [{"id": run.id, "short_id": run.short_id, "op": run.op, "started": _time(run.started),
             "status": run.status, "label": run.label} for run in runs]
    page = _template().render(
        home=home.path, filter=params.get("filter", ""), error=error, runs=rows,
        count=f"{len(runs)} of {total}" if total > len(runs) else str(len(runs)))
    return status, "text/html; charset=utf-8", page.encode("utf-8")


@functools.lru_cache(maxsize=None)
def _template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("rundb.web", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("index.html")


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


class _NotFound(RunNotFound):
    "A path the view does not serve (answered with HTTP 404)."


_ROUTES = [
    (re.compile(r"^/$"), _page),
    (re.compile(r"^/static/([A-Za-z0-9_.-]+)$"), _static),
    (re.compile(r"^/api/runs/?$"), _api_runs),
    (re.compile(r"^/api/compare/?$"), _api_compare),
    (re.compile(r"^/api/runs/([^/]+)/?$"), _api_run),
    (re.compile(r"^/api/runs/([^/]+)/scalars/?$"), _api_scalars),
]


# --- data -----------------------------------------------------------------------------


def run_dict(run):
    """A run as JSON data: the one JSON form of a run (rundb.run.run_json)."""
    from ..run import run_json

    return run_json(run)


def scalar_series(home, spec, key=None, all_scalars=False):
    """(Run, [series]) of one run's scalar points from the index, in write order.

    :param key: one scalar as users name it (``loss``, ``val#acc``); None for all of them
        (``sys/*`` left out unless ``all_scalars``)
    :raises RunNotFound: ``spec`` matches no run
    """
    from ..catalog import BARE_PREFIXES, scalar_key_name, split_scalar_key

    prefix, tag = split_scalar_key(key) if key else (None, None)
    run, points = api.run_scalar_points(home, spec, prefix=prefix, tag=tag, reap=False)
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
