"""The library API: one plain function per user action.

Each function takes a :class:`~rundb.home.Home` first, opens the index, does one thing and
returns data; none prints. The CLI and the notebook API are both clients of this module.
"""

import contextlib
import os



@contextlib.contextmanager
def open_home_index(home):
    """The home's index, open for the duration of a ``with`` block."""
    from .index.db import open_index

    home.ensure()
    index = open_index(home.index_path)
    try:
        yield index
    finally:
        index.close()


# --- running -----------------------------------------------------------------------


def plan_run(spec=None, cwd=None, exec_argv=None):
    """Resolve what ``rundb run SPEC`` would run (a script, an op, a command)."""
    from .ops.plan import resolve

    return resolve(spec, os.path.abspath(cwd or os.getcwd()), exec_argv)


def operations(cwd=None):
    """[(name, description)] of the operations in rundb.yml in ``cwd`` (sorted)."""
    from .config import load_config

    config = load_config(os.path.abspath(cwd or os.getcwd()))
    if config is None:
        return []
    return sorted((name, op.description or "") for name, op in config.ops.items())


def resolve_flags(plan, assigns, force=False):
    """Flag values for ``plan`` from ``NAME=VALUE`` assigns (defaults filled in)."""
    from .ops.operation import resolve_flags

    return resolve_flags(plan, assigns, force)


def run(home, plan, flags, label=None, tags=(), echo=True, random_seed=None):
    """Run ``plan`` once with ``flags`` and wait for it to end; return the Run."""
    from .ops.operation import run_once

    with open_home_index(home) as index:
        return run_once(home, index, plan, flags, label=label, tags=tags, echo=echo,
                        random_seed=random_seed)


def plan_batch(plan, flags, **options):
    """A BatchPlan when flags or options ask for several trials (lists, ranges, an
    optimizer, batch files), else None. See rundb.ops.batch.plan_batch for options."""
    from .ops.batch import plan_batch

    return plan_batch(plan, flags, **options)


def run_batch(home, batch, label=None, tags=(), echo=True):
    """Run every trial of a batch; return the batch run."""
    from .ops.batch import run_batch

    with open_home_index(home) as index:
        return run_batch(home, index, batch, label=label, tags=tags, echo=echo)


# --- listing and changing runs -------------------------------------------------------


def runs(home, specs=(), flt=None, limit=None):
    """Runs matching ``specs`` and the RunFilter ``flt``, newest first."""
    from .selection import select_runs

    with open_home_index(home) as index:
        return select_runs(index, specs, flt, limit)


def count_runs(home, flt=None):
    """How many runs pass ``flt``."""
    from .selection import where_clause

    with open_home_index(home) as index:
        where, params = where_clause(index, flt or _filter())
        return index.conn.execute(f"SELECT count(*) FROM run r WHERE {where}", params).fetchone()[0]


def run_info(home, spec=None, flt=None):
    """(Run, [scalar summary dicts]) for one run (default: the newest)."""
    from .index.reader import scalar_summaries
    from .selection import select_one

    with open_home_index(home) as index:
        run = select_one(index, spec, flt)
        return run, scalar_summaries(index, [run.rid])[run.rid]


def scalar_summaries(home, run_ids):
    """{run id: [scalar summary dicts]} (first/last/min/max value and step, avg, count, total)."""
    from .index import reader

    with open_home_index(home) as index:
        rids = {reader.rid_of(index, i): i for i in run_ids}
        rids.pop(None, None)
        found = reader.scalar_summaries(index, list(rids))
        return {rids[rid]: rows for rid, rows in found.items()}


def _filter(**kw):
    from .selection import RunFilter

    return RunFilter(**kw)


def _manage(home, fn, run_ids, **kw):
    with open_home_index(home) as index:
        return fn(index, run_ids, **kw)


def label_runs(home, run_ids, **edit):
    """Edit labels: set=, prepend=, append=, remove=, clear=True."""
    from .manage import label_runs

    return _manage(home, label_runs, run_ids, **edit)


def tag_runs(home, run_ids, add=(), remove=()):
    from .manage import tag_runs

    return _manage(home, tag_runs, run_ids, add=add, remove=remove)


def mark_runs(home, run_ids, marked=True):
    from .manage import mark_runs

    return _manage(home, mark_runs, run_ids, marked=marked)


def comment_runs(home, run_ids, comment):
    from .manage import comment_runs

    return _manage(home, comment_runs, run_ids, comment=comment)


def delete_runs(home, run_ids):
    """Move runs to the trash (restorable until purged)."""
    from .manage import delete_runs

    with open_home_index(home) as index:
        return delete_runs(index, home, run_ids)


def restore_runs(home, run_ids):
    from .manage import restore_runs

    with open_home_index(home) as index:
        return restore_runs(index, home, run_ids)


def purge_runs(home, run_ids):
    """Remove trashed runs for good."""
    from .manage import purge_runs

    with open_home_index(home) as index:
        return purge_runs(index, run_ids)


# --- compare, select, query --------------------------------------------------------


def compare(home, specs=(), flt=None, **options):
    """The compare table (rundb.compare.Table) for the selected runs; see compare_table."""
    from .compare import compare_table

    with open_home_index(home) as index:
        return compare_table(index, specs, flt, **options)


def select(home, spec=None, flt=None, min_col=None, max_col=None):
    """One run: ``spec``, else the best by ``min_col``/``max_col``, else the newest."""
    from .compare import select_run

    with open_home_index(home) as index:
        return select_run(index, spec, flt, min_col, max_col)


