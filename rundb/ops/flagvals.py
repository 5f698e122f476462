"""Flag values as typed on the command line: decoding, encoding and formatting.

Values use a small YAML-like syntax, parsed here by hand (no YAML import, so the
CLI starts fast and the rules are ours rather than YAML 1.1's surprises):

* ``1`` int, ``1.`` ``.1`` ``1.e1`` ``1e-06`` float, ``.inf`` ``-.inf`` ``.nan``
* ``yes true True on`` / ``no false False off`` bool, ``null ~`` None, empty -> ``''``
* ``'quoted'`` and ``"quoted"`` strings, ``[1, a, 2.0]`` lists, ``{a: 1, b: c d}`` dicts
* ``[1, 2] * 2`` list repetition
* ``range[1:5]``, ``linspace[0:1:5]``, ``logspace[-3:0:4]`` expand to lists

Exceptions to YAML, kept as strings: run-id-like exponents (``1e2``, ``123e4``:
3-8 chars of digits around one lowercase ``e``), ``1_2_3``, ``1:2``, and flag
functions such as ``[1:2]`` or ``uniform[-1:1]`` (search spaces, decoded with
`decode_flag_function`).

>>> decode_flag_value("[1,2] * 2")
[1, 2, 1, 2]
>>> decode_flag_function("uniform[-2.0:2.0]")
('uniform', (-2.0, 2.0))
>>> encode_flag_value([1, "a b", True, None])
'[1, a b, yes, null]'
"""

from __future__ import annotations

import logging
import math
import re

from rundb.errors import FlagError

__all__ = [
    "decode_flag_value",
    "decode_flag_function",
    "encode_flag_value",
    "format_flag_value",
    "format_flag_assigns",
    "format_label_value",
    "parse_flag_assigns",
]

log = logging.getLogger("rundb")

# Longest list a sequence function or list repetition may produce; a typo such
# as range[1e9] should warn, not exhaust memory.
MAX_SEQUENCE_LEN = 1_000_000

_INT_RE = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_INF_RE = re.compile(r"([-+]?)\.(?:inf|Inf|INF)\Z")
_NAN_RE = re.compile(r"\.(?:nan|NaN|NAN)\Z")
# Short run ids such as 67217e15 look like floats; keep them as strings.
_RUN_ID_RE = re.compile(r"[0-9]+e[0-9]+\Z")
# Strings YAML (or Python's int()) would read as numbers; encoding quotes them.
_NUMBERISH_RE = re.compile(
    r"[-+]?(?:[0-9][0-9_]*(?::[0-5]?[0-9])+"
    r"|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9_]+)?)\Z"
)
_FUNCTION_RE = re.compile(r"([A-Za-z0-9_.\-]*)\[(.*)\]\Z", re.S)
_REPEAT_RE = re.compile(r"(.*\])\s*\*\s*([0-9]+)\Z", re.S)

_NULLS = {"null", "Null", "NULL", "~"}
_TRUES = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}
_FALSES = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}

_DOUBLE_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
    "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
    "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class _DecodeError(Exception):
    "Text is not valid value syntax; the caller keeps the raw string."


# ---------------------------------------------------------------------------
# Decoding


def decode_flag_value(s):
    """Decode a command-line flag value to a Python value.

    Never raises: text that is not valid value syntax is returned unchanged.
    Sequence functions with bad arguments log a warning and stay strings.

    >>> decode_flag_value("1.e1"), decode_flag_value("12e3"), decode_flag_value("range[3]")
    (10.0, '12e3', [0, 1, 2])
    """
    return _decode_value(s, log.warning)


def _decode_value(s, warn):
    # warn is log.warning, or a no-op when encoding asks how text would decode
    if not isinstance(s, str):
        return s
    try:
        return _decode(s, warn)
    except (_DecodeError, RecursionError):
        return s


def _no_warning(*args):
    pass


def _decode(s, warn):
    text = s.strip()
    if not text:
        return ""
    m = _REPEAT_RE.match(text)
    if m:
        seq = _decode_value(m.group(1), warn)
        if not isinstance(seq, list):
            raise _DecodeError()
        count = int(m.group(2))
        if len(seq) * count > MAX_SEQUENCE_LEN:
            raise _DecodeError()
        return seq * count
    if text[-1] == "]":
        fn = _split_function(text)
        if fn is not None:
            name, args = fn
            if name in _SEQUENCES:
                return _expand_sequence(text, name, args, warn)
            return text
    return _parse_document(text)


def _parse_document(text):
    c = text[0]
    if c in "[{'\"":
        p = _FlowParser(text)
        val = p.value(terminators="")
        p.skip_ws()
        if p.pos != len(text):
            raise _DecodeError()
        return val
    return _plain_scalar(text)


