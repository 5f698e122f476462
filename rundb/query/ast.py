"""Query AST: frozen records (rundb.record) whose ``str()`` is canonical text.

Columns print as the seeds show them (``scalar:min loss step as step``, ``flag:lr``,
``attr:id``); ``Query`` and expressions print as canonical query text that parses back
to an equal tree (``str(parse(q)) == q`` for canonical ``q``). Positions (``pos``, a
0-based offset in the parsed text) stay out of equality.

>>> col = Scalar("loss", qualifier="min", step=True, alias="step")
>>> str(col), col.header, col.text()
('scalar:min loss step as step', 'step', 'min loss step as step')
>>> str(Flag("learning-rate", alias="Learning Rate"))
"flag:learning-rate as 'Learning Rate'"
"""

import math
from ..record import field, record

# The lexer (and PLY with it) is imported by the functions that print names: building a
# query from code, as `select --min loss` does, never loads it.

#: Scalar qualifiers; no qualifier means ``last``.
QUALIFIERS = ("min", "max", "first", "last", "avg", "total", "count")

#: Comparison operators, as written canonically.
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~", "contains", "like", "ilike")

#: Cross-run aggregate functions (``mean(val_acc)``); ``avg`` is ``mean``.
AGGREGATES = ("mean", "std", "std_pop", "median", "min", "max", "sum", "count")


def _name_text(name):
    # A name after AS: plain words and keywords stand as they are, anything else is quoted.
    from .lexer import RESERVED, quote, word_type

    kind = word_type(name)
    return name if kind == "WORD" or kind in RESERVED.values() else quote(name)


def _alias_text(alias):
    return "" if alias is None else f" as {_name_text(alias)}"


def _prefixed_text(prefix, name):
    from .lexer import prefixed_name, quote, word_type

    text = prefix + name
    if word_type(text) == _PREFIX_TYPES[prefix] and prefixed_name(text) == name:
        return text
    return prefix + quote(name)


_PREFIX_TYPES = {".": "ATTR", "=": "FLAG", "scalar:": "SCALAR"}


@record(frozen=True)
class Scalar:
    """A scalar column: ``[qualifier] key [step]``; ``key`` may be ``prefix#tag`` or a regex."""

    key: str
    qualifier: str | None = None
    step: bool = False
    alias: str | None = None
    pos: int = field(default=-1, compare=False, repr=False)

    @property
    def body(self):
        "``min loss step``: the column as written, without its alias."
        parts = [self.qualifier] if self.qualifier else []
        parts.append(self.key)
        if self.step:
            parts.append("step")
        return " ".join(parts)

    @property
    def header(self):
        return self.alias if self.alias is not None else self.body

    def text(self, bare=True):
        """Canonical query text. With ``bare=False`` (in an expression, where a bare word is
        resolved by name) a scalar with neither qualifier nor step is written ``scalar:key``."""
        from .lexer import is_plain_word, quote

        if is_plain_word(self.key):
            key = self.key if (bare or self.qualifier or self.step) else "scalar:" + self.key
        else:
            key = quote(self.key)
        parts = [self.qualifier] if self.qualifier else []
        parts.append(key)
        if self.step:
            parts.append("step")
        return " ".join(parts) + _alias_text(self.alias)

    def __str__(self):
        return f"scalar:{self.body}" + _alias_text(self.alias)


@record(frozen=True)
class Attr:
    """A run attribute: ``.name`` or ``attr:name``."""

    name: str
    alias: str | None = None
    pos: int = field(default=-1, compare=False, repr=False)

    body = property(lambda self: self.name)
    header = property(lambda self: self.alias if self.alias is not None else self.name)

    def text(self, bare=True):
        return _prefixed_text(".", self.name) + _alias_text(self.alias)

    def __str__(self):
        return f"attr:{self.name}" + _alias_text(self.alias)


@record(frozen=True)
class Flag:
    """A flag: ``=name`` or ``flag:name``."""

    name: str
    alias: str | None = None
    pos: int = field(default=-1, compare=False, repr=False)

    body = property(lambda self: self.name)
    header = property(lambda self: self.alias if self.alias is not None else self.name)

    def text(self, bare=True):
        return _prefixed_text("=", self.name) + _alias_text(self.alias)

    def __str__(self):
        return f"flag:{self.name}" + _alias_text(self.alias)


@record(frozen=True)
class Name:
    """A bare word in an expression or ORDER BY: resolved when compiled (a select column's
    alias in ORDER BY, then an attribute, a flag, a scalar)."""

    name: str
    pos: int = field(default=-1, compare=False, repr=False)
    alias = None

    body = property(lambda self: self.name)
    header = property(lambda self: self.name)

    def text(self, bare=True):
        return self.name

    def __str__(self):
        return self.name


@record(frozen=True)
class Aggregate:
    """A cross-run aggregate: ``FUNC(column)`` over the per-run values of ``column`` in a
    group (``count(*)``: ``col`` is None). Written as a call, so it never collides with a
    scalar's per-run qualifier (``min loss`` is a run's minimum, ``min(loss)`` the least
    of the runs' last losses)."""

    func: str
    col: object = None
    alias: str | None = None
    pos: int = field(default=-1, compare=False, repr=False)

    @property
    def body(self):
        return f"{self.func}({'*' if self.col is None else self.col.text(bare=True)})"

    header = property(lambda self: self.alias if self.alias is not None else self.body)

    def text(self, bare=True):
        return self.body + _alias_text(self.alias)

    def __str__(self):
        return self.text()