def run_value(home, run_id, colspec):
    """The value of one column spec (``.label``, ``=lr``, ``min loss``) for one run."""
    from .compare import run_value

    with open_home_index(home) as index:
        return run_value(index, run_id, colspec)


def query(home, text, flt=None):
    """Answer a whole query (select ... where ... order by ... limit ...) as a Table."""
    from .compare import query_table

    with open_home_index(home) as index:
        return query_table(index, text, flt)


# --- the index ---------------------------------------------------------------------


def rebuild_index(home, progress=None):
    """Recreate the index from run directories; returns RebuildResult(indexed, errors)."""
    from .index.rebuild import rebuild

    return rebuild(home, progress)


def check_index(home):
    """Differences between the index and the run directories (empty when they agree)."""
    from .index.rebuild import check

    home.ensure()
    return check(home)


# --- scripting: SQL, export, import ------------------------------------------------


def select_run_ids(home, specs=(), flt=None):
    """Full ids of the runs ``specs`` and the RunFilter ``flt`` select, newest first."""
    from .selection import select_rids

    from .index.reader import load_runs

    with open_home_index(home) as index:
        return [run.id for run in load_runs(index, select_rids(index, specs, flt), details=False)]


def sql_query(home, statement, params=None):
    """Run one read-only SQL statement against the index; return (column names, rows).

    :param params: a dict for ``:name`` parameters or a list for ``?`` parameters.
    :raises ReadOnlyError: the statement would change the index.
    :raises SQLError: SQLite rejected the statement (its message).
    """
    from .sql import query

    with open_home_index(home):
        pass  # create or migrate the index, so the read-only connection finds the schema
    return query(home.index_path, statement, params)


def export_runs(home, dest, run_ids, move=False, progress=None):
    """Copy (or move) runs into the export directory ``dest`` (itself a rundb home).

    :returns: rundb.export.TransferResult (done, skipped, errors).
    :raises ExportError: ``dest`` is a file.
    """
    from .export import export_runs

    with open_home_index(home) as index:
        return export_runs(home, index, dest, list(run_ids), move=move, progress=progress)


def export_sql(home, path, run_ids):
    """Write the runs' index rows and the documented views to the SQLite file ``path``.

    :returns: rundb.export.TransferResult (done, skipped).
    """
    from .export import export_sql

    with open_home_index(home) as index:
        return export_sql(index, path, list(run_ids))


def export_csv(home, dest, specs=(), flt=None, columns=None):
    """Write one CSV row per selected run (the ``compare`` columns) to a path or text file.

    :returns: the number of runs written.
    """
    from .export import export_csv

    with open_home_index(home) as index:
        return export_csv(index, dest, specs, flt, columns)


def archive_runs(path):
    """(runs, errors) of an export directory, home or directory of runs, newest first."""
    from .export import archive_runs

    return archive_runs(path)


def import_runs(home, path, move=False, progress=None):
    """Copy (or move) the runs of an archive into ``home`` and index them.

    :returns: rundb.export.TransferResult (done, skipped, errors).
    :raises ExportError: ``path`` is missing, a file, or holds no runs.
    """
    from .export import import_runs

    with open_home_index(home) as index:
        return import_runs(home, index, path, move=move, progress=progress)


def guild_runs(guild_home):
    """(runs, errors) of a Guild AI home, converted but not imported, newest first."""
    from .guild_import import guild_runs

    return guild_runs(guild_home)


def import_guild(home, guild_home, progress=None):
    """Convert and index the runs of a Guild AI home (never modified) into ``home``.

    :returns: rundb.export.TransferResult (done, skipped, errors, warnings).
    """
    from .guild_import import import_guild

    with open_home_index(home) as index:
        return import_guild(home, index, guild_home, progress=progress)


# --- the notebook API (rundb.ipy) ----------------------------------------------------


def runs_by_id(home, run_ids, details=True):
    """Run records for full run ids, in the order given; ids not in the index are left out.

    Cheaper than :func:`runs` with the ids as specs: each id is one indexed lookup.

    :param details: also load flags, tags and attributes.
    """
    from .index import reader

    with open_home_index(home) as index:
        rids = [reader.rid_of(index, run_id) for run_id in run_ids]
        return reader.load_runs(index, [rid for rid in rids if rid is not None], details=details)


def scalar_points(home, run_ids):
    """{run id: [(prefix, tag, step, value, time)]}: every scalar point of the runs, in the
    order written. Runs not in the index are left out."""
    from .index import reader

    with open_home_index(home) as index:
        out = {}
        for run_id in run_ids:
            rid = reader.rid_of(index, run_id)
            if rid is not None:
                out[run_id] = reader.scalar_points(index, rid)
        return out


def runs_brief(home, flt=None, limit=None):
    """Runs matching the RunFilter ``flt``, newest first, without their flags, tags and
    attributes (half the cost of :func:`runs` over many runs)."""
    from .selection import select_runs

    with open_home_index(home) as index:
        return select_runs(index, (), flt, limit, details=False)


def run_times(home, run_ids):
    """{run id: (started, stopped)} in microseconds since the epoch (None when not set),
    for full run ids; ids not in the index are left out."""
    import json

    with open_home_index(home) as index:
        rows = index.conn.execute(
            "SELECT id, started, stopped FROM run WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps(list(run_ids))],
        )
        return {run_id: (started, stopped) for run_id, started, stopped in rows}
