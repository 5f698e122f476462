"""Batches: several trials of one operation (grids, random and Bayesian search, batch files)."""

from ..index.db import open_home_index


def plan_batch(plan, flags, **options):
    """A BatchPlan when flags or options ask for several trials (lists, ranges, an
    optimizer, batch files), else None. See rundb.ops.batch.plan_batch for options."""
    from ..ops.batch import plan_batch

    return plan_batch(plan, flags, **options)


def run_batch(home, batch, label=None, tags=(), echo=True):
    """Run every trial of a batch; return the batch run."""
    from ..ops.batch import run_batch

    with open_home_index(home, write=True) as index:
        return run_batch(home, index, batch, label=label, tags=tags, echo=echo)