def format_value(value):
    """A comparison value as canonical text.

    >>> [format_value(v) for v in (0.01, 3, True, None, "adam", "a b", "3", "yes")]
    ['0.01', '3', 'true', 'null', 'adam', "'a b'", "'3'", "'yes'"]
    """
    from .lexer import BOOLEANS, is_plain_word, quote, word_value

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    if isinstance(value, (int, float)):
        return repr(value)
    if is_plain_word(value) and word_value(value) == value and value.lower() not in BOOLEANS:
        return value
    return quote(value)


@record(frozen=True)
class Compare:
    """``col OP value``: OP is one of ``= != < <= > >= ~ contains`` (``~``: regex search;
    ``contains``: the value's text holds the given text, Guild's filter word)."""

    col: object
    op: str
    value: object
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self):
        return f"{self.col.text(bare=False)} {self.op} {format_value(self.value)}"


@record(frozen=True)
class In:
    """``col [NOT] IN (v, ...)``."""

    col: object
    values: tuple
    negate: bool = False
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self):
        op = "not in" if self.negate else "in"
        return f"{self.col.text(bare=False)} {op} ({', '.join(map(format_value, self.values))})"


@record(frozen=True)
class IsNull:
    """``col IS [NOT] NULL``."""

    col: object
    negate: bool = False
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self):
        return f"{self.col.text(bare=False)} is {'not ' if self.negate else ''}null"


def _depth(node):
    return getattr(node, "depth", 0)


# Binding strength for printing: a child binding looser than its parent gets parentheses.
_OR, _AND, _NOT, _ATOM = range(4)


def _strength(node):
    return {Or: _OR, And: _AND, Not: _NOT}.get(type(node), _ATOM)


def _operand(node, parent, right=False):
    # Binary operators associate to the left, so an equal-strength right child (built from
    # explicit parentheses) keeps them.
    weak = _strength(node) < parent or (right and _strength(node) == parent)
    return f"({node})" if weak else str(node)


@record(frozen=True)
class And:
    left: object
    right: object
    depth: int = field(default=1, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "depth", 1 + max(_depth(self.left), _depth(self.right)))

    def __str__(self):
        return f"{_operand(self.left, _AND)} and {_operand(self.right, _AND, right=True)}"


@record(frozen=True)
class Or:
    left: object
    right: object
    depth: int = field(default=1, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "depth", 1 + max(_depth(self.left), _depth(self.right)))

    def __str__(self):
        return f"{_operand(self.left, _OR)} or {_operand(self.right, _OR, right=True)}"


@record(frozen=True)
class Not:
    expr: object
    depth: int = field(default=1, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "depth", 1 + _depth(self.expr))

    def __str__(self):
        return f"not {_operand(self.expr, _NOT)}"


@record(frozen=True)
class Order:
    """An ORDER BY item; NULLs always sort last, whatever the direction."""

    col: object
    desc: bool = False

    def __str__(self):
        return self.col.text(bare=False) + (" desc" if self.desc else "")


@record(frozen=True)
class Query:
    """``select COLUMNS [where EXPR] [group by COLUMNS [having EXPR]] [order by ORDER, ...]
    [limit N]``."""

    columns: tuple
    where: object = None
    order_by: tuple = ()
    limit: int | None = None
    group_by: tuple = ()
    having: object = None

    @property
    def grouped(self):
        "True when the query answers per group (a group by, or an aggregate column)."
        return bool(self.group_by) or any(isinstance(c, Aggregate) for c in self.columns)

    def __str__(self):
        text = "select " + ", ".join(col.text() for col in self.columns)
        if self.where is not None:
            text += f" where {self.where}"
        if self.group_by:
            text += " group by " + ", ".join(col.text(bare=False) for col in self.group_by)
        if self.having is not None:
            text += f" having {self.having}"
        if self.order_by:
            text += " order by " + ", ".join(map(str, self.order_by))
        if self.limit is not None:
            text += f" limit {self.limit}"
        return text


_PLAIN_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_PLAIN_CHARS = _PLAIN_START | frozenset("0123456789-./#")
#: Words the lexer reads as something else than a WORD (its RESERVED keywords), or may,
#: by what follows them (tests/test_startup.py checks this against the lexer).
NOT_PLAIN = frozenset(
    "select where order by limit asc desc as and or not in is null min max first last avg "
    "total count step contains group like ilike having".split())


def plain_colspec(spec):
    """The column of ``KEY`` or ``QUALIFIER KEY`` (``loss``, ``min val_loss``), where KEY is
    a plain word (ASCII letters, digits, ``_ - . / #``, not a keyword), built without the
    lexer and parser: the tree, positions included, that ``parse_colspec`` gives (the
    parser calls this first). None for any other text, which only the parser reads.

    >>> plain_colspec("min val_loss"), plain_colspec("loss step")
    (Scalar(key='val_loss', qualifier='min', step=False, alias=None), None)
    """
    qualifier, space, key = spec.rpartition(" ")
    if space and qualifier.lower() not in QUALIFIERS:
        return None
    if not key or key[0] not in _PLAIN_START or not _PLAIN_CHARS.issuperset(key):
        return None
    if key.lower() in NOT_PLAIN:
        return None
    # Positions as PLY gives them: a qualified column takes its qualifier's (a rule, which
    # PLY places at 0), a bare one its word's, after the "select " parse_colspecs adds.
    return Scalar(key, qualifier=qualifier.lower() or None,
                  pos=0 if qualifier else len("select "))


#: Column node classes (what ``Query.columns`` holds).
COLUMNS = (Scalar, Attr, Flag)
#: Expression node classes.
EXPRESSIONS = (Compare, In, IsNull, And, Or, Not)
