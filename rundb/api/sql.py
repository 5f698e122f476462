"""``rundb sql``: one read-only SQL statement against the index's documented views."""

from ..index.db import open_home_index


def sql_query(home, statement, params=None):
    """Run one read-only SQL statement against the index; return (column names, rows).

    :param params: a dict for ``:name`` parameters or a list for ``?`` parameters.
    :raises ReadOnlyError: the statement would change the index.
    :raises SQLError: SQLite rejected the statement (its message).
    """
    from ..index.sql import query

    with open_home_index(home):
        pass  # create or migrate the index, so the read-only connection finds the schema
    return query(home.index_path, statement, params)
