"""Running a Python function as a tracked run in this process (:func:`rundb.ipy.run`).

The function is called in its run directory (the current directory is changed for the
call and restored after), with its flags taken from its parameters: the values given,
then the defaults. What it prints is echoed and captured to ``.rundb/output`` by a
:class:`~rundb.ops.capture.Recorder`, which also reads ``key: value`` lines as output scalars and the TF
event files under the run directory, and writes the scalars to the index as the run goes
on; these are the files ``rundb index rebuild`` reads again. :func:`rundb.ops.capture.active_run_dir` tells
code inside the function (``rundb.keras.RunCallback``) which run it is in.

:func:`prepare` splits ``run()``'s arguments into flags and run options, :func:`plan`
makes the batch a list value or a search range asks for, and :func:`run_one` and
:func:`run_batch` run the function once or as a batch's trials, returning what
``make_handle(record, home)`` makes of each finished run record (the record itself by
default) and raising :class:`RunError` or :class:`RunTerminated` when it did not finish.
Nothing here imports pandas.
"""

import contextlib
import inspect
import logging
import os
import random
import threading
import traceback

from ..errors import BatchError, RundbError
from ..index.db import open_home_index
from .capture import Recorder, TrialPruned, pop, push, request_prune

log = logging.getLogger("rundb")

_RUN_OPTIONS = (
    "_label", "_tag", "_op_name", "_optimizer", "_minimize", "_maximize", "_max_trials",
    "_random_seed", "_output_scalars", "_prune", "_prune_on", "_prune_warmup",
    "_prune_min_trials",
)


# --- errors ---------------------------------------------------------------------------


class RunException(RundbError):
    "A function run by ``rundb.ipy.run`` did not finish normally (``run``, ``from_exc``)."

    def __init__(self, run, from_exc):
        super().__init__(run, from_exc)
        self.run = run
        self.from_exc = from_exc


class RunError(RunException):
    "The function raised an exception: the run's status is error, its exit status 1."


class RunTerminated(RunException):
    "The function was interrupted (KeyboardInterrupt): status terminated, exit status -15."


# --- search ranges --------------------------------------------------------------------


class SearchRange:
    """A flag value to search over, as :func:`rundb.ipy.uniform` and
    :func:`rundb.ipy.loguniform` make."""

    def __init__(self, function, low, high, initial=None):
        for name, value in (("low", low), ("high", high)):
            if not _is_number(value):
                raise TypeError(f"{function}() {name} must be a number, got {value!r}")
        if initial is not None and not _is_number(initial):
            raise TypeError(f"{function}() initial must be a number, got {initial!r}")
        self.function = function
        self.low, self.high, self.initial = low, high, initial

    def spec(self):
        """The flag function text the batch planner reads (``uniform[0:5]``)."""
        args = [self.low, self.high] + ([self.initial] if self.initial is not None else [])
        return f"{self.function}[{':'.join(_number_text(a) for a in args)}]"

    def __repr__(self):
        args = [self.low, self.high] + ([self.initial] if self.initial is not None else [])
        return f"{self.function}({', '.join(repr(a) for a in args)})"



def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_text(value):
    # repr keeps floats exact and decodes back to the same type: 1.0 stays a float.
    return repr(value)


def _search_value(name, value):
    """A flag value as the batch planner takes it: slices and ranges become flag
    functions (``[0:5]``, ``loguniform[1e-05:0.1]``); anything else is kept."""
    if isinstance(value, SearchRange):
        return value.spec()
    if isinstance(value, slice):
        if value.start is None or value.stop is None:
            raise TypeError(f"slice for flag {name} needs a start and a stop")
        if value.step is not None:
            raise TypeError(
                f"slice for flag {name} has a step: use ipy.uniform(low, high, initial) "
                "to give the first trial's value")
        return SearchRange("uniform", value.start, value.stop).spec()[len("uniform"):]
    return value


# --- the function being run -----------------------------------------------------------


