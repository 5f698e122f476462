"""The notebook API: run Python functions as tracked runs, read runs as pandas DataFrames.

::

    >>> from rundb import ipy
    >>> run, result = ipy.run(train, lr=0.01, epochs=5)         # one run
    >>> runs, results = ipy.run(train, lr=[0.1, 0.01])          # a grid: two trials
    >>> ipy.run(train, lr=ipy.loguniform(1e-4, 1e-1), _optimizer="gp", _max_trials=10)
    >>> ipy.runs(operations=["train"]).compare()                 # flags and scalars, typed

A function runs in this process, in its run directory (the current directory is changed
for the call and restored after), with its flags taken from its parameters: the values
given, then the defaults. What it prints is echoed and captured to ``.rundb/output``;
``key: value`` lines become scalars as for scripts, and TF event files it writes anywhere
in its run directory (``rundb.keras.RunCallback`` writes one in ``.rundb/``) are read as
it runs. Both are what ``rundb index rebuild`` reads again, so the index can always be
rebuilt from the run directories.

Every reader here goes through :mod:`rundb.api`, which asks the index; no run directory
is walked. This module is the public surface only: running a function is
:mod:`rundb.ops.funcrun` (no pandas there), and the DataFrames and :class:`Run` handles
are :mod:`rundb.ipy.frames`, which imports pandas (``import rundb`` does not).

Which home: :func:`use_home` (a context manager), else :func:`set_home`, else
``$RUNDB_HOME``, else ``~/.rundb``. A relative home is resolved when each call starts.
"""

import contextvars
import os
import threading

from .. import api
from . import frames
from .frames import Run, RunsDataFrame, RunsSeries
from ..home import Home
from ..api.functions import (
    RunError,
    RunException,
    RunTerminated,
    SearchRange,
    TrialPruned,
    active_run_dir,
)

__all__ = [
    "Run",
    "RunError",
    "RunException",
    "RunTerminated",
    "RunsDataFrame",
    "RunsSeries",
    "TrialPruned",
    "compare",
    "get_home",
    "loguniform",
    "query",
    "run",
    "runs",
    "set_home",
    "uniform",
    "use_home",
]

# Shown by the names users import them by (rundb.ipy.RunError in a traceback), not by
# the modules that define them.
for _cls in (Run, RunError, RunException, RunTerminated, RunsDataFrame, RunsSeries,
             TrialPruned):
    _cls.__module__ = __name__
del _cls

#: The directory of the run the calling thread is in, if any (the name rundb.keras used).
_active_run_dir = active_run_dir


# --- the home -------------------------------------------------------------------------

_default_home = None
_home_override = contextvars.ContextVar("rundb_ipy_home", default=None)


def set_home(path):
    """Use the home at ``path`` for every later call (``None``: back to ``$RUNDB_HOME``,
    else ``~/.rundb``). A relative path is resolved against the current directory when
    each call starts."""
    global _default_home
    _default_home = None if path is None else os.fspath(path)


def get_home():
    """The :class:`~rundb.home.Home` the next call would use."""
    return Home.resolve(_home_override.get() or _default_home)


