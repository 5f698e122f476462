"""The flag-value codec: one way to read and write flag values everywhere.

The command line (``lr=1e-3``), ``rundb.yml``, batch files, ``rundb sql -p`` and run labels
all go through here, so a value means the same wherever it is written.

Decoding is YAML (PyYAML, a flow value or a plain scalar) with these rules on top, each one
something the seeds or issue 14 require:

* **Plain scalars resolve like YAML 1.2 numbers**, not YAML 1.1's: ``1e-3``, ``1.e1`` and
  ``1E5`` are floats (YAML 1.1 wants a dot and a signed exponent), ``inf``, ``-inf``,
  ``Infinity``, ``nan`` (any case) and ``.inf``/``.nan`` are floats, ``010`` is 10, ``0x10``
  is 16. ``1_000`` and ``1:2`` (``10:00``) stay strings, and so do dates.
  ``yes``/``no``/``on``/``off``/``true``/``false`` are booleans and ``null``/``~`` is None
  (YAML 1.1's spellings, as Guild reads them).
* **Run-id-like exponents stay strings**: 3-8 characters of digits around one lowercase
  ``e`` (``1e2``, ``67217e15``: short run ids), except as a function argument.
* **Text that does not start a flow value** (``[``, ``{``, a quote) is one plain scalar:
  ``a: b``, ``- a`` and ``# a`` are strings, never a mapping, a list or a comment. Empty
  text is the empty string.
* **Text that is not valid syntax is kept as it is** (``[1,2``, ``'a' b``); decoding never
  raises.
* **Brackets**: ``[NUM:NUM]`` and ``[NUM:NUM:NUM]`` (a search range; ``[1:2:3:4]``, all
  numbers too, is a range the batch layer reports as one) and ``NAME[...]``
  (a named flag function, e.g. ``uniform[-1:1]``) stay strings for the batch layer
  (:func:`decode_flag_function`, :func:`is_search_text`); ``range[...]``, ``linspace[...]``
  and ``logspace[...]`` expand to lists, ``[...] * N`` repeats a list. Anything else in
  brackets is a YAML list: ``[a:1,b:2]``, ``[http://a,http://b]``, ``[10:00,12:30]`` and
  ``[a:b]`` are lists of two (or one) strings.

The same resolver reads ``rundb.yml`` (:data:`Loader`) and YAML batch files, so ``lr: 1e-3``
there is the float ``lr=1e-3`` is on the command line.

Encoding writes text that decodes back to the value (``'1'`` for the string "1").

>>> decode_flag_value("[1,2] * 2"), decode_flag_value("1e-3"), decode_flag_value("[a:1,b:2]")
([1, 2, 1, 2], 0.001, ['a:1', 'b:2'])
>>> decode_flag_function("uniform[-2.0:2.0]")
('uniform', (-2.0, 2.0))
>>> encode_flag_value([1, "a b", True, None])
'[1, a b, yes, null]'

This module is core: it imports nothing of rundb's but errors, and PyYAML only when a value
needs it (``rundb --help`` never decodes one).
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
    "is_search_text",
    "load_yaml",
    "parse_flag_assigns",
]

log = logging.getLogger("rundb")

# Longest list a sequence function or list repetition may produce; a typo such
# as range[1e9] should warn, not exhaust memory.
MAX_SEQUENCE_LEN = 1_000_000

_INT_RE = re.compile(r"[-+]?[0-9]+\Z|[-+]?0x[0-9a-fA-F]+\Z")
_FLOAT_RE = re.compile(
    r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z"
    r"|[-+]?\.?(?:inf|infinity)\Z|\.?nan\Z",
    re.I,
)
_BOOL_RE = re.compile(r"(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE"
                      r"|on|On|ON|off|Off|OFF)\Z")
_NULL_RE = re.compile(r"(?:~|null|Null|NULL|)\Z")
# Short run ids such as 67217e15 look like floats; keep them as strings.
_RUN_ID_RE = re.compile(r"[0-9]+e[0-9]+\Z")
# Strings YAML (or Python's int()) would read as numbers; encoding quotes them.
_NUMBERISH_RE = re.compile(
    r"[-+]?(?:[0-9][0-9_]*(?::[0-5]?[0-9])+"
    r"|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9_]+)?)\Z"
)
_NUMBER_ARG_RE = re.compile(r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*\Z")
_FUNCTION_RE = re.compile(r"([A-Za-z0-9_.\-]*)\[(.*)\]\Z", re.S)
_REPEAT_RE = re.compile(r"(.*\])\s*\*\s*([0-9]+)\Z", re.S)


class _DecodeError(Exception):
    "Text is not valid value syntax; the caller keeps the raw string."


# ---------------------------------------------------------------------------
# The YAML resolver


def _plain_tag(text):
    "The YAML tag of an unquoted scalar under the rules above."
    if _NULL_RE.match(text):
        return "null"
    if _BOOL_RE.match(text):
        return "bool"
    if _INT_RE.match(text):
        return "int"
    if _FLOAT_RE.match(text):
        return "float"
    return "str"


def _plain_value(text):
    """An unquoted scalar (already stripped) as its typed value."""
    tag = _plain_tag(text)
    if tag == "str":
        return text
    if tag == "null":
        return None
    if tag == "bool":
        return text.lower() in ("yes", "true", "on")
    if tag == "int":
        try:
            return int(text, 16) if "x" in text else int(text, 10)
        except ValueError:  # more digits than Python converts
            return text
    if _RUN_ID_RE.match(text) and 3 <= len(text) <= 8:
        return text
    if text.lstrip("+-")[:2] in (".i", ".I", ".n", ".N"):  # YAML's .inf and .nan
        text = text.replace(".", "", 1)
    return float(text)


_LOADER = None


def _loader_class():
    """A PyYAML SafeLoader whose plain scalars resolve by :func:`_plain_value`."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    base = yaml.SafeLoader  # (libyaml's words its errors differently from the seeds)

    class Loader(base):
        "rundb's YAML: SafeLoader with the flag-value resolver (see rundb.flagvals)."

    Loader.yaml_implicit_resolvers = {}  # no YAML 1.1 implicit types: ours, below
    Loader.add_implicit_resolver("tag:rundb,flag:plain", re.compile(r"(?s).*"), None)
    Loader.add_constructor("tag:rundb,flag:plain",
                           lambda loader, node: _plain_value(node.value.strip()))
    _LOADER = Loader
    return Loader


