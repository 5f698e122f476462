"""AST -> parameterized SQL over the index (``rundb.index.schema``).

A compiled query selects from ``run r``: ``r.rid`` first, then one output per column.
What each column reads:

* scalars: ``scalar_stat`` (``min loss`` -> ``min_val``, ``min loss step`` -> ``min_step``;
  no qualifier means ``last``; ``avg`` = total / count; ``count``, ``total``; ``avg``,
  ``total`` and ``count`` have no step, so ``avg x step`` is NULL). A bare tag prefers the
  output prefix ``.rundb``, then the root prefix, run by run. A key the catalog does not
  know but that is a regex (``losses/.+``) expands to one column per matching key name
  (full match), in name order; this happens in the select list only.
* flags: ``run_flag`` by interned name id; values come back with their type.
* attributes: columns of ``run`` (see ``RUN_COLUMNS``), or JSON values in ``run_attr``.
  ``.started``/``.stopped``/``.created`` are timezone-aware UTC datetimes; in a comparison
  they take an ISO date or time (naive means local time) or epoch seconds. ``.time`` is
  stopped - started in seconds (a float; NULL while running). ``.tags`` is a sorted list,
  and compares as a set: ``.tags = x`` means "has tag x", ``.tags is null`` "has none".

A run lacking a column gets NULL; a column no run has compiles to NULL; comparisons with
NULL are false (``= null`` and ``!= null`` mean ``is null`` and ``is not null``). ORDER BY
puts NULLs last in either direction, then newest runs first. Values and names always
travel as ``?`` parameters.

>>> from rundb.catalog import Catalog, ScalarKey
>>> from rundb.index.dialect import SQLITE
>>> catalog = Catalog([ScalarKey(1, ".rundb", "loss")], {"lr": 7}, dialect=SQLITE)
>>> sql, params = compile_filter("=lr > 0.01 and loss < 0.3", catalog)
>>> print(sql)
((SELECT f.value FROM run_flag f WHERE f.rid = r.rid AND f.name = ?) > ? AND (SELECT s.last_val FROM scalar_stat s WHERE s.rid = r.rid AND s.key = ?) < ?)
>>> params
(7, 0.01, 1, 0.3)
"""

import functools
import math
from datetime import datetime, timedelta, timezone

from ..errors import QueryError
from ..record import field, record, replace
from .. import run as run_record
from ..catalog import RUN_ATTRS, decode_scalar
from . import ast

#: LEFT JOINs one statement uses at most (SQLite allows 64 tables in a join); columns
#: beyond it read through correlated subqueries, which have no limit.
MAX_JOINS = 60

#: Result columns one query may return: SQLite's default SQLITE_MAX_COLUMN. A wider
#: query is a clear QueryError here instead of SQLite's "too many columns".
MAX_RESULT_COLUMNS = 2000

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_TAG_SEPARATOR = "\x1f"


@record(frozen=True)
class _Expr:
    "An SQL expression and the parameters of its ``?``s, in order."

    sql: str
    params: tuple = ()


_NULL = _Expr("NULL")


@record(frozen=True)
class _Source:
    "Where one column's values come from."

    value: _Expr  # what comparisons and ORDER BY use
    output: _Expr  # what the select list reads
    convert: object = None  # output value -> Python value
    type_output: _Expr | None = None  # a second output passed to convert (flag types)
    kind: str = ""  # "time": comparison values are times; "tags": set semantics


_NULL_SOURCE = _Source(_NULL, _NULL)


def _utc(us):
    return None if us is None else _EPOCH + us * _MICROSECOND


def _bool(value):
    return None if value is None else bool(value)


def _tags(value):
    return sorted(value.split(_TAG_SEPARATOR)) if value else []


def _json(value):
    if value is None:
        return None
    import json  # here: most questions decode no JSON (start-up time)

    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _float(value):
    # A float flag stored as NULL is a NaN (SQLite holds no NaN; rundb/index/schema.py).
    return float("nan") if value is None else float(value)


# The inverse of the index writer's encoding (rundb.index.writer.encode_flag); other
# types (int, str) come back from SQLite as they were stored.
_FLAG_DECODERS = {
    "bool": _bool,
    "null": lambda value: None,
    "list": _json,
    "dict": _json,
    "float": _float,
}


def _flag_value(value, type_):
    decode = _FLAG_DECODERS.get(type_)
    return value if decode is None else decode(value)


def _run_column(sql, convert=None, kind=""):
    expr = _Expr(sql)
    return _Source(expr, expr, convert, kind=kind)


_CONVERT = {"time": (_utc, "time"), "bool": (_bool, "")}

