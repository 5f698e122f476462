"""Export runs (to a directory, a standalone SQLite file or CSV) and import them back.

An export directory is itself a rundb home, so ``rundb -H DIR runs`` lists its runs and
``rundb import DIR`` brings them into another home::

    DIR/.rundb-nocopy       marker: not a project directory (no source code snapshots)
    DIR/index.db            the exported runs' index rows
    DIR/runs/<id>/          the run directories, as they were in the source home

``rundb import PATH`` accepts such a directory, any rundb home (its ``runs/``), or a
directory whose top level holds run directories (each with ``.rundb/meta.json``).

Index rows travel set-based, copied by the index layer (rundb.index.copy) from the
source index into the destination's. An import re-derives its rows from the run
directories (as ``rundb index rebuild`` does), so it trusts only the files.
"""

import os
import shutil
from dataclasses import dataclass, field

from ..csvtext import write_csv
from ..errors import ExportError, MetaError, RundbError, UnsafePathError
from ..home import Home, meta_dir
from ..index import copy, reader, writer
from ..index.db import open_home_index, open_index
from ..run import read_meta
from ..validate import check_inside, is_run_id, run_path_or_none

NOCOPY = ".rundb-nocopy"

#: Runs indexed per transaction on import (short write locks, few commits).
_RUNS_PER_TRANSACTION = 100

@dataclass
class TransferResult:
    """What an export or import did: run ids moved or copied, skipped, and failures."""

    dest: str = ""
    done: list = field(default_factory=list)  # run ids exported / imported
    skipped: list = field(default_factory=list)  # ids already at the destination
    errors: list = field(default_factory=list)  # (run id or directory, message)
    warnings: list = field(default_factory=list)  # messages worth showing, not failures


@dataclass
class SqlExportResult:
    """What an export --sql did: the numbers of runs copied, and skipped (already there)."""

    dest: str = ""
    copied: int = 0
    skipped: int = 0


# --- export ------------------------------------------------------------------------


def _export_runs(home, index, dest, run_ids, move=False, progress=None):
    """Copy (or move) runs into the export directory ``dest``.

    ``dest`` becomes a rundb home holding the runs; runs already there are skipped.
    With ``move``, each run is removed from ``home`` (directory and index rows) only
    after its copy and index rows are in place.

    :param progress: called as ``progress(action, run_id)``, action ``"copy"``,
        ``"move"`` or ``"skip"``, before each run is handled.
    :raises ExportError: ``dest`` exists and is not a directory.
    """
    dest = os.path.abspath(dest)
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise ExportError(f"'{dest}' is not a directory")
    dest_home = Home(dest)
    if dest_home == home:
        raise ExportError(f"'{dest}' is the rundb home itself")
    result = TransferResult(dest=dest)
    dest_home.ensure()
    _touch(os.path.join(dest, NOCOPY))
    present = copy.index_ids(dest_home.index_path)
    sources = _run_dirs(index, run_ids)
    for run_id in run_ids:
        src = sources.get(run_id)
        if not is_run_id(run_id):
            result.errors.append((run_id, "not a rundb run id (32 lowercase hex characters)"))
            continue
        target = dest_home.run_dir(run_id)
        if run_id in present or os.path.lexists(target):
            result.skipped.append(run_id)
            _call(progress, "skip", run_id)
            continue
        _call(progress, "move" if move else "copy", run_id)
        if src is None:
            result.errors.append((run_id, "not in the index"))
            continue
        if not os.path.isdir(src):
            elsewhere = _files_elsewhere(index, run_id)
            if elsewhere:  # a shared index: the run's files are on the host that ran it
                result.errors.append((run_id, elsewhere))
                continue
        try:
            check_inside(os.path.dirname(src), src)
            _copy_dir(src, target)
        except UnsafePathError as e:
            result.errors.append((run_id, str(e)))
            continue
        except OSError as e:
            result.errors.append((run_id, f"cannot copy {src}: {e}"))
            continue
        result.done.append(run_id)
    copy.copy_index_rows(index.path, dest_home.index_path, result.done, undelete=True)
    if move:
        for run_id in result.done:
            rid = reader.rid_of(index, run_id)
            if rid is not None:
                writer.delete_run_rows(index, rid)
            shutil.rmtree(sources[run_id], ignore_errors=True)
    return result


