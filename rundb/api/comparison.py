"""Compare, select and query: tables of runs built by compiled SQL over the index.

Default compare columns follow the seeds: run, operation, started, time, status, label,
then every flag (sorted), a ``step`` column, then every scalar (sorted, ``sys/*`` hidden
unless asked for). An operation's ``compare:`` list replaces the defaults for its runs;
headers merge across runs in first-seen order, and a run lacking a column gets a blank.
Everything reads ``run``, ``run_flag`` and ``scalar_stat``: the cost grows with runs and
columns, never with the number of scalar points.
"""

import contextlib
import datetime
import json
from dataclasses import dataclass, field

from ..errors import QueryError, RunNotFound
from ..index import conditions, reader
from ..index.db import open_home_index
from ..query import ast
from ..catalog import scalar_key_name
from ..record import replace
from .selection import (  # noqa: F401 - select, select_run: moved there, kept here
    RunFilter, known_colspec, select, select_rids, select_run, where_clause)


CORE = ("run", "operation", "started", "time", "status", "label")

#: Column kinds, for formatting: scalar values print as %f in tables.
KIND_CORE, KIND_FLAG, KIND_SCALAR, KIND_STEP, KIND_ATTR = "core", "flag", "scalar", "step", "attr"


@dataclass
class Table:
    """Rows of runs: ``headers[i]`` names ``rows[r][i]``; ``kinds[i]`` says what it is."""

    headers: list
    kinds: list
    rows: list
    run_ids: list = field(default_factory=list)
    #: grouped compare: ``(column header, mean index, std index, n index)`` per column
    #: summarised as ``mean ± std (n)`` in a table (separate columns in CSV/JSON)
    spreads: list = field(default_factory=list)

    def with_spreads(self):
        """The table a terminal shows: each ``mean``/``std``/``count`` triple of a grouped
        compare merged into one ``mean ± std (n)`` column named after the column."""
        if not self.spreads:
            return self
        merged = {i: spread for spread in self.spreads for i in spread[1:]}
        headers, kinds, picks = [], [], []
        for i, header in enumerate(self.headers):
            spread = merged.get(i)
            if spread is None:
                headers.append(header)
                kinds.append(self.kinds[i])
                picks.append(i)
            elif i == spread[1]:
                headers.append(spread[0])
                kinds.append(KIND_ATTR)
                picks.append(spread)
        rows = [[_spread_text(row, p) if isinstance(p, tuple) else row[p] for p in picks]
                for row in self.rows]
        return Table(headers, kinds, rows, self.run_ids)


def _spread_text(row, spread):
    _header, i_mean, i_std, i_n = spread
    mean, std, n = row[i_mean], row[i_std], row[i_n]
    if mean is None:
        return None
    text = f"{mean:.6g}"
    if std is not None:
        text += f" ± {std:.3g}"
    return f"{text} ({n})"


def _core_columns(extra_cols):
    cols = [ast.Attr(name) for name in CORE]
    if extra_cols:
        cols.append(ast.Attr("sourcecode"))
    return cols


def _kind(col):
    if isinstance(col, ast.Flag):
        return KIND_FLAG
    if isinstance(col, ast.Scalar):
        if col.step or col.qualifier == "count":
            return KIND_STEP
        return KIND_SCALAR
    return KIND_ATTR


def _rid_set_clause(index, rids):
    # One JSON parameter instead of thousands of ? marks (SQLite caps their number).
    return conditions.rid_set(index, rids)


def default_columns(index, where, params, all_scalars=False):
    """Flags (sorted), the step column, scalars (sorted) of the runs matching ``where``."""
    flags = sorted(conditions.flag_names_of(index, where, params))
    keys = conditions.scalar_keys_of(index, where, params)
    names = sorted({scalar_key_name(p, t) for p, t in keys} - set(flags))
    if not all_scalars:
        names = [n for n in names if not n.startswith("sys/")]
    cols = [ast.Flag(name) for name in flags]
    if names:
        step_key = "loss" if "loss" in names else names[0]
        cols.append(ast.Scalar(step_key, step=True, alias="step"))
        cols.extend(ast.Scalar(name) for name in names)
    return cols


