"""Output scalars: numbers a script prints, turned into ``(key, value, step)`` scalars.

Every line a run writes to stdout/stderr is fed to an :class:`OutputScalarParser`, which
matches it against the patterns in force and returns the scalars found in that line.

Patterns are regular expressions with three aliases, expanded before compiling:
``\\key`` = ``[^ \\t]+``, ``\\step`` = ``[0-9]+`` and ``\\value``, a number as Python,
NumPy, PyTorch and Keras print one: an optional sign, digits with an optional point and an
``e``/``E`` exponent with an optional sign, or ``nan``, ``inf``, ``infinity`` in any case.
Guild's ``\\value`` is ``[0-9\\.e\\-]+``; ours reads the same text wherever Guild's gives a
number (it never stops inside a run of those characters), so ordinary numbers are recorded
exactly as Guild records them, and diverging runs (``3.2e+20``, ``nan``, ``-inf``) are
recorded too. The ``--test-output-scalars`` report names ``\\value`` by Guild's spelling.

Before matching, a line is cleaned as one function does it for every caller: a line redrawn
with ``\\r`` (a progress bar) counts as its last redraw, trailing whitespace is stripped
(as Guild strips it), and control characters (below ``\\t``, and ``\\x0e``-``\\x1f``,
``\\x7f``) and ANSI escape sequences (colours) are dropped, so they never end up in keys or
values.

A pattern yields scalars according to its groups:

* an entry of a map ``{key: pattern}``: group 1 is the value for ``key``;
* named groups ``_key`` and ``_val``: the key and the value;
* other named groups: each group is a key and its text the value;
* exactly two unnamed groups: the key and the value.

A key named ``step`` (a ``step`` map entry, a ``(?P<step>...)`` group or a key group that
reads ``step``) sets the current step instead of being logged; the step persists across
lines and starts at 0. All matches in a line are used (``finditer``), the last value of a
key in a line wins, and a value that does not parse as a float is ignored.

This module is pure: it reads nothing and writes nothing.
"""

import re
from operator import itemgetter

from .errors import OpError

__all__ = [
    "DEFAULT_PATTERNS",
    "KERAS_PATTERNS",
    "OutputScalarParser",
    "clean_lines",
    "expand_aliases",
    "test_output_scalars",
]

#: ``name: value (step N)`` sets the step; ``name: value`` with an optional ``(...)`` logs it
DEFAULT_PATTERNS = (
    r"^\key:\s+\value\s+\((?:step\s+)?(?P<step>\step)\)$",
    r"^(\key):\s+(\value)(?:\s+\(.*\))?$",
)

#: Keras progress output; used together with DEFAULT_PATTERNS when a script uses Keras
KERAS_PATTERNS = (
    r"Epoch (?P<step>[0-9]+)",
    r" - ([a-z_]+): (\value)",
    r"Test loss: (?P<test_loss>\value)",
    r"Test accuracy: (?P<test_accuracy>\value)",
)

# A number, never cut inside a run of Guild's value characters [0-9.e-] (so where Guild's
# alias reads a number, this one reads the same), or nan/inf/infinity in any case.
VALUE_PATTERN = (
    r"(?:[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?(?![0-9.e\-])"
    r"|(?i:nan|inf(?:inity)?)(?![A-Za-z0-9_])))"
)
# What Guild's alias expands to; the --test-output-scalars report shows patterns this way.
GUILD_VALUE_PATTERN = r"[0-9\.e\-]+"

_ALIASES = {"key": "[^ \t]+", "value": VALUE_PATTERN, "step": "[0-9]+"}
_SHOWN_ALIASES = dict(_ALIASES, value=GUILD_VALUE_PATTERN)

# Control characters but tab and newline, and ANSI escape sequences (CSI ... final byte, or
# ESC and one character).
_CONTROL_BYTES = bytes([*range(0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f])
_CONTROL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-_]?)|[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")

# an alias, or any other escape (consumed whole so that an escaped backslash followed by
# "key" is left alone)
_ESCAPE = re.compile(r"\\(key|value|step|.)", re.S)

# Substrings a line must contain for a built-in pattern to match it. Checking them with
# `in` is several times cheaper than running the regex on the many lines that hold none.
_REQUIRED = {
    DEFAULT_PATTERNS[0]: ":",
    DEFAULT_PATTERNS[1]: ":",
    KERAS_PATTERNS[0]: "Epoch ",
    KERAS_PATTERNS[1]: ": ",
    KERAS_PATTERNS[2]: "Test loss: ",
    KERAS_PATTERNS[3]: "Test accuracy: ",
}

# The two default patterns as one regex over a block of whole lines (re.M): whitespace
# never crosses a newline, so each match is exactly what the two patterns find in one
# line. Group 3 is the step of a trailing "(step N)" / "(N)"; any other "(...)" is allowed.
_DEFAULTS_BLOCK = re.compile(
    r"^([^ \t\n]+):[^\S\n]+(" + VALUE_PATTERN + ")"
    r"(?:[^\S\n]+\((?:(?:step[^\S\n]+)?([0-9]+)|.*)\))?$",
    re.M,
)

_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)