def load_yaml(stream):
    """Parse a YAML document (``rundb.yml``, a batch file) with the flag-value resolver.

    :raises yaml.YAMLError: invalid YAML.
    """
    import yaml

    return yaml.load(stream, Loader=_loader_class())  # noqa: S506 - a SafeLoader


# ---------------------------------------------------------------------------
# Decoding


def decode_flag_value(s):
    """Decode a flag value as typed to a Python value (the rules of this module).

    Never raises: text that is not valid value syntax is returned unchanged.
    Sequence functions with bad arguments log a warning and stay strings.

    >>> decode_flag_value("1.e1"), decode_flag_value("12e3"), decode_flag_value("range[3]")
    (10.0, '12e3', [0, 1, 2])
    >>> decode_flag_value("-inf"), decode_flag_value("[1:2]"), decode_flag_value("[a:b]")
    (-inf, '[1:2]', ['a:b'])
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
            if name or _is_range(args):
                return text
    if text[0] not in "[{'\"":
        return _plain_value(text)
    return _parse_flow(text)


def _parse_flow(text):
    import yaml

    try:
        return yaml.load(text, Loader=_loader_class())  # noqa: S506 - a SafeLoader
    except yaml.YAMLError:
        raise _DecodeError() from None


def _is_range(args):
    """``[NUM:NUM]``, ``[NUM:NUM:NUM]``: a search range, not a list. (More numbers, as in
    ``[1:2:3:4]``, are a range too, which the batch layer rejects by name, as the seeds
    show: ``uniform requires 2 or 3 args``.)"""
    return len(args) >= 2 and all(_NUMBER_ARG_RE.match(a) for a in args)


def is_search_text(s):
    """True if the string ``s`` asks for a search: ``[NUM:NUM]``, ``[NUM:NUM:NUM]`` or a
    named flag function (``uniform[-1:1]``, ``loguniform[1e-4:1e-1]``).

    >>> [is_search_text(t) for t in ("[0:1]", "[1:2:1.5]", "uniform[a:b]", "[a:b]", "[1:a]")]
    [True, True, True, False, False]
    """
    if not isinstance(s, str):
        return False
    fn = _split_function(s.strip())
    if fn is None:
        return False
    name, args = fn
    return bool(name) or _is_range(args)


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
    if not _needs_quotes(s, flow):
        return s
    if s.isprintable():
        return "'" + s.replace("'", "''") + "'"
    return _double_quoted(s)


def _double_quoted(s):
    "A YAML double-quoted scalar: line breaks and other unprintable characters escaped."
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        else:
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _needs_quotes(s, flow):
    if not s or s != s.strip() or not s.isprintable():
        return True
    if flow and (s[0] in "'\"" or any(c in s for c in ",[]{}:#")):
        return True
    if _NUMBERISH_RE.match(s):
        return True
    decoded = _decode_value(s, _no_warning)
    if not isinstance(decoded, str) or decoded != s:
        return True
    # In a list or dict the text must also read back as one YAML plain scalar (no
    # anchor, alias, tag or other indicator at its start).
    return flow and _decode_value(f"[{s}]", _no_warning) != [s]


def _shell_quote(s):
    if "'" not in s:
        return f"'{s}'"
    return '"' + re.sub(r'(["\\$`])', r"\\\1", s) + '"'