def compare_table(index, specs=(), flt=None, columns=None, strict_columns=None,
                  min_col=None, max_col=None, top=None, extra_cols=False,
                  all_scalars=False, skip_unchanged=False, reap=True, group_by=None,
                  stream=False):
    """The compare table for the selected runs.

    :param columns: query text (``select ...`` or a column list) whose columns are added
        after the defaults; its ``where``/``order by``/``limit`` apply too.
    :param strict_columns: like ``columns`` but replacing the default columns.
    :param min_col, max_col: a column spec to sort by (ascending / descending).
    :param top: keep only the first N runs after sorting.
    :param reap: see :func:`~rundb.api.selection.select_runs`.
    :param group_by: column list text (``=C, =dropout``): one row per group, each
        numeric column as ``mean(col)``, ``std(col)``, ``count(col)`` (a ``group by`` in
        ``columns`` does the same); see :func:`_grouped_table`.
    :param stream: the table's ``rows`` may be an iterator read from the index as it is
        consumed (constant memory at any number of runs; ``run_ids`` is then empty): the
        caller consumes it while ``index`` is open. Tables that need every row first
        (``skip_unchanged``, several column groups, groups) are lists as before.
    """
    from ..query import compile, parse_colspec

    flt = flt if flt is not None else RunFilter(include_batch=False)
    if reap:
        reader.reap_gone_runs(index)
    catalog = reader.catalog(index)
    user_query = _columns_query(strict_columns or columns)
    base_where, base_params = where_clause(index, flt)
    keys = _group_keys(group_by, user_query)
    if keys:
        return _grouped_table(index, catalog, keys, user_query, specs, flt, base_where,
                              base_params, strict_columns is not None, min_col, max_col,
                              top, extra_cols, all_scalars)
    order = None
    if min_col or max_col:
        order = ast.Order(known_colspec(min_col or max_col, catalog,
                                        "--max" if max_col else "--min"), desc=bool(max_col))
    if user_query is not None:
        warn_unknown_columns(user_query.columns, catalog)
    by_rids = False  # base_where is a list of rids (read them first, not an index)
    if user_query is not None and (user_query.where is not None or user_query.order_by
                                   or user_query.limit is not None):
        rids = _query_rids(index, catalog, user_query, base_where, base_params, specs)
        base_where, base_params = _rid_set_clause(index, rids)
        by_rids = True
    if specs:
        rids = select_rids(index, specs, flt, reap=False)
        base_where, base_params = _rid_set_clause(index, rids)
        by_rids = True
    if order is not None or top:
        query = ast.Query(columns=(), order_by=(order,) if order else (), limit=top)
        compiled = compile(query, catalog, base_where, base_params, few_runs=by_rids)
        rids = [row[0] for row in reader.compiled_rows(index, compiled)]
        base_where, base_params = _rid_set_clause(index, rids)
    core = [ast.Attr("run")] if strict_columns else _core_columns(extra_cols)
    extra = list(user_query.columns) if user_query is not None else []
    groups = _column_groups(index, base_where, base_params, core, extra,
                            strict=strict_columns is not None, all_scalars=all_scalars)
    return _assemble(index, catalog, groups, base_where, base_params, order, top,
                     skip_unchanged, n_core=len(core), stream=stream)


def _group_keys(text, user_query):
    """The group keys of ``--group-by`` text and/or a ``group by`` in the columns query."""
    keys = list(user_query.group_by) if user_query is not None else []
    if text:
        from ..query import parse_colspecs

        for col in parse_colspecs(text):
            if any(col.header == k.header for k in keys):
                continue
            keys.append(col)
    for col in keys:
        if isinstance(col, ast.Aggregate):
            raise QueryError(f"cannot group by an aggregate ({col.text()})")
    return keys


