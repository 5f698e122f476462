"""compare --csv and export --csv stream whole tables (issue 22): the exact text they
print for awkward values, on SQLite and PostgreSQL, and the shortcuts that make it fast
(names found by probes, start times from an hourly offset, rows converted row by row)
give what the plain paths give. Speed is measured in bench/scale.py, never here."""

import datetime
import math
import time

import pytest

from rundb.api import comparison
from rundb.api.selection import RunFilter, where_clause
from rundb.index import conditions, reader, writer
from rundb.run import Run

pytestmark = pytest.mark.backends  # every test on SQLite and on PostgreSQL

# 2020-09-13 12:26:40 UTC
T0 = 1_600_000_000 * 1_000_000


@pytest.fixture
def utc(monkeypatch):
    """The local time zone is UTC for the test (the CSV shows local start times)."""
    _set_tz(monkeypatch, "UTC")
    yield
    monkeypatch.undo()
    time.tzset()


def _set_tz(monkeypatch, name):
    monkeypatch.setenv("TZ", name)
    time.tzset()


def _run(index, n, flags, points=(), **fields):
    run = Run(**{"id": f"{n}" * 32, "op": "train", "status": "completed", "created": T0 + n,
                 "flags": flags, **fields})
    rid = writer.insert_run(index, run)
    writer.add_scalars(index, rid, [(".rundb", tag, step, value, 0.0)
                                    for tag, step, value in points])
    return rid


def _awkward_runs(index):
    # newest first in the output: 3, 2, 1
    _run(index, 1, {"lr": float("nan"), "big": 2**62, "on": True, "layers": [1, "two"],
                    "opt": {"b": 1, "a": "x"}, "none": None, "name": "résumé, \"quoted\""},
         [("loss", 0, 1.0), ("loss", 4, float("nan")), ("acc", 2, float("inf"))],
         started=T0, stopped=T0 + 90_061_500_000, label="λ ünïcode\nline")
    _run(index, 2, {"lr": 0.01, "big": -5, "on": False, "layers": [], "opt": {},
                    "name": "plain"},
         [("loss", 3, 0.5), ("acc", 1, -float("inf"))],
         status="error", started=T0 + 3_599_999_999)
    _run(index, 3, {}, status="pending")


EXPECTED = (
    "run,operation,started,time,status,label,big,layers,lr,name,none,on,opt,step,acc,loss\n"
    "33333333,train,,,pending,,,,,,,,,,,\n"
    "22222222,train,2020-09-13 13:26:39,,error,,-5,[],0.01,plain,,False,{},3,-inf,0.5\n"
    "11111111,train,2020-09-13 12:26:40,25:01:01,completed,\"λ ünïcode\nline\","
    "4611686018427387904,\"[1, \"\"two\"\"]\",nan,\"résumé, \"\"quoted\"\"\",,True,"
    "\"{\"\"a\"\": \"\"x\"\", \"\"b\"\": 1}\",4,inf,nan\n"
)


@pytest.mark.parametrize("command", [["compare", "--csv", "-"], ["export", "--csv", "-", "-y"]])
def test_whole_table_csv_prints_awkward_values_exactly(cli, index, utc, command):
    # NaN flag and last value (stored as NULL) print nan, a missing value prints nothing;
    # inf, big ints, bools, JSON lists and dicts, unicode and newlines in labels, quotes,
    # a run time over 24 hours, a run without a stop or start time.
    _awkward_runs(index)
    assert cli(*command).stdout == EXPECTED


def test_whole_table_csv_in_a_zone_with_summer_time(cli, index, monkeypatch):
    _set_tz(monkeypatch, "America/New_York")
    # 2021-03-14 06:59:59 UTC is 01:59:59 EST; a second later it is 03:00:00 EDT
    at = int(datetime.datetime(2021, 3, 14, 6, 59, 59,
                               tzinfo=datetime.timezone.utc).timestamp()) * 1_000_000
    for n, started in enumerate((at, at + 1_000_000, at + 3_600_000_000), 1):
        _run(index, n, {"x": n}, started=started, stopped=started + 61_000_000)
    lines = cli("compare", "--csv", "-").stdout.splitlines()
    assert lines[1:] == ["33333333,train,2021-03-14 03:59:59,0:01:01,completed,,3",
                         "22222222,train,2021-03-14 03:00:00,0:01:01,completed,,2",
                         "11111111,train,2021-03-14 01:59:59,0:01:01,completed,,1"]
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns",
                                  "Asia/Kathmandu", "Australia/Lord_Howe", "Africa/Monrovia",
                                  "Europe/Amsterdam"])