def _plain_scalar(text):
    """Resolve an unquoted scalar (already stripped) to its typed value."""
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    c = text[0]
    if c.isdigit() or c in "+-.":
        if _INT_RE.match(text):
            try:
                return int(text)
            except ValueError:  # more digits than Python converts
                return text
        if _FLOAT_RE.match(text):
            if _RUN_ID_RE.match(text) and 3 <= len(text) <= 8:
                return text
            return float(text)
        m = _INF_RE.match(text)
        if m:
            return -math.inf if m.group(1) == "-" else math.inf
        if _NAN_RE.match(text):
            return math.nan
    return text


class _FlowParser:
    """Recursive descent over flow lists, dicts and quoted strings."""

    def __init__(self, text):
        self.text = text
        self.pos = 0

    def skip_ws(self):
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos

    def peek(self):
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self, terminators):
        self.skip_ws()
        c = self.peek()
        if c == "[":
            return self.seq()
        if c == "{":
            return self.mapping()
        if c == "'":
            return self.single_quoted()
        if c == '"':
            return self.double_quoted()
        return self.plain(terminators)

    def plain(self, terminators):
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] not in terminators:
            if text[self.pos] in "[]{}":
                raise _DecodeError()
            self.pos += 1
        raw = text[start : self.pos].strip()
        if not raw:
            raise _DecodeError()
        return _plain_scalar(raw)

    def seq(self):
        self.pos += 1  # [
        items = []
        while True:
            self.skip_ws()
            if self.peek() == "]":
                self.pos += 1
                return items
            items.append(self.value(terminators=",]"))
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.pos += 1
            elif c != "]":
                raise _DecodeError()

    def mapping(self):
        self.pos += 1  # {
        result = {}
        while True:
            self.skip_ws()
            c = self.peek()
            if c == "}":
                self.pos += 1
                return result
            if c in "[{":
                raise _DecodeError()  # unhashable key
            key = self.value(terminators=":,}")
            self.skip_ws()
            if self.peek() == ":":
                self.pos += 1
                self.skip_ws()
                val = None if self.peek() in ",}" else self.value(terminators=",}")
            else:
                val = None
            result[key] = val
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.pos += 1
            elif c != "}":
                raise _DecodeError()

    def single_quoted(self):
        text = self.text
        pos = self.pos + 1
        parts = []
        while True:
            end = text.find("'", pos)
            if end < 0:
                raise _DecodeError()
            parts.append(text[pos:end])
            if text.startswith("''", end):
                parts.append("'")
                pos = end + 2
            else:
                self.pos = end + 1
                return "".join(parts)

    def double_quoted(self):
        text = self.text
        pos = self.pos + 1
        parts = []
        while pos < len(text):
            c = text[pos]
            if c == '"':
                self.pos = pos + 1
                return "".join(parts)
            if c != "\\":
                parts.append(c)
                pos += 1
                continue
            esc = text[pos + 1 : pos + 2]
            if esc in _DOUBLE_ESCAPES:
                parts.append(_DOUBLE_ESCAPES[esc])
                pos += 2
            elif esc in _HEX_ESCAPES:
                digits = text[pos + 2 : pos + 2 + _HEX_ESCAPES[esc]]
                try:
                    parts.append(chr(int(digits, 16)))
                except ValueError:
                    raise _DecodeError() from None
                if len(digits) != _HEX_ESCAPES[esc]:
                    raise _DecodeError()
                pos += 2 + len(digits)
            else:
                raise _DecodeError()
        raise _DecodeError()


# ---------------------------------------------------------------------------
# Flag functions


def decode_flag_function(s):
    """Split a flag function ``NAME[ARG:ARG...]`` into ``(name, args)``.

    ``name`` is None for the anonymous form ``[1:2]``; each argument is decoded
    with `decode_flag_value`.

    :raises ValueError: ``not a function`` when *s* is not a flag function

    >>> decode_flag_function("[this has spaces:yes:[1,2,3]]")
    (None, ('this has spaces', True, [1, 2, 3]))
    """
    fn = _split_function(s.strip(), False) if isinstance(s, str) else None
    if fn is None:
        raise ValueError("not a function")
    name, args = fn
    return name, tuple(_decode_arg(arg, log.warning) for arg in args)


def _decode_arg(text, warn):
    # Function args are never run ids: f[1e3] is 1000.0 (but f['1e3'] is '1e3').
    val = _decode_value(text, warn)
    if isinstance(val, str) and val == text.strip() and _RUN_ID_RE.match(val):
        return float(val)
    return val


