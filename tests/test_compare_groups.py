"""compare with grouping (issue 19): ``--group-by`` and ``group by`` in -c/-cc print
``mean ± std (n)`` per numeric column in a table, separate columns in CSV and JSON; the
notebook's ``runs().compare(group_by=...)`` gives the same numbers as a DataFrame."""

import csv
import io
import json
import statistics

import pytest

from test_query_groups import cv_grid

pytestmark = pytest.mark.slow


def _check(row, expected_values):
    mean, std, n = (float(x) for x in row)
    assert mean == pytest.approx(statistics.mean(expected_values), rel=1e-9)
    assert std == pytest.approx(statistics.stdev(expected_values), rel=1e-9)
    assert int(n) == len(expected_values)


def test_compare_grouped(cli, home, project, tmp_path):
    batch, expected = cv_grid(cli, home, project, tmp_path)
    where = f"where .parent = {batch.id[:8]}"

    # --group-by over compare's default columns, CSV: separate mean/std/count columns
    out = cli("compare", "-c", f"val_acc {where}", "--group-by", "=C", "--csv", "-")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [float(r["C"]) for r in rows] == [0.1, 1.0]
    head = list(rows[0])
    assert head[:2] == ["C", "count(*)"]
    assert {"mean(val_acc)", "std(val_acc)", "count(val_acc)", "mean(=fold)"} <= set(head)
    assert "mean(=C)" not in head and "run" not in head and "operation" not in head
    assert "mean(=log)" not in head  # a text flag has no mean: left out
    for r in rows:
        _check([r["mean(val_acc)"], r["std(val_acc)"], r["count(val_acc)"]],
               expected[float(r["C"])])
        assert r["count(*)"] == "5" and float(r["mean(=fold)"]) == 2.0

    # group by inside -cc, the same numbers through JSON
    text = f"=C, val_acc {where} group by =C"
    data = json.loads(cli("compare", "-cc", text, "--json").stdout)
    assert [list(d) for d in data][0] == ["C", "count(*)", "mean(val_acc)", "std(val_acc)",
                                          "count(val_acc)"]
    for d in data:
        _check([d["mean(val_acc)"], d["std(val_acc)"], d["count(val_acc)"]], expected[d["C"]])

    # the table: one "mean ± std (n)" cell per numeric column, headed by the column
    out = cli("compare", "-cc", text)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["C", "count(*)", "val_acc"]
    for line in lines[1:]:
        c, n, mean, pm, std, count = line.split()
        values = expected[float(c)]
        assert (n, pm, count) == ("5", "±", "(5)")
        assert float(mean) == pytest.approx(statistics.mean(values), rel=1e-5)
        assert float(std) == pytest.approx(statistics.stdev(values), rel=1e-2)

    # --max sorts groups by the column's mean, --top keeps the first; all runs grouped
    # (the unrelated ones too) when there is no where
    out = cli("compare", "-cc", "val_acc", "--group-by", "=C", "--max", "val_acc",
              "--top", "1", "--csv", "-")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 1 and float(rows[0]["C"]) == 1.0 and rows[0]["count(*)"] == "6"

    # having filters groups; a bad group key is a one-line error
    out = cli("compare", "-cc", f"val_acc {where} group by =C having mean(val_acc) > 0.7",
              "--csv", "-")
    assert [float(r["C"]) for r in csv.DictReader(io.StringIO(out.stdout))] == [1.0]
    out = cli("compare", "--group-by", "mean(val_acc)")
    assert out.exit_code != 0
    assert "cannot group by an aggregate" in out.output

    # the notebook: the same numbers, flat columns as in CSV
    from rundb import ipy

    with ipy.use_home(home.path):
        runs = ipy.runs(filter=f".parent = {batch.id[:8]}")
        frame = runs.compare(group_by="C")
        assert list(frame.columns[:2]) == ["C", "count(*)"]
        for _i, r in frame.iterrows():
            _check([r["mean(val_acc)"], r["std(val_acc)"], r["count(val_acc)"]],
                   expected[r["C"]])
        frame = runs.compare(group_by=["C", "=fold"])
        assert len(frame) == 10 and list(frame["count(*)"]) == [1] * 10
        # a slice of the frame groups only its own runs
        assert runs[:3].compare(group_by="C")["count(*)"].sum() == 3


def test_query_help_describes_the_grammar(cli):
    text = cli("query", "--help").output
    for words in ("group by COLS [having EXPR]", "mean(COL)", "std_pop(COL)", "median(COL)",
                  "count(*)", "like 'res%'", "ilike", "=opt_*, val_*", "8 or more hex digits"):
        assert words in text, words
    assert "--group-by COLS" in cli("compare", "--help").output
