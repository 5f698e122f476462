"""Time range specs for --started (rundb.query.timerange).

The tables below are the "Time range spec" doctests of the Guild seed, case for
case, plus rundb's own additions marked as such.
"""

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ply.lex
import ply.yacc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rundb.query.timerange as tr
from rundb.errors import TimeRangeError
from rundb.query.timerange import TimeRange, parse_time_range

REF = datetime(2019, 5, 1, 14, 35, 23)
REF_1900 = datetime(1900, 1, 1)
REF_1989 = datetime(1989, 3, 28)


def dt(text):
    return None if text is None else datetime.fromisoformat(text)


def tokens(text):
    return [(t.type, t.value, t.lexpos) for t in tr._tokenize(text)]


# --------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------

LEX_CASES = [
    ("", []),
    # numbers
    ("1", [("NUMBER", 1, 0)]),
    ("2 3 4", [("NUMBER", 2, 0), ("NUMBER", 3, 2), ("NUMBER", 4, 4)]),
    # dates
    ("2019-10-31", [("LONGDATE", (2019, 10, 31), 0)]),
    ("19-11-30", [("MEDIUMDATE", (19, 11, 30), 0)]),
    ("12-31", [("SHORTDATE", (12, 31), 0)]),
    ("9-8", [("SHORTDATE", (9, 8), 0)]),
    ("1-31", [("SHORTDATE", (1, 31), 0)]),
    ("1-32", [("SHORTDATE", (1, 32), 0)]),
    ("2018-13-01", [("LONGDATE", (2018, 13, 1), 0)]),
    # times
    ("11:10", [("SHORTTIME", (11, 10), 0)]),
    ("0:00", [("SHORTTIME", (0, 0), 0)]),
    ("1:00", [("SHORTTIME", (1, 0), 0)]),
    ("13:30", [("SHORTTIME", (13, 30), 0)]),
    ("23:59", [("SHORTTIME", (23, 59), 0)]),
    ("24:00", [("SHORTTIME", (24, 0), 0)]),
    ("24:00:00", [("LONGTIME", (24, 0, 0), 0)]),
    ("24:01:02", [("LONGTIME", (24, 1, 2), 0)]),
    # units
    (
        "minutes hours days weeks months years",
        [
            ("MINUTE", "minutes", 0),
            ("HOUR", "hours", 8),
            ("DAY", "days", 14),
            ("WEEK", "weeks", 19),
            ("MONTH", "months", 25),
            ("YEAR", "years", 32),
        ],
    ),
    (
        "minute hour day week month year",
        [
            ("MINUTE", "minute", 0),
            ("HOUR", "hour", 7),
            ("DAY", "day", 12),
            ("WEEK", "week", 16),
            ("MONTH", "month", 21),
            ("YEAR", "year", 27),
        ],
    ),
    (
        "MINutes houR DaY WEEKs MONths yeARs",
        [
            ("MINUTE", "MINutes", 0),
            ("HOUR", "houR", 8),
            ("DAY", "DaY", 13),
            ("WEEK", "WEEKs", 17),
            ("MONTH", "MONths", 23),
            ("YEAR", "yeARs", 30),
        ],
    ),
    # variations / abbreviations
    ("min minute minutes", [("MINUTE", "min", 0), ("MINUTE", "minute", 4), ("MINUTE", "minutes", 11)]),
    ("hr hour hours", [("HOUR", "hr", 0), ("HOUR", "hour", 3), ("HOUR", "hours", 8)]),
    # other reserved
    (
        "today yesterday this last ago before after between and",
        [
            ("TODAY", "today", 0),
            ("YESTERDAY", "yesterday", 6),
            ("THIS", "this", 16),
            ("LAST", "last", 21),
            ("AGO", "ago", 26),
            ("BEFORE", "before", 30),
            ("AFTER", "after", 37),
            ("BETWEEN", "between", 43),
            ("AND", "and", 51),
        ],
    ),
    (
        "toDaY yesTERday thIS LAsT AGO beFoRE AFTer betWEEn AND",
        [
            ("TODAY", "toDaY", 0),
            ("YESTERDAY", "yesTERday", 6),
            ("THIS", "thIS", 16),
            ("LAST", "LAsT", 21),
            ("AGO", "AGO", 26),
            ("BEFORE", "beFoRE", 30),
            ("AFTER", "AFTer", 37),
            ("BETWEEN", "betWEEn", 43),
            ("AND", "AND", 51),
        ],
    ),
    # expressions
    (
        "after 5 minutes ago",
        [("AFTER", "after", 0), ("NUMBER", 5, 6), ("MINUTE", "minutes", 8), ("AGO", "ago", 16)],
    ),
    ("before this week", [("BEFORE", "before", 0), ("THIS", "this", 7), ("WEEK", "week", 12)]),
    (
        "between 1 and 3 hours ago",
        [
            ("BETWEEN", "between", 0),
            ("NUMBER", 1, 8),
            ("AND", "and", 10),
            ("NUMBER", 3, 14),
            ("HOUR", "hours", 16),
            ("AGO", "ago", 22),
        ],
    ),
    (
        "between 5-1 and 5-31",
        [("BETWEEN", "between", 0), ("SHORTDATE", (5, 1), 8), ("AND", "and", 12), ("SHORTDATE", (5, 31), 16)],
    ),
    # rundb additions: plural abbreviations, other whitespace
    ("mins hrs", [("MINUTE", "mins", 0), ("HOUR", "hrs", 5)]),
    ("\ttoday\n", [("TODAY", "today", 1)]),
]


