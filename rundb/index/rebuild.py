"""Recreate the index from run directories alone, and check it against them.

A run directory holds everything: meta.json (attributes, flags, status, the output-scalar
patterns in force), ``.rundb/output`` (output scalars are re-derived by parsing it again)
and TF event files anywhere in the run (scalars logged through the API live in
``.rundb/``; a script's own event files keep their directory as prefix).
"""

import os
from dataclasses import dataclass, field

from ..errors import MetaError, RundbError
from ..output import read_output
from ..catalog import OUTPUT_PREFIX
from ..run import process_gone, read_meta, this_host
from . import reader, url, writer
from ..tfevents import EventFilesWatcher
from .db import open_index

_RUNS_PER_TRANSACTION = 200
#: SQLite page cache of the index being built (KiB)
_BUILD_CACHE_KIB = 256 * 1024


@dataclass
class RebuildResult:
    indexed: int = 0
    errors: list = field(default_factory=list)


def run_dirs(home):
    """[(run dir, deleted)] of every run directory in the home, runs then trash."""
    out = []
    for parent, deleted in ((home.runs_dir, False), (home.trash_dir, True)):
        try:
            names = sorted(os.listdir(parent))
        except FileNotFoundError:
            continue
        for name in names:
            path = os.path.join(parent, name)
            if os.path.isdir(path) and not name.startswith("."):
                out.append((path, deleted))
    return out


def derive_scalars(run):
    """Every scalar of a run, from its files: ``{(prefix, tag): (steps, values, times)}``.

    Output lines are parsed in the blocks they were written in (lines sharing a time
    stamp), with the same parser the live run used.

    :raises EventFileError: an event file holds a corrupt record.
    """
    from ..outputscalars import OutputScalarParser

    series = {}
    if run.output_scalars is not None:
        try:
            parser = OutputScalarParser.from_config(run.output_scalars)
        except (TypeError, ValueError, RundbError) as e:
            raise MetaError(f"{run.dir}: invalid meta.json: field 'output_scalars': {e}"
                            ) from None
        for time_ms, lines in _blocks(read_output(run.dir)):
            found = parser.feed_text("\n".join(lines) + "\n")
            writer.merge_series(series, {
                (OUTPUT_PREFIX, key): (steps, values, [time_ms / 1000] * len(steps))
                for key, (steps, values) in found.items()
            })
    writer.merge_series(series, EventFilesWatcher(run.dir).poll())
    return series


def _blocks(output):
    block, block_time = [], None
    for time_ms, _stream, line in output:
        if block and time_ms != block_time:
            yield block_time, block
            block = []
        block_time = time_ms
        block.append(line)
    if block:
        yield block_time, block


def index_run_dir(index, run_dir, deleted=False):
    """Read one run directory and write its rows (run, flags, tags, attrs, scalars)."""
    run = read_meta(run_dir, deleted=deleted)
    run.deleted = deleted
    if process_gone(run.status, run.pid, run.host, run.started):
        # As readers reap it: in the index only; meta.json stays its runner's.
        run.status = "error"
        run.attrs["process_gone"] = True
    series = derive_scalars(run)
    with index.atomic():
        old = reader.rid_of(index, run.id)
        if old is not None:
            writer.delete_run_rows(index, old)
        rid = writer.insert_run(index, run)
        writer.add_series(index, rid, series)
        _index_package_set(index, run)
    return run


#: A package list is a few KiB; a bigger packages.json is not one rundb wrote.
_MAX_PACKAGES_BYTES = 4 * 1024 * 1024