def test_start_times_from_hourly_offsets_are_those_of_datetime(monkeypatch, zone):
    # _LocalTimes looks the offset up once an hour; it must give _format_time's text at
    # every second, across summer time changes, half- and quarter-hour zones (St Johns,
    # Kathmandu, Lord Howe's 30-minute change) and offsets with seconds (Monrovia before
    # 1972, Amsterdam before 1937), before and after 1970.
    _set_tz(monkeypatch, zone)
    try:
        times = comparison._LocalTimes()
        starts = [datetime.datetime(y, m, 1, tzinfo=datetime.timezone.utc)
                  for y in (1930, 1969, 1970, 1971, 1985, 2021, 2038, 2050) for m in range(1, 13)]
        checked = 0
        for start in starts:
            base = int(start.timestamp()) * 1_000_000
            # a month in steps of 17 minutes 3.000001 seconds: every minute and second
            for k in range(0, 31 * 24 * 60 * 60 * 1_000_000, 1_023_000_001):
                us = base + k
                expected = comparison._format_time(
                    comparison._EPOCH + datetime.timedelta(microseconds=us))
                assert times.text(us) == expected, (zone, us)
                checked += 1
        assert checked > 10_000
        assert times.text(None) == ""
        assert times.text(-1) == comparison._format_time(
            comparison._EPOCH - datetime.timedelta(microseconds=1))
    finally:
        monkeypatch.undo()
        time.tzset()


def test_durations_print_hours_past_a_day():
    durations = comparison._Durations()
    assert [durations.text(s) for s in (None, 0, 59.999, 3600, 90_061.5, 360_000, 0.5)] == \
        ["", "0:00:00", "0:00:59", "1:00:00", "25:01:01", "100:00:00", "0:00:00"]


def _names(index, where, params):
    return (sorted(conditions.flag_names_of(index, where, params)),
            sorted(conditions.scalar_keys_of(index, where, params)),
            conditions.compare_lists(index, where, params))


def test_names_found_by_probes_are_those_read_run_by_run(index, monkeypatch):
    # Over FEW_RUNS runs the flag names and scalar keys are probed name by name: the
    # same names, and none that only a run outside the selection has.
    _awkward_runs(index)
    gone = _run(index, 4, {"only_deleted": 1}, [("only_deleted", 0, 1.0)], deleted=True)
    _run(index, 5, {"lr": 0.5}, attrs={"compare": ["=lr"]})
    _run(index, 6, {"lr": 0.6}, attrs={"compare": ["=lr", "loss"]})
    assert gone
    flt = RunFilter(include_batch=False)
    where, params = where_clause(index, flt)
    run_by_run = _names(index, where, params)
    monkeypatch.setattr(conditions, "FEW_RUNS", 2)
    probed = _names(index, where, params)
    assert probed == run_by_run
    flags, keys, lists = probed
    assert flags == ["big", "layers", "lr", "name", "none", "on", "opt"]
    assert [tag for _prefix, tag in keys] == ["acc", "loss"]
    assert lists == ['["=lr", "loss"]', '["=lr"]']
    # a selection of no run has no names either way
    assert _names(index, where + " AND r.op = ?", [*params, "nothing"]) == ([], [], [])


def test_nan_free_keys(index):
    _awkward_runs(index)
    catalog = reader.catalog(index)
    ids = {k.tag: k.id for k in catalog.scalar_keys}
    # loss ends in a NaN in run 1; acc ends in +-inf, never NaN
    assert conditions.nan_free_keys(index, [ids["loss"], ids["acc"]]) == {ids["acc"]}
    assert conditions.nan_free_keys(index, []) == set()