@pytest.mark.parametrize("text,expected", LEX_CASES)
def test_tokenize(text, expected):
    assert tokens(text) == expected


LEX_ERRORS = [
    ("1:2", "unexpected ':2' at position 1", 1),
    ("000:0", "unexpected ':0' at position 3", 3),
    ("a", "unexpected 'a' at position 0", 0),
    ("aftr last week", "unexpected 'aftr' at position 0", 0),
    ("after the equinox", "unexpected 'the' at position 6", 6),
    ("yearsss", "unexpected 'ss' at position 5", 5),
    ("2015-01-03-01", "unexpected '-01' at position 10", 10),
    # rundb additions
    ("12:345", "unexpected ':345' at position 2", 2),
    ("5 days ago!", "unexpected '!' at position 10", 10),
    ("1" * 21 + " days ago", "number too large at position 0", 0),
]


@pytest.mark.parametrize("text,msg,pos", LEX_ERRORS)
def test_tokenize_error(text, msg, pos):
    with pytest.raises(TimeRangeError) as e:
        tokens(text)
    assert str(e.value) == msg
    assert e.value.pos == pos


@pytest.mark.parametrize("text,msg,pos", LEX_ERRORS)
def test_parse_reports_lex_errors_first(text, msg, pos):
    # The whole text is lexed before parsing, so "yearsss" reports the bad
    # "ss" rather than a misplaced "years".
    with pytest.raises(TimeRangeError) as e:
        parse_time_range(text)
    assert str(e.value) == msg
    assert e.value.pos == pos


# --------------------------------------------------------------------------
# Parser: (spec, ref, start, end)
# --------------------------------------------------------------------------

