"""The pandas side of the notebook API: runs as :class:`Run` handles and DataFrames.

:class:`RunsDataFrame` holds runs one a row, its ``run`` column the :class:`Run` handles
(shown as short ids), and :class:`RunsSeries` is one of its rows; their methods
(``flags()``, ``scalars()``, ``compare()``, ``info()``, ``delete()``, ...) read the index
again for their own rows. :func:`runs_frame` and :func:`query_frame` build frames from
the index. Everything here reads through :mod:`rundb.api`; no run directory is walked.

pandas is imported here, and only :mod:`rundb.ipy` imports this module (``import rundb``
does not import pandas).
"""

import datetime
import os

try:
    import pandas as pd
except ImportError as e:  # pragma: no cover - pandas is in requirements.txt
    raise ImportError("rundb.ipy needs pandas: pip install pandas") from e

from .. import api
from ..errors import RunNotFound
from ..home import META_DIR
from ..run import RUN_COLUMNS

#: a runs frame's columns, query attributes of the run record (rundb.run.RUN_ATTRS)
RUNS_COLUMNS = ["run", "operation", "started", "status", "label"]
SCALARS_COLUMNS = [
    "run", "prefix", "tag", "first_val", "first_step", "last_val", "last_step",
    "min_val", "min_step", "max_val", "max_step", "avg_val", "count", "total",
]
SCALARS_DETAIL_COLUMNS = ["run", "path", "tag", "val", "step"]


# --- runs as objects ------------------------------------------------------------------


class Run:
    """A run as the notebook API hands it out: returned by :func:`rundb.ipy.run`, and held
    in the ``run`` column of a :class:`RunsDataFrame`, where it shows as its short id.

    Attribute values are those read when the object was made (flags, tags and other
    attributes on first use); :meth:`refresh` reads them again from the index.
    """

    #: attribute name -> field of the record: every run column (rundb.run.RUN_COLUMNS)
    #: but ``home`` and ``deleted``, and Guild's names for two of them.
    _FIELDS = {
        **{name: name for name in RUN_COLUMNS if name not in ("home", "deleted")},
        "operation": "op", "initialized": "created", "flags": "flags", "tags": "tags",
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

    def json(self):
        """The run as JSON data: the same keys and types as ``rundb runs info --json`` and
        the web view's API (rundb.run.run_json)."""
        from ..run import run_json

        return run_json(self._full())

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

    def files(self, pattern=None, all=False, full_path=False):
        """Paths of the run's files (relative to its directory unless ``full_path``),
        sorted; ``pattern`` is a directory of the run or a glob; ``.rundb/`` only with
        ``all``."""
        from ..runfiles import list_files

        found = list_files(self._record.dir, pattern, all)
        return [os.path.join(self._record.dir, f.path) if full_path else f.path
                for f in found]

    def output(self):
        """The run's captured output (stdout and stderr as printed), as text."""
        from ..runfiles import output_file

        try:
            with open(output_file(self._record.dir), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

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


# --- frames from the index ------------------------------------------------------------


def runs_frame(home, flt, limit=None):
    """The runs of ``home`` that ``flt`` (a :class:`~rundb.api.RunFilter`) selects,
    newest first, as a :class:`RunsDataFrame`."""
    # Flags, tags and attributes are read when first asked for (flags(), run.get(...)).
    records = api.runs_brief(home, flt=flt, limit=limit)
    return _runs_frame([Run(r, home, details=False) for r in records], flt)


def query_frame(home, text, flt):
    """The answer to a whole query (``select ...``) over the runs ``flt`` selects."""
    table = api.query(home, text, flt)
    return _frame(table.rows, table.headers)


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


# --- the frames -----------------------------------------------------------------------


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

    def compare(self, group_by=None):
        """Flags and scalars of the runs, one row per run, with typed columns:
        ``run operation started time status label``, the flags (sorted), ``step``,
        the scalars (sorted). ``started`` is datetime64, ``time`` timedelta64, missing
        values NaN.

        ``group_by`` (a name or a list: ``"C"``, ``["C", "dropout"]``; a bare name is a
        flag, other columns are written as specs, ``".op"``, ``"last val_acc"``): one row
        per group instead, flat columns as ``rundb compare --group-by`` writes CSV: the
        keys, ``count(*)``, then ``mean(col)``, ``std(col)`` (sample), ``count(col)``
        for each numeric column."""
        run_list = self._runs()
        if group_by is not None:
            keys = [group_by] if isinstance(group_by, str) else list(group_by)
            if not run_list:
                return pd.DataFrame(columns=[*(_key_spec(k).lstrip("=.") for k in keys),
                                             "count(*)"])
            return _grouped_frame(_one_home(run_list), run_list,
                                  getattr(self, "_rundb_filter", None), keys)
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


def _frame_filter(home, run_list, flt):
    from ..api.selection import RunFilter

    ids = [r.id for r in run_list]
    base = flt if flt is not None else RunFilter(include_batch=True)
    # The frame's own selection, when it still holds exactly these runs (the usual
    # `runs().compare()`): compare reads it in a few set-wide queries. Otherwise
    # (a slice, a filtered frame, runs added since) name the runs one by one.
    if set(api.select_run_ids(home, (), base)) != set(ids):
        listed = ", ".join(f"'{i}'" for i in ids)
        base = RunFilter(include_batch=True, deleted=base.deleted, filter=f".id in ({listed})")
    return base


def _key_spec(key):
    "A group key as a column spec: a bare name is a flag (``C`` -> ``=C``)."
    key = key.strip()
    return f"={key}" if key.isidentifier() else key


def _grouped_frame(home, run_list, flt, keys):
    base = _frame_filter(home, run_list, flt)
    table = api.compare(home, flt=base, group_by=", ".join(_key_spec(k) for k in keys))
    return _frame(table.rows, table.headers)


def _compare_frame(home, run_list, flt):
    ids = [r.id for r in run_list]
    base = _frame_filter(home, run_list, flt)
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


# --- run info -------------------------------------------------------------------------


def _print_info(run_obj, output=False, scalars=False):
    from ..catalog import scalar_key_name
    from ..flagvals import encode_flag_value

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
        from ..output import read_output

        print("output:")
        for _time_ms, _stream, line in read_output(record.dir):
            print(f"  {line}")


def _format_time(us):
    if us is None:
        return ""
    return datetime.datetime.fromtimestamp(us / 1e6).strftime("%Y-%m-%d %H:%M:%S")
