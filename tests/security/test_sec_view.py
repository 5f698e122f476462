"""Finding 4 (medium) and part of 6: `rundb view`.

The page was filled by successive ``.replace("{{...}}")`` calls, so a filter text holding
``{{rows}}`` pulled the rows' HTML into the input's ``value`` attribute, and a run id such as
``x autofocus onfocus=alert(document.domain) y`` gave the ``<input>`` an event handler; the
CSP allowed inline scripts. A GET of the runs API recorded vanished runs as errors (a write).
"""

import html.parser
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hostile import home_run, set_index_id

from rundb.web.view import make_server, server_url

XSS_ID = "x autofocus onfocus=alert(document.domain) y"
XSS_LABEL = '"><img src=x onerror=alert(1)><script>alert(2)</script>{{rows}}'


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


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class _Elements(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self):
        super().__init__()
        self.tags = []
        self.scripts = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.scripts.append(data)


def elements(body):
    parser = _Elements()
    parser.feed(body)
    return parser


@pytest.fixture
def hostile_runs(home, index):
    a = home_run(home, index, label=XSS_LABEL)
    b = home_run(home, index, label="plain")
    set_index_id(home, b.id, XSS_ID)  # an index from elsewhere
    return a, b


def test_a_filter_holding_a_placeholder_cannot_inject_the_rows(server, hostile_runs):
    flt = "label != '{{rows}}'"
    status, _headers, body = fetch(server + "?" + urllib.parse.urlencode({"filter": flt}))
    assert status == 200
    page = elements(body)
    inputs = [attrs for tag, attrs in page.tags if tag == "input" and attrs.get("id") == "filter"]
    assert inputs == [{"type": "text", "id": "filter", "name": "filter", "value": flt,
                       "placeholder": "filter, e.g. =lr > 0.01 and loss < 0.3",
                       "autocomplete": "off"}]


def test_no_run_text_becomes_markup(server, hostile_runs):
    _status, _headers, body = fetch(server)
    page = elements(body)
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "autofocus" not in attrs, (tag, attrs)
    assert "img" not in [tag for tag, _attrs in page.tags]
    rows = [attrs for tag, attrs in page.tags if tag == "tr" and "data-id" in attrs]
    assert XSS_ID in [attrs["data-id"] for attrs in rows]
    assert page.scripts == []  # no inline script at all
    assert [attrs.get("src") for tag, attrs in page.tags if tag == "script"] == [
        "/static/vendor/echarts.min.js", "/static/view.js"]


def test_the_csp_forbids_inline_script_and_style(server, hostile_runs):
    _status, headers, body = fetch(server)
    csp = headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "<style" not in body and " style=" not in body


def test_the_script_and_styles_are_served_by_the_view(server):
    status, headers, js = fetch(server + "static/view.js")
    assert status == 200 and headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js
    status, headers, _css = fetch(server + "static/view.css")
    assert status == 200 and headers["Content-Type"] == "text/css; charset=utf-8"
    for path in ("static/view.py", "static/..%2fview.py", "static/../web/view.py",
                 "static/%2e%2e/templates/index.html", "static/nope.js"):
        assert fetch(server + path)[0] == 404, path


def test_get_requests_never_write_to_the_index(server, home, index):
    # A run recorded as running on this host whose process is gone. The CLI's readers mark
    # it as an error; the view's GETs must leave the index as it is.
    from rundb.run import this_host

    run = home_run(home, index, status="running", host=this_host(), pid=2**22 + 12345)
    for path in ("", "api/runs", "api/compare", f"api/runs/{run.id}",
                 f"api/runs/{run.id}/scalars"):
        assert fetch(server + path)[0] == 200, path
    conn = sqlite3.connect(home.index_path)
    try:
        assert conn.execute("SELECT status FROM run").fetchall() == [("running",)]
        assert conn.execute("SELECT count(*) FROM run_attr").fetchone() == (0,)
    finally:
        conn.close()
