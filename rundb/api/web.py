"""What the web view (``rundb view``) reads: a sorted, paged runs table, scalar series of
several runs, a run's output tail and files. Every function only reads: none records
vanished runs as errors (``reap``), so no request of the view writes to the index.
"""

from dataclasses import dataclass, field

from ..catalog import BARE_PREFIXES, scalar_key_name, split_scalar_key
from ..errors import RundbError, RunFileError
from ..index import conditions, reader
from ..index.db import open_home_index
from ..query import ast
from ..record import replace
from .comparison import (Table, _assemble, _column_groups, _columns_query,
                         _core_columns, _group_keys, compare_table, known_colspec,
                         warn_unknown_columns)
from .selection import RunFilter, select_one, where_clause

#: The largest page of the runs table.
MAX_PAGE = 1000


@dataclass
class TablePage:
    """One page of the runs table.

    ``table`` holds the page's rows (a compare :class:`~rundb.api.comparison.Table`);
    ``ids[r]`` is the full id of row ``r``'s run; ``specs[i]`` is column ``i`` as query
    text (what ``sort`` takes back); ``total`` counts the runs on every page. A grouped
    table (a ``group by`` in the columns) has one row per group, no ids and no paging.
    """

    table: Table
    total: int
    ids: list = field(default_factory=list)
    specs: list = field(default_factory=list)
    grouped: bool = False


def runs_table(home, flt=None, columns=None, strict=False, sort=None, desc=False, limit=50,
               offset=0):
    """One page of the runs as a compare table, sorted in SQL over every matching run.

    :param flt: a :class:`RunFilter` (default: every run, batch runs included)
    :param columns: query text (a column list, patterns such as ``val_*``, or
        ``select ... where ... group by ...``); its columns are added after the defaults
        (or replace them with ``strict``); a ``group by`` makes the grouped table.
    :param sort: a column spec (``loss``, ``=lr``, ``.started``, ``max val_acc``) to order
        by (NULLs last); default: the columns query's ``order by``, else newest first
    :param limit, offset: the page (``limit`` at most :data:`MAX_PAGE`)
    :raises QueryError: a malformed or unknown column, sort or filter
    """
    flt = flt if flt is not None else RunFilter()
    limit = max(0, min(int(limit), MAX_PAGE))
    offset = max(0, int(offset))
    user_query = _columns_query(columns)
    if _group_keys(None, user_query):
        with open_home_index(home) as index:
            table = compare_table(index, (), flt, columns=None if strict else columns,
                                  strict_columns=columns if strict else None, reap=False)
        return TablePage(table, len(table.rows), grouped=True)
    with open_home_index(home) as index:
        catalog = reader.catalog(index)
        where, params = where_clause(index, flt)
        order = ()
        if sort:
            order = (ast.Order(known_colspec(sort, catalog, "sort"), desc=bool(desc)),)
        elif user_query is not None and user_query.order_by:
            order = tuple(user_query.order_by)
        if user_query is not None:
            warn_unknown_columns(user_query.columns, catalog)
        page, total = _page_rids(index, catalog, where, params, user_query, order, offset,
                                 limit)
        page_where, page_params = conditions.rid_set(index, page)
        core = [ast.Attr("run")] if strict else _core_columns(False)
        extra = list(user_query.columns) if user_query is not None else []
        # The column set comes from every matching run, so it stays put from page to page.
        groups = [(cols, conditions.all_of([f"({cond})", page_where]), [*cond_params,
                                                                        *page_params])
                  for cols, cond, cond_params in _column_groups(
                      index, where, params, core, extra, strict=strict, all_scalars=False)]
        table = _assemble(index, catalog, groups, page_where, page_params,
                          order[0] if order else None, None, False, n_core=len(core))
        runs = reader.load_runs(index, page, details=False)
        if not order:  # _assemble keeps each group's SQL order; the page's is newest first
            rank = {run.short_id: i for i, run in enumerate(runs)}
            picks = sorted(range(len(table.rows)), key=lambda r: rank.get(table.run_ids[r], r))
            table = Table(table.headers, table.kinds, [table.rows[r] for r in picks],
                          [table.run_ids[r] for r in picks])
        by_short = {run.short_id: run.id for run in runs}
        ids = [by_short.get(s) for s in table.run_ids]
        specs = _specs(index, catalog, groups, table.headers)
    return TablePage(table, total, ids, specs)


def _page_rids(index, catalog, where, params, user_query, order, offset, limit):
    """(rids of the page, how many runs in all): the runs the filter and the columns
    query's ``where``/``limit`` pass, in ``order`` (newest first when empty). Without a
    ``where``/``limit`` in the columns query, SQL reads only the first ``offset + limit``
    runs in order (an index seek for a summary sort) and counts the rest."""
    from ..query import compile

    query_where = user_query.where if user_query is not None else None
    query_limit = user_query.limit if user_query is not None else None
    paged = query_where is None and query_limit is None
    need = offset + limit if paged else query_limit
    if paged and not order:
        rids = reader.run_rids(index, where, params, limit=need)
    else:
        order = order or (ast.Order(ast.Attr("started"), desc=True),)
        compiled = compile(ast.Query(columns=(), where=query_where, order_by=order,
                                     limit=need), catalog, where, params)
        rids = [row[0] for row in reader.compiled_rows(index, compiled)]
    total = conditions.count_runs(index, where, params) if paged else len(rids)
    return rids[offset:offset + limit], total


