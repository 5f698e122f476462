"""Validation of everything rundb reads from outside: archives, another home's index, and
the meta.json of any run.

Runs travel (exports, rsynced homes, downloaded archives), so any of these may be hostile.
The rules, each applied before a path is used:

* a run id is 32 lowercase hex characters (``uuid4().hex``, the only form rundb makes)
  wherever a path is built from it (:func:`check_run_id`, :func:`run_dir`);
* a path resolves inside the directory it belongs to (the home's ``runs/`` or ``trash/``,
  or its run directory) before anything is written, moved or deleted there
  (:func:`check_inside`);
* files rundb writes in a run are never reached through a symlink
  (:func:`check_no_symlinks`; rundb.run also opens them with ``O_NOFOLLOW``);
* a meta.json document matches the run record's schema (:func:`check_meta`): one error
  names the run directory and the field, and the caller goes on with the other runs.
"""

import os

from .errors import MetaError, UnsafePathError

__all__ = ["STATUSES", "check_inside", "check_meta", "check_no_symlinks",
           "check_run_id", "is_run_id", "run_dir", "run_path_or_none"]

_HEX_DIGITS = "0123456789abcdef"

#: Every status a run record may hold.
STATUSES = ("running", "completed", "error", "terminated", "pending", "staged", "pruned")

_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
# Times are microseconds since the epoch; 2**62 us is far beyond any real date.
_TIME = (0, 2**62)
# meta.json documents rundb writes are a few KiB; this bounds what a hostile one costs.
MAX_META_BYTES = 16 * 1024 * 1024


def is_run_id(value):
    """True if ``value`` is a run id rundb could have made (32 lowercase hex characters)."""
    # String methods, not a regex: every command checks ids, few need `re` otherwise.
    return isinstance(value, str) and len(value) == 32 and not value.strip(_HEX_DIGITS)


def check_run_id(value, what="run id"):
    """Return ``value`` if it is a valid run id.

    :raises UnsafePathError: it is not (the message shows it, shortened and escaped).
    """
    if not is_run_id(value):
        raise UnsafePathError(f"{what} {_show(value)} is not a rundb run id "
                              "(32 lowercase hex characters)")
    return value


def run_dir(home, run_id, deleted=False):
    """The directory of run ``run_id`` in ``home`` (a Home or its path), checked.

    :raises UnsafePathError: the id is not a run id, or the directory (a symlink) resolves
        outside the home's ``runs/`` (``trash/`` when ``deleted``).
    """
    check_run_id(run_id)
    home_path = getattr(home, "path", home)
    parent = os.path.join(home_path, "trash" if deleted else "runs")
    path = os.path.join(parent, run_id)
    check_inside(parent, path)
    return path


def run_path_or_none(home_path, run_id, deleted=False):
    """Where run ``run_id`` lives in the home, or None when the id is not a run id (an index
    row from elsewhere); no file system access."""
    if not is_run_id(run_id):
        return None
    return os.path.join(home_path, "trash" if deleted else "runs", run_id)


def check_inside(base, path):
    """Raise unless ``path``, with every symlink resolved, is strictly inside ``base``
    (itself resolved, so a home on a symlinked disk is fine).

    :raises UnsafePathError: it leads elsewhere.
    """
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    if real == real_base or os.path.commonpath([real_base, real]) != real_base:
        raise UnsafePathError(f"{path} leads outside {base} (to {real})")
    return path


def check_no_symlinks(base, path):
    """Raise if any existing component of ``path`` below ``base`` is a symlink, so a write
    to ``path`` cannot land elsewhere. ``path`` must be ``base`` or below it.

    :raises UnsafePathError: a component is a symlink, or ``path`` is not below ``base``.
    """
    base = os.path.abspath(base)
    path = os.path.abspath(path)
    if path != base and os.path.commonpath([base, path]) != base:
        raise UnsafePathError(f"{path} is outside {base}")
    rel = os.path.relpath(path, base)
    current = base
    for part in ([] if rel == os.curdir else rel.split(os.sep)):
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise UnsafePathError(f"refusing to write through the symlink {current}")
    return path


# --- meta.json ----------------------------------------------------------------------


def check_meta(data, where):
    """Check a decoded meta.json document against the run record's schema.

    Fields rundb does not know are ignored; known fields may be missing (defaults apply),
    except ``id``.

    :param where: the run directory, named in the error.
    :raises MetaError: ``"<where>: invalid meta.json: field '<name>': <problem>"``.
    """
    if not isinstance(data, dict):
        raise MetaError(f"{where}: invalid meta.json: expected an object, not "
                        f"{_type_name(data)}")
    if "id" not in data:
        raise MetaError(f"{where}: invalid meta.json: missing 'id'")
    for name, check in _FIELDS.items():
        if name not in data:
            continue
        problem = check(data[name])
        if problem is not None:
            raise MetaError(f"{where}: invalid meta.json: field '{name}': {problem}")
    if not _valid_text(data):
        for name in _FIELDS:
            problem = _text_problem(data.get(name))
            if problem is not None:
                raise MetaError(f"{where}: invalid meta.json: field '{name}': {problem}")
    return data