def _grouped_table(index, catalog, keys, user_query, specs, flt, where, params, strict,
                   min_col, max_col, top, extra_cols, all_scalars):
    """Compare's column set summarised per group: the group keys, ``count(*)``, then for
    each numeric column ``mean(col)``, ``std(col)`` (sample) and ``count(col)``; columns
    with no numeric value in any group (text flags, the run's own attributes) are left
    out. Aggregates written in the columns stay as written. The columns query's ``where``
    picks runs; its ``having``/``order by``/``limit`` (and ``--top``) apply to groups, and
    ``--min``/``--max COL`` sort groups by ``mean(COL)``. One compiled SQL query."""
    from ..query import compile

    if user_query is not None and user_query.where is not None:
        rids = _query_rids(index, catalog, ast.Query(columns=(), where=user_query.where),
                           where, params, specs)
        where, params = _rid_set_clause(index, rids)
    if specs:
        rids = select_rids(index, specs, flt, reap=False)
        where, params = _rid_set_clause(index, rids)
    extra = list(user_query.columns) if user_query is not None else []
    if strict:
        candidates = extra
    else:
        candidates = [c for cols, _c, _p in _column_groups(index, where, params, [], extra,
                                                           strict=False, all_scalars=all_scalars)
                      for c in cols]
    key_headers = {k.header for k in keys}
    plain = [c for c in candidates if not isinstance(c, ast.Aggregate) and _kind(c) != KIND_STEP]
    # patterns (val_*) expand as in any query; compiling without running does it
    plain = compile(ast.Query(columns=tuple(plain)), catalog).columns if plain else []
    columns, seen = [*keys, ast.Aggregate("count")], {*key_headers, "count(*)"}
    stats = []
    for col in plain:
        header = col.header
        if header in seen:
            continue
        seen.add(header)
        bare = replace(col, alias=None) if getattr(col, "alias", None) else col
        stats.append((header, len(columns)))
        columns.extend(ast.Aggregate(f, bare) for f in ("mean", "std", "count"))
    for col in candidates:
        if isinstance(col, ast.Aggregate) and col.header not in seen:
            seen.add(col.header)
            columns.append(col)
    order = list(user_query.order_by) if user_query is not None else []
    if min_col or max_col:
        col = known_colspec(min_col or max_col, catalog, "--max" if max_col else "--min")
        order.insert(0, ast.Order(ast.Aggregate("mean", col), desc=bool(max_col)))
    limit = user_query.limit if user_query is not None else None
    if top:
        limit = top if limit is None else min(limit, top)
    query = ast.Query(columns=tuple(columns), group_by=tuple(keys), order_by=tuple(order),
                      limit=limit, having=user_query.having if user_query is not None else None)
    compiled = compile(query, catalog, where, params)
    rows = [list(row[1:]) for row in reader.compiled_rows(index, compiled)]
    # the columns with a number in some group (a text flag averages to nothing)
    keep = set(range(len(compiled.headers)))
    spreads = []
    for header, at in stats:
        if rows and all(row[at] is None for row in rows):
            keep -= {at, at + 1, at + 2}
        else:
            spreads.append((header, at, at + 1, at + 2))
    picks = sorted(keep)
    new_at = {old: new for new, old in enumerate(picks)}
    spreads = [(h, new_at[a], new_at[b], new_at[c]) for h, a, b, c in spreads]
    headers = [compiled.headers[i] for i in picks]
    kinds = [_kind(compiled.columns[i]) if i < len(keys) else KIND_SCALAR for i in picks]
    rows = [[row[i] for i in picks] for row in rows]
    return Table(headers, kinds, rows, [], spreads)


def _columns_query(text):
    """The query of a ``-c``/``-cc`` text: ``select ...`` or a bare column list. Error
    positions refer to the text as typed."""
    if not text:
        return None
    from ..query import parse

    if text.strip()[:6].lower() == "select" and not text.strip()[6:7].isalnum():
        return parse(text)
    prefix = "select "
    try:
        return parse(prefix + text)
    except QueryError as e:
        if e.pos is None or e.pos < len(prefix):
            raise
        raise QueryError(e.msg, text, e.pos - len(prefix), e.line) from None


def warn_unknown_columns(columns, catalog):
    """One warning line for each column of a list that names nothing known (its column
    stays, blank, as Guild's compare keeps it)."""
    from ..query.columns import unknown_column

    for col in columns:
        col = col.col if isinstance(col, ast.Aggregate) else col
        problem = col is not None and unknown_column(col, catalog)
        if problem:
            import logging  # only to warn (start-up time)

            logging.getLogger("rundb").warning(problem)


def _query_rids(index, catalog, query, where, params, specs):
    from ..query import compile

    compiled = compile(ast.Query(columns=(), where=query.where, order_by=query.order_by,
                                 limit=query.limit), catalog, where, params)
    rids = [row[0] for row in reader.compiled_rows(index, compiled)]
    return rids


def _column_groups(index, where, params, core, extra, strict, all_scalars):
    """[(columns, SQL condition selecting the group's runs, params)], newest group first.

    Runs of an op with a ``compare:`` list form their own group."""
    from ..query import parse_colspecs

    values = conditions.compare_lists(index, where, params)
    groups = []
    if strict:
        return [(core + extra, where, params)]
    explicit = []
    for value in values:
        specs = json.loads(value)
        cols = [c for spec in specs for c in parse_colspecs(spec)]
        cond = conditions.with_compare_list(where)
        explicit.append((core + cols + extra, cond, [*params, value]))
    default_where = where
    if explicit:
        default_where = conditions.without_compare_list(where)
    has_default = conditions.any_run(index, default_where, params)
    if has_default or not explicit:
        cols = core + default_columns(index, default_where, params, all_scalars) + extra
        groups.append((cols, default_where, params))
    return explicit + groups