RANGE_CASES = [
    # minute ranges
    ("this minute", REF, "2019-05-01 14:35:00", "2019-05-01 14:36:00"),
    ("1 minute ago", REF, "2019-05-01 14:34:00", "2019-05-01 14:35:00"),
    ("5 minutes ago", REF, "2019-05-01 14:30:00", "2019-05-01 14:31:00"),
    # hour ranges
    ("this hour", REF, "2019-05-01 14:00:00", "2019-05-01 15:00:00"),
    ("1 hour ago", REF, "2019-05-01 13:00:00", "2019-05-01 14:00:00"),
    ("5 hours ago", REF, "2019-05-01 09:00:00", "2019-05-01 10:00:00"),
    ("24 hours ago", REF, "2019-04-30 14:00:00", "2019-04-30 15:00:00"),
    # day ranges
    ("today", REF, "2019-05-01 00:00:00", "2019-05-02 00:00:00"),
    ("yesterday", REF, "2019-04-30 00:00:00", "2019-05-01 00:00:00"),
    ("1 day ago", REF, "2019-04-30 00:00:00", "2019-05-01 00:00:00"),
    ("2 days ago", REF, "2019-04-29 00:00:00", "2019-04-30 00:00:00"),
    ("10 days ago", REF, "2019-04-21 00:00:00", "2019-04-22 00:00:00"),
    # week ranges (weeks start on Monday)
    ("this week", REF, "2019-04-29 00:00:00", "2019-05-06 00:00:00"),
    ("1 week ago", REF, "2019-04-22 00:00:00", "2019-04-29 00:00:00"),
    ("2 weeks ago", REF, "2019-04-15 00:00:00", "2019-04-22 00:00:00"),
    ("10 weeks ago", REF, "2019-02-18 00:00:00", "2019-02-25 00:00:00"),
    # month ranges: the seed ends them on the month's last day at 00:00
    ("this month", REF, "2019-05-01 00:00:00", "2019-05-31 00:00:00"),
    ("1 month ago", REF, "2019-04-01 00:00:00", "2019-04-30 00:00:00"),
    ("3 months ago", REF, "2019-02-01 00:00:00", "2019-02-28 00:00:00"),
    ("15 months ago", REF, "2018-02-01 00:00:00", "2018-02-28 00:00:00"),
    ("39 months ago", REF, "2016-02-01 00:00:00", "2016-02-29 00:00:00"),  # leap year
    # year ranges
    ("this year", REF, "2019-01-01 00:00:00", "2020-01-01 00:00:00"),
    ("1 year ago", REF, "2018-01-01 00:00:00", "2019-01-01 00:00:00"),
    ("5 years ago", REF, "2014-01-01 00:00:00", "2015-01-01 00:00:00"),
    # before: explicit date, date and time
    ("before 2018-4-29", REF, None, "2018-04-29 00:00:00"),
    ("before 2019-4-29 9:35", REF, None, "2019-04-29 09:35:00"),
    ("before 2019-4-29 9:35:05", REF, None, "2019-04-29 09:35:05"),
    ("before 19-4-29 9:35", REF, None, "2019-04-29 09:35:00"),
    ("before 89-4-1", REF_1900, None, "1989-04-01 00:00:00"),
    # before: short date (ref year applies), short date and time
    ("before 4-29", REF, None, "2019-04-29 00:00:00"),
    ("before 4-29", REF_1900, None, "1900-04-29 00:00:00"),
    ("before 4-28 15:45", REF, None, "2019-04-28 15:45:00"),
    # before: time only (ref date applies)
    ("before 23:30", REF, None, "2019-05-01 23:30:00"),
    ("before 23:30", REF_1989, None, "1989-03-28 23:30:00"),
    # before: unit ranges
    ("before today", REF, None, "2019-05-01 00:00:00"),
    ("before 10 minutes ago", REF, None, "2019-05-01 14:25:00"),
    ("before 2 days ago", REF, None, "2019-04-29 00:00:00"),
    # after: explicit date, date and time
    ("after 2018-4-29", REF, "2018-04-29 00:00:00", None),
    ("after 2019-4-29 9:35", REF, "2019-04-29 09:35:00", None),
    ("after 19-4-29 9:35", REF, "2019-04-29 09:35:00", None),
    # after: short date, short date and time, time only (the seed elides the
    # year and date here; rundb takes them from ref, as "before" does)
    ("after 4-29", REF, "2019-04-29 00:00:00", None),
    ("after 4-28 15:45", REF, "2019-04-28 15:45:00", None),
    ("after 23:30", REF, "2019-05-01 23:30:00", None),
    # after: unit ranges
    ("after yesterday", REF, "2019-05-01 00:00:00", None),
    ("after 1 day ago", REF, "2019-05-01 00:00:00", None),
    ("after 12 months ago", REF, "2018-05-31 00:00:00", None),
    # last N units
    ("last 2 minutes", REF, "2019-05-01 14:33:23", None),
    ("last hour", REF, "2019-05-01 13:35:23", None),
    ("last 6 hours", REF, "2019-05-01 08:35:23", None),
    ("last 10 days", REF, "2019-04-21 14:35:23", None),
    # after ... ago versus last ...
    ("after 5 minutes ago", REF, "2019-05-01 14:31:00", None),
    ("last 5 minutes", REF, "2019-05-01 14:30:23", None),
    ("after 2 weeks ago", REF, "2019-04-22 00:00:00", None),
    ("after 1 month ago", REF, "2019-04-30 00:00:00", None),
    ("after 1 year ago", REF, "2019-01-01 00:00:00", None),
    ("last 3 days", REF, "2019-04-28 14:35:23", None),
    ("after 3 days ago", REF, "2019-04-29 00:00:00", None),
    ("3 days ago", REF, "2019-04-28 00:00:00", "2019-04-29 00:00:00"),
    # explicit ranges, in either order
    ("between yesterday and today", REF, "2019-04-30 00:00:00", "2019-05-02 00:00:00"),
    ("between today and yesterday", REF, "2019-04-30 00:00:00", "2019-05-02 00:00:00"),
    ("between 10 minutes ago and 5 minutes ago", REF, "2019-05-01 14:25:00", "2019-05-01 14:31:00"),
    ("between 1-1 and 1-31", REF, "2019-01-01 00:00:00", "2019-01-31 00:00:00"),
    ("between 1-31 and 1-1", REF, "2019-01-01 00:00:00", "2019-01-31 00:00:00"),
    ("between 0:00 and 12:00", REF, "2019-05-01 00:00:00", "2019-05-01 12:00:00"),
    ("between 0:00:05 and 12:00:45", REF, "2019-05-01 00:00:05", "2019-05-01 12:00:45"),
    ("between 1-1 0:00:05 and 1-1 12:00:45", REF, "2019-01-01 00:00:05", "2019-01-01 12:00:45"),
    ("between 2018-1-1 and 10 days ago", REF, "2018-01-01 00:00:00", "2019-04-22 00:00:00"),
    ("between 10 days ago and today", REF, "2019-04-21 00:00:00", "2019-05-02 00:00:00"),
    # explicit date/time on its own spans its precision
    ("10:00", REF, "2019-05-01 10:00:00", "2019-05-01 10:01:00"),
    ("2018-10-31 14:30", REF, "2018-10-31 14:30:00", "2018-10-31 14:31:00"),
    ("2018-10-31 14:30:05", REF, "2018-10-31 14:30:05", "2018-10-31 14:30:06"),
    ("2018-10-31", REF, "2018-10-31 00:00:00", "2018-11-01 00:00:00"),
    # rundb additions
    ("THIS Week", REF, "2019-04-29 00:00:00", "2019-05-06 00:00:00"),
    ("this day", REF, "2019-05-01 00:00:00", "2019-05-02 00:00:00"),
    ("0 hours ago", REF, "2019-05-01 14:00:00", "2019-05-01 15:00:00"),
    ("1 month ago", datetime(2019, 3, 31, 23, 59), "2019-02-01 00:00:00", "2019-02-28 00:00:00"),
    ("13 months ago", datetime(2019, 1, 15), "2017-12-01 00:00:00", "2017-12-31 00:00:00"),
    ("this week", datetime(2019, 5, 5, 23, 59), "2019-04-29 00:00:00", "2019-05-06 00:00:00"),  # Sunday
    ("before 89-4-1", REF, None, "2089-04-01 00:00:00"),  # ref century applies
    ("before 2 days ago", datetime(2019, 5, 1, 14, 35, 23, 999), None, "2019-04-29 00:00:00"),
    ("last 2 mins", datetime(2019, 5, 1, 14, 35, 23, 500), "2019-05-01 14:33:23.000500", None),
    ("4-29", REF, "2019-04-29 00:00:00", "2019-04-30 00:00:00"),
    ("2-29", datetime(2020, 6, 1), "2020-02-29 00:00:00", "2020-03-01 00:00:00"),
    ("00-2-29", REF, "2000-02-29 00:00:00", "2000-03-01 00:00:00"),
    ("between this year and today", REF, "2019-01-01 00:00:00", "2020-01-01 00:00:00"),
    ("between 0:00 and 0:00", REF, "2019-05-01 00:00:00", "2019-05-01 00:00:00"),
    ("after 9999-12-31 23:59:59", REF, "9999-12-31 23:59:59", None),
]


