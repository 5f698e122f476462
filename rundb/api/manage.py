"""Changes to existing runs: labels, tags, marks, comments, delete, restore, purge.

Every change reaches the run's meta.json and the index in one step (rundb.index.store);
deletion moves the run directory to the home's trash, where ``restore`` finds it again
and ``purge`` removes it for good.

The index may come from elsewhere (a home rsynced from a cluster, an export directory), so
no path is taken from it: each run's directory is rebuilt from its id through
:func:`rundb.validate.run_dir`, which refuses ids rundb cannot have made and directories
that lead outside the home, before anything is written, moved or deleted.
"""

import os
import shutil

from ..index import reader, store, writer
from ..index.db import open_home_index
from ..run import read_meta
from ..validate import check_inside, run_dir


def _runs(index, run_ids):
    """The runs, each with ``dir`` checked (see the module docstring).

    :raises UnsafePathError: a run's id or directory is unsafe; nothing has changed yet.
    """
    rids = [rid for rid in (reader.rid_of(index, i) for i in run_ids) if rid is not None]
    runs = reader.load_runs(index, rids)
    home = reader.home_path(index)
    for run in runs:
        run.dir = run_dir(home, run.id, run.deleted)
    return runs


def edit_label(label, set=None, prepend=None, append=None, remove=None, clear=False):
    """The label after one edit. ``remove`` drops a whole space-delimited token sequence.

    >>> edit_label("foo msg='Hello' bar baz", remove="bar baz")
    "foo msg='Hello'"
    >>> edit_label("foo bar", remove="a")
    'foo bar'
    """
    if clear:
        return ""
    if set is not None:
        label = set
    if prepend:
        label = f"{prepend} {label}".strip()
    if append:
        label = f"{label} {append}".strip()
    if remove:
        label = _remove_tokens(label, remove.split())
    return label


def _remove_tokens(label, tokens):
    words = label.split()
    n = len(tokens)
    i = 0
    out = []
    while i < len(words):
        if n and words[i : i + n] == tokens:
            i += n
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def _label_runs(index, run_ids, **edit):
    """Apply one label edit (see :func:`edit_label`) to each run; return the runs."""
    runs = _runs(index, run_ids)
    for run in runs:
        _save(index, run, label=edit_label(run.label, **edit))
    return runs


def _tag_runs(index, run_ids, add=(), remove=()):
    runs = _runs(index, run_ids)
    for run in runs:
        tags = [t for t in run.tags if t not in remove]
        tags += [t for t in add if t not in tags]
        _save(index, run, tags=tags)
    return runs


def _mark_runs(index, run_ids, marked=True):
    runs = _runs(index, run_ids)
    for run in runs:
        _save(index, run, marked=marked)
    return runs


def _comment_runs(index, run_ids, comment):
    runs = _runs(index, run_ids)
    for run in runs:
        _save(index, run, comment=comment)
    return runs


def _save(index, run, **changes):
    """Apply ``changes`` to the run's meta.json (re-read, so nothing else is lost) and index."""
    meta = read_meta(run.dir, deleted=run.deleted)
    meta.rid = run.rid
    store.save_run(index, meta, **changes)


def _delete_runs(index, home, run_ids):
    """Move runs to the trash; return them.

    :raises UnsafePathError: see :func:`_runs` (no run is touched then).
    """
    runs = _runs(index, run_ids)
    os.makedirs(home.trash_dir, exist_ok=True)
    for run in runs:
        if run.deleted:
            continue
        dest = run_dir(home, run.id, deleted=True)
        if os.path.lexists(run.dir):
            if os.path.lexists(dest):
                _remove(home.trash_dir, dest)
            os.replace(run.dir, dest)
        writer.update_run(index, run.id, deleted=True)
    return runs


def _restore_runs(index, home, run_ids):
    """Move deleted runs back from the trash; return them.

    :raises UnsafePathError: see :func:`_runs` (no run is touched then).
    """
    runs = _runs(index, run_ids)
    for run in runs:
        if not run.deleted:
            continue
        dest = run_dir(home, run.id)
        if os.path.lexists(run.dir) and not os.path.lexists(dest):
            os.replace(run.dir, dest)
        writer.update_run(index, run.id, deleted=False)
    return runs


def _purge_runs(index, run_ids):
    """Remove deleted runs for good: their directories and index rows.

    :raises UnsafePathError: see :func:`_runs` (no run is touched then).
    """
    runs = _runs(index, run_ids)
    for run in runs:
        if not run.deleted:
            continue
        _remove(os.path.dirname(run.dir), run.dir)
        writer.delete_run_rows(index, run.rid)
    return runs


def _remove(parent, path):
    """Remove the run directory ``path`` (its links are removed, never followed)."""
    if os.path.islink(path):
        os.remove(path)
        return
    if os.path.lexists(path):
        check_inside(parent, path)
        shutil.rmtree(path, ignore_errors=True)


# --- the API: each opens the home's index for one change -------------------------------


def label_runs(home, run_ids, **edit):
    """Edit labels: set=, prepend=, append=, remove=, clear=True; return the runs."""
    with open_home_index(home, write=True) as index:
        return _label_runs(index, run_ids, **edit)


def tag_runs(home, run_ids, add=(), remove=()):
    with open_home_index(home, write=True) as index:
        return _tag_runs(index, run_ids, add=add, remove=remove)


def mark_runs(home, run_ids, marked=True):
    with open_home_index(home, write=True) as index:
        return _mark_runs(index, run_ids, marked=marked)


def comment_runs(home, run_ids, comment):
    with open_home_index(home, write=True) as index:
        return _comment_runs(index, run_ids, comment=comment)


def delete_runs(home, run_ids):
    """Move runs to the trash (restorable until purged)."""
    with open_home_index(home, write=True) as index:
        return _delete_runs(index, home, run_ids)


def restore_runs(home, run_ids):
    with open_home_index(home, write=True) as index:
        return _restore_runs(index, home, run_ids)


def purge_runs(home, run_ids):
    """Remove trashed runs for good."""
    with open_home_index(home, write=True) as index:
        return _purge_runs(index, run_ids)
