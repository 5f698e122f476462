"""Controlling running runs from anywhere: a stop request goes through the index, so it
reaches a run's runner on this machine or on a cluster worker sharing the index."""

from ..index import reader
from ..index.db import open_home_index


def request_stop(home, run_ids, reason=None):
    """Ask the runners of ``run_ids`` (full ids) to stop their runs, as Ctrl-C would: each
    polls the index about once a second, terminates its child and records the run as
    ``terminated``. Ids of runs that are not running are left out; return the ids asked.

    This is also the channel for batches (Ctrl-C on a parallel batch) and pruners.
    """
    from ..index.stops import request_stop as record

    with open_home_index(home, write=True) as index:
        running = [run_id for run_id in run_ids
                   if (reader.run_state(index, run_id) or ("",))[0] == "running"]
        if running:
            record(index, running, reason)
    return running
