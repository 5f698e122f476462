"""Which runs a command acts on: run specs plus filters, turned into one SQL query.

Run specs are list positions (``1`` is the newest run that passes the filters), ranges
(``1:5``, ``:3``, ``2:``) and full or short ids (prefixes). As in Guild, a spec of fewer
than 8 digits is a position; an id prefix made of digits needs 8 or more characters or
the ``id:`` form (``id:2650``), which is always an id prefix. Filters are written once
here and shared by ``runs``, ``compare``, ``select``, ``export`` and the notebook API.

Deleted runs (``--deleted``: restore, purge, ``runs list --deleted``) keep the positions
they have among all runs, deleted or not, so ``runs delete 2`` then ``runs restore 2``
names the same run; ``runs list --deleted`` shows those positions.
"""

from ..errors import AmbiguousRun, QueryError, RunNotFound
from ..index import reader
from ..index.db import open_home_index
from ..query import ast
from ..record import field, record, replace
from ..run import STATUSES


@record
class RunFilter:
    """Conditions a run must meet; empty fields do not filter."""

    ops: list = field(default_factory=list)  # substrings of the op name
    operations: list = field(default_factory=list)  # op names matched as Guild does
    labels: list = field(default_factory=list)  # substrings of the label
    comments: list = field(default_factory=list)  # substrings of the comment
    tags: list = field(default_factory=list)  # exact tags (any of)
    unlabeled: bool = False
    marked: bool | None = None  # True: marked only; False: unmarked only
    statuses: list = field(default_factory=list)  # any of
    started: str | None = None  # time range text, e.g. "last hour"
    digest: str | None = None  # source code digest prefix
    filter: str | None = None  # where-expression of the query language
    parent: str | None = None  # trials of this batch run id
    include_batch: bool = True  # batch runs (op ends with "+...")
    deleted: bool | None = False  # True: deleted (trashed) runs instead; None: both


def where_clause(index, flt, now=None):
    """(SQL condition on ``run r``, params) for a RunFilter."""
    from ..index import conditions

    op_names = started = None
    if flt.operations or flt.ops:
        # Guild's matching (globs, regexes, model parts) and ``--op`` substrings run over
        # the few distinct op names; SQL then selects by the names that match (an index
        # seek on run (op, ...), where a substring test would read every run).
        op_names = [op for op in reader.distinct_ops(index)
                    if (not flt.operations
                        or any(guild_op_match(ref, op) for ref in flt.operations))
                    and (not flt.ops or any(part in op for part in flt.ops))]
        flt = replace(flt, ops=[])
    if flt.statuses:
        bad = [s for s in flt.statuses if s not in STATUSES]
        if bad:
            raise ValueError(f"unknown status {bad[0]!r}")
    if flt.started:
        from ..query.timerange import parse_time_range

        started = parse_time_range(flt.started).bounds_us(now)
    conds, params = conditions.run_conditions(index, flt, op_names, started)
    if flt.filter:
        from ..query import compile_filter, parse_filter
        from ..query.columns import columns_of, unknown_column

        expr = parse_filter(flt.filter)
        catalog = reader.catalog(index)
        for col in columns_of(expr):
            problem = unknown_column(col, catalog)
            if problem:
                raise QueryError(f"{problem} (in the filter)")
        sql, fparams = compile_filter(expr, catalog)
        conds.append(f"({sql})")
        params.extend(fparams)
    return conditions.all_of(conds), params


def guild_op_match(ref, op):
    """True when ``ref`` selects operation ``op`` as Guild 0.9's ``-Fo`` does: ``^`` or
    ``$`` make a regex search; else MODEL:OP parts are compared (a part missing from
    ``ref`` matches any), each exactly or as a ``*`` glob."""
    import fnmatch
    import re

    if ref.startswith("^") or ref.endswith("$"):
        try:
            return re.search(ref, op) is not None
        except re.error:
            return False
    for want, have in zip(_op_parts(ref), _op_parts(op)):
        if not want:
            continue
        if not have or not (fnmatch.fnmatchcase(have, want) if "*" in want else want == have):
            return False
    return True


def _op_parts(spec):
    model, _, name = spec.rpartition(":")
    return model or None, name


def _range(spec):
    "The match of a range spec (``1:5``, ``:3``, ``2:``), or None."
    if ":" not in spec:
        return None  # most specs: no regex (start-up time)
    import re

    return re.match(r"^(\d*):(\d*)$", spec)


def select_rids(index, specs=(), flt=None, limit=None, reap=True):
    """rids of the selected runs, newest first.

    :raises RunNotFound: a spec matches no run.
    :raises AmbiguousRun: an id prefix matches several runs.
    """
    flt = flt or RunFilter()
    if reap:
        reader.reap_gone_runs(index)
    where, params = where_clause(index, flt)
    if not specs:
        return reader.run_rids(index, where, params, limit=limit)
    ordered = reader.run_rids(index, where, params)
    numbered, trashed = ordered, None
    if flt.deleted:
        numbered, trashed = _numbered(index, flt), set(ordered)
    chosen = []
    for spec in specs:
        found = _resolve_spec(index, spec, numbered, where, params)
        if trashed is not None:
            kept = [rid for rid in found if rid in trashed]
            if found and not kept and not _range(str(spec).strip()):
                raise RunNotFound(f"run {str(spec).strip()} is not deleted; "
                                  "'rundb runs list --deleted' shows deleted runs' positions")
            found = kept
        for rid in found:
            if rid not in chosen:
                chosen.append(rid)
    position = {rid: i for i, rid in enumerate(ordered)}
    chosen.sort(key=lambda rid: position.get(rid, len(position)))
    return chosen[:limit] if limit is not None else chosen