def _valid_text(data):
    """True if every string in ``data`` is valid Unicode (checked in C, in one pass)."""
    import json

    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except ValueError:  # an integer too long to print: look field by field
        return False
    return True


def _run_id_field(v):
    if not is_run_id(v):
        return f"{_show(v)} is not a run id (32 lowercase hex characters)"
    return None


def _optional_run_id(v):
    return None if v is None else _run_id_field(v)


def _string(v):
    return None if isinstance(v, str) else f"expected a string, not {_type_name(v)}"


def _optional_string(v):
    return None if v is None else _string(v)


def _status(v):
    if v not in STATUSES or not isinstance(v, str):
        return f"{_show(v)} is not a known status ({', '.join(STATUSES)})"
    return None


def _int_in(lo, hi, optional=False):
    def check(v):
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            return f"expected a whole number, not {_type_name(v)}"
        if not lo <= v <= hi:
            return f"{_show(v)} is out of range ({lo} to {hi})"
        return None

    return check


def _boolean(v):
    return None if isinstance(v, bool) else f"expected true or false, not {_type_name(v)}"


def _flags(v):
    if not isinstance(v, dict):
        return f"expected an object, not {_type_name(v)}"
    for name, value in v.items():
        problem = _json_value(value, top=True)
        if problem is not None:
            return f"flag {_show(name)}: {problem}"
    return None


def _tags(v):
    if not isinstance(v, list):
        return f"expected a list, not {_type_name(v)}"
    for tag in v:
        if not isinstance(tag, str):
            return f"expected a list of strings, found {_type_name(tag)}"
    return None


def _attrs(v):
    if not isinstance(v, dict):
        return f"expected an object, not {_type_name(v)}"
    for name, value in v.items():
        problem = _json_value(value)
        if problem is not None:
            return f"attribute {_show(name)}: {problem}"
    return None


def _output_scalars(v):
    # The pattern list rundb.outputscalars builds; its own parser checks the regexes.
    if v is None:
        return None
    if not isinstance(v, list):
        return f"expected a list of patterns or null, not {_type_name(v)}"
    for item in v:
        if isinstance(item, str):
            continue
        if isinstance(item, dict) and all(
            isinstance(k, str) and isinstance(p, str) for k, p in item.items()
        ):
            continue
        return f"expected patterns (strings or {{key: pattern}}), found {_type_name(item)}"
    return None


def _json_value(v, top=False):
    """None if ``v`` is a JSON value rundb can store: integers must fit SQLite at the top
    level of a flag (nested values travel as JSON text)."""
    stack = [(v, top)]
    while stack:
        value, is_top = stack.pop()
        if value is None or isinstance(value, (bool, str)):
            continue
        if isinstance(value, int):
            if is_top and not _INT64[0] <= value <= _INT64[1]:
                return f"{_show(value)} is out of range for a whole number"
            continue
        if isinstance(value, float):
            continue
        if isinstance(value, list):
            stack.extend((x, False) for x in value)
            continue
        if isinstance(value, dict):
            stack.extend((x, False) for x in value.values())
            continue
        return f"unexpected {_type_name(value)}"
    return None


_FIELDS = {
    "id": _run_id_field,
    "op": _string,
    "status": _status,
    "created": _int_in(*_TIME),
    "started": _int_in(*_TIME, optional=True),
    "stopped": _int_in(*_TIME, optional=True),
    "exit_status": _int_in(*_INT32, optional=True),
    "label": _string,
    "comment": _string,
    "marked": _boolean,
    "parent": _optional_run_id,
    "sourcecode_digest": _optional_string,
    "host": _optional_string,
    "user": _optional_string,
    "pid": _int_in(0, _INT32[1], optional=True),
    "flags": _flags,
    "tags": _tags,
    "attrs": _attrs,
    "output_scalars": _output_scalars,
}


def _text_problem(value):
    """A string anywhere in ``value`` (keys too) that is not valid Unicode text (a lone
    surrogate from a ``\\ud800`` escape cannot be stored in SQLite or printed)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return f"{_show(v)} is not valid Unicode text"
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
    return None


def _type_name(v):
    return {type(None): "null", bool: "true/false", int: "a number", float: "a number",
            str: "a string", list: "a list", dict: "an object"}.get(type(v), type(v).__name__)


def _show(value, limit=200):
    """A short, printable rendering of an untrusted value for an error message."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit number"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text.encode("ascii", "backslashreplace").decode("ascii")