# OutputScalarParser.from_config's compiled parsers, by repr of the config
_COMPILED = {}
_COMPILED_MAX = 64

# how a compiled pattern turns a match into key/value pairs
_MAP, _KEY_VAL, _NAMED = range(3)


def expand_aliases(pattern):
    r"""Replace ``\key``, ``\value`` and ``\step`` in ``pattern`` with their regexes.

    >>> expand_aliases(r"^(\key): (\step)$")
    '^([^ \t]+): ([0-9]+)$'
    >>> expand_aliases(r"a\\key")
    'a\\\\key'
    """

    def repl(m):
        return _ALIASES.get(m.group(1), m.group(0))

    return _ESCAPE.sub(repl, pattern)


def _shown_pattern(pattern):
    "``pattern`` with the aliases spelt as Guild expands them (for the report)."
    return _ESCAPE.sub(lambda m: _SHOWN_ALIASES.get(m.group(1), m.group(0)), pattern)


class OutputScalarParser:
    """Finds scalars in output lines, keeping the current step between lines.

    :param config: the patterns: ``None`` for the defaults (the Keras patterns plus the
        defaults when ``keras`` is true), ``True`` for the defaults too, ``False`` or
        ``"no"`` for none, a pattern string, a ``{key: pattern}`` map, or a list of
        pattern strings and maps.
    :param keras: use the Keras patterns; only applies when ``config`` is ``None``/``True``.
    :raises TypeError: ``config`` has an invalid shape (e.g. ``{}`` or an int).
    :raises OpError: a pattern is not a valid regex or has unusable groups.
    """

    def __init__(self, config=None, keras=False):
        self.patterns_config = _normalize(config, keras)
        self.step = 0
        self._entries = [_compile(key, raw) for key, raw in _flatten(self.patterns_config)]
        self._block = _DEFAULTS_BLOCK if self.patterns_config == list(DEFAULT_PATTERNS) else None

    @classmethod
    def from_config(cls, patterns_config):
        """Rebuild a parser from the :attr:`patterns_config` of another one.

        Each config is compiled once per process (a rebuild reads the same patterns in
        every run's meta.json); every call returns a parser of its own, at step 0.
        """
        if not isinstance(patterns_config, list):
            raise TypeError(f"invalid output scalar config: {patterns_config!r}")
        # repr is one-to-one on what JSON gives (str, numbers, lists, dicts)
        key = repr(patterns_config)
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = cls(patterns_config)
            if len(_COMPILED) >= _COMPILED_MAX:
                _COMPILED.clear()
            _COMPILED[key] = compiled
        return compiled._fresh()

    def _fresh(self):
        "A parser sharing this one's compiled patterns, with a step of its own (0)."
        import copy

        new = copy.copy(self)
        new.patterns_config = list(self.patterns_config)
        new.step = 0
        return new

    @property
    def patterns(self):
        """``(key, pattern)`` pairs in the order they are applied (key ``None`` for list
        patterns), patterns as written, before alias expansion."""
        return [(e.key, e.raw) for e in self._entries]

    def feed(self, line):
        """Match one output line and return its scalars as ``(key, value, step)`` tuples.

        The line is cleaned as :func:`clean_lines` says (a trailing newline, ``\\r``
        redraws, trailing whitespace, control characters). Keys appear in the order first
        found in the line (map entries by key, named groups by name), each with its last
        value. The same code as :meth:`feed_text`, one line at a time.
        """
        found = self.feed_text(line)
        return [(key, value, step) for key, (steps, values) in found.items()
                for step, value in zip(steps, values)]

    def feed_text(self, text, out=None):
        """Match a block of whole lines; return ``{key: ([steps], [values])}``.

        Each line is cleaned by :func:`clean_lines`, then matched: the same scalars, in
        the same order per key, whether the text comes a line at a time (:meth:`feed`) or
        in blocks of any size. With the default patterns one regex scans the whole block,
        several times faster than line by line.
        """
        out = {} if out is None else out
        lines = clean_lines(text)
        if self._block is not None and ":" not in text:
            return out  # both default patterns need a colon
        if self._block is None:
            for line in lines:
                self._match_line(line, out)
            return out
        found = self._block.findall("\n".join(lines))
        if found and self._columns_fast(found, out):
            return out
        step = self.step
        for key, text_value, text_step in found:
            if text_step:
                step = int(text_step)
            if key == "step":
                try:
                    step = int(float(text_value))
                except (ValueError, OverflowError):
                    pass
                continue
            try:
                value = float(text_value)
            except ValueError:
                continue
            cols = out.get(key)
            if cols is None:
                cols = out[key] = ([], [])
            cols[0].append(step)
            cols[1].append(value)
        self.step = step
        return out

    def _match_line(self, line, out):
        "Add the scalars of one clean line to ``out`` (the general, per-pattern path)."
        vals = None
        for e in self._entries:
            if e.required is not None and e.required not in line:
                continue
            for m in e.finditer(line):
                if vals is None:
                    vals = {}
                e.collect(m, vals)
        if vals is None:
            return
        step = vals.pop("step", None)
        if step is not None:
            self.step = step
        step = self.step
        for key, value in vals.items():
            _append(out, key, step, value)

    def _columns_fast(self, found, out):
        """Group matches by key with C-level builtins when no match changes the step
        in the middle of the block: every match carries its own ``(step N)``, or none
        does and no key is ``step``. Returns False (nothing done) otherwise."""
        keys = list(map(_first, found))
        if "step" in keys:
            return False
        text_steps = list(map(_third, found))
        if all(text_steps):
            steps = list(map(int, text_steps))
        elif not any(text_steps):
            steps = [self.step] * len(keys)
        else:
            return False
        try:
            values = list(map(float, map(_second, found)))
        except ValueError:
            return False
        names = set(keys)
        if len(names) == 1:
            (key,) = names
            _extend(out, key, steps, values)
        else:
            for key in sorted(names, key=keys.index):
                _extend(out, key, [s for k, s in zip(keys, steps) if k == key],
                        [v for k, v in zip(keys, values) if k == key])
        self.step = steps[-1]
        return True

    def __repr__(self):
        return f"<OutputScalarParser {self.patterns_config!r}>"