@pytest.mark.parametrize("text,ref,start,end", RANGE_CASES)
def test_bounds(text, ref, start, end):
    assert parse_time_range(text).bounds(ref) == (dt(start), dt(end))


def test_bounds_defaults_to_now():
    before = datetime.now()
    start, end = parse_time_range("last 5 minutes").bounds()
    after = datetime.now()
    assert end is None
    assert before - timedelta(minutes=5) <= start <= after - timedelta(minutes=5)


def test_bounds_keep_ref_timezone():
    tz = timezone(timedelta(hours=2))
    ref = REF.replace(tzinfo=tz)
    start, end = parse_time_range("between 2018-1-1 and 10 days ago").bounds(ref)
    assert (start, end) == (datetime(2018, 1, 1, tzinfo=tz), datetime(2019, 4, 22, tzinfo=tz))


def test_bounds_us_are_local_epoch_microseconds():
    r = parse_time_range("between 2018-1-1 and 10:00:05")
    start, end = r.bounds(REF)
    assert r.bounds_us(REF) == (int(start.timestamp()) * 10**6, int(end.timestamp()) * 10**6)
    ref = datetime(2019, 5, 1, 14, 35, 23, 123456)
    (start_us, end_us) = parse_time_range("last 5 minutes").bounds_us(ref)
    assert end_us is None
    assert start_us == int(datetime(2019, 5, 1, 14, 30, 23).timestamp()) * 10**6 + 123456
    assert datetime.fromtimestamp(start_us / 1e6) == datetime(2019, 5, 1, 14, 30, 23, 123456)


