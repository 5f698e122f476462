'''The PostgreSQL dialect: the parts of the SQL rundb writes that PostgreSQL spells
differently from SQLite, for the query compiler's dialect hook.

It implements the same methods as the SQLite dialect. Parameters stay ``?`` here: the
PostgreSQL connection (:class:`rundb.index.pg.PgConnection`) turns them into ``%s`` as
it does for every statement of the index layer, so there is one place for that. The
functions used (``rundb_text``, ``rundb_json``) and SQLite's comparison rules across
types are part of the PostgreSQL schema (:mod:`rundb.index.pg_schema`).

>>> POSTGRESQL.regexp("r.label"), POSTGRESQL.json_value("a.value")
('rundb_text(r.label) ~ ?', 'rundb_json(a.value)')
'''

from .dialect import SharedSQL


class PostgreSQLDialect(SharedSQL):
    """PostgreSQL 13+ through :class:`rundb.index.pg.PgConnection`."""

    name = "postgresql"

    def regexp(self, expr):
        # POSIX regex on the value's text (a JSON string unquoted, a number as text)
        return f"rundb_text({expr}) ~ ?"

    def contains(self, expr, ignore_case=True):
        if ignore_case:
            return f"strpos(lower(rundb_text({expr})), lower(?)) > 0"
        return f"strpos(rundb_text({expr}), ?) > 0"

    def json_value(self, expr):
        return f"rundb_json({expr})"

    def group_concat(self, expr):
        return f"string_agg({expr}, ?)"

    def aggregate(self, func, expr, json=False):
        # `json`: a jsonb flag or attribute value; only numbers are aggregated.
        if expr is None:
            return "COUNT(*)"
        if json and func != "count":
            expr = (f"(CASE WHEN jsonb_typeof({expr}) = 'number' "
                    f"THEN ({expr} #>> '{{}}')::double precision END)")
        if func == "median":
            return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {expr})"
        return f"{_AGGREGATES[func]}({expr})"

    def like(self, expr, ignore_case=False):
        return f"rundb_text({expr}) {'ILIKE' if ignore_case else 'LIKE'} ?"

    def register_functions(self, conn):
        pass  # everything compiled SQL calls lives in the schema


_AGGREGATES = {"mean": "avg", "std": "stddev_samp", "std_pop": "stddev_pop", "min": "min",
               "max": "max", "sum": "sum", "count": "count"}

#: The dialect of every PostgreSQL index.
POSTGRESQL = PostgreSQLDialect()