class use_home:
    """A reusable context manager that makes ``path`` the home inside its ``with`` block.

    The setting belongs to the thread (and asyncio task) that enters the block, so
    threads using different homes do not disturb one another::

        home = ipy.use_home("/tmp/experiments")
        with home:
            ipy.run(train)
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._tokens = threading.local()

    def __enter__(self):
        stack = self._tokens.__dict__.setdefault("stack", [])
        stack.append(_home_override.set(self.path))
        return self

    def __exit__(self, *exc):
        _home_override.reset(self._tokens.stack.pop())

    def __repr__(self):
        return f"use_home({self.path!r})"


# --- search ranges --------------------------------------------------------------------


def uniform(low, high, initial=None):
    """Search the flag uniformly between ``low`` and ``high`` (ints give ints).

    ``initial`` is the first trial's value. ``slice(low, high)`` means the same.
    """
    return SearchRange("uniform", low, high, initial)


def loguniform(low, high, initial=None):
    """Search the flag between ``low`` and ``high`` (both > 0) on a log scale."""
    return SearchRange("loguniform", low, high, initial)


# --- run() ----------------------------------------------------------------------------


def run(fn, *args, **kw):
    """Run ``fn(*args, **flags)`` as a run in the current home; return ``(run, result)``.

    Flags are the function's arguments (given, then defaults). Keywords starting with
    ``_`` are run options:

    * ``_label``: the label (a template: ``"lr=${lr}"``); default: every flag ``NAME=VAL``
    * ``_tag``: a tag (or list of tags), put in front of the label and recorded as a tag
    * ``_op_name``: the operation name (default: the function's name; ``train()``)
    * ``_optimizer``: ``random``, ``gp``, ``forest``, ``gbrt`` (scikit-optimize), ``tpe``,
      ``cmaes``, ``optuna-random`` (Optuna's samplers), or ``+`` for a grid
    * ``_prune``: ``median``, ``percentile:25``, ``asha`` or ``hyperband`` (Optuna's
      pruners), with ``_prune_on`` (a scalar; default the objective's),
      ``_prune_warmup`` and ``_prune_min_trials``: a trial the pruner stops raises
      :class:`TrialPruned` inside the function at its next print (or next epoch logged by
      ``rundb.keras.RunCallback``); its run's status is ``pruned`` and the batch goes on
    * ``_minimize`` / ``_maximize``: the optimizer's objective column (default: minimize loss)
    * ``_max_trials``, ``_random_seed``: for batches
    * ``_opt_<name>``: an optimizer flag (``_opt_random_starts=2``, ``_opt_xi=0.02``)
    * ``_output_scalars``: output-scalar patterns (``False`` to parse none)

    A list value makes a grid of trials; ``slice(a, b)``, :func:`uniform` and
    :func:`loguniform` make a search (random unless ``_optimizer`` says otherwise). A
    batch returns ``([runs], [results])`` and prints ``Running NAME (FLAGS):`` before each
    trial; the batch itself is a run too (``train()+``, ``train()+gp``).

    :raises RunError: the function raised (the run's status is ``error``).
    :raises RunTerminated: it was interrupted (status ``terminated``).
    :raises TypeError: arguments the function does not take, or an unknown option or
        optimizer.
    """
    home = get_home()  # resolved before the run changes directory
    return api.run_function(home, fn, args, kw, make_handle=Run)


# --- reading runs as DataFrames -------------------------------------------------------


def runs(operations=None, labels=None, tags=None, unlabeled=False, marked=False,
         unmarked=False, running=False, completed=False, error=False, terminated=False,
         pending=False, staged=False, pruned=False, started=None, digest=None, filter=None,
         include_batch=False, deleted=False, limit=None):
    """The runs of the current home, newest first, as a :class:`RunsDataFrame`.

    :param operations: substrings of the operation name (any of)
    :param labels: substrings of the label (any of)
    :param tags: tags (any of)
    :param running, completed, error, terminated, pending, staged, pruned: status (any of
        those set; none set means any status)
    :param started: a time range (``"last hour"``, ``"after 2024-05-01"``)
    :param filter: a where-expression of the query language (``"=lr > 0.01 and loss < 1"``)
    :param include_batch: also list batch runs (``train()+gp``)
    :param deleted: list deleted runs (in the trash) instead
    """
    flt = _run_filter(
        operations=operations, labels=labels, tags=tags, unlabeled=unlabeled, marked=marked,
        unmarked=unmarked, running=running, completed=completed, error=error,
        terminated=terminated, pending=pending, staged=staged, pruned=pruned,
        started=started, digest=digest, filter=filter, include_batch=include_batch,
        deleted=deleted)
    return frames.runs_frame(get_home(), flt, limit)


def _run_filter(operations=None, labels=None, tags=None, unlabeled=False, marked=False,
                unmarked=False, running=False, completed=False, error=False,
                terminated=False, pending=False, staged=False, pruned=False, started=None,
                digest=None, filter=None, include_batch=False, deleted=False):
    from ..api.selection import RunFilter

    statuses = [name for name, on in (
        ("running", running), ("completed", completed), ("error", error),
        ("terminated", terminated), ("pending", pending), ("staged", staged),
        ("pruned", pruned)) if on]
    return RunFilter(
        ops=_strings(operations), labels=_strings(labels), tags=_strings(tags),
        unlabeled=unlabeled, marked=True if marked else (False if unmarked else None),
        statuses=statuses, started=started, digest=digest, filter=filter,
        include_batch=include_batch, deleted=deleted,
    )


def compare(group_by=None, **filters):
    """``runs(**filters).compare(group_by)``: flags and scalars of the runs, one row per
    run (or per group; see :meth:`RunsDataFrame.compare`)."""
    return runs(**filters).compare(group_by=group_by)


def query(text, **filters):
    """Answer a whole query (``select ... where ... order by ... limit ...``) as a
    DataFrame; ``filters`` (those of :func:`runs`) choose the runs it looks at."""
    return frames.query_frame(get_home(), text, _run_filter(**filters))


def _strings(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)