def test_bounds_us_match_started_column():
    # Bounds feed `started >= ? AND started < ?` on integer microseconds.
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE runs (id TEXT, started INTEGER)")
    times = {
        "a": datetime(2019, 4, 30, 23, 59, 59, 999999),
        "b": datetime(2019, 5, 1),
        "c": datetime(2019, 5, 1, 23, 59, 59),
        "d": datetime(2019, 5, 2),
    }
    for run, t in times.items():
        db.execute("INSERT INTO runs (id, started) VALUES (?, ?)", (run, int(t.timestamp() * 10**6)))
    start, end = parse_time_range("today").bounds_us(REF)
    rows = db.execute(
        "SELECT id FROM runs WHERE started >= ? AND started < ? ORDER BY id", (start, end)
    ).fetchall()
    assert rows == [("b",), ("c",)]


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

PARSE_ERRORS = [
    # the seed: last N is only for minutes, hours and days
    ("last 2 weeks", "unexpected 'weeks' at pos 7", 7),
    ("last month", "unexpected 'month' at pos 5", 5),
    ("last 1 year", "unexpected 'year' at pos 7", 7),
    # the seed: invalid dates and times (raised while parsing; see the module docstring)
    ("before 2018-4-31", "day is out of range for month", 7),
    ("between 11:00 and 24:00", "hour must be in 0..23", 18),
    # rundb additions
    ("", "time range cannot be empty", 0),
    ("   ", "time range cannot be empty", 0),
    ("before", "unexpected end of input", 6),
    ("between today and ", "unexpected end of input", 18),
    ("5 minutes", "unexpected end of input", 9),
    ("today today", "unexpected 'today' at pos 6", 6),
    ("ago", "unexpected 'ago' at pos 0", 0),
    ("before after today", "unexpected 'after' at pos 7", 7),
    ("between before today and today", "unexpected 'before' at pos 8", 8),
    ("12:00 2019-1-1", "unexpected '2019-1-1' at pos 6", 6),
    ("2018-13-01", "month must be in 1..12", 0),
    ("0-1", "month must be in 1..12", 0),
    ("0000-01-01", "year 0 is out of range", 0),
    ("1-32", "day is out of range for month", 0),
    ("1-0", "day is out of range for month", 0),
    ("after 19-2-29", "day is out of range for month", 6),
    ("after 2-30", "day is out of range for month", 6),
    ("24:00:00", "hour must be in 0..23", 0),
    ("10:60", "minute must be in 0..59", 0),
    ("4-1 10:00:60", "second must be in 0..59", 4),
]


