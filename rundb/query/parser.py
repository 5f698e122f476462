"""Tokens -> AST (PLY yacc).

One LALR table serves three kinds of text; the first token, which never comes from the
text, says which (``START_QUERY`` a whole query, ``START_FILTER`` an expression alone,
``START_COLUMNS`` ``select`` and column specs only). The parser is built on first use,
writing no files.

>>> q = parse("select min loss step as step, =lr where .status = completed limit 5")
>>> [str(col) for col in q.columns]
['scalar:min loss step as step', 'flag:lr']
>>> str(q)
'select min loss step as step, =lr where .status = completed limit 5'
>>> str(parse_filter("a = 1 and b = 2 or c = 3")), str(parse_filter("a = 1 and (b = 2 or c = 3)"))
('a = 1 and b = 2 or c = 3', 'a = 1 and (b = 2 or c = 3)')
"""

import _thread
import functools

from ..errors import QueryError
from ..record import replace
from . import ast
from .lexer import RESERVED, keep_ply_globals, line_of, new_lexer, prefixed_name, unquote, word_value
from .lexer import tokens as _tokens

#: Deepest nesting of and/or/not an expression may have (printing and compiling recurse).
MAX_DEPTH = 200

_OPERATORS = {"EQ": "=", "NE": "!=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">=", "TILDE": "~"}


def _rule(grammar):
    # PLY reads productions from docstrings; setting __doc__ explicitly keeps the grammar
    # under `python -OO`, which strips docstrings.
    def decorate(f):
        f.__doc__ = grammar
        return f

    return decorate


def _error(p, n, msg):
    text = p.lexer.lexdata
    pos = p.lexpos(n)
    return QueryError(msg, text=text, pos=pos, line=line_of(text, pos))


class _EndOfInput(Exception):
    pass


class _Grammar:
    """PLY grammar rules, collected by ``yacc.yacc(module=_Grammar())``."""

    tokens = _tokens
    start = "start"
    precedence = (
        ("left", "OR"),
        ("left", "AND"),
        ("right", "NOT"),
    )

    @_rule("""start : START_QUERY query
                    | START_FILTER expr
                    | START_COLUMNS SELECT columns""")
    def p_start(self, p):
        if p.slice[1].type == "START_FILTER":
            _no_aggregates(p, p[2], "a filter")
        p[0] = p[len(p) - 1]

    @_rule("query : SELECT columns where group_by order_by limit")
    def p_query(self, p):
        _no_aggregates(p, p[3], "where (filter groups with having)")
        group_by, having = p[4]
        p[0] = ast.Query(tuple(p[2]), p[3], tuple(p[5]), p[6], tuple(group_by), having)

    @_rule("""group_by : GROUP BY group_items having
                       | empty""")
    def p_group_by(self, p):
        # `group` is a keyword only before `by`, and `having` only after a group by (a
        # word there), so no column name changes meaning.
        p[0] = ([], None) if len(p) == 2 else (p[3], p[4])

    @_rule("""group_items : colspec
                          | group_items COMMA colspec""")
    def p_group_items(self, p):
        col = p[len(p) - 1]
        if isinstance(col, ast.Aggregate):
            text = p.lexer.lexdata
            raise QueryError(f"cannot group by the aggregate {col.body}", text=text,
                             pos=col.pos, line=line_of(text, col.pos))
        p[0] = [col] if len(p) == 2 else _append(p[1], col)

    @_rule("""having : WORD expr
                     | empty""")
    def p_having(self, p):
        if len(p) == 2:
            p[0] = None
            return
        _expect_word(p, 1, "having")
        p[0] = p[2]

    @_rule("""colspec : WORD LPAREN arguments RPAREN
                      | qualifier LPAREN arguments RPAREN""")
    def p_colspec_aggregate(self, p):
        func = p[1].lower()
        func = "mean" if func == "avg" else func
        if func not in ast.AGGREGATES:
            raise _error(p, 1, f"unknown function {p[1]!r}: expected one of "
                               f"{', '.join(ast.AGGREGATES)}")
        args = p[3]
        if len(args) != 1:
            raise _error(p, 1, f"{func}() takes one column, not {len(args)}")
        col = args[0]
        if isinstance(col, ast.Aggregate):
            raise QueryError(f"{func}() cannot take the aggregate {col.body}",
                             text=p.lexer.lexdata, pos=col.pos, line=line_of(p.lexer.lexdata, col.pos))
        if isinstance(col, ast.Name) and col.name == "*":
            if func != "count":
                raise _error(p, 1, f"{func}(*) is not a column: only count(*) takes *")
            col = None
        elif isinstance(col, ast.Name):
            col = ast.Scalar(col.name, pos=col.pos)  # a bare word is a scalar, as in select
        p[0] = ast.Aggregate(func, col, pos=p.lexpos(1))

    @_rule("""colspec : WORD LPAREN RPAREN
                      | qualifier LPAREN RPAREN""")
    def p_colspec_aggregate_empty(self, p):
        raise _error(p, 1, f"{p[1]}() needs a column (count(*) counts runs)")

    @_rule("""arguments : colspec
                        | arguments COMMA colspec""")
    def p_arguments(self, p):
        p[0] = [p[1]] if len(p) == 2 else _append(p[1], p[3])

    @_rule("""columns : column
                      | columns COMMA column""")
    def p_columns(self, p):
        # Appended in place: copying the list at each item made long lists quadratic.
        p[0] = [p[1]] if len(p) == 2 else _append(p[1], p[3])

    @_rule("""column : colspec
                     | colspec AS alias""")
    def p_column(self, p):
        col = p[1]
        if isinstance(col, ast.Name):
            # A bare word in a select list is a scalar, as in Guild.
            col = ast.Scalar(col.name, pos=col.pos)
        p[0] = col if len(p) == 2 else replace(col, alias=p[3])

    @_rule("""alias : WORD
                    | NULL
                    | keyword""")
    def p_alias(self, p):
        p[0] = p[1]

    @_rule("alias : QUOTED")
    def p_alias_quoted(self, p):
        p[0] = unquote(p[1])

    @_rule("""keyword : SELECT
                      | WHERE
                      | ORDER
                      | BY
                      | LIMIT
                      | ASC
                      | DESC
                      | AS
                      | AND
                      | OR
                      | NOT
                      | IN
                      | IS
                      | CONTAINS
                      | STEP
                      | qualifier""")
    def p_keyword(self, p):
        p[0] = p[1]

    @_rule("""qualifier : MIN
                        | MAX
                        | FIRST
                        | LAST
                        | AVG
                        | TOTAL
                        | COUNT""")
    def p_qualifier(self, p):
        p[0] = p[1]

    @_rule("colspec : WORD")
    def p_colspec_name(self, p):
        p[0] = ast.Name(_named(p, 1, p[1]), pos=p.lexpos(1))

    @_rule("colspec : WORD STEP")
    def p_colspec_word_step(self, p):
        p[0] = ast.Scalar(_named(p, 1, p[1]), step=True, pos=p.lexpos(1))

    @_rule("""colspec : QUOTED step
                      | SCALAR step""")
    def p_colspec_scalar(self, p):
        key = unquote(p[1]) if p.slice[1].type == "QUOTED" else _named(p, 1, prefixed_name(p[1]))
        p[0] = ast.Scalar(key, step=p[2], pos=p.lexpos(1))

    @_rule("colspec : qualifier key step")
    def p_colspec_qualified(self, p):
        p[0] = ast.Scalar(p[2], qualifier=p[1].lower(), step=p[3], pos=p.lexpos(1))

    @_rule("""key : WORD
                  | SCALAR""")
    def p_key(self, p):
        p[0] = _named(p, 1, p[1] if p.slice[1].type == "WORD" else prefixed_name(p[1]))

    @_rule("key : QUOTED")
    def p_key_quoted(self, p):
        p[0] = unquote(p[1])

    @_rule("""step : STEP
                   | empty""")
    def p_step(self, p):
        p[0] = p[1] is not None

    @_rule("colspec : ATTR")
    def p_colspec_attr(self, p):
        p[0] = ast.Attr(_named(p, 1, prefixed_name(p[1])), pos=p.lexpos(1))

    @_rule("colspec : FLAG")
    def p_colspec_flag(self, p):
        p[0] = ast.Flag(_named(p, 1, prefixed_name(p[1])), pos=p.lexpos(1))

    @_rule("""where : WHERE expr
                    | empty""")
    def p_where(self, p):
        p[0] = p[2] if len(p) == 3 else None

    @_rule("""order_by : ORDER BY order_items
                       | empty""")
    def p_order_by(self, p):
        p[0] = p[3] if len(p) == 4 else []

    @_rule("""order_items : order_item
                          | order_items COMMA order_item""")
    def p_order_items(self, p):
        # Appended in place: copying the list at each item made long lists quadratic.
        p[0] = [p[1]] if len(p) == 2 else _append(p[1], p[3])

    @_rule("""order_item : colspec
                         | colspec ASC
                         | colspec DESC""")
    def p_order_item(self, p):
        desc = len(p) == 3 and p.slice[2].type == "DESC"
        p[0] = ast.Order(p[1], desc=desc)

    @_rule("""limit : LIMIT WORD
                    | empty""")
    def p_limit(self, p):
        if len(p) == 2:
            p[0] = None
            return
        n = word_value(p[2])
        if type(n) is not int or n < 0:
            raise _error(p, 2, f"invalid limit {p[2]!r}: expected a whole number")
        p[0] = n

    @_rule("""expr : expr OR expr
                   | expr AND expr""")
    def p_expr_binary(self, p):
        node = (ast.Or if p.slice[2].type == "OR" else ast.And)(p[1], p[3])
        p[0] = self._checked_depth(p, 2, node)

    @_rule("expr : NOT expr")
    def p_expr_not(self, p):
        p[0] = self._checked_depth(p, 1, ast.Not(p[2]))

    @staticmethod
    def _checked_depth(p, n, node):
        if node.depth > MAX_DEPTH:
            raise _error(p, n, f"expression nested too deeply (more than {MAX_DEPTH} levels)")
        return node

    @_rule("expr : LPAREN expr RPAREN")
    def p_expr_group(self, p):
        p[0] = p[2]

    @_rule("expr : colspec operator value")
    def p_expr_compare(self, p):
        op = p[2]
        value, raw, pos = p[3]
        if op == "~":
            # A pattern is the text as written (1e3 stays '1e3'), checked now so that a
            # bad one is reported with its position rather than by SQLite at run time.
            value = raw
            import re

            try:
                re.compile(value)
            except re.error as e:
                text = p.lexer.lexdata
                raise QueryError(
                    f"invalid regular expression {raw!r}: {e}",
                    text=text,
                    pos=pos,
                    line=line_of(text, pos),
                ) from None
        elif isinstance(p[1], ast.Attr) and p[1].name in ("id", "parent") and not isinstance(
                value, str) and value is not None:
            value = raw  # a run id is text, even when it reads as a number (12345678)
        p[0] = ast.Compare(p[1], op, value, pos=p[1].pos)

    @_rule("""operator : EQ
                       | NE
                       | LT
                       | LE
                       | GT
                       | GE
                       | TILDE""")
    def p_operator(self, p):
        p[0] = _OPERATORS[p.slice[1].type]

    @_rule("""expr : colspec IN LPAREN values RPAREN
                   | colspec NOT IN LPAREN values RPAREN""")
    def p_expr_in(self, p):
        values = tuple(v for v, _raw, _pos in p[len(p) - 2])
        p[0] = ast.In(p[1], values, negate=len(p) == 7, pos=p[1].pos)

    @_rule("""expr : colspec IN LIST
                   | colspec NOT IN LIST""")
    def p_expr_in_list(self, p):
        # Guild's spelling, `lr in [0.1, 0.01]`: the same as `lr in (0.1, 0.01)`.
        values = tuple(v for v, _raw, _pos in _list_values(p, len(p) - 1))
        p[0] = ast.In(p[1], values, negate=len(p) == 5, pos=p[1].pos)

    @_rule("""expr : colspec IS NULL
                   | colspec IS NOT NULL""")
    def p_expr_is_null(self, p):
        p[0] = ast.IsNull(p[1], negate=len(p) == 5, pos=p[1].pos)

    @_rule("""expr : colspec IS WORD
                   | colspec IS NOT WORD""")
    def p_expr_is_undefined(self, p):
        # Guild's `loss is undefined` / `is not undefined`: the same as `is [not] null`.
        _expect_word(p, len(p) - 1, "undefined")
        p[0] = ast.IsNull(p[1], negate=len(p) == 5, pos=p[1].pos)

    @_rule("""expr : colspec LIKE value
                   | colspec ILIKE value""")
    def p_expr_like(self, p):
        # SQL's `like` / `ilike` (% and _ wildcards; ilike ignores case).
        op = p[2].lower()
        value, raw, _pos = p[3]
        p[0] = ast.Compare(p[1], op, value if isinstance(value, str) else raw, pos=p[1].pos)

    @_rule("expr : colspec CONTAINS value")
    def p_expr_contains(self, p):
        # Guild's `label contains best`: the value's text holds the text, in any case.
        p[0] = ast.Compare(p[1], "contains", p[3][0] if isinstance(p[3][0], str) else p[3][1],
                           pos=p[1].pos)

    @_rule("""values : value
                     | values COMMA value""")
    def p_values(self, p):
        # Appended in place: copying the list at each item made long lists quadratic.
        p[0] = [p[1]] if len(p) == 2 else _append(p[1], p[3])

    # A value is (python value, text as written, position).

    @_rule("value : WORD")
    def p_value_word(self, p):
        p[0] = (word_value(p[1]), p[1], p.lexpos(1))

    @_rule("value : QUOTED")
    def p_value_quoted(self, p):
        s = unquote(p[1])
        p[0] = (s, s, p.lexpos(1))

    @_rule("value : NULL")
    def p_value_null(self, p):
        p[0] = (None, p[1], p.lexpos(1))

    @_rule("value : keyword")
    def p_value_keyword(self, p):
        # Keywords are plain strings where a value is expected: `=mode = last`.
        p[0] = (p[1], p[1], p.lexpos(1))

    @_rule("empty :")
    def p_empty(self, p):
        p[0] = None

    def p_error(self, tok):
        if tok is None:
            raise _EndOfInput()
        text = tok.lexer.lexdata
        raise QueryError(
            f"unexpected token {tok.value!r}",
            text=text,
            pos=tok.lexpos,
            line=line_of(text, tok.lexpos),
        )


def _aggregates(expr):
    "The aggregate columns an expression reads."
    if expr is None:
        return []
    if isinstance(expr, (ast.And, ast.Or)):
        return _aggregates(expr.left) + _aggregates(expr.right)
    if isinstance(expr, ast.Not):
        return _aggregates(expr.expr)
    col = getattr(expr, "col", None)
    return [col] if isinstance(col, ast.Aggregate) else []


def _no_aggregates(p, expr, where):
    found = _aggregates(expr)
    if found:
        text = p.lexer.lexdata
        pos = found[0].pos
        raise QueryError(f"aggregate {found[0].body} is not allowed in {where}",
                         text=text, pos=pos, line=line_of(text, pos))


def _expect_word(p, n, word):
    """Raise the parser's own error at token ``n`` unless it is ``word``."""
    if p[n].lower() != word:
        text = p.lexer.lexdata
        pos = p.lexpos(n)
        raise QueryError(f"unexpected token {p[n]!r}", text=text, pos=pos,
                         line=line_of(text, pos))


def _list_values(p, n):
    """[(value, raw, pos)] of the LIST token ``n`` (``[a, 'b c', 3]``)."""
    from .lexer import tokenize

    raw = p[n]
    base = p.lexpos(n) + 1
    text = p.lexer.lexdata
    values, expect_value = [], True
    for tok in tokenize(raw[1:-1]):
        pos = base + tok.lexpos
        if expect_value and tok.type in ("WORD", "QUOTED", "NULL") or (
                expect_value and tok.type in RESERVED.values()):
            if tok.type == "QUOTED":
                values.append((unquote(tok.value), unquote(tok.value), pos))
            elif tok.type == "NULL":
                values.append((None, tok.value, pos))
            elif tok.type == "WORD":
                values.append((word_value(tok.value), tok.value, pos))
            else:
                values.append((tok.value, tok.value, pos))
            expect_value = False
        elif not expect_value and tok.type == "COMMA":
            expect_value = True
        else:
            raise QueryError(f"unexpected token {tok.value!r}", text=text, pos=pos,
                             line=line_of(text, pos))
    if expect_value:
        pos = base + len(raw) - 2
        raise QueryError("expected a value in the list", text=text, pos=pos,
                         line=line_of(text, pos))
    return values


#: The LALR tables, generated from this grammar and shipped (``python -m
#: rundb.query.parser`` writes them again). PLY reads them when their signature (a digest
#: of the grammar) is this grammar's, and builds the tables in memory when it is not, so
#: a stale module is only slower; tests/test_query_parser.py fails when it is stale.
#: Nothing is written at run time.
TABLE_MODULE = "rundb.query._parsetab"


def build_parser(**options):
    """Build the LALR parser; *options* go to ``yacc.yacc`` (tests pass an ``errorlog``)."""
    from ply import yacc

    kw = dict(
        debug=False,
        write_tables=False,
        errorlog=yacc.NullLogger(),
        tabmodule=TABLE_MODULE,
    )
    kw.update(options)
    with keep_ply_globals():
        return yacc.yacc(module=_Grammar(), **kw)


def grammar_signature():
    """PLY's signature of this grammar (what a table module must carry to be used)."""
    from ply import yacc

    grammar = _Grammar()
    pdict = {name: getattr(grammar, name) for name in dir(grammar)}
    pdict.setdefault("__file__", __file__)
    info = yacc.ParserReflect(pdict, log=yacc.NullLogger())
    info.get_all()
    return info.signature()


def write_table_module():
    """Write :data:`TABLE_MODULE` next to this file (a development step, never run by
    rundb itself)."""
    import importlib
    import os
    import sys

    from ply import yacc

    here = os.path.dirname(os.path.abspath(__file__))
    name = TABLE_MODULE.rsplit(".", 1)[1]
    sys.modules.pop(TABLE_MODULE, None)
    path = os.path.join(here, name + ".py")
    if os.path.exists(path):
        os.remove(path)  # else PLY reads it back, stale or not
    importlib.invalidate_caches()
    with keep_ply_globals():
        yacc.yacc(module=_Grammar(), debug=False, write_tables=True, errorlog=yacc.NullLogger(),
                  tabmodule=name, outputdir=here)
    return path


_parser = functools.lru_cache(maxsize=None)(build_parser)
_lock = _thread.allocate_lock()


class _TokenStream:
    """The lexer PLY reads from: one START_* token, then the tokens of the text."""

    def __init__(self, start, text):
        self.lexdata = text
        self._lexer = new_lexer()
        self._lexer.input(text)
        from ply import lex

        first = lex.LexToken()
        first.type, first.value, first.lineno, first.lexpos = start, "", 1, 0
        self._first = first

    def token(self):
        if self._first is not None:
            tok, self._first = self._first, None
            return tok
        return self._lexer.token()


@functools.lru_cache(maxsize=512)
def _parse(start, text):
    parser = _parser()
    with _lock:
        try:
            return parser.parse(lexer=_TokenStream(start, text))
        except _EndOfInput:
            pos = len(text)
            raise QueryError(
                "unexpected end of query", text=text, pos=pos, line=line_of(text, pos)
            ) from None


def _append(items, item):
    items.append(item)
    return items


# Words that are only a kind prefix: the name after them is missing.
_EMPTY_NAMES = {".": "attribute", "attr:": "attribute", "flag:": "flag", "scalar:": "scalar"}


def _named(p, i, name):
    """``name`` (the name in token ``i``), which must not be empty: ``select .``,
    ``attr:``, ``flag:``, ``scalar:`` and ``attr:''`` are errors, as in Guild."""
    token = p[i]
    kind = _EMPTY_NAMES.get(token.lower()) if name == token else None
    if kind is None and name:
        return name
    if kind is None:
        kind = {"ATTR": "attribute", "FLAG": "flag"}.get(p.slice[i].type, "scalar")
    text = p.lexer.lexdata
    pos = p.lexpos(i)
    raise QueryError(f"missing {kind} name after {token!r}" if name else
                     f"empty {kind} name {token!r}", text=text, pos=pos, line=line_of(text, pos))


def parse(text):
    """Parse a query: ``select COLUMNS [where EXPR] [order by ORDER] [limit N]``.

    :raises QueryError: with ``.pos`` (0-based offset) and ``.line``

    >>> [str(col) for col in parse("select .id, =batch-size, train/losses/total_loss as loss").columns]
    ['attr:id', 'flag:batch-size', 'scalar:train/losses/total_loss as loss']
    >>> parse("select minn loss")
    Traceback (most recent call last):
    rundb.errors.QueryError: unexpected token 'loss', line 1, pos 12
    """
    if not text.strip():
        raise QueryError("query string cannot be empty")
    return _parse("START_QUERY", text)


def parse_filter(text):
    """Parse an expression alone, as ``--filter`` takes it.

    >>> str(parse_filter("=optimizer in (adam, sgd) and not (last acc is null)"))
    '=optimizer in (adam, sgd) and not last acc is null'
    """
    if not text.strip():
        raise QueryError("filter cannot be empty")
    return _parse("START_FILTER", text)


def parse_colspecs(text, kind="columns"):
    """Parse comma-separated column specs (``compare --columns``): a tuple of columns.

    Errors read ``invalid KIND 'TEXT': ...`` with positions in ``select TEXT``, as Guild
    reports them.

    >>> [str(col) for col in parse_colspecs(".label, =b as B, loss")]
    ['attr:label', 'flag:b as B', 'scalar:loss']
    """
    try:
        return tuple(_parse("START_COLUMNS", "select " + text))
    except QueryError as e:
        raise QueryError(f"invalid {kind} {text!r}: {e.msg}", e.text, e.pos, e.line) from None


def parse_colspec(spec, kind="scalar"):
    """Parse one column spec, as ``--min``, ``--minimize`` and ``compare:`` entries take it.

    >>> str(parse_colspec("min loss step"))
    'scalar:min loss step'
    >>> parse_colspec("foo bar")
    Traceback (most recent call last):
    rundb.errors.QueryError: invalid scalar 'foo bar': unexpected token 'bar', line 1, pos 11
    >>> parse_colspec("loss, accuracy", kind="objective")
    Traceback (most recent call last):
    rundb.errors.QueryError: invalid objective 'loss, accuracy': too many columns
    """
    col = ast.plain_colspec(spec)
    if col is not None:
        return col
    columns = parse_colspecs(spec, kind)
    if len(columns) > 1:
        raise QueryError(f"invalid {kind} {spec!r}: too many columns")
    return columns[0]


#: Every keyword, for tests and documentation.
KEYWORDS = tuple(RESERVED)


if __name__ == "__main__":
    print(write_table_module())
