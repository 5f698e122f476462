"""Differences between two runs: flags, attributes, final scalars, packages, and the
text of their source snapshots or output (unified diffs)."""

import difflib
import os
from dataclasses import dataclass, field

from .home import meta_dir

#: Run fields compared as attributes (times, ids and pids always differ: left out).
RUN_FIELDS = ("op", "status", "exit_status", "label", "tags", "comment", "marked",
              "sourcecode_digest", "host", "user", "parent")

#: Attributes that always differ between runs or repeat the flags.
SKIPPED_ATTRS = frozenset({"child_pid", "env", "cmd", "process_gone", "packages"})

#: Over this many changed files, --source prints the list, not the diffs.
MAX_FILE_DIFFS = 10


@dataclass
class RunDiff:
    """Two runs side by side: ``rows`` are (kind, name, value in a, value in b), kind one of
    flag, attr, scalar, package."""

    a: object
    b: object
    rows: list = field(default_factory=list)


def diff_runs(a, b, scalars_a, scalars_b, packages_a=None, packages_b=None, all_=False):
    """A RunDiff of runs ``a`` and ``b`` (rundb.run.Run records).

    :param scalars_a: ``{key: last value}`` of run a (likewise b); ``sys/*`` keys are
        compared only with ``all_``.
    :param packages_a: ``{distribution: version}`` of run a, or None when not recorded.
    :param all_: keep rows whose values are equal (packages: still differences only).
    """
    diff = RunDiff(a, b)

    def add(kind, name, va, vb):
        if all_ or va != vb:
            diff.rows.append((kind, name, va, vb))

    for name in sorted(set(a.flags) | set(b.flags)):
        add("flag", name, a.flags.get(name), b.flags.get(name))
    for name in RUN_FIELDS:
        add("attr", "operation" if name == "op" else name, getattr(a, name), getattr(b, name))
    for name in sorted((set(a.attrs) | set(b.attrs)) - SKIPPED_ATTRS):
        add("attr", name, a.attrs.get(name), b.attrs.get(name))
    for key in sorted(set(scalars_a) | set(scalars_b)):
        if key.startswith("sys/") and not all_:
            continue
        add("scalar", key, scalars_a.get(key), scalars_b.get(key))
    if packages_a is not None or packages_b is not None:
        pa, pb = packages_a or {}, packages_b or {}
        for name in sorted(set(pa) | set(pb), key=str.lower):
            if pa.get(name) != pb.get(name):
                diff.rows.append(("package", name, pa.get(name), pb.get(name)))
    return diff


def source_dir(run):
    return os.path.join(meta_dir(run.dir), "sourcecode")


def _files(root):
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = full
    return out


def _lines(path):
    if path is None:
        return []
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines(keepends=True)


def diff_sources(a, b):
    """(changes, diffs) between the source snapshots of two runs: ``changes`` is a sorted
    list of (status, path), status ``A`` (only in b), ``D`` (only in a) or ``M``; ``diffs``
    is the unified diff text (empty when more than MAX_FILE_DIFFS files changed)."""
    fa, fb = _files(source_dir(a)), _files(source_dir(b))
    changes = []
    for path in sorted(set(fa) | set(fb)):
        if path not in fb:
            changes.append(("D", path))
        elif path not in fa:
            changes.append(("A", path))
        elif _lines(fa[path]) != _lines(fb[path]):
            changes.append(("M", path))
    if len(changes) > MAX_FILE_DIFFS:
        return changes, ""
    text = "".join(
        _unified(_lines(fa.get(path)), _lines(fb.get(path)),
                 f"{a.short_id}/{path}", f"{b.short_id}/{path}")
        for _status, path in changes)
    return changes, text


def diff_outputs(a, b):
    """The unified diff of two runs' captured output."""
    return _unified(_lines(_maybe(os.path.join(meta_dir(a.dir), "output"))),
                    _lines(_maybe(os.path.join(meta_dir(b.dir), "output"))),
                    f"{a.short_id}/output", f"{b.short_id}/output")


def _maybe(path):
    return path if os.path.isfile(path) else None


def _unified(la, lb, name_a, name_b):
    out = []
    for line in difflib.unified_diff(la, lb, name_a, name_b):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