class _Function:
    """A callable to run: its operation name and how flags map to its parameters."""

    def __init__(self, fn, op_name=None):
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        self.fn = fn
        self.name = op_name or _function_name(fn)
        self.op = f"{self.name}()"
        #: arguments passed to every call but not recorded as flags (see split_args)
        self.varargs = ()
        self.extra = {}
        try:
            self.signature = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None

    @property
    def params(self):
        return self.signature.parameters if self.signature is not None else {}

    def accepts_any_keyword(self):
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self.params.values())

    def bind(self, args, kwargs):
        """(flags, extra positional args) for a call with ``args`` and ``kwargs``.

        :raises TypeError: as calling the function would (a missing argument, ...).
        """
        if self.signature is None:
            return dict(kwargs), tuple(args)
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        flags, varargs = {}, ()
        for name, value in bound.arguments.items():
            kind = self.params[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                varargs = tuple(value)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                flags.update(value)
            else:
                flags[name] = value
        return flags, varargs

    def split_args(self, flags, varargs):
        """Keep flag values (numbers, strings, lists ...) as flags: anything else (a
        DataFrame, a model) is passed to the function as it is, but not recorded."""
        self.varargs = varargs
        self.extra = {name: value for name, value in flags.items()
                      if not _is_flag_value(value)}
        return {name: _plain(value) for name, value in flags.items()
                if name not in self.extra}

    def call(self, flags):
        flags = {**flags, **self.extra}
        varargs = self.varargs
        if self.signature is None:
            return self.fn(*varargs, **flags)
        args, kwargs = [], {}
        P = inspect.Parameter
        for name, p in self.params.items():
            if p.kind is P.VAR_POSITIONAL:
                args.extend(varargs)
            elif p.kind is P.VAR_KEYWORD:
                continue
            elif name not in flags:
                continue
            elif p.kind is P.POSITIONAL_ONLY or (p.kind is P.POSITIONAL_OR_KEYWORD and varargs):
                args.append(flags[name])
            else:
                kwargs[name] = flags[name]
        kwargs.update((k, v) for k, v in flags.items() if k not in self.params)
        return self.fn(*args, **kwargs)

    def describe(self):
        module = getattr(self.fn, "__module__", None) or type(self.fn).__module__
        qualname = getattr(self.fn, "__qualname__", None) or type(self.fn).__qualname__
        return {"kind": "function", "target": f"{module}:{qualname}"}


def _is_flag_value(value):
    if value is None or isinstance(value, (bool, int, float, str, SearchRange, slice)):
        return True
    if _is_numpy_scalar(value):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_flag_value(v) and not isinstance(v, (SearchRange, slice)) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_flag_value(v) for k, v in value.items())
    return False


def _is_numpy_scalar(value):
    return type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0


def _plain(value):
    """A flag value as plain Python (numpy scalars become int/float/bool)."""
    if _is_numpy_scalar(value):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _function_name(fn):
    import functools

    while isinstance(fn, functools.partial):
        fn = fn.func
    name = getattr(fn, "__name__", None)
    if name is None or not (inspect.isroutine(fn) or inspect.isclass(fn)):
        # A callable object: named after its class (Op() for an instance of Op).
        name = type(fn).__name__
    return name


class _BatchPlan:
    """What the batch planner needs to know of a function (rundb.ops.batch)."""

    def __init__(self, func):
        from types import SimpleNamespace

        self.func = func
        self.name = func.op
        self.opdef = SimpleNamespace(objective=None, optimizers={}, flags={}, label=None)

    def describe(self):
        return self.func.describe()


# --- running it -----------------------------------------------------------------------


def prepare(fn, args, kw):
    """``run(fn, *args, **kw)``'s arguments as ``(function, flags, options, opt_assigns)``:
    keywords starting with ``_`` are run options (``_label`` → ``options["label"]``) or
    optimizer flags (``_opt_random_starts`` → ``opt_assigns["random-starts"]``), unless the
    function takes them; the rest, bound to the function's parameters, are its flags.

    :raises TypeError: arguments the function does not take, or an unknown option.
    """
    options = {}
    opt_assigns = {}
    flags_kw = {}
    func = _Function(fn, kw.pop("_op_name", None))
    for name, value in kw.items():
        if name in func.params and func.params[name].kind not in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            flags_kw[name] = value
        elif name.startswith("_opt_"):
            opt_assigns[name[len("_opt_"):].replace("_", "-")] = value
        elif name in _RUN_OPTIONS:
            options[name[1:]] = value
        elif name.startswith("_") and not func.accepts_any_keyword():
            raise TypeError(f"unsupported run option '{name}'")
        else:
            flags_kw[name] = value
    flags, varargs = func.bind(args, flags_kw)
    flags = func.split_args(flags, varargs)
    return func, flags, options, opt_assigns


def plan(func, flags, options, opt_assigns):
    """The batch the flags and options ask for (:mod:`rundb.ops.batch`), or None for a
    single run.

    :raises TypeError: an unknown optimizer.
    """
    optimizer = _check_optimizer(options.get("optimizer"))
    batch_flags = {name: _search_value(name, value) for name, value in flags.items()}
    batch = _plan_batch(func, batch_flags, optimizer, opt_assigns, options)
    if batch is None and options.get("max_trials") is not None:
        log.warning("not a batch run - ignoring _max_trials")
    return batch