#: Attributes read from the ``run`` table (every name in ``rundb.run.RUN_ATTRS``): its
#: columns (rundb.run.RUN_COLUMNS) and the derived ones; the dialect-dependent ones
#: (``user``, ``tags``) are added by :func:`_run_columns`.
RUN_COLUMNS = {
    **{
        name: _run_column("r." + name, *_CONVERT.get(kind, (None, "")))
        for name, kind in run_record.RUN_COLUMNS.items()
        if name not in ("home", "user")
    },
    "short_id": _run_column("substr(r.id, 1, 8)"),
    "run": _run_column("substr(r.id, 1, 8)"),
    "operation": _run_column("r.op"),
    "time": _run_column("(r.stopped - r.started) / 1000000.0"),
    "sourcecode": _run_column("substr(r.sourcecode_digest, 1, 8)"),
}


@functools.lru_cache(maxsize=8)
def _run_columns(dialect):
    tags = _Expr(f"(SELECT {dialect.group_concat('t.tag')} FROM run_tag t WHERE t.rid = r.rid)",
                 (_TAG_SEPARATOR,))
    return {
        **RUN_COLUMNS,
        # USER is a reserved word in standard SQL.
        "user": _run_column("r." + dialect.quote_identifier("user")),
        "tags": _Source(tags, tags, _tags, kind="tags"),
    }

# (qualifier, step) -> expression over a scalar_stat row aliased {s}; absent pairs are NULL.
_STATS = {
    ("last", False): "{s}.last_val",
    ("last", True): "{s}.last_step",
    ("first", False): "{s}.first_val",
    ("first", True): "{s}.first_step",
    ("min", False): "{s}.min_val",
    ("min", True): "{s}.min_step",
    ("max", False): "{s}.max_val",
    ("max", True): "{s}.max_step",
    ("avg", False): "{s}.total / NULLIF({s}.count, 0)",
    ("total", False): "{s}.total",
    ("count", False): "{s}.count",
}

_REGEX_CHARS = set(".^$*+?{}[]|()\\")


def is_glob(name):
    """True when a column name is a glob pattern (``val_*``, ``opt_?``): a ``*`` or ``?``
    that does not follow a regex atom (``.*``, ``x+?``), and no other regex syntax, so
    that regex keys (``losses/.+``, ``.*acc``) keep their meaning.

    >>> [is_glob(k) for k in ("val_*", "opt_?", "losses/.+", ".*acc", "loss", "a[12]*")]
    [True, True, False, False, False, False]
    """
    if "*" not in name and "?" not in name:
        return False
    import re  # (start-up time: `re` only for the questions that need it)

    if not re.search(r"(?<![.)\]}*+?\\])[*?]", name):
        return False
    return not set("^$+{}|()\\").intersection(name) and ".*" not in name


def _regex(key):
    "The compiled pattern a scalar key stands for, or None if it is a plain name."
    if not _REGEX_CHARS.intersection(key):
        return None
    import re

    try:
        return re.compile(key)
    except re.error:
        return None


def _param(value):
    # Lone surrogates (from undecodable command-line bytes) cannot be encoded for SQLite;
    # no stored text contains them, so the replacement character matches the same rows.
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def _output_name(dialect, header):
    # Rows are read by position, so the alias only has to be valid: PostgreSQL refuses an
    # empty quoted identifier (a header of NUL characters alone).
    return dialect.quote_identifier(_param(header).replace("\x00", "") or "_")


_HEX_DIGITS = "0123456789abcdefABCDEF"


def _id_prefix(value):
    "True when *value* is a short run id: 8 to 31 hex characters (a full id has 32)."
    return isinstance(value, str) and 8 <= len(value) <= 31 and not value.strip(_HEX_DIGITS)


def _time_param(value):
    "A comparison value for a time attribute, in microseconds since the epoch."
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            us = value * 1_000_000
        else:
            dt = datetime.fromisoformat(value)
            if dt.tzinfo is None:
                dt = dt.astimezone()  # naive times are local, as runs lists show them
            us = (dt - _EPOCH) / _MICROSECOND
        if not math.isfinite(us) or abs(us) >= 2**63:
            raise ValueError
        return int(round(us))
    except (ValueError, OverflowError, OSError):
        raise QueryError(
            f"invalid time {value!r}: expected an ISO date or time "
            "(2024-05-01, 2024-05-01T14:30) or seconds since the epoch"
        ) from None


