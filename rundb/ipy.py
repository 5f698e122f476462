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
is walked. pandas is imported by this module only (``import rundb`` does not import it).

Which home: :func:`use_home` (a context manager), else :func:`set_home`, else
``$RUNDB_HOME``, else ``~/.rundb``. A relative home is resolved when each call starts.
"""

import contextvars
import datetime
import inspect
import logging
import os
import random
import sys
import threading
import time
import traceback

try:
    import pandas as pd
except ImportError as e:  # pragma: no cover - pandas is in requirements.txt
    raise ImportError("rundb.ipy needs pandas: pip install pandas") from e

from . import api
from .errors import RundbError, RunNotFound
from .home import Home, META_DIR

__all__ = [
    "Run",
    "RunError",
    "RunException",
    "RunTerminated",
    "RunsDataFrame",
    "RunsSeries",
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

log = logging.getLogger("rundb")

#: Seconds between index writes of a running function's scalars.
FLUSH_SECONDS = 0.5
#: Seconds between looks at the run's TF event files while it runs.
EVENTS_POLL_SECONDS = 1.0

TERMINATED_EXIT = -15

RUNS_COLUMNS = ["run", "operation", "started", "status", "label"]
SCALARS_COLUMNS = [
    "run", "prefix", "tag", "first_val", "first_step", "last_val", "last_step",
    "min_val", "min_step", "max_val", "max_step", "avg_val", "count", "total",
]
SCALARS_DETAIL_COLUMNS = ["run", "path", "tag", "val", "step"]

_RUN_OPTIONS = (
    "_label", "_tag", "_op_name", "_optimizer", "_minimize", "_maximize", "_max_trials",
    "_random_seed", "_output_scalars",
)

# --- the home -----------------------------------------------------------------------

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


# --- errors ---------------------------------------------------------------------------


class RunException(RundbError):
    "A function run by :func:`run` did not finish normally (``run``, ``from_exc``)."

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
    """A flag value to search over, as :func:`uniform` and :func:`loguniform` make."""

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


def uniform(low, high, initial=None):
    """Search the flag uniformly between ``low`` and ``high`` (ints give ints).

    ``initial`` is the first trial's value. ``slice(low, high)`` means the same.
    """
    return SearchRange("uniform", low, high, initial)


def loguniform(low, high, initial=None):
    """Search the flag between ``low`` and ``high`` (both > 0) on a log scale."""
    return SearchRange("loguniform", low, high, initial)


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


# --- runs as objects ------------------------------------------------------------------


class Run:
    """A run as the notebook API hands it out: returned by :func:`run`, and held in the
    ``run`` column of a :class:`RunsDataFrame`, where it shows as its short id.

    Attribute values are those read when the object was made (flags, tags and other
    attributes on first use); :meth:`refresh` reads them again from the index.
    """

    _FIELDS = {
        "id": "id", "op": "op", "operation": "op", "status": "status", "label": "label",
        "flags": "flags", "tags": "tags", "started": "started", "stopped": "stopped",
        "exit_status": "exit_status", "created": "created", "initialized": "created",
        "comment": "comment", "marked": "marked", "parent": "parent", "pid": "pid",
        "host": "host", "user": "user", "sourcecode_digest": "sourcecode_digest",
    }

    _DETAILS = ("flags", "tags")

    def __init__(self, record, home, details=True):
        self._record = record
        self._home = home
        self._details = details  # flags, tags and attrs loaded

    def _full(self):
        """The record with flags, tags and attributes (read on first use)."""
        if not self._details:
            _load_details([self])
        return self._record

    # identity

    @property
    def id(self):
        return self._record.id

    @property
    def short_id(self):
        return self._record.short_id

    @property
    def run(self):
        """This run (so that a ``run`` cell and a row's ``.run`` read alike)."""
        return self

    @property
    def record(self):
        """The underlying :class:`rundb.run.Run` record."""
        return self._full()

    @property
    def home(self):
        return self._home

    # where it lives

    @property
    def dir(self):
        return self._record.dir

    path = dir

    def rundb_path(self, *parts):
        """A path under the run's ``.rundb`` directory (``run.rundb_path("output")``)."""
        return os.path.join(self._record.dir, META_DIR, *parts)

    # attributes

    @property
    def op(self):
        return self._record.op

    @property
    def status(self):
        return self._record.status

    @property
    def label(self):
        return self._record.label

    @property
    def flags(self):
        return dict(self._full().flags)

    @property
    def tags(self):
        return list(self._full().tags)

    @property
    def started(self):
        """Start time, integer microseconds since the epoch (None if not started)."""
        return self._record.started

    @property
    def stopped(self):
        return self._record.stopped

    @property
    def exit_status(self):
        return self._record.exit_status

    @property
    def timestamp(self):
        """When the run was created, integer microseconds since the epoch."""
        return self._record.created

    def get(self, name, default=None):
        """An attribute by name (``flags``, ``label``, ``exit_status``, ... or any
        recorded attribute such as ``random_seed``), else ``default``."""
        field = self._FIELDS.get(name)
        if field is not None:
            record = self._full() if field in self._DETAILS else self._record
            value = getattr(record, field)
            if isinstance(value, (dict, list)):
                value = type(value)(value)
            return default if value is None else value
        return self._full().attrs.get(name, default)

    def __getitem__(self, name):
        missing = object()
        value = self.get(name, missing)
        if value is missing:
            raise KeyError(name)
        return value

    def refresh(self):
        """This run as the index has it now."""
        found = api.runs_by_id(self._home, [self.id])
        if not found:
            raise RunNotFound(f"no run matches '{self.id}'")
        return Run(found[0], self._home)

    # the frame methods, for this one run

    def frame(self):
        """A one-row :class:`RunsDataFrame` of this run."""
        return _runs_frame([self])

    def info(self, output=False, scalars=False):
        """Print this run's attributes and flags (and scalars, and output)."""
        _print_info(self, output=output, scalars=scalars)

    def scalars(self):
        return self.frame().scalars()

    def scalars_detail(self):
        return self.frame().scalars_detail()

    def compare(self):
        return self.frame().compare()

    def delete(self):
        return self.frame().delete()

    # display and comparison

    def __str__(self):
        return self.short_id

    def __repr__(self):
        return f"<rundb.ipy.Run {self.short_id!r}>"

    def __eq__(self, other):
        if isinstance(other, Run):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id or other == self.short_id
        return NotImplemented

    def __hash__(self):
        return hash(self.id)


# --- capturing output ----------------------------------------------------------------

# Runs in progress, by the thread that called run() (a stack: runs may nest).
_active = {}
_active_lock = threading.Lock()
_routers = None  # (stdout router, stderr router) while any run is in progress


def _current_recorder():
    """The recorder of the run this thread's output belongs to, if any.

    A thread's own run first. A thread with none (say, a data loader the function
    started) writes to the only run in progress, unless it is the main thread: a
    notebook's main thread printing while a run goes on in another thread is not part
    of that run.
    """
    stack = _active.get(threading.get_ident())
    if stack:
        return stack[-1]
    if threading.current_thread() is not threading.main_thread() and len(_active) == 1:
        for stack in list(_active.values()):
            if stack:
                return stack[-1]
    return None


def _active_run_dir():
    """The directory of the run the calling thread is in, if any (rundb.keras uses it)."""
    rec = _current_recorder()
    return rec.run.dir if rec is not None else None


class _StreamRouter:
    """Stands in for sys.stdout or sys.stderr while runs are in progress: text goes to
    the original stream (echo) and to the run the writing thread belongs to."""

    def __init__(self, original, stream):
        self._original = original
        self._stream = stream

    def write(self, text):
        rec = _current_recorder()
        if rec is None:
            return self._original.write(text) if self._original is not None else len(text)
        if rec.echo and self._original is not None:
            self._original.write(text)
        rec.write(self._stream, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._original is not None:
            self._original.flush()

    def __getattr__(self, name):
        return getattr(self._original, name)


def _push(rec):
    global _routers
    with _active_lock:
        _active.setdefault(threading.get_ident(), []).append(rec)
        if _routers is None:
            _routers = (_StreamRouter(sys.stdout, 0), _StreamRouter(sys.stderr, 1))
            sys.stdout, sys.stderr = _routers


def _pop(rec):
    global _routers
    with _active_lock:
        ident = threading.get_ident()
        stack = _active.get(ident, [])
        if rec in stack:
            stack.remove(rec)
        if not stack:
            _active.pop(ident, None)
        if not _active and _routers is not None:
            out, err = _routers
            # Put the originals back only where ours are still in place: code that
            # replaced a stream meanwhile keeps its own (ours then just passes through).
            if sys.stdout is out:
                sys.stdout = out._original
            if sys.stderr is err:
                sys.stderr = err._original
            _routers = None


class _Recorder:
    """The output and scalars of one function run.

    The function's thread only appends what it writes to a list. A thread of the
    recorder's own, with its own index connection, takes that list every FLUSH_SECONDS:
    it writes whole lines to ``.rundb/output`` (with ``output.index``), feeds them to the
    run's output-scalar parser, reads new records of the TF event files under the run
    directory, and writes the scalars found to the index; once more when the run ends.
    So printing costs the function little, and the files are those ``index rebuild``
    reads again.
    """

    def __init__(self, run, index_path, echo=True):
        from .ops.outputscalars import OutputScalarParser
        from .output import OutputWriter

        self.run = run
        self.echo = echo
        self.error = None
        self._index_path = index_path
        self._output = OutputWriter(run.dir)
        self._parser = (OutputScalarParser.from_config(run.output_scalars)
                        if run.output_scalars is not None else None)
        self._chunks = []  # (stream, text, time_ms) not yet taken by the thread
        self._partial = ["", ""]
        self._closed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True,
                                        name=f"rundb-ipy-{run.short_id}")
        self._thread.start()

    def write(self, stream, text):
        if not text:
            return
        time_ms = int(time.time() * 1000)
        with self._lock:
            if not self._closed:
                self._chunks.append((stream, text, time_ms))

    def write_text(self, stream, text):
        """Record text directly, not through sys.stdout/sys.stderr (so not echoed)."""
        self.write(stream, text if text.endswith("\n") else text + "\n")

    def _take_blocks(self, final):
        """[(stream, time_ms, lines)]: the whole lines written since the last call (and the
        last partial lines when ``final``), in the order completed, in blocks of one
        stream and one millisecond."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
        blocks = []
        partial = self._partial
        i, n = 0, len(chunks)
        while i < n:
            stream, _text, time_ms = chunks[i]
            j = i + 1
            while j < n and chunks[j][0] == stream and chunks[j][2] == time_ms:
                j += 1
            text = partial[stream] + "".join(chunk[1] for chunk in chunks[i:j])
            if "\n" in text:
                *done, partial[stream] = text.split("\n")
                blocks.append((stream, time_ms, done))
            else:
                partial[stream] = text
            i = j
        if final:
            time_ms = int(time.time() * 1000)
            for stream in (0, 1):
                if partial[stream]:
                    blocks.append((stream, time_ms, [partial[stream]]))
                    partial[stream] = ""
        return blocks

    def _record(self, blocks):
        """Write blocks of lines to the output files; return the output scalars found in
        them as series (``{(prefix, tag): (steps, values, time)}``)."""
        from .index.writer import merge_series
        from .query.catalog import OUTPUT_PREFIX

        series = {}
        for stream, time_ms, lines in blocks:
            text = "\n".join(lines) + "\n"
            self._output.write_lines(text.encode("utf-8", "replace"), len(lines), stream,
                                     time_ms)
            if self._parser is not None:
                # The parser the indexer of `rundb run` and `index rebuild` use, a block at
                # a time (a progress bar's \r redraws count as their last).
                found = self._parser.feed_text(text)
                merge_series(series, {
                    (OUTPUT_PREFIX, key): (steps, values, [time_ms / 1000] * len(steps))
                    for key, (steps, values) in found.items()})
        return series

    def _follow(self):
        from .index import writer
        from .index.db import open_index
        from .index.tfevents import EventFilesWatcher

        index = None
        events = EventFilesWatcher(self.run.dir)
        try:
            index = open_index(self._index_path)
            last_poll = time.monotonic()
            while not self._stop.wait(FLUSH_SECONDS):
                series = self._record(self._take_blocks(final=False))
                if time.monotonic() - last_poll >= EVENTS_POLL_SECONDS:
                    writer.merge_series(series, events.poll())
                    last_poll = time.monotonic()
                writer.add_series(index, self.run.rid, series)
            series = self._record(self._take_blocks(final=True))
            writer.merge_series(series, events.poll())
            writer.add_series(index, self.run.rid, series)
        except Exception as e:  # noqa: BLE001 - reported when the run ends
            self.error = e
            self._stop.wait()
            # Keep the output, whatever happened to the index.
            try:
                self._record(self._take_blocks(final=True))
            except Exception:  # noqa: BLE001
                pass
        finally:
            if index is not None:
                index.close()

    def close(self):
        """Write out what is left and index it; return an error or None."""
        with self._lock:
            self._closed = True
        self._stop.set()
        self._thread.join()
        self._output.close()
        return self.error


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


# --- run() ----------------------------------------------------------------------------


def run(fn, *args, **kw):
    """Run ``fn(*args, **flags)`` as a run in the current home; return ``(run, result)``.

    Flags are the function's arguments (given, then defaults). Keywords starting with
    ``_`` are run options:

    * ``_label``: the label (a template: ``"lr=${lr}"``); default: every flag ``NAME=VAL``
    * ``_tag``: a tag (or list of tags), put in front of the label and recorded as a tag
    * ``_op_name``: the operation name (default: the function's name; ``train()``)
    * ``_optimizer``: ``random``, ``gp``, ``forest``, ``gbrt`` (or ``+`` for a grid)
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
    home = get_home()  # resolved before the run changes directory
    optimizer = _check_optimizer(options.get("optimizer"))
    batch_flags = {name: _search_value(name, value) for name, value in flags.items()}
    batch = _plan_batch(func, batch_flags, optimizer, opt_assigns, options)
    if batch is None:
        if options.get("max_trials") is not None:
            log.warning("not a batch run - ignoring _max_trials")
        return _run_one(home, func, flags, options)
    return _run_batch(home, func, batch, options)


def _check_optimizer(name):
    from .errors import BatchError
    from .ops.optimizers import resolve_optimizer

    if name is None or name in ("+", "grid"):
        return name
    try:
        resolve_optimizer(str(name))
    except BatchError:
        raise TypeError(f"optimizer {name!r} is not supported") from None
    return name


def _plan_batch(func, flags, optimizer, opt_assigns, options):
    from .ops.batch import plan_batch
    from .ops.optimizers import resolve_optimizer

    sequential = optimizer not in (None, "+", "grid") and resolve_optimizer(optimizer) in (
        "gp", "forest", "gbrt")
    if sequential:
        # Without random starts, as the notebook API always did: the first trial is random
        # ("missing previous trials"), every later one uses all the trials before it.
        opt_assigns = {"random-starts": 0, **opt_assigns}
    return plan_batch(
        _BatchPlan(func), flags, optimizer=optimizer, opt_assigns=opt_assigns or None,
        max_trials=options.get("max_trials"), random_seed=options.get("random_seed"),
        minimize=options.get("minimize"), maximize=options.get("maximize"),
    )


def _tags(options):
    tags = options.get("tag")
    if tags is None:
        return ()
    return (tags,) if isinstance(tags, str) else tuple(tags)


def _output_scalars(options):
    from .ops.outputscalars import OutputScalarParser

    config = options.get("output_scalars")
    if config is False or config == "no":
        return None
    return OutputScalarParser(None if config is True else config).patterns_config


def _create_run(home, index, func, flags, *, label=None, tags=(), parent=None,
                random_seed=None, status="running", output_scalars=None):
    from .ops.labels import run_label
    from .ops.runner import new_run

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


def _run_one(home, func, flags, options):
    with api.open_home_index(home) as index:
        record = _create_run(
            home, index, func, flags, label=options.get("label"), tags=_tags(options),
            random_seed=options.get("random_seed"), output_scalars=_output_scalars(options))
        record, result, exc = _execute(index, record, func, flags)
    handle = Run(record, home)
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
    from .index import store
    from .run import now_us

    rec = _Recorder(record, index.path)
    result = exc = None
    status, exit_status = "completed", 0
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    _push(rec)
    try:
        os.chdir(record.dir)
        result = func.call(flags)
    except KeyboardInterrupt as e:
        exc, status, exit_status = e, "terminated", TERMINATED_EXIT
    except SystemExit as e:
        if e.code not in (None, 0):
            exc, status = e, "error"
            exit_status = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - recorded, then raised as RunError
        exc, status, exit_status = e, "error", 1
    finally:
        _pop(rec)
        if cwd is not None:
            try:
                os.chdir(cwd)
            except OSError:
                pass
    if exc is not None:
        _drop_own_frames(exc)
        # Kept in the run's output (not echoed: the caller sees the exception itself).
        rec.write_text(1, "".join(traceback.format_exception(exc)))
    error = rec.close()
    if error is not None:
        log.warning(f"some scalars were not indexed ({error}): run 'rundb index rebuild'")
    record = store.save_run(index, record, status=status, stopped=now_us(),
                            exit_status=exit_status, pid=None)
    return record, result, exc


def _drop_own_frames(exc):
    # The traceback starts in this module (_execute, _Function.call): show the user's
    # frames only, in the run's output and in the RunError they catch.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    if tb is not None:
        exc.__traceback__ = tb


def _run_batch(home, func, batch, options):
    from .ops.batch import run_batch
    from .ops.flagvals import format_flag_assigns

    output_scalars = _output_scalars(options)
    trials, results = [], []
    interrupted = []

    with api.open_home_index(home) as index:

        def create_trial(flags, **kw):
            return _create_run(home, index, func, flags, output_scalars=output_scalars, **kw)

        def start_trial(trial, flags):
            print(f"Running {func.name} ({', '.join(format_flag_assigns(flags))}):")
            record, result, exc = _execute(index, trial, func, flags)
            handle = Run(record, home)
            trials.append(handle)
            results.append(result)
            if isinstance(exc, KeyboardInterrupt):
                # A terminated trial ends the batch (terminated too); raised below.
                interrupted.append((handle, exc))
            else:
                _raise_for(handle, exc)
            return record

        run_batch(home, index, batch, label=options.get("label"), tags=_tags(options),
                  create_trial=create_trial, start_trial=start_trial)
    if interrupted:
        _raise_for(*interrupted[0])
    return trials, results


# --- reading runs as DataFrames ---------------------------------------------------------


def runs(operations=None, labels=None, tags=None, unlabeled=False, marked=False,
         unmarked=False, running=False, completed=False, error=False, terminated=False,
         pending=False, staged=False, started=None, digest=None, filter=None,
         include_batch=False, deleted=False, limit=None):
    """The runs of the current home, newest first, as a :class:`RunsDataFrame`.

    :param operations: substrings of the operation name (any of)
    :param labels: substrings of the label (any of)
    :param tags: tags (any of)
    :param running, completed, error, terminated, pending, staged: status (any of those
        set; none set means any status)
    :param started: a time range (``"last hour"``, ``"after 2024-05-01"``)
    :param filter: a where-expression of the query language (``"=lr > 0.01 and loss < 1"``)
    :param include_batch: also list batch runs (``train()+gp``)
    :param deleted: list deleted runs (in the trash) instead
    """
    flt = _run_filter(
        operations=operations, labels=labels, tags=tags, unlabeled=unlabeled, marked=marked,
        unmarked=unmarked, running=running, completed=completed, error=error,
        terminated=terminated, pending=pending, staged=staged, started=started,
        digest=digest, filter=filter, include_batch=include_batch, deleted=deleted)
    home = get_home()
    # Flags, tags and attributes are read when first asked for (flags(), run.get(...)).
    records = api.runs_brief(home, flt=flt, limit=limit)
    return _runs_frame([Run(r, home, details=False) for r in records], flt)


def _run_filter(operations=None, labels=None, tags=None, unlabeled=False, marked=False,
                unmarked=False, running=False, completed=False, error=False,
                terminated=False, pending=False, staged=False, started=None, digest=None,
                filter=None, include_batch=False, deleted=False):
    from .selection import RunFilter

    statuses = [name for name, on in (
        ("running", running), ("completed", completed), ("error", error),
        ("terminated", terminated), ("pending", pending), ("staged", staged)) if on]
    return RunFilter(
        ops=_strings(operations), labels=_strings(labels), tags=_strings(tags),
        unlabeled=unlabeled, marked=True if marked else (False if unmarked else None),
        statuses=statuses, started=started, digest=digest, filter=filter,
        include_batch=include_batch, deleted=deleted,
    )


def compare(**filters):
    """``runs(**filters).compare()``: flags and scalars of the runs, one row per run."""
    return runs(**filters).compare()


def query(text, **filters):
    """Answer a whole query (``select ... where ... order by ... limit ...``) as a
    DataFrame; ``filters`` (those of :func:`runs`) choose the runs it looks at."""
    table = api.query(get_home(), text, _run_filter(**filters))
    frame = pd.DataFrame(table.rows, columns=table.headers)
    return frame if table.rows else pd.DataFrame(columns=table.headers)


def _strings(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _runs_frame(run_list, flt=None):
    started = [_local_time(r.started) for r in run_list]
    data = {
        "run": pd.Series(run_list, dtype=object),
        "operation": [r.op for r in run_list],
        "started": pd.Series(pd.to_datetime(started), dtype="datetime64[ns]"),
        "status": [r.status for r in run_list],
        "label": [r.label for r in run_list],
    }
    frame = RunsDataFrame(data, columns=RUNS_COLUMNS)
    frame._rundb_filter = flt
    return frame


def _local_time(us):
    """Integer microseconds since the epoch as a naive local datetime (exactly)."""
    if us is None:
        return None
    seconds, micros = divmod(us, 1_000_000)
    return datetime.datetime.fromtimestamp(seconds).replace(microsecond=micros)


def _load_details(run_list):
    """Read flags, tags and attributes of the runs that lack them, in one index call."""
    for home, group in _group_by_home([r for r in run_list if not r._details]).items():
        found = {rec.id: rec for rec in api.runs_by_id(home, [r.id for r in group])}
        for r in group:
            rec = found.get(r.id)
            if rec is not None:
                r._record = rec
            r._details = True


class RunsSeries(pd.Series):
    """A row of a :class:`RunsDataFrame` (a column of one is one of these too)."""

    _metadata = ["_rundb_filter"]

    @property
    def _constructor(self):
        return RunsSeries

    @property
    def _constructor_expanddim(self):
        return RunsDataFrame

    def __getitem__(self, key):
        # row[0] is the run cell, as in older pandas (whose positional fallback is gone).
        if isinstance(key, int) and not pd.api.types.is_integer_dtype(self.index.dtype):
            return self.iloc[key]
        return super().__getitem__(key)

    def _row_run(self):
        if "run" not in self.index or not isinstance(self["run"], Run):
            raise TypeError("not a row of a RunsDataFrame")
        return self["run"]

    def _frame(self):
        return _runs_frame([self._row_run()])

    def info(self, output=False, scalars=False):
        """Print this row's run: attributes and flags (and scalars, and output)."""
        _print_info(self._row_run(), output=output, scalars=scalars)

    def flags(self):
        return self._frame().flags()

    def scalars(self):
        return self._frame().scalars()

    def scalars_detail(self):
        return self._frame().scalars_detail()

    def compare(self):
        return self._frame().compare()

    def delete(self):
        return self._frame().delete()


class RunsDataFrame(pd.DataFrame):
    """Runs, one a row (``run operation started status label``), newest first.

    The ``run`` column holds :class:`Run` objects, shown as short ids. Methods read the
    index again for the runs in the frame, so a filtered or sliced frame
    (``frame[frame.status == "completed"]``, ``frame[:5]``) acts on its own rows.
    """

    _metadata = ["_rundb_filter"]

    @property
    def _constructor(self):
        return RunsDataFrame

    @property
    def _constructor_sliced(self):
        return RunsSeries

    def _runs(self):
        if "run" not in self.columns:
            raise TypeError("a RunsDataFrame needs its 'run' column")
        return [r for r in self["run"] if isinstance(r, Run)]

    def info(self, output=False, scalars=False):
        """Print the first run's attributes and flags (and scalars, and output)."""
        run_list = self._runs()
        if not run_list:
            raise RunNotFound("no runs")
        _print_info(run_list[0], output=output, scalars=scalars)

    def flags(self):
        """Flags of the runs, one row per run: flag names sorted, then ``run``."""
        run_list = self._runs()
        _load_details(run_list)
        names = sorted({name for r in run_list for name in r.record.flags})
        rows = [{**r.record.flags, "run": r.short_id} for r in run_list]
        return _frame(rows, [*names, "run"])

    def scalars(self):
        """Scalar summaries: one row per run and scalar (``first_val`` ... ``total``)."""
        run_list = self._runs()
        found = _by_home(run_list, api.scalar_summaries)
        rows = []
        for r in run_list:
            for s in found.get(r.id, ()):
                rows.append({"run": r.short_id, **s})
        return _frame(rows, SCALARS_COLUMNS)

    def scalars_detail(self):
        """Every scalar point: ``run path tag val step`` (path ``.`` for the run
        directory itself, ``.rundb`` for output scalars and logged metrics)."""
        run_list = self._runs()
        found = _by_home(run_list, api.scalar_points)
        rows = []
        for r in run_list:
            points = sorted(found.get(r.id, ()), key=lambda p: (p[0], p[1]))  # stable
            for prefix, tag, step, value, _time in points:
                rows.append({"run": r.short_id, "path": prefix or ".", "tag": tag,
                             "val": value, "step": step})
        return _frame(rows, SCALARS_DETAIL_COLUMNS)

    def compare(self):
        """Flags and scalars of the runs, one row per run, with typed columns:
        ``run operation started time status label``, the flags (sorted), ``step``,
        the scalars (sorted). ``started`` is datetime64, ``time`` timedelta64, missing
        values NaN."""
        run_list = self._runs()
        if not run_list:
            return pd.DataFrame(columns=["run", "operation", "started", "time", "status",
                                         "label"])
        return _compare_frame(_one_home(run_list), run_list,
                              getattr(self, "_rundb_filter", None))

    def delete(self):
        """Delete the runs (to the trash); return their ids."""
        run_list = self._runs()
        if not run_list:
            return []
        deleted = api.delete_runs(_one_home(run_list), [r.id for r in run_list])
        return [r.id for r in deleted]


def _frame(rows, columns):
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def _one_home(run_list):
    homes = {r.home for r in run_list}
    if len(homes) > 1:
        raise ValueError("the runs are in more than one home")
    return next(iter(homes))


def _group_by_home(run_list):
    homes = {}
    for r in run_list:
        homes.setdefault(r.home, []).append(r)
    return homes


def _by_home(run_list, fn):
    out = {}
    for home, group in _group_by_home(run_list).items():
        out.update(fn(home, [r.id for r in group]))
    return out


# The compare table's run column is the short id; this extra column tells runs apart for sure.
_HIDDEN_ID = "rundb_run_id"
_HIDDEN = f".id as {_HIDDEN_ID}"


def _compare_frame(home, run_list, flt):
    from .selection import RunFilter

    ids = [r.id for r in run_list]
    base = flt if flt is not None else RunFilter(include_batch=True)
    # The frame's own selection, when it still holds exactly these runs (the usual
    # `runs().compare()`): compare reads it in a few set-wide queries. Otherwise
    # (a slice, a filtered frame, runs added since) name the runs one by one.
    if set(api.select_run_ids(home, (), base)) != set(ids):
        listed = ", ".join(f"'{i}'" for i in ids)
        base = RunFilter(include_batch=True, deleted=base.deleted, filter=f".id in ({listed})")
    table = api.compare(home, flt=base, columns=_HIDDEN)
    headers = table.headers
    at_id = headers.index(_HIDDEN_ID)
    by_id = {row[at_id]: row for row in table.rows}
    rows = [by_id[i] for i in ids if i in by_id]
    row_ids = [row[at_id] for row in rows]
    # The table shows times as text; the frame wants them typed, to the microsecond.
    times = api.run_times(home, row_ids)
    data = {}
    for i, header in enumerate(headers):
        if header == _HIDDEN_ID:
            continue
        if header == "started":
            values = [_local_time(times[rid][0]) for rid in row_ids]
            data[header] = pd.Series(pd.to_datetime(values), dtype="datetime64[ns]")
        elif header == "time":
            micros = [None if None in times[rid] else times[rid][1] - times[rid][0]
                      for rid in row_ids]
            data[header] = pd.to_timedelta(
                pd.Series(micros, dtype="float64"), unit="us").astype("timedelta64[ns]")
        else:
            data[header] = [row[i] for row in rows]
    columns = [h for h in headers if h != _HIDDEN_ID]
    return pd.DataFrame(data, columns=columns) if rows else pd.DataFrame(columns=columns)


# --- run info ---------------------------------------------------------------------------


def _print_info(run_obj, output=False, scalars=False):
    from .ops.flagvals import encode_flag_value
    from .query.catalog import scalar_key_name

    found = api.runs_by_id(run_obj.home, [run_obj.id])
    if not found:
        raise RunNotFound(f"no run matches '{run_obj.id}'")
    record = found[0]
    fields = [
        ("id", record.id),
        ("operation", record.op),
        ("status", record.status),
        ("started", _format_time(record.started)),
        ("stopped", _format_time(record.stopped)),
        ("label", record.label),
        ("run_dir", record.dir),
    ]
    for name, value in fields:
        print(f"{name}: {value}" if value not in ("", None) else f"{name}:")
    print("flags:")
    for name in sorted(record.flags):
        print(f"  {name}: {encode_flag_value(record.flags[name])}")
    if scalars:
        print("scalars:")
        summaries = api.scalar_summaries(run_obj.home, [record.id]).get(record.id, [])
        for s in summaries:
            key = scalar_key_name(s["prefix"], s["tag"])
            print(f"  {key}: {s['last_val']:f} (step {s['last_step']})")
    if output:
        from .output import read_output

        print("output:")
        for _time_ms, _stream, line in read_output(record.dir):
            print(f"  {line}")


def _format_time(us):
    if us is None:
        return ""
    return datetime.datetime.fromtimestamp(us / 1e6).strftime("%Y-%m-%d %H:%M:%S")