def _check_optimizer(name):
    from .optimizers import resolve_optimizer

    if name is None or name in ("+", "grid"):
        return name
    try:
        resolve_optimizer(str(name))
    except BatchError:
        raise TypeError(f"optimizer {name!r} is not supported") from None
    return name


def _plan_batch(func, flags, optimizer, opt_assigns, options):
    from .batch import plan_batch
    from .optimizers import resolve_optimizer
    from .searchspace import is_search_spec

    sequential = optimizer not in (None, "+", "grid") and resolve_optimizer(optimizer) in (
        "gp", "forest", "gbrt")
    prune = options.get("prune")
    if prune is not None and str(prune).lower() != "none" and optimizer is None and not any(
            isinstance(v, list) or (isinstance(v, str) and is_search_spec(v))
            for v in flags.values()):
        raise TypeError("_prune needs a search: give a flag a list, a slice or a "
                        "uniform()/loguniform() range")
    if sequential:
        # Without random starts, as the notebook API always did: the first trial is random
        # ("missing previous trials"), every later one uses all the trials before it.
        opt_assigns = {"random-starts": 0, **opt_assigns}
    return plan_batch(
        _BatchPlan(func), flags, optimizer=optimizer, opt_assigns=opt_assigns or None,
        max_trials=options.get("max_trials"), random_seed=options.get("random_seed"),
        minimize=options.get("minimize"), maximize=options.get("maximize"),
        prune=options.get("prune"), prune_on=options.get("prune_on"),
        prune_warmup=options.get("prune_warmup"),
        prune_min_trials=options.get("prune_min_trials"),
    )


def _tags(options):
    tags = options.get("tag")
    if tags is None:
        return ()
    return (tags,) if isinstance(tags, str) else tuple(tags)


def _output_scalars(options):
    from ..outputscalars import OutputScalarParser

    config = options.get("output_scalars")
    if config is False or config == "no":
        return None
    return OutputScalarParser(None if config is True else config).patterns_config


def _create_run(home, index, func, flags, *, label=None, tags=(), parent=None,
                random_seed=None, status="running", output_scalars=None):
    from .labels import run_label
    from .runner import new_run

    text = run_label(label, flags)
    text = " ".join([*tags, text]).strip() if tags else text
    attrs = {
        "op": func.describe(),
        "random_seed": random_seed if random_seed is not None else random.randint(0, 2**32),
    }
    if func.extra or func.varargs:
        # Arguments that are not flags: what they were, for `info` and rebuilds.
        attrs["args"] = {name: type(value).__name__ for name, value in func.extra.items()}
        if func.varargs:
            attrs["args"]["*args"] = [type(value).__name__ for value in func.varargs]
    return new_run(home, index, func.op, flags, label=text, tags=tags, parent=parent,
                   attrs=attrs, status=status, output_scalars=output_scalars)


def _record(record, home):
    return record


def run_one(home, func, flags, options, make_handle=_record):
    """Run the function once (see :func:`_run_one`); one thread at a time."""
    with _one_thread():
        return _run_one(home, func, flags, options, make_handle)


def _run_one(home, func, flags, options, make_handle):
    """Run the function once; return ``(handle, result)``.

    :param make_handle: ``make_handle(record, home)`` is what is returned for the run
    :raises RunError: the function raised (the run's status is ``error``).
    :raises RunTerminated: it was interrupted (status ``terminated``).
    """
    with open_home_index(home, write=True) as index:
        record = _create_run(
            home, index, func, flags, label=options.get("label"), tags=_tags(options),
            random_seed=options.get("random_seed"), output_scalars=_output_scalars(options))
        record, result, exc = _execute(index, record, func, flags)
    handle = make_handle(record, home)
    _raise_for(handle, exc)
    return handle, result


def _raise_for(handle, exc):
    if exc is None:
        return
    if isinstance(exc, KeyboardInterrupt):
        raise RunTerminated(handle, exc) from exc
    raise RunError(handle, exc) from exc


