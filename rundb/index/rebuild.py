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
from ..run import RUN_COLUMNS, process_gone, read_meta, this_host
from . import reader, url, writer
from ..tfevents import EventFilesWatcher
from .db import open_index

_RUNS_PER_TRANSACTION = 1000
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
            at = time_ms / 1000
            # The parser's lists are new for each block: taken over, not copied.
            for key, (steps, values) in found.items():
                cols = series.get((OUTPUT_PREFIX, key))
                if cols is None:
                    series[(OUTPUT_PREFIX, key)] = (steps, values, [at] * len(steps))
                else:
                    cols[0].extend(steps)
                    cols[1].extend(values)
                    cols[2].extend([at] * len(steps))
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


def read_run(run_dir, deleted=False):
    """The Run of a run directory as the index records it: a run recorded as running
    whose process is gone is an ``error`` (attribute ``process_gone``), as readers reap
    it; in the index only, meta.json stays its runner's."""
    run = read_meta(run_dir, deleted=deleted)
    run.deleted = deleted
    if process_gone(run.status, run.pid, run.host, run.started):
        run.status = "error"
        run.attrs["process_gone"] = True
    return run


def index_run_dir(index, run_dir, deleted=False):
    """Read one run directory and write its rows (run, flags, tags, attrs, scalars)."""
    run = read_run(run_dir, deleted)
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
    """The run's package set from its ``.rundb/packages.json`` (a link to the home's copy),
    unless the index has it."""
    from . import packages

    digest = run.attrs.get("packages")
    if not isinstance(digest, str) or packages.has_package_set(index, digest):
        return
    found = _read_package_set(run)
    if found is not None:
        packages.store_package_set(index, digest, found)