def _specs(index, catalog, groups, headers):
    """Each header's column as query text (aliases left off), for sorting by it."""
    from ..query import compile

    spec_of = {}
    for cols, cond, cond_params in groups:
        compiled = compile(ast.Query(columns=tuple(cols)), catalog, cond, cond_params)
        for col, header in zip(compiled.columns, compiled.headers):
            if header not in spec_of:
                bare = replace(col, alias=None) if getattr(col, "alias", None) else col
                spec_of[header] = bare.text()
    return [spec_of.get(h, h) for h in headers]


def run_series(home, run_ids, keys=None, all_scalars=False, max_points=None):
    """Scalar series of several runs, from the index in write order.

    :param run_ids: full or short run ids; a run not in the index is left out
    :param keys: scalar names as users write them (``loss``, ``val#acc``); None: all of
        each run's scalars (``sys/*`` only with ``all_scalars``)
    :param max_points: thin each series to at most this many points, evenly spaced (the
        first and last always kept)
    :return: ``[{"run": full id, "key", "prefix", "tag", "points": [[step, value, time]]}]``
    """
    out = []
    with open_home_index(home) as index:
        for run_id in run_ids:
            try:
                run = select_one(index, run_id, reap=False)
            except RundbError:  # an unknown or ambiguous id is left out
                continue
            for s in _series_of(index, run, keys, all_scalars):
                if max_points:
                    s["points"] = thin(s["points"], max_points)
                out.append({"run": run.id, **s})
    return out


def one_run_series(home, spec, key=None, all_scalars=False):
    """(Run, [series]) of one run's scalar points, in write order.

    :param key: one scalar as users name it (``loss``, ``val#acc``); None for all of them
        (``sys/*`` left out unless ``all_scalars``)
    :raises RunNotFound: ``spec`` matches no run
    """
    with open_home_index(home) as index:
        run = select_one(index, spec, reap=False)
        return run, _series_of(index, run, [key] if key else None, all_scalars)


def _series_of(index, run, keys, all_scalars):
    series = {}
    for key in keys or [None]:
        prefix, tag = split_scalar_key(key) if key else (None, None)
        for p, t, step, value, wall in reader.scalar_points(index, run.rid, prefix=prefix,
                                                            tag=tag):
            if key and prefix is None and p not in BARE_PREFIXES:
                continue
            if not key and not all_scalars and t.startswith("sys/"):
                continue
            s = series.get((p, t))
            if s is None:
                s = series[(p, t)] = {"key": scalar_key_name(p, t), "prefix": p, "tag": t,
                                      "points": []}
            s["points"].append([step, value, wall])
    return [series[k] for k in sorted(series)]


def thin(points, n):
    """At most ``n`` points, evenly spaced, always keeping the first and the last."""
    if len(points) <= n:
        return points
    if n == 1:
        return points[-1:]
    last = len(points) - 1
    return [points[round(i * last / (n - 1))] for i in range(n)]


def run_details(home, spec):
    """(Run, [scalar summary dicts]) of one run, without recording anything."""
    with open_home_index(home) as index:
        run = select_one(index, spec, reap=False)
        return run, reader.scalar_summaries(index, [run.rid])[run.rid]


def run_output_tail(home, spec, lines=200):
    """(Run, text, note) of the last ``lines`` lines of a run's captured output; ``note``
    says why there is none (files on another host, no output yet), else None."""
    from ..runfiles import files_elsewhere, output_file, read_tail

    with open_home_index(home) as index:
        run = select_one(index, spec, reap=False)
    elsewhere = files_elsewhere(run)
    if elsewhere:
        return run, "", elsewhere
    try:
        data = read_tail(output_file(run.dir), lines)
    except (FileNotFoundError, NotADirectoryError):
        return run, "", "no output yet"
    except RunFileError as e:
        return run, "", str(e)
    return run, data.decode("utf-8", "replace"), None


def run_file_list(home, spec):
    """(Run, [RunFile], note) of a run's files (``.rundb/`` internals left out); ``note``
    says why none are listed (files on another host, directory missing), else None."""
    from ..runfiles import files_elsewhere, list_files

    with open_home_index(home) as index:
        run = select_one(index, spec, reap=False)
    elsewhere = files_elsewhere(run)
    if elsewhere:
        return run, [], elsewhere
    try:
        return run, list_files(run.dir), None
    except (FileNotFoundError, NotADirectoryError, RunFileError) as e:
        return run, [], str(e) if isinstance(e, RunFileError) else "the run directory is missing"


def view_choices(home):
    """What the view's filter menus offer: ``{"statuses": [...], "ops": [...]}``."""
    from ..run import STATUSES

    with open_home_index(home) as index:
        ops = sorted(reader.distinct_ops(index))
    return {"statuses": list(STATUSES), "ops": ops}


__all__ = ["MAX_PAGE", "TablePage", "one_run_series", "run_details", "run_file_list",
           "run_output_tail", "run_series", "runs_table", "thin", "view_choices"]
