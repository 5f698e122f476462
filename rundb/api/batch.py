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


def split_batch_files(args):
    """``(batch files, other args)`` of ``rundb run`` args (``@FILE`` names a batch file)."""
    from ..ops.trials import split_batch_files

    return split_batch_files(args)


def batch_preview(batch):
    """The lines shown before a batch starts, asking to continue."""
    from ..ops.batch import preview

    return preview(batch)


def trials_table(batch):
    """The ``--print-trials`` table of a batch whose trials are known before it runs.

    :raises BatchError: for an optimizer that suggests trials as it goes.
    """
    from ..ops.batch import preset_trials
    from ..ops.trials import format_trials_table

    return format_trials_table(preset_trials(batch))


def save_trials(batch, path):
    """Write a batch's trials to ``path`` as a CSV batch file (``--save-trials``)."""
    from ..ops.batch import preset_trials
    from ..ops.trials import write_trials_csv

    write_trials_csv(preset_trials(batch), path)


def run_trial(home, trial):
    """Record and run one trial of a parallel batch on this machine (what a worker runs,
    as ``rundb run --trial``); return the exit status: 0 when it completed, 1 when not,
    3 when the trial ran already (a retried task), 4 when a stop came before its start."""
    from ..ops.parallel import start_trial

    with open_home_index(home, write=True) as index:
        run = start_trial(home, index, trial)
    if isinstance(run, int):
        return run
    return 0 if run.status == "completed" else 1
