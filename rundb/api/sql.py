"""``rundb sql``: one read-only SQL statement against the index's documented views."""

from ..index.db import open_home_index


def sql_query(home, statement, params=None, timeout=None, max_bytes=None):
    """Run one read-only SQL statement against the index; return (column names, rows).

    :param params: a dict for ``:name`` parameters or a list for ``?`` parameters.
    :param timeout: seconds the statement may run (None or 0: no limit).
    :param max_bytes: cap on the result's size (None: the default, 256 MiB).
    :raises ReadOnlyError: the statement would change the index.
    :raises SQLError: SQLite (or PostgreSQL, for a shared index) rejected the statement.
    """
    from ..index.sql import DEFAULT_MAX_RESULT_BYTES, query

    with open_home_index(home) as index:
        # create or migrate the index, so the read-only connection finds the schema
        postgres = index.backend == "postgresql"
    if postgres:
        from ..index import pg_sql

        return pg_sql.query(home.index_url, statement, params, timeout=timeout,
                            max_bytes=max_bytes or DEFAULT_MAX_RESULT_BYTES)
    return query(home.index_path, statement, params, timeout=timeout,
                 max_bytes=max_bytes or DEFAULT_MAX_RESULT_BYTES)


def parse_param_value(text):
    """The value a ``sql -p NAME VALUE`` binds (JSON scalars, else the text as given)."""
    from ..index.sql import parse_param_value

    return parse_param_value(text)
