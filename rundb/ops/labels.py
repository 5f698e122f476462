"""Run labels: the default label and ``${...}`` label templates.

A template refers to flags as ``${name}`` and to the default label as
``${default_label}``. Filters follow a ``|`` and may be chained:

* ``${x|default:VAL}``  VAL when x is undefined or None
* ``${x|basename}``     the last part of a path
* ``${x|%.2f}``         Python %-formatting
* ``${x|unquote}``      strip one pair of surrounding single quotes

Without filters a value is formatted as in the default label (``yes``/``no``,
floats cut to 5 decimals, strings with spaces quoted, long paths shortened).
Filters see the raw flag value; after a filter a string is shown as it is, so
``${v|default:x}`` with ``v="789"`` gives ``789`` where ``${v}`` gives ``'789'``.
An undefined flag, or a None value, renders as the empty string.

>>> run_label("${lr|%.3f} ${opt}", {"lr": 0.01, "opt": "adam"})
'0.010 adam'
>>> run_label(None, {"lr": 1 / 3, "opt": "adam"})
'lr=0.33333 opt=adam'
"""

from __future__ import annotations

import logging
import os
import re

from rundb.flagvals import format_label_value

__all__ = ["default_label", "run_label"]

log = logging.getLogger("rundb")

#: paths longer than this are shortened with an ellipsis in labels
MAX_PATH_LEN = 28

_REF_RE = re.compile(r"\$\{([^}]*)\}")
_MISSING = object()


def default_label(flags):
    """Return ``name=value`` for every flag, sorted by name and space separated.

    >>> default_label({"b": True, "a": 1.0 / 6})
    'a=0.16666 b=yes'
    """
    return " ".join(f"{name}={_label_value(flags[name])}" for name in sorted(flags))


def _label_value(val):
    # format_label_value, with long paths shortened (/tmp/…/vwx/yz)
    if isinstance(val, str):
        val = _shorten_path(val)
    return format_label_value(val)


def run_label(template, flags):
    """Render a label *template* for *flags*; None or ``""`` gives the default label.

    Text outside ``${...}`` is kept as it is.
    """
    if not template:
        return default_label(flags)
    return _REF_RE.sub(lambda m: _render_ref(m.group(1), flags), template)


def _render_ref(ref, flags):
    name, *filters = ref.split("|")
    name = name.strip()
    if name == "default_label":
        val = default_label(flags)
        is_text = True
    else:
        val = flags.get(name, _MISSING)
        is_text = False
    for spec in filters:
        val, is_text = _apply_filter(spec, val, is_text)
    if val is _MISSING or val is None:
        return ""
    if is_text:
        return val
    if filters and isinstance(val, str):
        return val
    return _label_value(val)


def _apply_filter(spec, val, is_text):
    """Apply one filter; return ``(value, is_text)``."""
    if spec.startswith("%"):
        if val is _MISSING or val is None:
            return val, is_text
        try:
            return spec % val, True
        except TypeError:
            # A format that does not fit the value's type (%.2f of a string)
            # is not the user's typo; show the value as it is.
            return val, is_text
        except ValueError as e:
            log.warning("error formatting %r with %r: %s", val, spec, e)
            return val, is_text
    name, _, arg = spec.partition(":")
    name = name.strip()
    if name == "default":
        if val is _MISSING or val is None:
            return arg, True
        return val, is_text
    if name == "basename":
        if val is _MISSING or val is None:
            return val, is_text
        return os.path.basename(str(val)), True
    if name == "unquote":
        if isinstance(val, str) and len(val) >= 2 and val[0] == val[-1] == "'":
            return val[1:-1], True
        return val, is_text
    log.warning("unknown label filter %r - ignoring", name)
    return val, is_text


def _shorten_path(s, max_len=MAX_PATH_LEN, ellipsis="\u2026"):
    """Shorten a long absolute path to ``head/…/tail``.

    Parts are taken alternately from the end and the start (end first) while the
    result stays within *max_len*; the first and last parts are always kept.
    """
    if len(s) <= max_len or not os.path.isabs(s):
        return s
    sep = os.path.sep
    root, rest = os.path.splitdrive(s)
    parts = rest.split(sep)
    lead = parts[0]  # "" for a path starting with sep
    parts = [p for p in parts[1:] if p]
    if len(parts) < 3:
        return s
    head = [lead, parts[0]]
    tail = [parts[-1]]
    left, right = 1, len(parts) - 2

    def joined(h, t):
        return root + sep.join(h) + sep + ellipsis + sep + sep.join(t)

    take_right = True
    while left <= right:
        if take_right:
            candidate = (head, [parts[right]] + tail)
        else:
            candidate = (head + [parts[left]], tail)
        if len(joined(*candidate)) > max_len:
            break
        head, tail = candidate
        if take_right:
            right -= 1
        else:
            left += 1
        take_right = not take_right
    if left > right:
        return s
    return joined(head, tail)