def test_plain_flags(index, index_backend):
    # flags whose stored values read as they are: no NULL (null, NaN), no 0 or 1 (bool),
    # no text starting with [ or { (JSON); ints and other text are plain
    _awkward_runs(index)
    _run(index, 4, {"zero": 0, "bracket": "[not json", "brace": "{x", "text": "a[b"})
    ids = reader.catalog(index).flag_names
    plain = {name for name, i in ids.items() if i in conditions.plain_flags(index, ids.values())}
    assert plain == ({"big", "name", "text"} if index_backend == "sqlite" else set())
    assert conditions.plain_flags(index, []) == set()


@pytest.mark.parametrize("options", [{}, {"columns": "first loss, min loss, .started"},
                                     {"strict_columns": "=on, =opt, loss, loss step"}])
def test_streamed_rows_are_the_table_rows(index, utc, options):
    # the streamed rows (raw rows converted row by row, NaN checks only where a NaN may
    # be) equal the rows of the table compare shows, value for value (nan as nan)
    _awkward_runs(index)
    flt = RunFilter(include_batch=False)
    table = comparison.compare_table(index, (), flt, **options)
    streamed = comparison.compare_table(index, (), flt, stream=True, **options)
    rows = list(streamed.rows)
    assert streamed.headers == table.headers
    assert [[_same(v) for v in row] for row in rows] == \
        [[_same(v) for v in row] for row in table.rows]
    assert [[type(v) for v in row] for row in rows] == \
        [[type(v) for v in row] for row in table.rows]


def _same(value):
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def test_a_run_written_while_the_table_streams_cannot_print_wrong_values(index, monkeypatch):
    # The shortcuts are chosen by looking at the index (no NaN last loss, no bool lr)
    # before the rows are read. A writer committing between the two (a run with a NaN
    # loss and a bool flag) used to print that run with a blank loss and lr 1: the hints
    # and the rows are now read from one snapshot, so the run waits for the next read.
    from rundb.index import db

    _run(index, 1, {"lr": 0.5}, [("loss", 0, 1.0)])
    plain_values = comparison._plain_values

    def hints_then_a_writer(*args):
        hints = plain_values(*args)
        other = db.open_index(index.path)
        try:
            _run(other, 2, {"lr": True}, [("loss", 0, float("nan"))])
        finally:
            other.close()
        return hints

    monkeypatch.setattr(comparison, "_plain_values", hints_then_a_writer)
    table = comparison.compare_table(index, (), RunFilter(), stream=True)
    rows = [dict(zip(table.headers, row)) for row in table.rows]
    assert [(r["run"], r["lr"], r["loss"]) for r in rows] == [("11111111", 0.5, 1.0)]
    monkeypatch.undo()
    table = comparison.compare_table(index, (), RunFilter(), stream=True)
    rows = {row[0]: dict(zip(table.headers, row)) for row in table.rows}
    assert rows["22222222"]["lr"] is True and math.isnan(rows["22222222"]["loss"])
    # The snapshot ended with the rows: a write on this connection goes through.
    _run(index, 3, {}, [])


@pytest.mark.parametrize("command", [["compare", "--csv", "-"], ["export", "--csv", "-", "-y"]])
def test_a_reader_that_stops_early_gets_no_traceback(home, index, command):
    # `rundb compare --csv - | head -1`: the pipe closes while rows stream; the read
    # snapshot used to be ended after the index was closed ("Exception ignored ...
    # Cannot operate on a closed database" on stderr).
    import os
    import subprocess
    import sys

    with index.atomic():
        for n in range(1500):  # more rows than a pipe holds
            writer.insert_run(index, Run(id=f"{n:032x}", op="train", status="completed",
                                         created=T0 + n, flags={"lr": n / 7}))
    env = dict(os.environ, RUNDB_HOME=home.path)
    if home.index_url:
        env["RUNDB_INDEX"] = home.index_url
    proc = subprocess.Popen([sys.executable, "-m", "rundb_cli.main", *command], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"run,")
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
