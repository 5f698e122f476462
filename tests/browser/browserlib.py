"""Fixtures and helpers of the browser tests of `rundb view` (imported by the test modules;
not a conftest.py, whose module name would clash with tests/conftest.py's): the real page
in headless Chromium (Debian's `chromium` package) driven by Playwright for Python, against a real server on 127.0.0.1 over a real
home whose runs were made by real `rundb run` processes.

Playwright's own browser download is never used: Playwright launches /usr/bin/chromium
(``RUNDB_TEST_CHROMIUM`` names another binary). `make test` installs Debian's chromium
first (`make chromium`); run directly as root, the session installs it when missing; else
the tests skip with one line saying how to enable them (in CI, where .ci/run sets
``RUNDB_TEST_BROWSER_REQUIRED=1``, they fail instead). Screenshots go to
``tests/artifacts/`` (git-ignored; ``RUNDB_TEST_ARTIFACTS`` names another folder).
"""

import os
import shutil
import subprocess
import threading

import pytest

CHROMIUM = os.environ.get("RUNDB_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.environ.get("RUNDB_TEST_ARTIFACTS") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")

#: Without the background-networking flags Chromium's own connections are refused many at
#: a time here; a fresh profile per session keeps runs independent.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def _skip_or_fail(message):
    """Skip with ``message``; in CI (``RUNDB_TEST_BROWSER_REQUIRED=1``, set by .ci/run) a
    missing browser fails the tests instead."""
    if os.environ.get("RUNDB_TEST_BROWSER_REQUIRED") == "1":
        pytest.fail(f"{message} (RUNDB_TEST_BROWSER_REQUIRED=1)", pytrace=False)
    pytest.skip(message)


def _ensure_chromium():
    """The Chromium binary, installed from Debian's packages when missing and root."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get") and CHROMIUM == "/usr/bin/chromium":
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
                       check=False, capture_output=True)
        if os.path.exists(CHROMIUM):
            return CHROMIUM
    _skip_or_fail(f"no Chromium at {CHROMIUM}: run `make chromium` as root (apt-get install "
                  "chromium chromium-driver) or set RUNDB_TEST_CHROMIUM=/path/to/chromium")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """A headless Chromium launched through Playwright (a fresh profile)."""
    binary = _ensure_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("playwright is not installed (pip install -r requirements-dev.txt)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=binary, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900})
        context.set_default_timeout(15_000)
        yield context
        context.close()


@pytest.fixture
def page(chromium):
    """A new tab; JavaScript errors on it fail the test."""
    tab = chromium.new_page()
    errors = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    # (a request cut short by a navigation the test makes is not an error of the page)
    tab.on("console", lambda m: errors.append(m.text)
           if m.type == "error" and "ERR_ABORTED" not in m.text else None)
    yield tab
    tab.close()
    assert errors == [], errors


@pytest.fixture
def shot(request):
    """shot(page, name): save a screenshot as a test artifact; returns its path."""
    os.makedirs(ARTIFACTS, exist_ok=True)

    def take(tab, name, **kw):
        path = os.path.join(ARTIFACTS, f"{name}.png")
        tab.screenshot(path=path, **kw)
        return path

    return take


def serve(home):
    """(url, stop) of a real view server over ``home`` on 127.0.0.1."""
    from rundb.web.view import make_server, server_url

    srv = make_server(home, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()

    def stop():
        srv.shutdown()
        srv.server_close()
        thread.join(5)

    return server_url(srv), stop