def clean_lines(text):
    """The lines of ``text`` as they are matched: a line redrawn with ``\\r`` is its last
    redraw, control characters and ANSI escape sequences are dropped and trailing
    whitespace is stripped. One trailing newline ends the last line.

    >>> clean_lines("10%\\r\\x1b[32mloss: 0.4\\x1b[0m \\r\\nacc:\\x07 0.9 \\n")
    ['loss: 0.4', 'acc: 0.9']
    """
    if text.endswith("\n"):
        text = text[:-1]
    if "\r" in text:
        text = "\n".join(_last_redraw(line) for line in text.split("\n"))
    if not text.isprintable():  # tabs and newlines too: look closer, at C speed
        encoded = text.encode("utf-8", "surrogatepass")
        if len(encoded.translate(None, _CONTROL_BYTES)) != len(encoded):
            text = _CONTROL.sub("", text)
    return [line.rstrip() for line in text.split("\n")]


def _last_redraw(line):
    line = line.rstrip("\r")
    return line.rsplit("\r", 1)[-1] if "\r" in line else line


def _extend(out, key, steps, values):
    cols = out.get(key)
    if cols is None:
        out[key] = (steps, values)
    else:
        cols[0].extend(steps)
        cols[1].extend(values)


def _append(out, key, step, value):
    cols = out.get(key)
    if cols is None:
        cols = out[key] = ([], [])
    cols[0].append(step)
    cols[1].append(value)


