"""bench/bench_query.py's grouped-vs-ungrouped figure (issue 19) measures what it says: the
grouped query's groups hold every run the ungrouped query returns."""

import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench_query():
    name = "rundb_bench_query"
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "bench", "bench_query.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_grouped_vs_ungrouped_figure_on_a_small_corpus():
    grouped_ms, ungrouped_ms, groups = _bench_query().grouped(runs=300, repeat=1)
    assert groups == 5  # the five values of C
    assert grouped_ms > 0 and ungrouped_ms > 0