class _Compiler:
    """Resolves columns to SQL; one method per AST node class.

    With ``use_joins`` (whole queries), each distinct scalar key, flag or run_attr name is
    one LEFT JOIN shared by every use of it (select list, WHERE, ORDER BY); without (filter
    fragments, which may only refer to ``r``) each use is a correlated subquery.
    """

    def __init__(self, catalog, use_joins, nan_free=(), plain_flags=()):
        self.catalog = catalog
        self.nan_free = frozenset(nan_free)  # scalar key ids without a NaN last value
        self.plain_flags = frozenset(plain_flags)  # flag ids whose values need no type
        self.dialect = _dialect_of(catalog)
        self.run_columns = _run_columns(self.dialect)
        self.use_joins = use_joins
        self.joins = {}  # key -> (alias, _Expr of the JOIN clause)
        self._aliases_made = {"s": 0, "f": 0, "a": 0}
        self.aliases = {}  # output name -> _Source, seen by ORDER BY only
        self.uses_regexp = False
        self._sources = {
            ast.Scalar: self._scalar,
            ast.Attr: self._attr,
            ast.Flag: self._flag,
            ast.Name: self._name,
            ast.Aggregate: self._aggregate,
        }
        self._conditions = {
            ast.Compare: self._compare,
            ast.In: self._in,
            ast.IsNull: self._is_null,
            ast.And: self._and,
            ast.Or: self._or,
            ast.Not: self._not,
        }

    # Columns

    def expand(self, col):
        """The columns a select-list column stands for: a regex key the catalog does not
        know as a name expands to every matching key name (an alias is kept only when
        there is exactly one)."""
        if isinstance(col, ast.Flag) and col.name not in self.catalog.flag_names \
                and is_glob(col.name):
            import fnmatch

            names = [n for n in self.catalog.flag_names if fnmatch.fnmatchcase(n, col.name)]
            alias = col.alias if len(names) == 1 else None
            return [replace(col, name=name, alias=alias) for name in names]
        if not isinstance(col, ast.Scalar) or self.catalog.keys_named(col.key):
            return [col]
        if is_glob(col.key):
            import fnmatch

            names = list(dict.fromkeys(k.name for k in self.catalog.scalar_keys
                                       if fnmatch.fnmatchcase(k.name, col.key)))
            alias = col.alias if len(names) == 1 else None
            return [replace(col, key=name, alias=alias) for name in names]
        pattern = _regex(col.key)
        if pattern is None:
            return [col]
        names = sorted({k.name for k in self.catalog.scalar_keys if pattern.fullmatch(k.name)})
        alias = col.alias if len(names) == 1 else None
        return [replace(col, key=name, alias=alias) for name in names]

    def source(self, col):
        try:
            method = self._sources[type(col)]
        except KeyError:
            raise TypeError(f"cannot compile column {col!r}") from None
        return method(col)

    def _join(self, key, prefix, clause):
        """The alias of the LEFT JOIN for *key*, adding it (``clause(alias) -> _Expr``) if
        new; None when joins are off or used up."""
        if key in self.joins:
            return self.joins[key][0]
        if not self.use_joins or len(self.joins) >= MAX_JOINS:
            return None
        alias = f"{prefix}{self._aliases_made[prefix]}"
        self._aliases_made[prefix] += 1
        self.joins[key] = (alias, clause(alias))
        return alias

    def _scalar(self, col):
        template = _STATS.get((col.qualifier or "last", col.step))
        keys = self.catalog.keys_named(col.key)
        if template is None or not keys:
            return _NULL_SOURCE
        ids = tuple(k.id for k in keys)
        alias = self._join(("scalar", ids), "s", lambda a: self._scalar_join(a, ids))
        if alias is not None:
            expr = _Expr(template.format(s=alias))
        else:
            expr = self._scalar_subquery(template.format(s="s"), ids)
        if col.step or col.qualifier not in (None, "last", "first"):
            return _Source(expr, expr)
        if col.qualifier != "first" and self.nan_free.issuperset(ids):
            return _Source(expr, expr)  # no NaN to tell from a missing value
        # A first/last value may be NaN: NULL beside its step (rundb.catalog.decode_scalar).
        step_template = _STATS[(col.qualifier or "last", True)]
        if alias is not None:
            step = _Expr(step_template.format(s=alias))
        else:
            step = self._scalar_subquery(step_template.format(s="s"), ids)
        return _Source(expr, expr, decode_scalar, step)

    @staticmethod
    def _key_match(alias, ids):
        # One key: a plain equality. Several (a bare tag logged under both bare prefixes):
        # the run's most preferred one, in catalog.keys_named order.
        if len(ids) == 1:
            return f"{alias}.key = ?", ids
        marks = ", ".join("?" for _ in ids)
        case = " ".join(f"WHEN ? THEN {i}" for i in range(len(ids)))
        return (
            f"{alias}.key IN ({marks}) ORDER BY CASE {alias}.key {case} END LIMIT 1",
            ids + ids,
        )

    def _scalar_join(self, alias, ids):
        if len(ids) == 1:
            return _Expr(f"LEFT JOIN scalar_stat {alias} ON {alias}.rid = r.rid AND {alias}.key = ?", ids)
        match, params = self._key_match("p", ids)
        return _Expr(
            f"LEFT JOIN scalar_stat {alias} ON {alias}.rid = r.rid AND {alias}.key = "
            f"(SELECT p.key FROM scalar_stat p WHERE p.rid = r.rid AND {match})",
            params,
        )

    def _scalar_subquery(self, column, ids):
        match, params = self._key_match("s", ids)
        return _Expr(f"(SELECT {column} FROM scalar_stat s WHERE s.rid = r.rid AND {match})", params)

    def _flag(self, col):
        flag_id = self.catalog.flag_names.get(col.name)
        if flag_id is None:
            return _NULL_SOURCE
        alias = self._join(
            ("flag", flag_id),
            "f",
            lambda a: _Expr(f"LEFT JOIN run_flag {a} ON {a}.rid = r.rid AND {a}.name = ?", (flag_id,)),
        )
        if alias is not None:
            value, type_ = _Expr(f"{alias}.value"), _Expr(f"{alias}.type")
            if flag_id in self.plain_flags:
                return _Source(value, value)  # read as stored: no type to read
        else:
            where = "FROM run_flag f WHERE f.rid = r.rid AND f.name = ?"
            value = _Expr(f"(SELECT f.value {where})", (flag_id,))
            type_ = _Expr(f"(SELECT f.type {where})", (flag_id,))
        return _Source(value, value, _flag_value, type_)

    def _attr(self, col):
        known = self.run_columns.get(col.name)
        if known is not None:
            return known
        name = _param(col.name)
        alias = self._join(
            ("attr", name),
            "a",
            lambda a: _Expr(f"LEFT JOIN run_attr {a} ON {a}.rid = r.rid AND {a}.name = ?", (name,)),
        )
        if alias is not None:
            raw = _Expr(f"{alias}.value")
        else:
            raw = _Expr("(SELECT a.value FROM run_attr a WHERE a.rid = r.rid AND a.name = ?)", (name,))
        return _Source(_Expr(self.dialect.json_value(raw.sql), raw.params), raw, _json)

    def _aggregate(self, col):
        if col.col is None:
            expr = _Expr(self.dialect.aggregate("count", None))
        else:
            src = self.source(col.col)
            inner = src.value
            json = isinstance(col.col, ast.Flag) or (isinstance(col.col, (ast.Attr, ast.Name))
                                                     and src.convert is _json)
            expr = _Expr(self.dialect.aggregate(col.func, inner.sql, json=json), inner.params)
        if col.func in ("std", "std_pop", "median"):
            self.uses_regexp = True  # SQLite's are registered functions
        return _Source(expr, expr)

    def _name(self, col):
        name = col.name
        if name in self.aliases:
            return self.aliases[name]
        if name in RUN_ATTRS or name in self.catalog.attr_names:
            return self._attr(ast.Attr(name))
        if name in self.catalog.flag_names:
            return self._flag(ast.Flag(name))
        return self._scalar(ast.Scalar(name))

    # Conditions: each returns SQL and appends its parameters to `params`, in order.

    def condition(self, node, params):
        try:
            method = self._conditions[type(node)]
        except KeyError:
            raise TypeError(f"cannot compile expression {node!r}") from None
        return method(node, params)

    def _and(self, node, params):
        return self._binary(node, "AND", params)

    def _or(self, node, params):
        return self._binary(node, "OR", params)

    def _binary(self, node, op, params):
        # Parentheses around a child of the other kind only: AND and OR each associate.
        sides = []
        for child in (node.left, node.right):
            sql = self.condition(child, params)
            other = isinstance(child, (ast.And, ast.Or)) and type(child) is not type(node)
            sides.append(f"({sql})" if other else sql)
        return f"{sides[0]} {op} {sides[1]}"

    def _not(self, node, params):
        return f"NOT ({self.condition(node.expr, params)})"

    def _compare(self, node, params):
        src = self.source(node.col)
        if src.kind == "tags":
            return self._tags_compare(node.op, node.value, params)
        x = src.value
        if node.op == "~":
            self.uses_regexp = True
            params.extend(x.params)
            params.append(_param(node.value))
            return self.dialect.regexp(x.sql)
        if node.op == "contains":
            params.extend(x.params)
            params.append(str(node.value))
            return self.dialect.contains(x.sql)
        if node.op in ("like", "ilike"):
            self.uses_regexp = True  # SQLite's case-sensitive LIKE is a registered function
            params.extend(x.params)
            params.append(_param(str(node.value)))
            return self.dialect.like(x.sql, ignore_case=node.op == "ilike")
        if self._is_run_id(src) and _id_prefix(node.value) and node.op in ("=", "!="):
            # A short id (8 or more hex characters) stands for every id it starts.
            params.extend(x.params)
            params.extend((len(node.value), node.value.lower()))
            return f"substr({x.sql}, 1, ?) {node.op} ?"
        value = self._value(src, node.value)
        if value is None and node.op in ("=", "!="):
            params.extend(x.params)
            return f"{x.sql} IS {'NOT ' if node.op == '!=' else ''}NULL"
        params.extend(x.params)
        params.append(value)
        return f"{x.sql} {node.op} ?"

    def _is_run_id(self, src):
        return src is self.run_columns["id"] or src is self.run_columns["parent"]

    def _in(self, node, params):
        src = self.source(node.col)
        values = [self._value(src, v) for v in node.values]
        present = [v for v in values if v is not None]
        if src.kind == "tags":
            parts = []
            if present:
                marks = ", ".join("?" for _ in present)
                parts.append(self._tag_exists(f" AND t.tag IN ({marks})", present, params))
            if len(present) < len(values):
                parts.append("NOT " + self._tag_exists("", (), params))
            sql = " OR ".join(parts)
            if node.negate:
                return f"NOT ({sql})"
            return f"({sql})" if len(parts) > 1 else sql
        x = src.value
        parts = []
        if present:
            params.extend(x.params)
            params.extend(present)
            marks = ", ".join("?" for _ in present)
            parts.append(f"{x.sql} {'NOT IN' if node.negate else 'IN'} ({marks})")
        if len(present) < len(values):
            params.extend(x.params)
            parts.append(f"{x.sql} IS {'NOT ' if node.negate else ''}NULL")
        sql = (" AND " if node.negate else " OR ").join(parts)
        return f"({sql})" if len(parts) > 1 else sql

    def _is_null(self, node, params):
        src = self.source(node.col)
        if src.kind == "tags":
            exists = self._tag_exists("", (), params)
            return exists if node.negate else "NOT " + exists
        params.extend(src.value.params)
        return f"{src.value.sql} IS {'NOT ' if node.negate else ''}NULL"

    def _value(self, src, value):
        return _time_param(value) if src.kind == "time" else _param(value)

    def _tag_exists(self, condition, values, params):
        params.extend(values)
        return f"EXISTS (SELECT 1 FROM run_tag t WHERE t.rid = r.rid{condition})"

    def _tags_compare(self, op, value, params):
        # Tags are a set: `.tags OP v` holds when some tag does, `!=` when none equals v.
        value = _param(value)
        if value is None and op in ("=", "!="):
            exists = self._tag_exists("", (), params)
            return "NOT " + exists if op == "=" else exists
        if op == "~":
            self.uses_regexp = True
            return self._tag_exists(" AND " + self.dialect.regexp("t.tag"), (value,), params)
        if op == "contains":
            return self._tag_exists(" AND " + self.dialect.contains("t.tag"), (str(value),), params)
        if op == "!=":
            return "NOT " + self._tag_exists(" AND t.tag = ?", (value,), params)
        return self._tag_exists(f" AND t.tag {op} ?", (value,), params)


