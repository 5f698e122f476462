"""Reading runs: lists, counts, one run's details, scalar summaries and series."""

from ..index import conditions, reader
from ..index.db import open_home_index
from .selection import RunFilter, select_one, select_rids, select_runs, where_clause


def runs(home, specs=(), flt=None, limit=None, reap=True):
    """Runs matching ``specs`` and the RunFilter ``flt``, newest first.

    :param reap: see :func:`~rundb.api.selection.select_runs` (False: never writes).
    """
    with open_home_index(home) as index:
        return select_runs(index, specs, flt, limit, reap=reap)


def runs_brief(home, flt=None, limit=None):
    """Runs matching the RunFilter ``flt``, newest first, without their flags, tags and
    attributes (half the cost of :func:`runs` over many runs)."""
    with open_home_index(home) as index:
        return select_runs(index, (), flt, limit, details=False)


def run_positions(home, runs, flt=None):
    """``{run id: position}``: the positions run specs give ``runs`` under ``flt`` (a
    deleted run keeps its place among all runs, as ``runs list --deleted`` shows it)."""
    from .selection import positions

    with open_home_index(home) as index:
        found = positions(index, [r.rid for r in runs], flt or RunFilter())
    return {r.id: found.get(r.rid) for r in runs}


def count_runs(home, flt=None, at_most=None):
    """How many runs pass ``flt``; with ``at_most``, at most ``at_most + 1`` (meaning
    "more than ``at_most``": counting a million filtered runs costs seconds)."""
    with open_home_index(home) as index:
        where, params = where_clause(index, flt or RunFilter())
        return conditions.count_runs(index, where, params, at_most)


def run_info(home, spec=None, flt=None, reap=True):
    """(Run, [scalar summary dicts]) for one run (default: the newest)."""
    with open_home_index(home) as index:
        run = select_one(index, spec, flt, reap=reap)
        return run, reader.scalar_summaries(index, [run.rid])[run.rid]


def scalar_summaries(home, run_ids):
    """{run id: [scalar summary dicts]} (first/last/min/max value and step, avg, count, total)."""
    with open_home_index(home) as index:
        rids = {reader.rid_of(index, i): i for i in run_ids}
        rids.pop(None, None)
        found = reader.scalar_summaries(index, list(rids))
        return {rids[rid]: rows for rid, rows in found.items()}


def select_run_ids(home, specs=(), flt=None):
    """Full ids of the runs ``specs`` and the RunFilter ``flt`` select, newest first."""
    with open_home_index(home) as index:
        return reader.ids_of(index, select_rids(index, specs, flt))


def runs_by_id(home, run_ids, details=True):
    """Run records for full run ids, in the order given; ids not in the index are left out.

    Cheaper than :func:`runs` with the ids as specs: each id is one indexed lookup.

    :param details: also load flags, tags and attributes.
    """
    with open_home_index(home) as index:
        rids = [reader.rid_of(index, run_id) for run_id in run_ids]
        return reader.load_runs(index, [rid for rid in rids if rid is not None], details=details)


def scalar_points(home, run_ids, prefix=None, tag=None):
    """{run id: [(prefix, tag, step, value, time)]}: every scalar point of the runs (only
    ``prefix`` and ``tag`` when given), in the order written. Runs not in the index are
    left out."""
    with open_home_index(home) as index:
        out = {}
        for run_id in run_ids:
            rid = reader.rid_of(index, run_id)
            if rid is not None:
                out[run_id] = reader.scalar_points(index, rid, prefix=prefix, tag=tag)
        return out


def run_scalar_points(home, spec, prefix=None, tag=None, reap=True):
    """(Run, [(prefix, tag, step, value, time)]) of the run ``spec`` names, in write order.

    :param reap: first record runs whose process is gone (False: never write)
    :raises RunNotFound: ``spec`` matches no run
    """
    with open_home_index(home) as index:
        run = select_one(index, spec, reap=reap)
        return run, reader.scalar_points(index, run.rid, prefix=prefix, tag=tag)


def run_times(home, run_ids):
    """{run id: (started, stopped)} in microseconds since the epoch (None when not set),
    for full run ids; ids not in the index are left out."""
    with open_home_index(home) as index:
        return reader.run_times(index, run_ids)