def _export_sql(index, path, run_ids=None, specs=(), flt=None, progress=None):
    """Write the runs' rows of every index table, and the views, to the SQLite file ``path``.

    The runs are ``run_ids``, or those ``specs`` and the RunFilter ``flt`` select. A new
    file is created; an existing rundb index file gets the runs it lacks (those it has are
    skipped). The file is left in rollback-journal mode: one self-contained file.

    Without ``run_ids`` or ``specs``, the filter's SQL condition itself selects the runs
    in the copy: no list of runs is made, so memory stays flat at any number of runs.

    :param progress: called as ``progress("skip", run_id)`` for each run already there.
    :raises ExportError: ``path`` is a directory or an SQLite file that is not an index.
    """
    from .selection import RunFilter, select_rids, where_clause

    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise ExportError(f"'{path}' is a directory")
    if os.path.abspath(index.path) == path:
        raise ExportError(f"'{path}' is the index itself")
    if os.path.exists(path) and os.path.getsize(path) and not copy.is_index(path):
        raise ExportError(f"'{path}' exists and is not a rundb index")
    where, params = None, ()
    if run_ids is None and (specs or index.backend == "postgresql"):
        run_ids = reader.ids_of(index, select_rids(index, specs, flt))
    elif run_ids is None:
        reader.reap_gone_runs(index)  # as every selection does first
        where, params = where_clause(index, flt or RunFilter())
    skipped = [0]

    def skip(run_id):
        skipped[0] += 1
        _call(progress, "skip", run_id)

    copied = copy.copy_index_rows(index.path, path, run_ids, where, params, standalone=True,
                                  skipped=skip)
    return SqlExportResult(dest=path, copied=copied, skipped=skipped[0])


def _export_csv(index, dest, specs=(), flt=None, columns=None, **options):
    """Write one CSV row per selected run: the rows and columns ``rundb compare`` shows
    (batch runs only when ``flt`` includes them, as compare's default filter does not).

    :param dest: a file path, or an open text file (e.g. ``sys.stdout``).
    :param columns: query text whose columns are added after the defaults.
    :param options: compare's table options (``strict_columns``, ``min_col``, ``max_col``,
        ``top``, ``extra_cols``, ``all_scalars``, ``skip_unchanged``).
    :returns: the number of runs written.
    """
    from .comparison import compare_table
    from .selection import RunFilter

    flt = flt if flt is not None else RunFilter(include_batch=False)
    if isinstance(dest, (str, os.PathLike)) and os.path.isdir(dest):
        raise ExportError(f"'{dest}' is a directory")
    # Rows stream from the index into the file: constant memory at any number of runs.
    table = compare_table(index, specs, flt, columns=columns, stream=True, **options)
    if isinstance(dest, (str, os.PathLike)):
        with open(dest, "w", newline="", encoding="utf-8") as f:
            return write_csv(f, table.headers, table.rows)
    return write_csv(dest, table.headers, table.rows)


# --- index rows, set-based ----------------------------------------------------------


def _files_elsewhere(index, run_id):
    from ..runfiles import files_elsewhere

    run = reader.get_run(index, run_id)
    return files_elsewhere(run) if run is not None else None


def _run_dirs(index, run_ids):
    """{run id: its directory now} for the ids the index knows."""
    home = reader.home_path(index)
    out = {}
    if index.backend == "postgresql":  # each run's own home, as the index records it
        rids = [rid for rid in (reader.rid_of(index, i) for i in run_ids) if rid is not None]
        for run in reader.load_runs(index, rids, details=False):
            if run.dir is not None:
                out[run.id] = run.dir
        return out
    for i in range(0, len(run_ids), 900):
        chunk = run_ids[i : i + 900]
        for run_id, deleted in reader.deleted_flags(index, chunk):
            path = run_path_or_none(home, run_id, bool(deleted))
            if path is not None:
                out[run_id] = path
    return out


# --- import ------------------------------------------------------------------------