@record
class Compiled:
    """A compiled query.

    ``sql`` and ``params`` are in the dialect's parameter style; the index runs them
    (``rundb.index.reader.compiled_rows``, which first registers the dialect's functions if
    ``uses_regexp``). ``headers`` name the query's columns (regex keys expanded), which
    ``columns`` holds as AST nodes; :meth:`convert` turns the raw rows
    ``[(rid, value, ...), ...]`` into Python values.
    """

    sql: str
    params: tuple
    headers: list
    columns: list
    uses_regexp: bool = False
    # (index in the row, converter, index of its second argument or None)
    converters: list = field(default_factory=list, repr=False)

    def convert(self, raw):
        """``[(rid, v1, ..., vN)]`` from the raw result rows, values converted: flag values
        to their type, run_attr values JSON-decoded, times to datetimes."""
        width = 1 + len(self.headers)
        if not self.converters:
            return raw
        rows = []
        for row in raw:
            values = list(row[:width])
            for i, convert, extra in self.converters:
                values[i] = convert(row[i]) if extra is None else convert(row[i], row[extra])
            rows.append(tuple(values))
        return rows

    def row_converter(self, raw=()):
        """A function from one raw result row to the list of its converted values
        (``[v1, ..., vN]``, no rid): what :meth:`convert` gives, faster over many rows. A
        row's flag types are looked up together, and only flags whose type needs decoding
        (bool, float, null, list, dict) are decoded. Row positions in ``raw`` (1 is the
        first value) stay as read."""
        width = 1 + len(self.headers)
        flags, others = [], []
        for i, convert, extra in self.converters:
            if i in raw:
                continue
            if convert is _flag_value:
                flags.append((i - 1, extra))
            else:
                others.append((i, convert, extra))
        plans = {}  # a row's flag types -> [(value position, decoder)]

        def plan(types):
            found = [(i, _FLAG_DECODERS[t]) for (i, _x), t in zip(flags, types)
                     if t in _FLAG_DECODERS]
            if len(plans) < 1024:  # type combinations are few; never grow without bound
                plans[types] = found
            return found

        types_of = _getter([extra for _i, extra in flags])

        def convert_row(row):
            values = list(row[1:width])
            if flags:
                types = types_of(row)
                found = plans.get(types)
                for i, decode in plan(types) if found is None else found:
                    values[i] = decode(values[i])
            for i, convert, extra in others:
                values[i - 1] = convert(row[i]) if extra is None else convert(row[i], row[extra])
            return values

        return convert_row