@pytest.mark.parametrize("text,msg,pos", PARSE_ERRORS)
def test_parse_error(text, msg, pos):
    with pytest.raises(TimeRangeError) as e:
        parse_time_range(text)
    assert str(e.value) == msg
    assert e.value.pos == pos


BOUNDS_ERRORS = [
    # dates the reference time makes invalid are reported by bounds()
    ("2-29", REF, "day is out of range for month", 0),
    ("before 00-2-29", REF_1900, "day is out of range for month", 7),
    ("after 10-1", datetime(1, 1, 1), None, None),  # valid in year 1
    ("5 years ago", datetime(3, 1, 1), "date is out of range", 0),
    ("this year", datetime(9999, 6, 1), "date is out of range", 0),
    ("99999999999 days ago", REF, "date is out of range", 0),
    ("last 99999999999 days", REF, "date is out of range", 0),
    ("9999-12-31", REF, "date is out of range", 0),
    ("this week", datetime(1, 1, 1), None, None),  # 0001-01-01 is a Monday
]


@pytest.mark.parametrize("text,ref,msg,pos", BOUNDS_ERRORS)
def test_bounds_error(text, ref, msg, pos):
    r = parse_time_range(text)
    if msg is None:
        r.bounds(ref)
        return
    with pytest.raises(TimeRangeError) as e:
        r.bounds(ref)
    assert str(e.value) == msg
    assert e.value.pos == pos


# --------------------------------------------------------------------------
# TimeRange values
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("TODAY", "today"),
        ("1 day ago", "yesterday"),
        ("0 days ago", "today"),
        ("1 MIN ago", "1 minute ago"),
        ("3 hr ago", "3 hours ago"),
        ("this week", "this week"),
        ("last 1 hr", "last hour"),
        ("last 10 days", "last 10 days"),
        ("before 2019-4-29 9:35", "before 2019-04-29 09:35"),
        ("after 19-4-29 9:35:05", "after 19-04-29 09:35:05"),
        ("between 1-31 and 1-1", "between 01-31 and 01-01"),
        ("0019-1-1", "0019-01-01"),
        ("  between\t10 minutes ago   and 5 minutes ago ", "between 10 minutes ago and 5 minutes ago"),
    ],
)
def test_str_is_canonical_spec(text, canonical):
    r = parse_time_range(text)
    assert str(r) == canonical
    assert parse_time_range(canonical) == r
    assert r.text == text
    assert repr(r) == f"TimeRange({canonical!r})"


def test_equality_ignores_spelling():
    assert parse_time_range("yesterday") == parse_time_range("1 Day  ago")
    assert parse_time_range("last hour") != parse_time_range("1 hour ago")
    assert hash(parse_time_range("today")) == hash(parse_time_range("TODAY"))
    assert isinstance(parse_time_range("today"), TimeRange)


# --------------------------------------------------------------------------
# PLY build: no files, built once, no clash with other grammars
# --------------------------------------------------------------------------


def _tree(path):
    return {p: p.stat().st_mtime_ns for p in Path(path).rglob("*") if "__pycache__" not in p.parts}


def test_building_writes_no_files(tmp_path, monkeypatch):
    def no_write(*args, **kw):
        raise AssertionError("PLY tried to write a table file")

    monkeypatch.setattr(ply.yacc.LRGeneratedTable, "write_table", no_write)
    monkeypatch.setattr(ply.yacc.LRGeneratedTable, "pickle_table", no_write)
    monkeypatch.setattr(ply.lex.Lexer, "writetab", no_write)
    monkeypatch.chdir(tmp_path)
    pkg_dir = Path(tr.__file__).parent
    pkg_files = {p.name for p in pkg_dir.iterdir()}
    tr._lexer.cache_clear()
    tr._parser.cache_clear()
    try:
        assert parse_time_range("between 1-1 and today").bounds(REF)
    finally:
        tr._lexer.cache_clear()
        tr._parser.cache_clear()
    assert list(tmp_path.iterdir()) == []
    new = {p.name for p in pkg_dir.iterdir()} - pkg_files
    # Other modules may appear here while we run; PLY's files must not.
    assert not {n for n in new if n in {"parser.out", "parsetab.py", "lextab.py"}}
    assert not (Path(os.getcwd()) / "parser.out").exists()