def _split_function(text, anonymous_needs_colon=True):
    """Return ``(name or None, [arg text, ...])`` or None if not a function.

    As a value, anonymous ``[...]`` is a function only when it has a ``:``
    outside nested brackets and quotes (``[1, 2]`` is a list); a named one
    always is. `decode_flag_function` accepts ``[]`` and ``[1]`` too.
    """
    m = _FUNCTION_RE.match(text)
    if not m:
        return None
    name, inner = m.group(1), m.group(2)
    args = _split_args(inner)
    if args is None:
        return None
    if not name:
        if anonymous_needs_colon and len(args) < 2:
            return None
        return None, args
    return name, args


def _split_args(inner):
    """Split *inner* at colons at depth 0 (ignoring quoted text)."""
    if not inner.strip():
        return []
    args = []
    depth = 0
    start = 0
    pos = 0
    n = len(inner)
    while pos < n:
        c = inner[pos]
        if c in "'\"" and _at_scalar_start(inner, pos):
            end = _quote_end(inner, pos)
            if end < 0:
                return None
            pos = end + 1
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth < 0:
                return None
        elif c == ":" and depth == 0:
            args.append(inner[start:pos])
            start = pos + 1
        pos += 1
    if depth != 0:
        return None
    args.append(inner[start:])
    return args


def _at_scalar_start(text, pos):
    i = pos - 1
    while i >= 0 and text[i] in " \t\r\n":
        i -= 1
    return i < 0 or text[i] in "[{,:"


def _quote_end(text, pos):
    q = text[pos]
    i = pos + 1
    while i < len(text):
        c = text[i]
        if q == '"' and c == "\\":
            i += 2
            continue
        if c == q:
            if q == "'" and text.startswith("''", i):
                i += 2
                continue
            return i
        i += 1
    return -1


# ---------------------------------------------------------------------------
# Sequence functions: range, linspace, logspace


def _expand_sequence(text, name, arg_texts, warn):
    min_args, max_args, expand = _SEQUENCES[name]
    args = tuple(_decode_arg(a, warn) for a in arg_texts)
    if len(args) < min_args:
        warn("error decoding %r: function requires at least %i arg(s)", text, min_args)
        return text
    if len(args) > max_args:
        warn(
            "unsupported arguments for %s function: %r - ignoring", name, args[max_args:]
        )
        args = args[:max_args]
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, (int, float)):
            warn("error decoding %r: invalid arg %r: expected a number", text, arg)
            return text
        if not math.isfinite(arg):
            warn("error decoding %r: invalid arg %r: expected a finite number", text, arg)
            return text
    try:
        return expand(*args)
    except _SequenceError as e:
        warn("error decoding %r: %s", text, e)
        return text


class _SequenceError(Exception):
    "Sequence arguments that cannot produce a list."


def _dec(x):
    # repr() gives the shortest decimal that round-trips, so 1e-05 * 3 is
    # exactly 3e-05 instead of 3.0000000000000004e-05.
    from decimal import Decimal

    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def _check_len(n):
    if n > MAX_SEQUENCE_LEN:
        raise _SequenceError(f"sequence too long ({n} values, max {MAX_SEQUENCE_LEN})")


def _range(*args):
    if len(args) == 1:
        start, stop, step, inclusive = 0, args[0], 1, False
    else:
        start, stop = args[0], args[1]
        step = args[2] if len(args) > 2 else 1
        inclusive = True
    if step == 0:
        raise _SequenceError("step cannot be 0")
    d_start, d_step = _dec(start), _dec(step)
    span = (_dec(stop) - d_start) / d_step
    if inclusive:
        n = int(span.to_integral_value(rounding="ROUND_FLOOR")) + 1
    else:
        n = int(span.to_integral_value(rounding="ROUND_CEILING"))
    n = max(n, 0)
    _check_len(n)
    if all(isinstance(a, int) for a in (start, stop, step)):
        return [start + i * step for i in range(n)]
    return [float(d_start + i * d_step) for i in range(n)]


def _linspace(start, stop, count=5):
    if isinstance(count, float):
        if not count.is_integer():
            raise _SequenceError(f"invalid count {count!r}: expected an int")
        count = int(count)
    if count < 0:
        raise _SequenceError(f"invalid count {count!r}: cannot be negative")
    _check_len(count)
    if count == 0:
        return []
    if count == 1:
        return [float(start)]
    d_start = _dec(start)
    step = (_dec(stop) - d_start) / (count - 1)
    vals = [float(d_start + i * step) for i in range(count - 1)]
    vals.append(float(stop))
    return vals