def _getter(positions):
    "A function giving the tuple of a row's values at ``positions``."
    import operator

    if len(positions) == 1:
        return lambda row, at=positions[0]: (row[at],)
    return operator.itemgetter(*positions) if positions else lambda row: ()


def _dialect_of(catalog):
    dialect = getattr(catalog, "dialect", None)
    if dialect is None:
        raise TypeError("the catalog has no SQL dialect: load it from an index "
                        "(rundb.index.reader.catalog) or pass Catalog(dialect=...)")
    return dialect


def compile(query, catalog, runs_where=None, runs_params=(), few_runs=False, nan_free=(),
            plain_flags=()):
    """Compile *query* (a ``Query`` or its text) against *catalog*.

    :param runs_where: an SQL condition on ``r`` choosing the runs (ids, op, status ...),
        AND-ed with the query's WHERE; ``runs_params`` are its parameters.
    :param few_runs: ``runs_where`` names a few runs (a list of ids): read those first.
        Otherwise a page sorted by a scalar summary (``order by loss limit 20``) is read
        in order from the summary's index, which costs the page at any number of runs.
    :param nan_free: ids of scalar keys whose last value is NaN in no run
        (``rundb.index.conditions.nan_free_keys``): their last values are read without
        their steps (a step beside a NULL tells a NaN from a missing value).
    :param plain_flags: ids of flags whose stored values read as they are
        (``rundb.index.conditions.plain_flags``): read without their types.

    >>> from rundb.catalog import Catalog, ScalarKey
    >>> from rundb.index.dialect import SQLITE
    >>> catalog = Catalog([ScalarKey(1, '', 'loss')], {'lr': 2}, dialect=SQLITE)
    >>> c = compile("select min loss, =lr as LR where .status = completed", catalog)
    >>> print(c.sql)
    SELECT r.rid, s0.min_val AS "min loss", f0.value AS "LR", f0.type
    FROM run r
    LEFT JOIN scalar_stat s0 ON s0.rid = r.rid AND s0.key = ?
    LEFT JOIN run_flag f0 ON f0.rid = r.rid AND f0.name = ?
    WHERE r.status = ?
    ORDER BY r.created DESC, r.rid DESC
    >>> c.params, c.headers
    ((1, 2, 'completed'), ['min loss', 'LR'])
    """
    if isinstance(query, str):
        from .parser import parse  # only text needs the parser (PLY's yacc)

        query = parse(query)
    compiler = _Compiler(catalog, use_joins=True, nan_free=nan_free, plain_flags=plain_flags)
    if query.grouped:
        return _compile_grouped(compiler, query, runs_where, runs_params)
    columns = [c for col in query.columns for c in compiler.expand(col)]
    headers = [col.header for col in columns]

    outputs, select_params, extras = ["r.rid"], [], []
    converters = []
    for i, col in enumerate(columns, 1):
        src = compiler.source(col)
        outputs.append(f"{src.output.sql} AS {_output_name(compiler.dialect, col.header)}")
        select_params.extend(src.output.params)
        if src.type_output is not None:
            extras.append(src.type_output)
            converters.append((i, src.convert, len(columns) + len(extras)))
        elif src.convert is not None:
            converters.append((i, src.convert, None))
        compiler.aliases.setdefault(col.header, src)
    for extra in extras:
        outputs.append(extra.sql)
        select_params.extend(extra.params)
    if len(outputs) > MAX_RESULT_COLUMNS:
        raise QueryError(
            f"too many columns: {len(columns)} columns need {len(outputs)} result columns "
            f"(with the run id and flag types), more than the {MAX_RESULT_COLUMNS} one "
            f"query can return")

    conditions, where_params = _where(compiler, query, runs_where, runs_params)

    order_params, order = [], []
    for item in query.order_by:
        x = compiler.source(item.col).value
        order_params.extend(x.params)
        order.append(f"{x.sql} {'DESC' if item.desc else 'ASC'} NULLS LAST")
    order.append("r.created DESC, r.rid DESC")

    seek = None if few_runs else _summary_seek(compiler, query)
    if seek is not None:
        return _compile_seek(compiler, query, seek, outputs, select_params, conditions,
                             where_params, order[1:], order_params, headers, columns,
                             converters)

    joins, join_params = _joins(compiler)
    lines = ["SELECT " + ", ".join(outputs), "FROM run r", *joins]
    if conditions:
        lines.append("WHERE " + " AND ".join(conditions))
    lines.append("ORDER BY " + ", ".join(order))
    limit_params = []
    if query.limit is not None:
        lines.append("LIMIT ?")
        limit_params.append(query.limit)

    params = (*select_params, *join_params, *where_params, *order_params, *limit_params)
    sql = compiler.dialect.placeholders("\n".join(lines))
    return Compiled(sql, params, headers, columns, compiler.uses_regexp, converters)