def test_output_scalars(lines, parser):
    """Show how ``parser`` matches each of ``lines`` (the ``--test-output-scalars`` report).

    Each line is echoed, followed by one indented line per pattern with its matches and
    the values they give, or ``<no matches>``; every line of the report ends with a
    newline. The parser's step is not changed.

    >>> print(test_output_scalars(["foo: 1.123"], OutputScalarParser([r"^(\\key):\\s+(\\value)$"])))
    foo: 1.123
      '^([^ \\t]+):\\\\s+([0-9\\\\.e\\\\-]+)$': [('foo', '1.123')] (foo=1.123)
    <BLANKLINE>
    """
    out = []
    for line in (clean for line in lines for clean in clean_lines(line)):
        out.append(line)
        for e in parser._entries:
            matches = list(e.finditer(line))
            shown = _shown_pattern(e.raw)
            if not matches:
                out.append(f"  {shown!r}: <no matches>")
                continue
            vals = {}
            for m in matches:
                e.collect(m, vals)
            groups = [m.groups() for m in matches]
            found = ", ".join(f"{k}={float(v)}" for k, v in vals.items())
            out.append(f"  {shown!r}: {groups!r} ({found or 'no numeric values'})")
    return "".join(f"{line}\n" for line in out)


test_output_scalars.__test__ = False  # not a pytest test, despite its name


class _Entry:
    "One compiled pattern and how its matches become key/value pairs."

    __slots__ = ("key", "raw", "pattern", "finditer", "required", "kind", "groups")

    def __init__(self, key, raw, regex, kind, groups):
        self.key = key
        self.raw = raw
        self.pattern = regex.pattern
        self.finditer = regex.finditer
        self.required = _REQUIRED.get(raw)
        self.kind = kind
        self.groups = groups

    def collect(self, m, vals):
        "Add the values of match ``m`` to ``vals`` (``step`` as int, others as float)."
        kind = self.kind
        if kind == _MAP:
            _put(vals, self.key, m.group(1))
        elif kind == _KEY_VAL:
            key_i, val_i, step_i = self.groups
            if step_i:
                _put(vals, "step", m.group(step_i))
            key = m.group(key_i)
            if key is not None:
                _put(vals, key, m.group(val_i))
        else:
            for name, i in self.groups:
                _put(vals, name, m.group(i))


def _put(vals, key, text):
    if text is None:
        return
    if key == "step":
        try:
            vals[key] = int(text)
        except ValueError:
            try:
                vals[key] = int(float(text))
            except (ValueError, OverflowError):
                pass
        return
    try:
        vals[key] = float(text)
    except ValueError:
        pass


def _normalize(config, keras):
    "The config as a JSON-ready list of pattern strings and {key: pattern} maps."
    if config is None or config is True:
        return list(KERAS_PATTERNS + DEFAULT_PATTERNS if keras else DEFAULT_PATTERNS)
    if config is False or config == "no":
        return []
    if isinstance(config, str):
        items = [config]
    elif isinstance(config, dict):
        items = [config] if config else None
    elif isinstance(config, (list, tuple)):
        items = list(config)
    else:
        items = None
    if items is None:
        raise TypeError(f"invalid output scalar config: {config!r}")
    normalized = []
    for item in items:
        if isinstance(item, str) and item:
            normalized.append(item)
        elif isinstance(item, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in item.items()
        ):
            normalized.append(dict(item))
        else:
            raise TypeError(f"invalid output scalar config: {item!r}")
    return normalized


def _flatten(config):
    "``(key, raw pattern)`` pairs: list patterns with key None, map entries sorted by key."
    for item in config:
        if isinstance(item, str):
            yield None, item
        else:
            for key in sorted(item):
                yield key, item[key]


def _compile(key, raw):
    try:
        regex = re.compile(expand_aliases(raw))
    except re.error as e:
        raise OpError(f"invalid output scalar pattern {raw!r}: {e}") from None
    if key is not None:
        if regex.groups < 1:
            raise OpError(f"output scalar pattern {raw!r} for '{key}' needs a group for the value")
        return _Entry(key, raw, regex, _MAP, None)
    names = regex.groupindex
    if "_key" in names and "_val" in names:
        return _Entry(key, raw, regex, _KEY_VAL, (names["_key"], names["_val"], names.get("step")))
    if set(names) - {"step"}:
        return _Entry(key, raw, regex, _NAMED, tuple(sorted(names.items())))
    unnamed = [i for i in range(1, regex.groups + 1) if i not in names.values()]
    if len(unnamed) == 2:
        return _Entry(key, raw, regex, _KEY_VAL, (unnamed[0], unnamed[1], names.get("step")))
    if not unnamed and "step" in names:
        return _Entry(key, raw, regex, _NAMED, (("step", names["step"]),))
    raise OpError(
        f"output scalar pattern {raw!r} needs two groups (key and value) or named groups"
    )
