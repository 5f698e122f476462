"""A run's files and captured output: ``rundb cat``, ``rundb ls``, ``rundb watch``."""

from ..errors import RunFileError
from ..index import reader
from ..index.db import open_home_index
from ..run import process_gone
from ..runfiles import files_elsewhere, follow, list_files, output_file, read_tail, run_file_path
from .selection import select_one


def _local_run(home, spec, flt):
    with open_home_index(home) as index:
        run = select_one(index, spec, flt)
    elsewhere = files_elsewhere(run)
    if elsewhere:
        raise RunFileError(elsewhere)
    return run


def run_file(home, spec=None, path=None, flt=None):
    """(Run, real path) of a file of one run: ``path`` in its directory, or its captured
    output when ``path`` is None.

    :raises RunFileError: the file is missing, outside the run directory, or on another host.
    """
    run = _local_run(home, spec, flt)
    if path is None:
        return run, output_file(run.dir)
    return run, run_file_path(run.dir, path)


def read_run_file(home, spec=None, path=None, flt=None, tail=None):
    """(Run, bytes) of a run's captured output, or of ``path`` in its directory;
    the last ``tail`` lines only when given."""
    run, full = run_file(home, spec, path, flt)
    try:
        return run, read_tail(full, tail)
    except FileNotFoundError:
        return run, b""  # no output yet


def follow_run_file(home, run, full_path, tail=None, poll=0.25, idle=False):
    """Yield the bytes of ``full_path`` (a file of ``run``; its last ``tail`` lines when
    given), then what is appended to it, until the run is no longer running (``b""``
    after each quiet poll with ``idle``)."""
    return follow(full_path, lambda: run_is_running(home, run.id), tail=tail, poll=poll,
                  idle=idle)


def watched_run(home, spec=None, flt=None):
    """The run ``rundb watch`` follows: ``spec``, else the newest running run.

    :raises RunNotFound: nothing is running (or ``spec`` matches no run).
    :raises RunFileError: the run's files are on another host.
    """
    from ..record import replace

    from ..errors import RunNotFound
    from .selection import RunFilter

    if spec is None:
        flt = replace(flt or RunFilter(), statuses=["running"])
        try:
            return _local_run(home, None, flt)
        except RunNotFound:
            raise RunNotFound("no run is running (give a RUN to watch)") from None
    return _local_run(home, spec, flt)


def run_progress(home, run_id):
    """(status, exit_status, started, stopped, [(key, last value, last step)]) of one run
    now; ``sys/*`` scalars left out."""
    from ..catalog import scalar_key_name

    with open_home_index(home) as index:
        rid = reader.rid_of(index, run_id)
        run = reader.load_runs(index, [rid], details=False)[0]
        found = reader.scalar_summaries(index, [rid])[rid]
    scalars = [(scalar_key_name(s["prefix"], s["tag"]), s["last_val"], s["last_step"])
               for s in found if not s["tag"].startswith("sys/")]
    return run.status, run.exit_status, run.started, run.stopped, scalars


def run_is_running(home, run_id):
    """True while the run's status is ``running`` and (on this host) its process lives."""
    with open_home_index(home) as index:
        row = reader.run_state(index, run_id)
    if row is None:
        return False
    status, pid, host = row
    return status == "running" and not process_gone(status, pid, host)


def run_files(home, spec=None, flt=None, pattern=None, all_=False):
    """(Run, [RunFile]) of one run's files (``.rundb/`` internals only with ``all_``)."""
    run = _local_run(home, spec, flt)
    return run, list_files(run.dir, pattern, all_)
