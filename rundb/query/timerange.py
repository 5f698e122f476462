"""Time range specs for ``--started``.

A spec names a span of time relative to a reference time (usually now). A time
``t`` matches a range ``(start, end)`` when ``start <= t < end``; ``None`` means
the range is open on that side.

>>> from datetime import datetime
>>> ref = datetime(2019, 5, 1, 14, 35, 23)
>>> parse_time_range("after 5 minutes ago").bounds(ref)
(datetime.datetime(2019, 5, 1, 14, 31), None)
>>> parse_time_range("last 5 minutes").bounds(ref)
(datetime.datetime(2019, 5, 1, 14, 30, 23), None)
>>> str(parse_time_range("Between 1-31  and 2 Days ago"))
'between 01-31 and 2 days ago'

Grammar (words are case-insensitive)::

    range    : operand                     the operand's own span
             | BEFORE operand              (None, operand start)
             | AFTER operand               (operand end, None)
             | BETWEEN operand AND operand (earliest start, latest end)
             | LAST [NUMBER] MINUTE|HOUR|DAY
                                           (ref - N units, None)
    operand  : THIS unit | TODAY | YESTERDAY | NUMBER unit AGO
             | date | date time | time
    unit     : MINUTE | HOUR | DAY | WEEK | MONTH | YEAR
    date     : 2019-10-31 | 19-10-31 | 10-31
    time     : 11:10 | 11:10:05

Semantics worth knowing:

* ``N <unit>s ago`` is the whole calendar unit N units before the one holding
  the reference time (``1 week ago`` is last Monday 00:00 to this Monday 00:00);
  ``last N <unit>s`` goes back exactly N units and is only allowed for minutes,
  hours and days.
* A date or time on its own spans its precision (a day, a minute or a second);
  after ``before``, ``after`` or inside ``between`` it is a single instant.
* A month range ends at 00:00 on the *last* day of the month, not on the first
  day of the next one (``this month`` in May is 05-01 to 05-31): the behaviour
  the Guild specs document, kept so that specs mean the same in rundb.
* A short date ``4-29`` takes the reference year, a time alone takes the
  reference date, and a two-digit year ``89-4-1`` takes the reference century.

Errors are :class:`~rundb.errors.TimeRangeError` with ``.pos`` set.
:func:`parse_time_range` raises lexical and syntax errors and every invalid
date or time that does not depend on the reference time (``2018-4-31``,
``24:00``, ``1-32``). :meth:`TimeRange.bounds` raises only for what the
reference time decides: ``2-29`` in a year that is not a leap year, or a result
outside the years 1..9999.

The lexer and parser are PLY 3.11 objects built on first use from the private
rule classes below, never from module globals, so they cannot mix with the
query language grammar, and they write no files.
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ply import lex, yacc

from rundb.errors import TimeRangeError

from .lexer import keep_ply_globals

__all__ = ["TimeRange", "parse_time_range"]


# --------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------

_UNIT_WORDS = {
    "MINUTE": ("min", "mins", "minute", "minutes"),
    "HOUR": ("hr", "hrs", "hour", "hours"),
    "DAY": ("day", "days"),
    "WEEK": ("week", "weeks"),
    "MONTH": ("month", "months"),
    "YEAR": ("year", "years"),
}
_KEYWORDS = ("today", "yesterday", "this", "last", "ago", "before", "after", "between", "and")

# spelling -> token type
_WORDS = {word: kind for kind, words in _UNIT_WORDS.items() for word in words}
_WORDS.update((word, word.upper()) for word in _KEYWORDS)

# Longest spelling first, so "minutes" wins over "min". There is deliberately no
# word boundary: "yearsss" reads as "years" followed by the unexpected "ss".
_WORD_RE = "|".join(sorted(_WORDS, key=len, reverse=True))

# Longer than any count that could still land inside years 1..9999; also keeps
# int() clear of Python's limit on digits converted.
_MAX_NUMBER_DIGITS = 20


def _unexpected_text(data, pos):
    m = re.match(r"\S+", data[pos:])
    return m.group() if m else data[pos]


class _LexRules:
    """PLY lexer rules, collected by ``lex.lex(module=_LexRules())``.

    Every rule is a function, so PLY tries them in the order written here:
    dates before times before plain numbers.
    """

    tokens = (
        "NUMBER",
        "LONGDATE",
        "MEDIUMDATE",
        "SHORTDATE",
        "LONGTIME",
        "SHORTTIME",
        *dict.fromkeys(_WORDS.values()),
    )

    t_ignore = " \t\r\n\f\v"

    # The (?![0-9]) tails stop "12:345" reading as 12:34 followed by 5.

    @lex.TOKEN(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?![0-9])")
    def t_LONGDATE(self, t):
        return self._ints(t, "-")

    @lex.TOKEN(r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{1,2}(?![0-9])")
    def t_MEDIUMDATE(self, t):
        return self._ints(t, "-")

    @lex.TOKEN(r"[0-9]{1,2}-[0-9]{1,2}(?![0-9])")
    def t_SHORTDATE(self, t):
        return self._ints(t, "-")

    @lex.TOKEN(r"[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?![0-9])")
    def t_LONGTIME(self, t):
        return self._ints(t, ":")

    @lex.TOKEN(r"[0-9]{1,2}:[0-9]{2}(?![0-9])")
    def t_SHORTTIME(self, t):
        return self._ints(t, ":")

    @lex.TOKEN(r"[0-9]+")
    def t_NUMBER(self, t):
        t.text = t.value
        if len(t.value) > _MAX_NUMBER_DIGITS:
            raise TimeRangeError(f"number too large at position {t.lexpos}", pos=t.lexpos)
        t.value = int(t.value)
        return t

    @lex.TOKEN(_WORD_RE)
    def t_WORD(self, t):
        t.text = t.value
        t.type = _WORDS[t.value.lower()]
        return t

    def t_error(self, t):
        bad = _unexpected_text(t.lexer.lexdata, t.lexpos)
        raise TimeRangeError(f"unexpected {bad!r} at position {t.lexpos}", pos=t.lexpos)

    @staticmethod
    def _ints(t, sep):
        t.text = t.value
        t.value = tuple(int(part) for part in t.value.split(sep))
        return t


# --------------------------------------------------------------------------
# AST: frozen nodes whose str() is the canonical spec
# --------------------------------------------------------------------------

_DELTAS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}


@contextlib.contextmanager
def _in_range(pos):
    # datetime arithmetic reports leaving years 1..9999 as OverflowError or
    # ValueError; both mean the same thing to the user.
    try:
        yield
    except (OverflowError, ValueError) as e:
        raise TimeRangeError("date is out of range", pos=pos) from e


def _check_date(year, month, day, pos):
    # Our own checks and wording (CPython's changes between versions).
    if not 1 <= year <= 9999:
        raise TimeRangeError(f"year {year} is out of range", pos=pos)
    if not 1 <= month <= 12:
        raise TimeRangeError("month must be in 1..12", pos=pos)
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise TimeRangeError("day is out of range for month", pos=pos)


def _check_time(hms, pos):
    for value, name, top in zip(hms, ("hour", "minute", "second"), (23, 59, 59)):
        if value > top:
            raise TimeRangeError(f"{name} must be in 0..{top}", pos=pos)


@dataclass(frozen=True)
class Point:
    """An explicit date and/or time: ``2019-4-29 9:35``, ``4-29``, ``23:30``."""

    date: tuple | None  # (year, month, day), (yy, month, day) or (month, day)
    time: tuple | None  # (hour, minute) or (hour, minute, second)
    long_year: bool = False  # date[0] is a full year, not a two-digit one
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self):
        parts = []
        if self.date and len(self.date) == 3:
            year, month, day = self.date
            width = 4 if self.long_year else 2
            parts.append(f"{year:0{width}d}-{month:02d}-{day:02d}")
        elif self.date:
            parts.append("{:02d}-{:02d}".format(*self.date))
        if self.time:
            parts.append(":".join(f"{n:02d}" for n in self.time))
        return " ".join(parts)

    def instant(self, ref):
        """The datetime this point names, filling gaps from *ref*."""
        if self.date is None:
            year, month, day = ref.year, ref.month, ref.day
        elif len(self.date) == 2:
            year, (month, day) = ref.year, self.date
        elif self.long_year:
            year, month, day = self.date
        else:
            yy, month, day = self.date
            year = ref.year - ref.year % 100 + yy
        _check_date(year, month, day, self.pos)
        hour, minute, second = (*(self.time or ()), 0, 0, 0)[:3]
        return datetime(year, month, day, hour, minute, second, tzinfo=ref.tzinfo)

    def precision(self):
        if self.time is None:
            return timedelta(days=1)
        return timedelta(seconds=1) if len(self.time) == 3 else timedelta(minutes=1)

    def bounds(self, ref):
        t = self.instant(ref)
        return t, t


@dataclass(frozen=True)
class Span:
    """A calendar unit *n* units before the one holding the reference time."""

    unit: str  # minute | hour | day | week | month | year
    n: int = 0
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self):
        if self.unit == "day" and self.n in (0, 1):
            return ("today", "yesterday")[self.n]
        if self.n == 0:
            return f"this {self.unit}"
        return f"{self.n} {self.unit}{'s' if self.n != 1 else ''} ago"

    def bounds(self, ref):
        with _in_range(self.pos):
            return self._bounds(ref)

    def _bounds(self, ref):
        unit, n = self.unit, self.n
        if unit == "minute":
            start = ref.replace(second=0, microsecond=0)
        elif unit == "hour":
            start = ref.replace(minute=0, second=0, microsecond=0)
        else:
            start = ref.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "week":
            start -= timedelta(days=start.weekday())
        if unit in _DELTAS:
            start -= n * _DELTAS[unit]
            return start, start + _DELTAS[unit]
        if unit == "month":
            year, month0 = divmod(start.year * 12 + start.month - 1 - n, 12)
            start = start.replace(year=year, month=month0 + 1, day=1)
            days = calendar.monthrange(year, month0 + 1)[1]
            # Ends on the month's last day at 00:00 (see module docstring).
            return start, start + timedelta(days=days - 1)
        start = start.replace(year=start.year - n, month=1, day=1)
        return start, start.replace(year=start.year + 1)


@dataclass(frozen=True)
class Last:
    """``last N units``: exactly N minutes, hours or days before the reference."""

    unit: str  # minute | hour | day
    n: int = 1
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self):
        return f"last {self.unit}" if self.n == 1 else f"last {self.n} {self.unit}s"

    def bounds(self, ref):
        with _in_range(self.pos):
            return ref - self.n * _DELTAS[self.unit], None


@dataclass(frozen=True)
class At:
    """An operand on its own: a unit span, or a point widened to its precision."""

    operand: Point | Span

    def __str__(self):
        return str(self.operand)

    def bounds(self, ref):
        start, end = self.operand.bounds(ref)
        if isinstance(self.operand, Point):
            with _in_range(self.operand.pos):
                end = start + self.operand.precision()
        return start, end


@dataclass(frozen=True)
class Before:
    operand: Point | Span

    def __str__(self):
        return f"before {self.operand}"

    def bounds(self, ref):
        return None, self.operand.bounds(ref)[0]


@dataclass(frozen=True)
class After:
    operand: Point | Span

    def __str__(self):
        return f"after {self.operand}"

    def bounds(self, ref):
        return self.operand.bounds(ref)[1], None


@dataclass(frozen=True)
class Between:
    """Everything from the earlier start to the later end, in either order."""

    first: Point | Span
    second: Point | Span

    def __str__(self):
        return f"between {self.first} and {self.second}"

    def bounds(self, ref):
        start1, end1 = self.first.bounds(ref)
        start2, end2 = self.second.bounds(ref)
        return min(start1, start2), max(end1, end2)


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------


class _EndOfInput(Exception):
    "p_error(None): the parser wanted more tokens; the caller knows the text length."


class _GrammarRules:
    """PLY grammar rules, collected by ``yacc.yacc(module=_GrammarRules())``."""

    tokens = _LexRules.tokens
    start = "range"

    def p_range_at(self, p):
        "range : operand"
        p[0] = At(p[1])

    def p_range_before(self, p):
        "range : BEFORE operand"
        p[0] = Before(p[2])

    def p_range_after(self, p):
        "range : AFTER operand"
        p[0] = After(p[2])

    def p_range_between(self, p):
        "range : BETWEEN operand AND operand"
        p[0] = Between(p[2], p[4])

    def p_range_last(self, p):
        "range : LAST small_unit"
        p[0] = Last(p[2], 1, pos=p.lexpos(1))

    def p_range_last_n(self, p):
        "range : LAST NUMBER small_unit"
        p[0] = Last(p[3], p[2], pos=p.lexpos(1))

    def p_operand(self, p):
        """operand : point
                   | span"""
        p[0] = p[1]

    def p_span_this(self, p):
        "span : THIS unit"
        p[0] = Span(p[2], 0, pos=p.lexpos(1))

    def p_span_today(self, p):
        "span : TODAY"
        p[0] = Span("day", 0, pos=p.lexpos(1))

    def p_span_yesterday(self, p):
        "span : YESTERDAY"
        p[0] = Span("day", 1, pos=p.lexpos(1))

    def p_span_ago(self, p):
        "span : NUMBER unit AGO"
        p[0] = Span(p[2], p[1], pos=p.lexpos(1))

    def p_point_date(self, p):
        "point : date"
        date, long_year, pos = p[1]
        p[0] = Point(date, None, long_year, pos=pos)

    def p_point_date_time(self, p):
        "point : date time"
        date, long_year, pos = p[1]
        p[0] = Point(date, p[2], long_year, pos=pos)

    def p_point_time(self, p):
        "point : time"
        p[0] = Point(None, p[1], pos=p.lexpos(1))

    # Dates are checked here as far as the reference time allows: a two-digit
    # year or a missing year may still turn Feb 29 invalid in bounds().

    def p_date_long(self, p):
        "date : LONGDATE"
        _check_date(*p[1], p.lexpos(1))
        p[0] = (p[1], True, p.lexpos(1))

    def p_date_medium(self, p):
        "date : MEDIUMDATE"
        yy, month, day = p[1]
        _check_date(2000 if yy % 4 == 0 else 2001, month, day, p.lexpos(1))
        p[0] = (p[1], False, p.lexpos(1))

    def p_date_short(self, p):
        "date : SHORTDATE"
        _check_date(2000, *p[1], p.lexpos(1))  # a leap year allows 2-29
        p[0] = (p[1], False, p.lexpos(1))

    def p_time(self, p):
        """time : SHORTTIME
                | LONGTIME"""
        _check_time(p[1], p.lexpos(1))
        p[0] = p[1]

    def p_unit(self, p):
        "unit : small_unit"
        p[0] = p[1]

    def p_unit_long(self, p):
        """unit : WEEK
                | MONTH
                | YEAR"""
        p[0] = p.slice[1].type.lower()

    def p_small_unit(self, p):
        """small_unit : MINUTE
                      | HOUR
                      | DAY"""
        p[0] = p.slice[1].type.lower()

    def p_error(self, tok):
        if tok is None:
            raise _EndOfInput()
        raise TimeRangeError(f"unexpected {tok.text!r} at pos {tok.lexpos}", pos=tok.lexpos)




def _build_lexer():
    with keep_ply_globals():
        return lex.lex(
            module=_LexRules(),
            optimize=False,
            reflags=int(re.VERBOSE | re.IGNORECASE | re.ASCII),
        )


def _build_parser(**options):
    """Build the LALR parser; *options* go to ``yacc.yacc`` (tests use them)."""
    kw = dict(debug=False, write_tables=False, errorlog=yacc.NullLogger())
    kw.update(options)
    with keep_ply_globals():
        return yacc.yacc(module=_GrammarRules(), **kw)


@functools.lru_cache(maxsize=None)
def _lexer():
    return _build_lexer()


@functools.lru_cache(maxsize=None)
def _parser():
    return _build_parser()


# PLY's LRParser keeps its stacks on the instance, so parses take turns.
_parse_lock = threading.Lock()


def _tokenize(text):
    """Lex *text* into PLY tokens (all of it, so lexical errors come first)."""
    lexer = _lexer().clone()
    lexer.input(text)
    return list(iter(lexer.token, None))


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class TimeRange:
    """A parsed time range spec; ``str()`` gives its canonical spelling.

    Two ranges are equal when they mean the same (``1 day ago`` and
    ``yesterday``), whatever their text.
    """

    text: str = field(compare=False)
    node: At | Before | After | Between | Last

    def __str__(self):
        return str(self.node)

    def __repr__(self):
        return f"TimeRange({str(self)!r})"

    def bounds(self, ref=None):
        """Return ``(start, end)`` datetimes; a time t matches if start <= t < end.

        :param ref: reference time, ``datetime.now()`` when omitted. An aware
            datetime gives aware bounds in its zone.
        :raises TimeRangeError: a date the reference makes invalid (``2-29`` in
            a common year) or a result outside years 1..9999.
        """
        return self.node.bounds(datetime.now() if ref is None else ref)

    def bounds_us(self, ref=None):
        """Like :meth:`bounds`, as integer microseconds since the epoch.

        Naive datetimes are read as local time. Use with
        ``started >= ? AND started < ?``; ``None`` stays ``None``.
        """
        return tuple(_epoch_us(dt) for dt in self.bounds(ref))


def _epoch_us(dt):
    if dt is None:
        return None
    try:
        seconds = dt.replace(microsecond=0).timestamp()
    except (OverflowError, OSError, ValueError) as e:
        raise TimeRangeError("date is out of range", pos=None) from e
    return int(seconds) * 1_000_000 + dt.microsecond


def parse_time_range(text):
    """Parse a ``--started`` spec such as ``"last 2 hours"``.

    :raises TimeRangeError: with ``.pos``, for unknown words
        (``unexpected 'aftr' at position 0``), misplaced ones
        (``unexpected 'weeks' at pos 7``), missing ones
        (``unexpected end of input``) and invalid dates or times
        (``day is out of range for month``, ``hour must be in 0..23``).
    """
    if not text.strip():
        raise TimeRangeError("time range cannot be empty", pos=0)
    tokens = iter(_tokenize(text))
    with _parse_lock:
        try:
            node = _parser().parse(
                lexer=_lexer().clone(), tokenfunc=lambda: next(tokens, None)
            )
        except _EndOfInput:
            raise TimeRangeError("unexpected end of input", pos=len(text)) from None
    return TimeRange(text, node)