def _assemble(index, catalog, groups, where, params, order, top, skip_unchanged, n_core,
              stream=False):
    from ..query import compile

    stream = stream and len(groups) == 1 and not skip_unchanged
    if stream:
        # The hints (_plain_values) and the rows they shape are read from one snapshot:
        # a run written in between cannot print with the wrong type or a lost NaN.
        snapshot = contextlib.ExitStack()
        snapshot.enter_context(index.read_snapshot())
        try:
            headers, kinds, rows = _assemble_stream(index, catalog, groups[0], order, top,
                                                   n_core)
        except BaseException:
            snapshot.close()
            raise
        return Table(headers, kinds, _closing_after(rows, snapshot))
    headers, kinds = [], []
    by_rid = {}
    order_rid = []
    for cols, cond, cond_params in groups:
        # ``where`` already holds the first ``top`` runs when there is a ``top``.
        query = ast.Query(columns=tuple(cols), order_by=(order,) if order else ())
        compiled = compile(query, catalog, cond, cond_params, few_runs=top is not None)
        positions = _positions(compiled, headers, kinds, n_core)
        for row in reader.compiled_rows(index, compiled):
            rid = row[0]
            values = by_rid.setdefault(rid, {})
            order_rid.append(rid)
            for pos, value in zip(positions, row[1:]):
                values.setdefault(pos, value)
    if len(groups) > 1:
        order_rid = _ordered(index, by_rid, order, where, params, catalog)
    rows = []
    for rid in order_rid[:top] if top else order_rid:
        values = by_rid[rid]
        row = [values.get(i) for i in range(len(headers))]
        if n_core > 1:
            row[2] = _format_time(row[2])
            row[3] = _format_duration(row[3])
        rows.append(row)
    run_ids = [row[0] for row in rows]
    table = Table(headers, kinds, rows, run_ids)
    if skip_unchanged and len(rows) > 1:
        table = _drop_unchanged(table, n_core)
    return table


def _positions(compiled, headers, kinds, n_core):
    """Where each of ``compiled``'s columns goes in the table, adding the new headers (and
    their kinds) to ``headers`` and ``kinds``."""
    positions = []
    for col, header in zip(compiled.columns, compiled.headers):
        if header not in headers:
            headers.append(header)
            kinds.append(KIND_CORE if len(headers) <= n_core else _kind(col))
        positions.append(headers.index(header))
    return positions


def _assemble_stream(index, catalog, group, order, top, n_core):
    """``(headers, kinds, rows)`` of a whole table of one column group, its rows read
    from the index as they are consumed."""
    from ..query import compile

    cols, cond, cond_params = group
    query = ast.Query(columns=tuple(cols), order_by=(order,) if order else ())
    # a whole table: values that read as stored are read without their steps or types
    compiled = compile(query, catalog, cond, cond_params, few_runs=top is not None,
                       **_plain_values(index, catalog, cols))
    headers, kinds = [], []
    positions = _positions(compiled, headers, kinds, n_core)
    return headers, kinds, _streamed_rows(index, compiled, positions, len(headers), n_core)


def _closing_after(rows, stack):
    """``rows``, then ``stack`` closed (when they are all read, or the reader stops)."""
    with stack:
        yield from rows


def _plain_values(index, catalog, cols):
    """``compile``'s ``nan_free`` and ``plain_flags`` for the scalars and flags in ``cols``."""
    keys = {key.id for col in cols if isinstance(col, ast.Scalar)
            for key in catalog.keys_named(col.key)}
    flags = {catalog.flag_names[col.name] for col in cols
             if isinstance(col, ast.Flag) and col.name in catalog.flag_names}
    return {"nan_free": conditions.nan_free_keys(index, sorted(keys)),
            "plain_flags": conditions.plain_flags(index, sorted(flags))}


def _streamed_rows(index, compiled, positions, width, n_core):
    """The rows of one column group, read from the index as they are consumed: the
    rows of :func:`_assemble`, converted row by row (``Compiled.row_converter``) rather
    than cell by cell, and the start time formatted from the stored microseconds."""
    # A repeated header keeps its first value, as in _assemble.
    direct = positions == list(range(width))
    firsts = {}
    for i, pos in enumerate(positions):
        firsts.setdefault(pos, i)
    picks = [firsts.get(pos) for pos in range(width)]
    times = n_core > 1  # the core columns: started (raw, position 3 in a row) and time
    convert = compiled.row_converter(raw=(3,) if times else ())
    started_text, duration_text = _LocalTimes().text, _Durations().text
    for row in reader.iter_compiled_rows(index, replace(compiled, converters=[])):
        values = convert(row)
        out = values if direct else [None if i is None else values[i] for i in picks]
        if times:
            out[2] = started_text(out[2])
            out[3] = duration_text(out[3])
        yield out