def _numbered(index, flt):
    "rids of every run (deleted or not) passing the other filters: what positions count."
    where, params = where_clause(index, replace(flt, deleted=None))
    return reader.run_rids(index, where, params)


def positions(index, rids, flt):
    """``{rid: position}`` of ``rids`` as specs name them under ``flt`` (deleted runs
    are numbered among all runs)."""
    if flt.deleted:
        numbered = _numbered(index, flt)
    else:
        # Read newest first only as far as the last of ``rids``: a page of the newest
        # runs costs the page at any number of runs.
        where, params = where_clause(index, flt)
        numbered = reader.iter_run_rids(index, where, params)
    wanted = set(rids)
    found = {}
    for i, rid in enumerate(numbered, 1):
        if rid in wanted:
            found[rid] = i
            if len(found) == len(wanted):
                break
    return found


def _resolve_spec(index, spec, ordered, where, params):
    spec = str(spec).strip()
    if spec[:3].lower() == "id:":
        return _by_id_prefix(index, spec[3:].strip(), where, params)
    if spec.isdigit() and len(spec) < 8:
        n = int(spec)
        if 1 <= n <= len(ordered):
            return [ordered[n - 1]]
        raise RunNotFound(
            f"no run at position {n} ({len(ordered)} run{'' if len(ordered) == 1 else 's'}); "
            f"for an id starting with digits use 8 or more characters or id:{spec}")
    m = _range(spec)
    if m:
        start = int(m.group(1)) if m.group(1) else 1
        end = int(m.group(2)) if m.group(2) else len(ordered)
        return ordered[max(start, 1) - 1 : end]
    return _by_id_prefix(index, spec, where, params)


def _by_id_prefix(index, spec, where, params):
    if not spec:
        raise RunNotFound("'id:' needs an id prefix")
    from ..index.conditions import ids_with_prefix

    rows = ids_with_prefix(index, where, params, spec)
    if not rows:
        raise RunNotFound(f"no run matches '{spec}'")
    if len(rows) > 1:
        listed = ", ".join(f"{row[1][:12]} ({row[2]})" for row in rows[:20])
        raise AmbiguousRun(f"'{spec}' matches {len(rows)} runs: {listed}; use more characters")
    return [rows[0][0]]


def select_runs(index, specs=(), flt=None, limit=None, details=True, reap=True):
    """Run records of the selection, newest first.

    :param reap: first record runs whose process is gone as errors (a write; readers that
        must never write, such as the web view's GET requests, pass False).
    """
    return reader.load_runs(index, select_rids(index, specs, flt, limit, reap=reap),
                            details=details)


def select_one(index, spec=None, flt=None, reap=True):
    """One run: ``spec``, or the newest run passing the filters."""
    rids = select_rids(index, [spec] if spec else (), flt, limit=None if spec else 1,
                       reap=reap)
    if not rids:
        raise RunNotFound("no matching runs" if spec is None else f"no run matches '{spec}'")
    return reader.load_runs(index, rids[:1])[0]


# --- select: the one run a command names --------------------------------------------
# Here rather than in comparison.py, so that `rundb select` loads no table code.


def known_colspec(text, catalog, option):
    """The column of ``--min``/``--max``/... text, which must name something the index
    knows (a typo is an error naming the closest names, not an empty answer)."""
    from ..query.columns import unknown_column

    col = ast.plain_colspec(text)  # most are plain ("loss", "min loss"): no parser to load
    if col is None:
        from ..query import parse_colspec

        col = parse_colspec(text)
    problem = unknown_column(col, catalog)
    if problem:
        raise QueryError(f"{problem} (in {option})")
    return col


def select_run(index, spec=None, flt=None, min_col=None, max_col=None, details=True):
    """The run a ``select`` names: ``spec``, else the best by ``min_col``/``max_col``,
    else the newest. Runs lacking the column never win.

    :param details: also load its flags, tags and attributes (``rundb select`` prints
        only the id or directory, and leaves them).

    :raises RunNotFound: nothing matches (``no matching runs``).
    """
    from ..query import compile

    flt = flt or RunFilter()
    if spec or not (min_col or max_col):
        rids = select_rids(index, [spec] if spec else (), flt, limit=None if spec else 1)
    else:
        reader.reap_gone_runs(index)
        catalog = reader.catalog(index)
        col = known_colspec(min_col or max_col, catalog, "--max" if max_col else "--min")
        where, params = where_clause(index, flt)
        # Runs without a value (missing, or NaN: stored as NULL) never win.
        query = ast.Query(columns=(), where=ast.IsNull(col, negate=True),
                          order_by=(ast.Order(col, desc=bool(max_col)),), limit=1)
        compiled = compile(query, catalog, where, params)
        rids = [row[0] for row in reader.compiled_rows(index, compiled)]
    if not rids:
        raise RunNotFound("no matching runs")
    return reader.load_runs(index, rids[:1], details=details)[0]


def select(home, spec=None, flt=None, min_col=None, max_col=None, details=True):
    """One run: ``spec``, else the best by ``min_col``/``max_col``, else the newest
    (with its flags, tags and attributes unless ``details`` is false)."""
    with open_home_index(home) as index:
        return select_run(index, spec, flt, min_col, max_col, details=details)