#: scalar_stat columns with an index on (key, column) (schema migration 5).
_INDEXED_STATS = ("last_val", "min_val", "max_val")


def _stat_column(sql):
    """``(alias, column)`` when ``sql`` is ``sN.COLUMN`` (what ``(s\\d+)\\.(\\w+)`` matches
    whole; string methods, so that a page question needs no ``re``), else None."""
    alias, dot, column = sql.partition(".")
    if (dot and alias[:1] == "s" and alias[1:].isdecimal()
            and column and column.replace("_", "a").isalnum()):
        return alias, column
    return None


def _summary_seek(compiler, query):
    """(alias, key id, column, desc) when the query's page can be read from the index
    on ``scalar_stat (key, column)``: it has a LIMIT and sorts first by one scalar key's
    last, min or max value; else None."""
    if query.limit is None or not query.order_by:
        return None
    first = query.order_by[0]
    value = compiler.source(first.col).value
    m = _stat_column(value.sql)
    if m is None or value.params or m[1] not in _INDEXED_STATS:
        return None
    for key, (alias, _clause) in compiler.joins.items():
        if alias == m[0] and key[0] == "scalar" and len(key[1]) == 1:
            return alias, key[1][0], m[1], first.desc
    return None


def _joins(compiler, but=None):
    """``(clauses, params)``: the compiler's JOIN clauses in order (all but the one of
    alias ``but``) and their parameters."""
    clauses, params = [], []
    for alias, clause in compiler.joins.values():
        if alias != but:
            clauses.append(clause.sql)
            params.extend(clause.params)
    return clauses, params