def _logspace(start, stop, count=5, base=10):
    base = float(base)
    try:
        return [base**x for x in _linspace(start, stop, count)]
    except (OverflowError, ZeroDivisionError) as e:
        raise _SequenceError(str(e)) from None


_SEQUENCES = {
    "range": (1, 3, _range),
    "linspace": (2, 3, _linspace),
    "logspace": (2, 4, _logspace),
}


# ---------------------------------------------------------------------------
# Encoding and formatting


def encode_flag_value(val):
    """Encode *val* as text that `decode_flag_value` turns back into *val*.

    >>> encode_flag_value(""), encode_flag_value("1"), encode_flag_value(1e100)
    ("''", "'1'", '1.0e+100')
    """
    return _encode(val, _encode_float, flow=False)


def format_label_value(val):
    """Format *val* for a run label: like `format_flag_value`, with floats cut
    (not rounded) to 5 decimals.

    >>> format_label_value(1 / 6), format_label_value(0.0000012345), format_label_value("hi 2")
    ('0.16666', '1.2345e-06', "'hi 2'")
    """
    return format_flag_value(val, truncate_floats=True)


def format_flag_value(val, truncate_floats=False):
    """Format *val* for a ``NAME=VALUE`` argument: encoded, and quoted for the
    shell when it is a string containing whitespace.

    >>> format_flag_value("a b"), format_flag_value(["a b"])
    ("'a b'", '[a b]')
    """
    encoded = _encode(val, _truncated_float if truncate_floats else _encode_float, flow=False)
    if isinstance(val, str) and any(c.isspace() for c in encoded):
        return _shell_quote(encoded)
    return encoded


def format_flag_assigns(flags, truncate_floats=False):
    """Return sorted ``NAME=VALUE`` strings for a dict of flags.

    >>> format_flag_assigns({"s": "a b", "i": 1, "e": ""})
    ["e=''", 'i=1', "s='a b'"]
    """
    return [
        f"{name}={format_flag_value(flags[name], truncate_floats)}"
        for name in sorted(flags)
    ]


def parse_flag_assigns(args):
    """Parse ``NAME=VALUE`` command-line args into a dict of decoded values.

    :raises FlagError: for an arg without ``=`` or with an empty name
    """
    flags = {}
    for arg in args:
        name, sep, val = arg.partition("=")
        if not sep or not name:
            raise FlagError(f"invalid flag assignment {arg!r}: expected NAME=VALUE")
        flags[name] = decode_flag_value(val)
    return flags


def _encode(val, encode_float, flow):
    if val is None:
        return "null"
    if val is True:
        return "yes"
    if val is False:
        return "no"
    if isinstance(val, int):
        return str(val)
    if isinstance(val, float):
        return encode_float(val)
    if isinstance(val, str):
        return _encode_str(val, flow)
    if isinstance(val, (list, tuple)):
        return "[" + ", ".join(_encode(x, encode_float, True) for x in val) + "]"
    if isinstance(val, dict):
        items = sorted(val.items(), key=lambda kv: str(kv[0]))
        return (
            "{"
            + ", ".join(
                f"{_encode(k, encode_float, True)}: {_encode(v, encode_float, True)}"
                for k, v in items
            )
            + "}"
        )
    return _encode_str(str(val), flow)


def _encode_float(f):
    if math.isnan(f):
        return ".nan"
    if math.isinf(f):
        return ".inf" if f > 0 else "-.inf"
    s = repr(f)
    if "." not in s and "e" in s:
        s = s.replace("e", ".0e", 1)
    return s


_TRUNCATE_RE = re.compile(r"(-?[0-9]+)\.([0-9]+)(e.*)?\Z")


def _truncated_float(f, decimals=5):
    s = _encode_float(f)
    m = _TRUNCATE_RE.match(s)
    if not m or len(m.group(2)) <= decimals:
        return s
    return f"{m.group(1)}.{m.group(2)[:decimals]}{m.group(3) or ''}"


def _encode_str(s, flow):
    if _needs_quotes(s, flow):
        return "'" + s.replace("'", "''") + "'"
    return s


def _needs_quotes(s, flow):
    if not s or s != s.strip():
        return True
    if flow and (s[0] in "'\"" or any(c in s for c in ",[]{}:")):
        return True
    if _NUMBERISH_RE.match(s):
        return True
    decoded = _decode_value(s, _no_warning)
    return not isinstance(decoded, str) or decoded != s


def _shell_quote(s):
    if "'" not in s:
        return f"'{s}'"
    return '"' + re.sub(r'(["\\$`])', r"\\\1", s) + '"'
