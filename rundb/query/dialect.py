"""The compiler's dialect hook: what the compiler asks of the index it compiles for.

The compiler writes portable SQL with ``?`` parameters; each index backend (rundb.index)
provides an object with these methods for the parts engines spell differently, and the
catalog it loads carries it (``Catalog.dialect``), so the compiler never names an engine.
A PostgreSQL backend implements the same methods (``~`` for regexp, ``string_agg``,
``strpos``, ``jsonb`` functions, ``%s`` placeholders) without a change here or in the
compiler.
"""


class Dialect:
    """The interface; every method returns SQL text with ``?`` for its parameters.

    Backends implement it without importing it (the index layer never imports the query
    layer); ``tests/test_query_compiler.py`` checks that they have every method.
    """

    #: Short engine name (``sqlite``, ``postgresql``).
    name = ""

    def quote_identifier(self, name):
        """*name* as an SQL identifier (inner quotes escaped)."""
        raise NotImplementedError

    def placeholders(self, sql):
        """*sql* (written with ``?`` parameters) in the driver's parameter style."""
        raise NotImplementedError

    def regexp(self, expr):
        """*expr* matched against one parameter holding a regex (Python ``re.search``)."""
        raise NotImplementedError

    def contains(self, expr, ignore_case=True):
        """True where the text of *expr* holds the text of one parameter, ignoring case
        (as Guild's ``contains`` does) unless ``ignore_case`` is false."""
        raise NotImplementedError

    def json_value(self, expr):
        """The SQL value of the JSON text *expr* (strings unquoted, numbers as numbers)."""
        raise NotImplementedError

    def json_list(self):
        """A subquery of the values of one parameter holding a JSON list (for ``IN``)."""
        raise NotImplementedError

    def group_concat(self, expr):
        """*expr* over a group, joined by the separator in one parameter."""
        raise NotImplementedError

    def upsert(self, table, columns, conflict, update):
        """INSERT of *columns*; on a *conflict* of those columns, update *update*."""
        raise NotImplementedError

    def aggregate(self, func, expr, json=False):
        """The cross-run aggregate *func* (``rundb.query.ast.AGGREGATES``) over *expr*
        (None: ``count(*)``); ``json``: *expr* is a flag or attribute value, of any type,
        of which only numbers count (except for ``count``)."""
        raise NotImplementedError

    def like(self, expr, ignore_case=False):
        """SQL ``LIKE`` of the text of *expr* against one parameter (``%``, ``_``),
        case-sensitive unless ``ignore_case`` (``ilike``)."""
        raise NotImplementedError

    def register_functions(self, conn):
        """Make the functions compiled SQL calls available on the connection *conn*."""
        raise NotImplementedError