def _compile_seek(compiler, query, seek, outputs, select_params, conditions, where_params,
                  rest_order, order_params, headers, columns, converters):
    """A page sorted by a scalar summary, read in order from ``scalar_stat``'s index.

    Two parts, the first filling the page before the second is read: the runs that have
    the value, driven from the index on ``scalar_stat (key, column)`` (reading about as
    many rows as the page holds, at any number of runs), then, if the page is not full,
    the runs without it (NULLS LAST), newest first. The rows and their order are those of
    the one-part query (``ORDER BY value NULLS LAST, ...``)."""
    alias, key_id, column, desc = seek
    # The first sort key has no parameters (_summary_seek): the rest are all of them.
    rest_params = order_params
    conditions = [f"({c})" for c in conditions]
    joins, join_params = _joins(compiler, but=alias)
    direction = "DESC" if desc else "ASC"
    # Part 1: runs with the value. CROSS JOIN keeps SQLite's join order (scalar_stat
    # first); PostgreSQL plans it as any inner join.
    has = [f"{alias}.key = ?", f"{alias}.{column} IS NOT NULL", *conditions]
    part1 = [
        "SELECT " + ", ".join(outputs),
        f"FROM scalar_stat {alias} CROSS JOIN run r",
        *joins,
        f"WHERE r.rid = {alias}.rid AND " + " AND ".join(has),
        "ORDER BY " + ", ".join([f"{alias}.{column} {direction}", *rest_order]),
        "LIMIT ?",
    ]
    params1 = (*select_params, *join_params, key_id, *where_params, *rest_params, query.limit)
    # Part 2: runs without it (its LEFT JOIN gives NULL).
    all_joins, all_join_params = _joins(compiler)
    lacks = [*conditions, f"{alias}.{column} IS NULL"]
    part2 = [
        "SELECT " + ", ".join(outputs),
        "FROM run r",
        *all_joins,
        "WHERE " + " AND ".join(lacks),
        "ORDER BY " + ", ".join(rest_order),
        "LIMIT ?",
    ]
    params2 = (*select_params, *all_join_params, *where_params, *rest_params, query.limit)
    lines = ["SELECT * FROM (", *part1, ") AS page_with", "UNION ALL",
             "SELECT * FROM (", *part2, ") AS page_without", "LIMIT ?"]
    params = (*params1, *params2, query.limit)
    sql = compiler.dialect.placeholders("\n".join(lines))
    return Compiled(sql, params, headers, columns, compiler.uses_regexp, converters)