def archive_run_dirs(path):
    """Run directories in an archive: an export directory, a home, or a directory of
    run directories.

    :raises ExportError: ``path`` is missing, not a directory, or holds no runs.
    """
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise ExportError(f"archive '{path}' does not exist")
    if not os.path.isdir(path):
        raise ExportError(f"invalid archive '{path}' - expected a directory")
    found = []
    guild_runs = 0
    for parent in (os.path.join(path, "runs"), path):
        try:
            names = sorted(os.listdir(parent))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            run_dir = os.path.join(parent, name)
            if name.startswith(".") or not os.path.isdir(run_dir):
                continue  # (a symlinked run directory is found here, and refused on import)
            if os.path.isdir(meta_dir(run_dir)):
                found.append(run_dir)
            elif os.path.isdir(os.path.join(run_dir, ".guild")):
                guild_runs += 1
    if not found:
        if guild_runs:
            raise ExportError(
                f"'{path}' holds Guild AI runs: use 'rundb import --guild {path}'"
            )
        raise ExportError(f"invalid archive '{path}' - no runs found")
    return found


def archive_runs(path):
    """(runs, errors) of an archive: Run records read from each run directory's
    meta.json, newest first, and ``(directory, message)`` for those that cannot be read.

    :raises ExportError: see :func:`archive_run_dirs`.
    """
    runs, errors = [], []
    for run_dir in archive_run_dirs(path):
        try:
            runs.append(read_meta(run_dir))
        except MetaError as e:
            errors.append((run_dir, str(e)))
    runs.sort(key=lambda r: r.created or 0, reverse=True)
    return runs, errors


def _import_runs(home, index, path, move=False, progress=None):
    """Copy (or move) the runs of an archive into ``home`` and index them.

    The archive is untrusted (see SECURITY.md). Each run is imported all or nothing: it is
    copied into a staging directory inside the home, its meta.json is checked there
    (rundb.validate: id, field types, no symlinked metadata) and indexed, and only then is
    it moved to ``runs/<id>``. A run that fails is reported in ``errors`` and leaves
    nothing behind; the others are still imported.

    Runs already in the home are skipped, so importing twice changes nothing. Without
    ``move`` the archive is never modified; with it, each run leaves the archive only
    once it is indexed here (its rows in the archive's own index go too).

    :param progress: called as ``progress(action, run_id)`` (``copy``, ``move``, ``skip``).
    :raises ExportError: see :func:`archive_run_dirs`.
    """
    import tempfile

    runs, errors = archive_runs(path)
    result = TransferResult(dest=home.path, errors=list(errors))
    home.ensure()
    present = _home_ids(home, index)
    todo = []
    for run in runs:
        if run.id in present:
            result.skipped.append(run.id)
            _call(progress, "skip", run.id)
            continue
        present.add(run.id)
        todo.append(run)
    stage = tempfile.mkdtemp(prefix=".import-", dir=home.path)
    try:
        for start in range(0, len(todo), _RUNS_PER_TRANSACTION):
            with index.atomic():
                for run in todo[start : start + _RUNS_PER_TRANSACTION]:
                    _call(progress, "move" if move else "copy", run.id)
                    error = _import_one(home, index, run, stage, move)
                    if error:
                        result.errors.append((run.dir, error))
                    else:
                        result.done.append(run.id)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if move and result.done:
        _forget_in_archive(path, result.done)
    return result


def _import_one(home, index, run, stage, move):
    """Stage, check, index and place one archive run; None, or why it was not imported.

    The index rows are written in a savepoint that is rolled back on any failure, and the
    staged copy is removed (or, when it was renamed from the archive, renamed back).
    """
    from ..index.rebuild import index_run_dir
    from ..validate import run_dir

    staged = os.path.join(stage, "run")
    renamed = False
    try:
        target = run_dir(home, run.id)
        if os.path.islink(run.dir):
            return "the run directory is a symlink"
        renamed = _stage(run.dir, staged, move)
        with index.atomic():
            indexed = index_run_dir(index, staged)
            if indexed.id != run.id:
                raise MetaError(f"{run.dir}: meta.json changed during the import")
            if os.path.lexists(target):
                raise ExportError(f"{target} already exists")
            os.rename(staged, target)
        if move and not renamed:
            shutil.rmtree(run.dir, ignore_errors=True)
        return None
    except (RundbError, OSError, ValueError) as e:
        if renamed and os.path.isdir(staged):
            os.rename(staged, run.dir)
        return str(e).replace(staged, run.dir) if isinstance(e, RundbError) else (
            f"cannot copy: {e}")
    finally:
        if os.path.lexists(staged):
            shutil.rmtree(staged, ignore_errors=True)


