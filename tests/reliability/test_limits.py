"""Very wide or very long queries: a clear error, and parse time linear in the input
(issue 13, failure 9)."""

import gc
import sys
import time

import pytest

from faultlib import env_for, one_line_error, rundb

from rundb.query import parse

pytestmark = pytest.mark.slow


def test_a_query_wider_than_the_backend_allows_is_one_line(home, project):
    done = rundb("-H", home.path, "run", "-y", "--", sys.executable, "-c", "print('loss: 1')",
                 cwd=str(project), env=env_for())
    assert done.returncode == 0, done.stderr
    text = "select " + ", ".join(["loss"] * 2000)
    result = rundb("query", text, home=home)
    assert result.returncode == 2
    assert one_line_error(result) == (
        "rundb: too many columns: 2000 columns need 4001 result columns (with the run id "
        "and flag types), more than the 2000 one query can return")
    ok = rundb("query", "select " + ", ".join(["loss"] * 999), home=home)
    assert ok.returncode == 0, ok.stderr


def _parse_seconds(n_columns, tag):
    text = "select " + ", ".join(f"{tag}{i}" for i in range(n_columns))
    gc.collect()
    gc.disable()  # the collector's pauses are noise here
    try:
        start = time.process_time()  # this process's CPU time: others' load not counted
        parse(text)
        return time.process_time() - start
    finally:
        gc.enable()


def test_parse_time_grows_linearly_with_the_select_list():
    small = min(_parse_seconds(4_000, f"a{k}_") for k in range(3))
    large = min(_parse_seconds(32_000, f"b{k}_") for k in range(3))
    # Eight times the text: about eight times the time (it was 14x, and growing).
    assert large / small < 11, (small, large)