def _where(compiler, query, runs_where, runs_params):
    "(conditions, params) of the WHERE clause."
    where_params, conditions = list(runs_params), []
    if runs_where:
        conditions.append(runs_where)
    if query.where is not None:
        aliases, compiler.aliases = compiler.aliases, {}  # WHERE cannot see output names
        conditions.append(compiler.condition(query.where, where_params))
        compiler.aliases = aliases
    if len(conditions) > 1:
        conditions = [f"({c})" for c in conditions]
    return conditions, where_params


def _compile_grouped(compiler, query, runs_where, runs_params):
    """A query with ``group by`` or aggregates: one row per group (one row in all without
    ``group by``), ``NULL`` where the run id stands in other queries. Every column must be
    a group key or an aggregate; groups sort by their keys unless ordered."""
    groups = []  # (column, source)
    for col in query.group_by:
        groups.append((col, compiler.source(col)))
    group_sql = {src.output for _col, src in groups}

    columns = [c for col in query.columns for c in compiler.expand(col)]
    headers = [col.header for col in columns]
    outputs, select_params, converters, types = ["NULL"], [], [], []
    for i, col in enumerate(columns, 1):
        src = compiler.source(col)
        if not isinstance(col, ast.Aggregate) and src.output not in group_sql:
            raise QueryError(
                f"column {col.text(bare=False)!r} is neither in group by nor inside an "
                f"aggregate (mean, std, count ...)")
        outputs.append(f"{src.output.sql} AS {_output_name(compiler.dialect, col.header)}")
        select_params.extend(src.output.params)
        if src.convert is _flag_value:
            # the flag's type is a group key too, so it is read beside its value
            types.append(src.type_output)
            converters.append((i, _flag_value, len(columns) + len(types)))
        elif src.convert is not None and src.type_output is None:
            converters.append((i, src.convert, None))
        compiler.aliases.setdefault(col.header, src)
    for type_ in types:
        outputs.append(type_.sql)
        select_params.extend(type_.params)
    if len(outputs) > MAX_RESULT_COLUMNS:
        raise QueryError(f"too many columns: {len(columns)} columns, more than the "
                         f"{MAX_RESULT_COLUMNS} one query can return")

    conditions, where_params = _where(compiler, query, runs_where, runs_params)

    group_by, group_params = [], []
    for _col, src in groups:
        group_by.append(src.output.sql)
        group_params.extend(src.output.params)
        if src.convert is _flag_value:
            group_by.append(src.type_output.sql)
            group_params.extend(src.type_output.params)

    having_params, having = [], None
    if query.having is not None:
        having = compiler.condition(query.having, having_params)

    order_params, order = [], []
    # then the group keys, so that ties come in a stable order
    items = [*query.order_by, *(ast.Order(col) for col, _src in groups)]
    for item in items:
        x = compiler.source(item.col).value
        order_params.extend(x.params)
        order.append(f"{x.sql} {'DESC' if item.desc else 'ASC'} NULLS LAST")

    joins, join_params = _joins(compiler)
    lines = ["SELECT " + ", ".join(outputs), "FROM run r", *joins]
    if conditions:
        lines.append("WHERE " + " AND ".join(conditions))
    if group_by:
        lines.append("GROUP BY " + ", ".join(group_by))
    if having is not None:
        lines.append("HAVING " + having)
    if order:
        lines.append("ORDER BY " + ", ".join(order))
    limit_params = []
    if query.limit is not None:
        lines.append("LIMIT ?")
        limit_params.append(query.limit)
    params = (*select_params, *join_params, *where_params, *group_params, *having_params,
              *order_params, *limit_params)
    sql = compiler.dialect.placeholders("\n".join(lines))
    return Compiled(sql, params, headers, columns, compiler.uses_regexp, converters)


def compile_filter(expr, catalog):
    """Compile an expression (a node or its text) to ``(sql, params)``: a condition on
    ``run r`` alone (correlated subqueries, no joins) for a caller's WHERE clause.

    The index runs the caller's statement with the dialect's functions registered (it may
    use ``~``), and in the dialect's parameter style (``dialect.placeholders``).
    """
    if isinstance(expr, str):
        from .parser import parse_filter

        expr = parse_filter(expr)
    params = []
    sql = _Compiler(catalog, use_joins=False).condition(expr, params)
    # Self-contained, so a caller may AND it with other conditions as it is.
    if isinstance(expr, (ast.And, ast.Or)):
        sql = f"({sql})"
    return sql, tuple(params)