def _stage(src, staged, move):
    """Put a copy of run directory ``src`` at ``staged``; True if it was renamed there.

    Symlinks are copied as links, never followed.
    """
    if move:
        try:
            os.rename(src, staged)
            return True
        except OSError:
            pass  # another file system: copy, and remove the source once placed
    shutil.copytree(src, staged, symlinks=True)
    return False


def _forget_in_archive(path, run_ids):
    # A moved run must not linger in the archive's own index (an export dir or a home).
    index_path = os.path.join(os.path.abspath(path), "index.db")
    if not copy.is_index(index_path):
        return
    index = open_index(index_path, create=False)
    try:
        for run_id in run_ids:
            rid = reader.rid_of(index, run_id)
            if rid is not None:
                writer.delete_run_rows(index, rid)
    finally:
        index.close()


def _home_ids(home, index):
    """Ids of every run the home has: in the index, in runs/ or in the trash."""
    ids = set(reader.all_ids(index))
    for parent in (home.runs_dir, home.trash_dir):
        try:
            ids.update(os.listdir(parent))
        except FileNotFoundError:
            pass
    return ids


# --- helpers -----------------------------------------------------------------------


def _copy_dir(src, target):
    """Copy a run directory to ``target`` atomically: into a hidden sibling, then rename.

    Symlinks are copied as links (a batch run's links to its trials stay links).
    """
    if not os.path.isdir(src):
        raise FileNotFoundError(f"no run directory {src}")
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(target)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(src, tmp, symlinks=True)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _touch(path):
    if not os.path.exists(path):
        with open(path, "w"):
            pass


def _call(progress, action, run_id):
    if progress is not None:
        progress(action, run_id)


# --- the API -----------------------------------------------------------------------------


def export_runs(home, dest, run_ids, move=False, progress=None):
    """Copy (or move) runs into the export directory ``dest`` (itself a rundb home).

    :returns: :class:`TransferResult` (done, skipped, errors).
    :raises ExportError: ``dest`` is a file.
    """
    with open_home_index(home, write=move) as index:
        return _export_runs(home, index, dest, list(run_ids), move=move, progress=progress)


def export_sql(home, path, run_ids=None, specs=(), flt=None, progress=None):
    """Write the index rows and the documented views of runs to the SQLite file ``path``:
    ``run_ids``, or those ``specs`` and the RunFilter ``flt`` select (by default, every
    run not deleted).

    :param progress: called as ``progress("skip", run_id)`` for each run already there.
    :returns: :class:`SqlExportResult` (the numbers of runs copied and skipped).
    """
    with open_home_index(home) as index:
        return _export_sql(index, path, run_ids, specs, flt, progress)


def export_csv(home, dest, specs=(), flt=None, columns=None, **options):
    """Write one CSV row per selected run (the ``compare`` rows and columns, with its
    table ``options``) to a path or text file.

    :returns: the number of runs written.
    """
    with open_home_index(home) as index:
        return _export_csv(index, dest, specs, flt, columns, **options)


def import_runs(home, path, move=False, progress=None):
    """Copy (or move) the runs of an archive into ``home`` and index them.

    :returns: :class:`TransferResult` (done, skipped, errors).
    :raises ExportError: ``path`` is missing, a file, or holds no runs.
    """
    with open_home_index(home, write=True) as index:
        return _import_runs(home, index, path, move=move, progress=progress)


__all__ = ["NOCOPY", "SqlExportResult", "TransferResult", "archive_run_dirs", "archive_runs",
           "export_csv", "export_runs", "export_sql", "import_runs"]
