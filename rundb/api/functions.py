"""Python functions run as tracked runs in this process (the notebook API's service).

Function runs are not thread-safe: each one changes the process's working directory to its
run directory while the function runs (see :mod:`rundb.ops.funcrun`).
"""

from ..ops.capture import TrialPruned, active_run_dir
from ..ops.funcrun import RunError, RunException, RunTerminated, SearchRange

__all__ = ["RunError", "RunException", "RunTerminated", "SearchRange", "TrialPruned",
           "active_run_dir", "run_function"]


def run_function(home, fn, args, kw, make_handle=None):
    """Run ``fn(*args, **flags)`` once, or as a batch when flags ask for one (see
    :func:`rundb.ipy.run` for the ``_`` options in ``kw``).

    :param make_handle: ``make_handle(record, home)`` is what is returned for each run
        (default: the run record)
    :returns: ``(handle, result)``, or ``([handles], [results])`` for a batch
    :raises RunError: the function raised (the run's status is ``error``).
    :raises RunTerminated: it was interrupted (status ``terminated``).
    :raises TypeError: arguments the function does not take, or an unknown option.
    """
    from ..ops import funcrun

    handle = {} if make_handle is None else {"make_handle": make_handle}
    func, flags, options, opt_assigns = funcrun.prepare(fn, args, kw)
    batch = funcrun.plan(func, flags, options, opt_assigns)
    if batch is None:
        return funcrun.run_one(home, func, flags, options, **handle)
    return funcrun.run_batch(home, func, batch, options, **handle)