def _index_package_set(index, run):
    """The run's package set from its ``.rundb/packages.json`` (a link to the home's copy).
    A file that is not a small ``{name: version}`` mapping of strings (an archive from
    elsewhere may hold anything) is left out."""
    import json

    from . import packages

    digest = run.attrs.get("packages")
    if not isinstance(digest, str) or packages.has_package_set(index, digest):
        return
    path = os.path.join(run.dir, ".rundb", "packages.json")
    try:
        if os.path.getsize(path) > _MAX_PACKAGES_BYTES:
            return
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        return
    if isinstance(found, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        packages.store_package_set(index, digest, found)


def build_index(home, path, progress=None):
    """Write a fresh index at ``path`` from the home's run directories."""
    result = RebuildResult()
    dirs = run_dirs(home)
    index = open_index(path)
    # The summary indexes take rows in value order, at random pages: with SQLite's 2 MB
    # default cache, 100,000 runs were read back from the OS page by page (1,000 -> 545
    # runs/s from 10,000 to 100,000 runs). This connection only, for the build.
    index.conn.execute(f"PRAGMA cache_size = -{_BUILD_CACHE_KIB}")
    try:
        for start in range(0, len(dirs), _RUNS_PER_TRANSACTION):
            with index.atomic():
                for run_dir, deleted in dirs[start : start + _RUNS_PER_TRANSACTION]:
                    try:
                        index_run_dir(index, run_dir, deleted)
                    except RundbError as e:
                        result.errors.append(str(e))
                    else:
                        result.indexed += 1
            if progress:
                progress(min(start + _RUNS_PER_TRANSACTION, len(dirs)), len(dirs))
        if progress and not dirs:
            progress(0, 0)
    finally:
        index.close()
    return result


def rebuild(home, progress=None, waiting=None):
    """Replace ``home``'s index with one built from its run directories.

    A run whose files cannot be read is reported in ``errors`` and skipped; every other
    run is still indexed. Live runs are waited for (the home's run lock, taken
    exclusively; ``waiting()`` is called if there are any): a live run's writes would
    otherwise go to the replaced file. A failed rebuild (a full disk) leaves the old
    index as it was and no temporary file behind.
    """
    from .. import runlock

    home.ensure()
    with runlock.exclusive(home.path, waiting):
        tmp = f"{home.index_path}.rebuild-{os.getpid()}"
        _remove_db(tmp)
        try:
            result = build_index(home, tmp, progress)
        except BaseException:
            _remove_db(tmp)
            raise
        if home.index_url and url.is_postgres(home.index_url):
            _rebuild_shared(home, tmp)
            return result
        # The old WAL must not be replayed into the new file.
        _remove_db(home.index_path)
        os.replace(tmp, home.index_path)
    return result


def _rebuild_shared(home, built):
    # A shared index holds other hosts' runs too: merge the runs rebuilt from this home's
    # directories into it (by run id) instead of replacing it.
    from .merge import merge_runs

    try:
        src = open_index(built)
        try:
            live = open_index(home.index_location)
            live.home_dir = src.home_dir = home.path
            try:
                merge_runs(src, live)
            finally:
                live.close()
        finally:
            src.close()
    finally:
        _remove_db(built)


def check(home, live=None, progress=None):
    """Lines describing every difference between the index (``live``, open; else the
    home's) and the home's run directories.

    On a shared index, only the runs of this home are checked: those with a directory
    here, and those recorded as created on this host.

    :param progress: called as ``progress(done, total)`` while the run directories are
        read (as for :func:`rebuild`).
    """
    if live is None:
        with open_index(home.index_path) as live:
            return check(home, live, progress)
    import tempfile

    reader.reap_gone_runs(live)
    shared = live.backend == "postgresql"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check.db")
        result = build_index(home, path, progress)
        diffs = [f"cannot read run: {e}" for e in result.errors]
        fresh = open_index(path)
        try:
            diffs.extend(_compare(live, fresh, local_only=shared))
        finally:
            fresh.close()
    return diffs


def _compare(live, fresh, local_only=False):
    live_runs = _snapshot(live)
    fresh_runs = _snapshot(fresh)
    if local_only:
        host = this_host()
        live_runs = {i: r for i, r in live_runs.items()
                     if i in fresh_runs or r.get("host") == host}
    diffs = []
    for run_id in sorted(set(live_runs) | set(fresh_runs)):
        short = run_id[:8]
        if run_id not in fresh_runs:
            diffs.append(f"{short}: in the index but has no run directory")
            continue
        if run_id not in live_runs:
            diffs.append(f"{short}: missing from the index")
            continue
        a, b = live_runs[run_id], fresh_runs[run_id]
        for name in sorted(set(a) | set(b)):
            if not _same(a.get(name), b.get(name)):
                diffs.append(
                    f"{short}: {name} differs (index {a.get(name)!r}, files {b.get(name)!r})"
                )
    return diffs


#: Relative tolerance for the ``total`` of a scalar series in ``index check``. The live
#: index adds each batch's sum to the total as points arrive; a rebuild sums the whole
#: series at once; floating-point addition grouped differently differs in the last bits
#: (``1.0000000000000002`` against ``1.0``). The bound scales with the number of points
#: and their largest magnitude, so a total near zero from large values of both signs is
#: not a false alarm. Every other value is compared exactly.
TOTAL_REL_TOLERANCE = 1e-9


def _same(a, b):
    if isinstance(a, _Summary) and isinstance(b, _Summary):
        return a.same_as(b)
    return a == b


class _Summary(tuple):
    """A scalar summary (first/last/min/max value and step, count, total) for check."""

    def same_as(self, other):
        if len(self) != len(other):
            return False
        *mine, total = self
        *theirs, other_total = other
        if any(not (x == y or (x != x and y != y)) for x, y in zip(mine, theirs)):
            return False
        if total == other_total or (total != total and other_total != other_total):
            return True
        if total is None or other_total is None:
            return False
        _fv, _fs, _lv, _ls, mn, _mns, mx, _mxs, count = mine
        scale = max(abs(v) for v in (mn, mx, total, other_total) if v is not None)
        return abs(total - other_total) <= TOTAL_REL_TOLERANCE * max(count or 1, 1) * scale


_NOT_COMPARED = frozenset(("dir", "deleted", "rid", "output_scalars"))


def _snapshot(index):
    rids = reader.run_rids(index)
    runs = reader.load_runs(index, rids)
    summaries = reader.scalar_summaries(index, rids)
    out = {}
    for run in runs:
        # A shallow copy (not to_meta's deep one, a third of check's time): only compared
        data = {name: value for name, value in vars(run).items() if name not in _NOT_COMPARED}
        for s in summaries[run.rid]:
            key = f"scalar {s['prefix']}#{s['tag']}"
            data[key] = _Summary(v for k, v in s.items() if k not in ("prefix", "tag", "avg_val"))
        data["deleted"] = run.deleted
        out[run.id] = data
    return out


def _remove_db(path):
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