def test_parser_is_built_once(monkeypatch):
    calls = []
    real_yacc, real_lex = ply.yacc.yacc, ply.lex.lex

    def counting_yacc(*args, **kw):
        calls.append("yacc")
        return real_yacc(*args, **kw)

    def counting_lex(*args, **kw):
        calls.append("lex")
        return real_lex(*args, **kw)

    monkeypatch.setattr(ply.yacc, "yacc", counting_yacc)
    monkeypatch.setattr(ply.lex, "lex", counting_lex)
    tr._lexer.cache_clear()
    tr._parser.cache_clear()
    try:
        parse_time_range("today")
        parser = tr._parser()
        parse_time_range("last 2 hours")
        parse_time_range("between 1-1 and 1-31")
        assert tr._parser() is parser
    finally:
        tr._lexer.cache_clear()
        tr._parser.cache_clear()
    assert sorted(calls) == ["lex", "yacc"]


def test_build_leaves_ply_globals_alone():
    # parse() without lexer= falls back to ply.lex.lexer; building our grammar
    # must not redirect another grammar (such as the query language) to it.
    sentinel = object()
    saved = getattr(ply.lex, "lexer", sentinel), getattr(ply.yacc, "parse", sentinel)
    tr._lexer.cache_clear()
    tr._parser.cache_clear()
    parse_time_range("today")
    assert (getattr(ply.lex, "lexer", sentinel), getattr(ply.yacc, "parse", sentinel)) == saved


class _ListLogger:
    "Keeps PLY's warnings and errors; info such as 'Generating LALR tables' is dropped."

    def __init__(self):
        self.messages = []

    def _log(self, msg, *args, **kw):
        self.messages.append(msg % args)

    def _ignore(self, msg, *args, **kw):
        pass

    warning = error = critical = _log
    debug = info = _ignore


def test_grammar_has_no_conflicts_or_unused_tokens():
    log = _ListLogger()
    # debug=True makes PLY report conflicts; debuglog keeps parser.out unwritten.
    tr._build_parser(debug=True, debuglog=ply.yacc.NullLogger(), errorlog=log)
    assert log.messages == []


def test_grammar_collects_only_its_own_rules():
    grammar = tr._GrammarRules()
    rules = [n for n in dir(grammar) if n.startswith("p_")]
    assert rules and all(getattr(grammar, n).__module__ == tr.__name__ for n in rules)
    assert not [n for n in dir(tr._LexRules) if n.startswith("p_")]
    assert not [n for n in dir(grammar) if n.startswith("t_")]


# --------------------------------------------------------------------------
# Property tests: parse or TimeRangeError, never another exception
# --------------------------------------------------------------------------

_VOCAB = [
    "today", "yesterday", "this", "last", "ago", "before", "after", "between", "and",
    "min", "minutes", "hr", "hours", "day", "days", "week", "weeks", "month", "months",
    "year", "years", "0", "1", "2", "12", "29", "31", "99", "123456789012",
    "2019-10-31", "2018-4-31", "19-2-29", "00-2-29", "2-29", "1-32", "12-31", "13-1",
    "0:00", "23:59", "24:00", "9:35:05", "10:60", "1:2", "x", "-", ":",
]
_REFS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))


def _check(text, ref):
    try:
        r = parse_time_range(text)
    except TimeRangeError as e:
        assert isinstance(e.pos, int) and 0 <= e.pos <= len(text)
        return
    assert parse_time_range(str(r)) == r
    try:
        start, end = r.bounds(ref)
    except TimeRangeError:
        return
    if start is not None and end is not None:
        assert start <= end
    try:
        r.bounds_us(ref)
    except TimeRangeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), _REFS)
def test_any_text_parses_or_raises_time_range_error(text, ref):
    _check(text, ref)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_VOCAB), max_size=7).map(" ".join), _REFS)
def test_any_token_soup_parses_or_raises_time_range_error(text, ref):
    _check(text, ref)