def _read_package_set(run):
    """The run's ``.rundb/packages.json``, or None: a file that is not a small
    ``{name: version}`` mapping of strings (an archive from elsewhere may hold anything)
    is left out."""
    import json

    path = os.path.join(run.dir, ".rundb", "packages.json")
    try:
        if os.path.getsize(path) > _MAX_PACKAGES_BYTES:
            return None
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(found, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        return found
    return None


# --- many run directories, read in a pool of processes ---------------------------------------

#: Run directories a pool task reads (one round trip each way)
_CHUNK = 64
#: Fewer run directories than this are read in this process: a pool costs more to start.
_PARALLEL_MIN = 2000


class Derived(tuple):
    """What one run directory gives the index, as plain rows a process can hand over:
    ``(run_rows, scalars, package_set)``, ``run_rows`` as :func:`writer.run_rows`,
    ``scalars`` as :func:`writer.series_rows`, ``package_set`` a ``(digest, {name:
    version})`` this process has not given before, or None."""

    __slots__ = ()

    @property
    def run_id(self):
        return self[0][0][0]  # the run table's first column


def derive(run_dir, deleted, points=True, packages_seen=None):
    """A run directory's :class:`Derived`, or the text of the error that stops it.

    :param points: False: the scalar summaries only (what ``index check`` compares).
    """
    try:
        run = read_run(run_dir, deleted)
        series = derive_scalars(run)
    except RundbError as e:
        return str(e)
    package_set = None
    digest = run.attrs.get("packages")
    if isinstance(digest, str) and (packages_seen is None or digest not in packages_seen):
        found = _read_package_set(run)
        if found is not None:
            if packages_seen is not None:
                packages_seen.add(digest)
            package_set = (digest, found)
    return Derived((writer.run_rows(run), writer.series_rows(series, points), package_set))


def default_jobs(n_dirs):
    """Processes to read ``n_dirs`` run directories: one per CPU this process may use,
    or 1 (this process alone) for a small home or a single CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus if cpus > 1 and n_dirs >= _PARALLEL_MIN else 1


def derive_all(dirs, jobs=None, points=True):
    """Yield each run directory's :class:`Derived` (or its error text), in order.

    With ``jobs`` > 1, that many processes read and parse the directories (see
    :func:`_pool`) and this process receives plain rows.
    """
    jobs = default_jobs(len(dirs)) if jobs is None else jobs
    if jobs <= 1:
        seen = set()
        for run_dir, deleted in dirs:
            yield derive(run_dir, deleted, points, seen)
        return
    yield from _pool(dirs, jobs, points)


# A pool process: `python -c` (so nothing of the caller's __main__ is imported again, as
# multiprocessing's spawn and forkserver would do), rundb from where this process has it.
_SERVE = "from rundb.index.rebuild import _serve; _serve()"


def _pool(dirs, jobs, points):
    """:func:`derive` of ``dirs`` in ``jobs`` new Python processes, each given tasks of
    ``_CHUNK`` directories in turn through its stdin and answering on its stdout.

    They are started afresh (``subprocess``, descriptors closed), not forked: none holds
    a copy of this process's descriptors, so none can touch an SQLite file open here (or
    drop its POSIX locks by closing a copy). They open no index. A thread hands out the
    tasks while this one reads the answers in order; a pipe holds a bounded amount, so
    answers never pile up in memory when the caller is the slower side.
    """
    import pickle
    import subprocess
    import sys
    import threading

    tasks = []  # (parent directory, [names], deleted): short, whatever the paths
    for run_dir, deleted in dirs:
        parent, name = os.path.split(run_dir)
        if (not tasks or len(tasks[-1][1]) >= _CHUNK or tasks[-1][0] != parent
                or tasks[-1][2] != deleted):
            tasks.append((parent, [], deleted))
        tasks[-1][1].append(name)
    if not tasks:
        return
    # the directory holding this rundb package (rundb/index/rebuild.py)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])]))
    procs = [subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env)
             for _ in range(min(jobs, len(tasks)))]

    def hand_out():
        try:
            for i, task in enumerate(tasks):
                stdin = procs[i % len(procs)].stdin
                stdin.write(pickle.dumps((task, points), pickle.HIGHEST_PROTOCOL))
                stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # a process ended (killed below, or died: its reader says so)
        finally:
            for proc in procs:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

    feeder = threading.Thread(target=hand_out, daemon=True)
    feeder.start()
    try:
        for i in range(len(tasks)):
            try:
                ok, answer = pickle.load(procs[i % len(procs)].stdout)
            except EOFError:
                raise RundbError("a process reading run directories ended early") from None
            if not ok:
                raise answer
            yield from answer
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        feeder.join()
        for proc in procs:
            proc.stdout.close()
            proc.wait()


def _serve():
    """A pool process of :func:`_pool`: tasks from stdin, answers to stdout, until EOF."""
    import pickle
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the caller, which ends us
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    seen = set()
    while True:
        try:
            (parent, names, deleted), points = pickle.load(stdin)
        except EOFError:
            return
        try:
            answer = (True, [derive(os.path.join(parent, name), deleted, points, seen)
                             for name in names])
        except Exception as e:  # a bug, or an OSError derive does not expect
            try:
                pickle.dumps(e)
            except Exception:
                e = RuntimeError(f"{type(e).__name__}: {e}")
            answer = (False, e)
        stdout.write(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
        stdout.flush()


def build_index(home, path, progress=None, jobs=None):
    """Write a fresh index at ``path`` from the home's run directories.

    They are read by :func:`derive_all` (a pool of processes for a big home); this
    process alone writes, ``_RUNS_PER_TRANSACTION`` runs a transaction, each table's rows
    with one ``executemany`` (:func:`writer.insert_runs`): the same rows, in the same
    order, as :func:`index_run_dir` one run after another.
    """
    from contextlib import closing

    result = RebuildResult()
    dirs = run_dirs(home)
    index = open_index(path)
    # The summary indexes take rows in value order, at random pages: with SQLite's 2 MB
    # default cache, 100,000 runs were read back from the OS page by page (1,000 -> 545
    # runs/s from 10,000 to 100,000 runs). This connection only, for the build.
    conn = index.conn
    conn.execute(f"PRAGMA cache_size = -{_BUILD_CACHE_KIB}")
    # A new file, put in place only once whole (a failed build is removed): no journal
    # on disk and no sync at each commit while it is written (at 100,000 runs the WAL's
    # checkpoints syncing the file took 40% of the time), ...
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA synchronous = OFF")
    rids = {}  # run id -> rid, None while waiting in a batch
    done = 0
    try:
        with closing(derive_all(dirs, jobs)) as derived:
            for batch in reader.batches(derived, _RUNS_PER_TRANSACTION):
                with index.atomic():
                    _write_batch(index, batch, rids, result)
                done += len(batch)
                if progress:
                    progress(done, len(dirs))
        if progress and not dirs:
            progress(0, 0)
        # ... then synced once, whole: going back to WAL writes the header and, with
        # synchronous FULL, syncs the file first.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        index.close()
    return result


def _write_batch(index, batch, rids, result):
    from . import packages

    pending = []
    for item in batch:
        if isinstance(item, str):
            result.errors.append(item)
            continue
        if item.run_id in rids:
            # One run id in two directories: the one read last is kept, as when each
            # replaced the other's rows in turn.
            _insert(index, pending, rids)
            writer.delete_run_rows(index, rids[item.run_id])
        pending.append(item)
        rids[item.run_id] = None
        result.indexed += 1
        if item[2] is not None and not packages.has_package_set(index, item[2][0]):
            packages.store_package_set(index, *item[2])
    _insert(index, pending, rids)


def _insert(index, pending, rids):
    if pending:
        for item, rid in zip(pending, writer.insert_runs(index, [item[:2] for item in pending])):
            rids[item.run_id] = rid
        pending.clear()


def rebuild(home, progress=None, waiting=None, jobs=None):
    """Replace ``home``'s index with one built from its run directories.

    A run whose files cannot be read is reported in ``errors`` and skipped; every other
    run is still indexed. Live runs are waited for (the home's run lock, taken
    exclusively; ``waiting()`` is called if there are any): a live run's writes would
    otherwise go to the replaced file. A failed rebuild (a full disk) leaves the old
    index as it was and no temporary file behind.

    :param jobs: processes reading run directories (None: one per CPU for a big home).
    """
    from .. import runlock

    home.ensure()
    with runlock.exclusive(home.path, waiting):
        tmp = f"{home.index_path}.rebuild-{os.getpid()}"
        _remove_db(tmp)
        try:
            result = build_index(home, tmp, progress, jobs)
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


def check(home, live=None, progress=None, jobs=None):
    """Lines describing every difference between the index (``live``, open; else the
    home's) and the home's run directories.

    On a shared index, only the runs of this home are checked: those with a directory
    here, and those recorded as created on this host.

    Nothing is written but the index's reaping of vanished runs: each run directory is
    read (by :func:`derive_all`, a pool of processes for a big home) into the rows a
    rebuild would write, and those are compared with the index's, batch by batch. Runs
    whose rows are not plainly equal are compared field by field, as their records: their
    rows are written to a scratch index in memory and read back as a rebuilt index would
    give them.

    :param progress: called as ``progress(done, total)`` while the run directories are
        read (as for :func:`rebuild`).
    :param jobs: processes reading run directories (None: one per CPU for a big home).
    """
    if live is None:
        with open_index(home.index_path) as live:
            return check(home, live, progress, jobs)
    from contextlib import closing

    reader.reap_gone_runs(live)
    shared = live.backend == "postgresql"
    live_rids = dict(live.conn.execute("SELECT id, rid FROM run"))
    dirs = run_dirs(home)
    errors, diffs, seen = [], {}, set()
    scratch = open_index(":memory:")
    done = 0
    try:
        with closing(derive_all(dirs, jobs, points=False)) as derived:
            for batch in reader.batches(derived, _CHECK_BATCH):
                found = {}  # run id -> Derived; one id in two directories: the last read
                for item in batch:
                    if isinstance(item, str):
                        errors.append(f"cannot read run: {item}")
                    else:
                        found[item.run_id] = item
                for run_id in found:
                    seen.add(run_id)
                    diffs.pop(run_id, None)
                    if run_id not in live_rids:
                        diffs[run_id] = [f"{run_id[:8]}: missing from the index"]
                indexed = {i: item for i, item in found.items() if i in live_rids}
                suspects = indexed if shared else _unequal(live, indexed, live_rids)
                if suspects:
                    diffs.update(_compare_records(live, scratch, suspects, live_rids))
                done += len(batch)
                if progress:
                    progress(done, len(dirs))
        if progress and not dirs:
            progress(0, 0)
    finally:
        scratch.close()
    host = this_host()
    orphans = set(live_rids) - seen
    if shared and orphans:
        # Another host's runs have their directories there, not here.
        orphans = {i for i, h in live.conn.execute("SELECT id, host FROM run")
                   if i in orphans and h == host}
    for run_id in orphans:
        diffs[run_id] = [f"{run_id[:8]}: in the index but has no run directory"]
    return errors + [line for run_id in sorted(diffs) for line in diffs[run_id]]


_CHECK_BATCH = 500

#: The run table's columns that ``index check`` compares (``home`` is where the run
#: directory is found, not a record of the run)
_CHECKED_COLUMNS = tuple(name for name in RUN_COLUMNS if name != "home")
_HOME_AT = list(RUN_COLUMNS).index("home")


def _unequal(live, found, live_rids):
    """The runs of ``found`` ({run id: Derived}) whose rows in the (SQLite) index are not
    plainly those the files give: the rest need no closer look."""
    if not found:
        return {}
    rows = _index_rows(live, [live_rids[i] for i in found])
    suspects = {}
    for run_id, item in found.items():
        mine = rows.get(live_rids[run_id])
        if mine is None or not _same_rows(_file_rows(item), mine):
            suspects[run_id] = item
    return suspects


def _file_rows(item):
    """A Derived's rows as :func:`_index_rows` reads them back (sorted as it sorts)."""
    (values, flags, tags, attrs), scalars, _packages = item
    run = (*values[:_HOME_AT], *values[_HOME_AT + 1:])
    stats = sorted((prefix, tag, *summary) for prefix, tag, _s, _v, _t, summary in scalars)
    return run, sorted(flags), sorted(set(tags)), sorted(attrs), stats


def _same_rows(a, b):
    if a == b:
        return True
    if a[:4] != b[:4] or len(a[4]) != len(b[4]):
        return False
    # Totals summed batch by batch live differ in the last bits from a rebuild's sum.
    return all(x[:2] == y[:2] and _Summary(x[2:]).same_as(_Summary(y[2:]))
               for x, y in zip(a[4], b[4]))


def _index_rows(index, rids):
    """{rid: rows as :func:`_file_rows` gives them} of the runs ``rids`` in an index."""
    conn = index.conn
    marks = ",".join("?" * len(rids))
    out = {}
    sql = f"SELECT rid, {', '.join(_CHECKED_COLUMNS)} FROM run WHERE rid IN ({marks})"
    for rid, *values in conn.execute(sql, rids):
        out[rid] = (tuple(values), [], [], [], [])
    queries = (
        (1, "SELECT f.rid, n.name, f.value, f.type FROM run_flag f "
            f"JOIN flag_name n ON n.id = f.name WHERE f.rid IN ({marks})"),
        (2, f"SELECT rid, tag FROM run_tag WHERE rid IN ({marks})"),
        (3, f"SELECT rid, name, value FROM run_attr WHERE rid IN ({marks})"),
        (4, "SELECT s.rid, k.prefix, k.tag, s.first_val, s.first_step, s.last_val, "
            "s.last_step, s.min_val, s.min_step, s.max_val, s.max_step, s.count, s.total "
            f"FROM scalar_stat s JOIN scalar_key k ON k.id = s.key WHERE s.rid IN ({marks})"),
    )
    for at, sql in queries:
        for rid, *row in conn.execute(sql, rids):
            rows = out.get(rid)
            if rows is not None:
                rows[at].append(row[0] if at == 2 else tuple(row))
    for rows in out.values():
        for part in rows[1:]:
            part.sort()
    return {rid: (rows[0], *rows[1:]) for rid, rows in out.items()}


def _compare_records(live, scratch, found, live_rids):
    """{run id: difference lines} of the runs ``found`` ({run id: Derived}, each in the
    index), compared as run records: the files' rows go through a scratch index, so each
    side reads as the index reader gives it (only field values that differ are shown)."""
    _clear(scratch)
    writer.insert_runs(scratch, [item[:2] for item in found.values()])
    fresh = _snapshot(scratch, reader.run_rids(scratch))
    mine = _snapshot(live, [live_rids[i] for i in found])
    out = {}
    for run_id in found:
        a, b = mine[run_id], fresh[run_id]
        lines = [f"{run_id[:8]}: {name} differs (index {a.get(name)!r}, files {b.get(name)!r})"
                 for name in sorted(set(a) | set(b)) if not _same(a.get(name), b.get(name))]
        if lines:
            out[run_id] = lines
    return out


def _clear(index):
    with index.atomic() as conn:
        for table in ("scalar_point", "scalar_stat", "run_flag", "run_tag", "run_attr", "run"):
            conn.execute(f"DELETE FROM {table}")


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
    return _equal(a, b)


def _equal(a, b):
    """``a == b``, a NaN equal to a NaN (a flag or attribute may be one: NaN != NaN made
    ``index check`` report such a run as differing from itself)."""
    if a == b:
        return True
    if isinstance(a, float) and isinstance(b, float):
        return a != a and b != b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_equal, a, b))
    return False


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


def _snapshot(index, rids):
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