def _execute(index, record, func, flags):
    """Call the function for a recorded run, in its run directory, capturing its output;
    return ``(finished record, result, exception or None)``."""
    from ..index import store
    from ..run import now_us
    from .runner import TERMINATED_EXIT

    rec = Recorder(record, index.path)
    result = exc = pruned = None
    status, exit_status = "completed", 0
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    push(rec)
    try:
        os.chdir(record.dir)
        result = func.call(flags)
    except KeyboardInterrupt as e:
        exc, status, exit_status = e, "terminated", TERMINATED_EXIT
    except TrialPruned as e:
        pruned, status, exit_status = e, "pruned", TERMINATED_EXIT
    except SystemExit as e:
        if e.code not in (None, 0):
            exc, status = e, "error"
            exit_status = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - recorded, then raised as RunError
        exc, status, exit_status = e, "error", 1
    finally:
        pop(rec)
        if cwd is not None:
            try:
                os.chdir(cwd)
            except OSError:
                pass
    if exc is not None:
        _drop_own_frames(exc)
        # Kept in the run's output (not echoed: the caller sees the exception itself).
        rec.write_text(1, "".join(traceback.format_exception(exc)))
    if pruned is not None:
        rec.write_text(1, f"rundb: {pruned} by its batch's pruner")
    error = rec.close()
    if error is not None:
        from .ingest import missing_points

        missing, total = missing_points(index, record)
        if missing is None or missing:
            counted = f"{missing} of {total} points missing, " if missing else ""
            log.warning(f"some scalars were not indexed ({error}): {counted}"
                        "run 'rundb index rebuild'")
    changes = {}
    if pruned is not None:
        from .prune import pruned_attrs

        changes["attrs"] = {**record.attrs, **pruned_attrs(pruned.step, pruned.rule)}
    record = store.save_run(index, record, status=status, stopped=now_us(),
                            exit_status=exit_status, pid=None, **changes)
    return record, result, exc


def _drop_own_frames(exc):
    # The traceback starts in this module (_execute, _Function.call): show the user's
    # frames only, in the run's output and in the RunError they catch.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    if tb is not None:
        exc.__traceback__ = tb


def run_batch(home, func, batch, options, make_handle=_record):
    """Run the batch's trials (see :func:`_run_batch`); one thread at a time."""
    with _one_thread():
        return _run_batch(home, func, batch, options, make_handle)


def _run_batch(home, func, batch, options, make_handle):
    """Run the batch's trials (the batch itself is a run too); return
    ``([handles], [results])``, printing ``Running NAME (FLAGS):`` before each trial.
    The parameters are those of :func:`run_one`.

    :raises RunError: a trial raised (the batch stops, with status ``error``).
    :raises RunTerminated: a trial was interrupted (the batch is terminated too).
    """
    from . import batch as batches
    from ..flagvals import format_flag_assigns

    output_scalars = _output_scalars(options)
    trials, results = [], []
    interrupted = []

    with open_home_index(home, write=True) as index:

        def create_trial(flags, **kw):
            return _create_run(home, index, func, flags, output_scalars=output_scalars, **kw)

        def start_trial(trial, flags):
            print(f"Running {func.name} ({', '.join(format_flag_assigns(flags))}):")
            record, result, exc = _execute(index, trial, func, flags)
            handle = make_handle(record, home)
            trials.append(handle)
            results.append(result)
            if isinstance(exc, KeyboardInterrupt):
                # A terminated trial ends the batch (terminated too); raised below.
                interrupted.append((handle, exc))
            else:
                _raise_for(handle, exc)
            return record

        def on_prune(run_id, step, reason):
            request_prune(run_id, step, batch.prune.rule)

        batches.run_batch(home, index, batch, label=options.get("label"), tags=_tags(options),
                          create_trial=create_trial, start_trial=start_trial,
                          on_prune=on_prune)
    if interrupted:
        _raise_for(*interrupted[0])
    return trials, results


# A function runs in its run directory: the process's working directory, which every thread
# shares. So function runs are not thread-safe: one thread at a time may be inside them
# (nested runs in that thread are fine), and a second thread gets a clear error instead of
# the two changing each other's directory.
_cwd_lock = threading.Lock()
_cwd_owner = {"thread": None, "depth": 0}


@contextlib.contextmanager
def _one_thread():
    """Hold the working directory for this thread's function run (nested ones included).

    :raises BatchError: another thread is inside a function run (before any run is made).
    """
    _claim_cwd()
    try:
        yield
    finally:
        _release_cwd()


def _claim_cwd():
    me = threading.get_ident()
    with _cwd_lock:
        if _cwd_owner["thread"] not in (None, me):
            raise BatchError(
                "another thread is inside a function run: function runs change the "
                "process's working directory, so run them from one thread at a time")
        _cwd_owner["thread"] = me
        _cwd_owner["depth"] += 1


def _release_cwd():
    with _cwd_lock:
        _cwd_owner["depth"] -= 1
        if not _cwd_owner["depth"]:
            _cwd_owner["thread"] = None