def _ordered(index, by_rid, order, where, params, catalog):
    from ..query import compile

    query = ast.Query(columns=(), order_by=(order,) if order else ())
    rows = reader.compiled_rows(index, compile(query, catalog, where, params))
    return [row[0] for row in rows if row[0] in by_rid]


def _drop_unchanged(table, n_core):
    keep = [i for i in range(len(table.headers))
            if i < n_core or len({_hashable(row[i]) for row in table.rows}) > 1]
    return Table([table.headers[i] for i in keep], [table.kinds[i] for i in keep],
                 [[row[i] for i in keep] for row in table.rows], table.run_ids)


def _hashable(value):
    return json.dumps(value, sort_keys=True, default=str)


def _format_time(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _format_duration(seconds):
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _Durations:
    "``_format_duration`` of many rows: run times repeat, each is formatted once."

    def __init__(self):
        self.texts = {}

    def text(self, seconds):
        if seconds is None:
            return ""
        seconds = int(seconds)
        text = self.texts.get(seconds)
        if text is None:
            text = _format_duration(seconds)
            if len(self.texts) < 100_000:
                self.texts[seconds] = text
        return text


class _LocalTimes:
    """``_format_time`` of many start times, given as stored (microseconds since the
    epoch): the local UTC offset is looked up once an hour instead of once a row (an hour
    whose offset changes inside it is formatted row by row, as ``_format_time`` does)."""

    def __init__(self):
        self.offsets = {}  # UTC hour -> local offset in seconds, None if it changes
        self.days = {}  # local day number -> "YYYY-MM-DD "

    def text(self, us):
        if us is None:
            return ""
        seconds = int(us // 1_000_000)
        hour = seconds // 3600
        offset = self.offsets.get(hour, _UNKNOWN)
        if offset is _UNKNOWN:
            offset = self._offset(hour)
        if offset is None:
            return _format_time(_EPOCH + datetime.timedelta(microseconds=us))
        day, rest = divmod(seconds + offset, 86400)
        day_text = self.days.get(day)
        if day_text is None:
            day_text = (_EPOCH + datetime.timedelta(days=day)).strftime("%Y-%m-%d ")
            if len(self.days) < 100_000:
                self.days[day] = day_text
        return f"{day_text}{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"

    def _offset(self, hour):
        import time

        start, end = time.localtime(hour * 3600), time.localtime(hour * 3600 + 3599)
        offset = start.tm_gmtoff if start.tm_gmtoff == end.tm_gmtoff else None
        if len(self.offsets) < 100_000:
            self.offsets[hour] = offset
        return offset


_UNKNOWN = object()
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def query_table(index, text, flt=None):
    """Answer a whole query (``select ... where ... order by ... limit ...``)."""
    from ..query import compile, parse

    query = parse(text)
    if not query.columns:
        raise QueryError("query has no columns")
    flt = flt or RunFilter()
    reader.reap_gone_runs(index)
    where, params = where_clause(index, flt)
    catalog = reader.catalog(index)
    warn_unknown_columns(query.columns, catalog)
    compiled = compile(query, catalog, where, params)
    rows = []
    for row in reader.compiled_rows(index, compiled):
        rows.append([_format_time(v) if isinstance(v, datetime.datetime) else v for v in row[1:]])
    kinds = [_kind(c) for c in compiled.columns]
    return Table(list(compiled.headers), kinds, rows)


def _run_value(index, run_id, colspec):
    """The value of one column spec for the run with id ``run_id`` (None if it has none)."""
    from ..query import compile, parse_colspec

    col = parse_colspec(colspec)
    query = ast.Query(columns=(col,))
    where, params = conditions.run_with_id(run_id)
    rows = reader.compiled_rows(index, compile(query, reader.catalog(index), where, params))
    if not rows:
        return None
    value = rows[0][1]
    return _format_time(value) if isinstance(value, datetime.datetime) else value


# --- the API -----------------------------------------------------------------------------


def compare(home, specs=(), flt=None, **options):
    """The compare :class:`Table` for the selected runs; see :func:`compare_table`."""
    with open_home_index(home) as index:
        return compare_table(index, specs, flt, **options)


def run_value(home, run_id, colspec):
    """The value of one column spec (``.label``, ``=lr``, ``min loss``) for one run."""
    with open_home_index(home) as index:
        return _run_value(index, run_id, colspec)


def query(home, text, flt=None):
    """Answer a whole query (select ... where ... order by ... limit ...) as a Table."""
    with open_home_index(home) as index:
        return query_table(index, text, flt)
