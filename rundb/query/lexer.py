"""Query text -> tokens (PLY lex).

Words are deliberately permissive, as Guild's are, so scalar keys such as
``train/losses/total_loss``, ``val#acc`` or the regex ``losses/.+`` need no quotes.
A word stops at white space, a comma, a quote, a parenthesis or a comparison operator.
Keywords are matched case-insensitively through one table (``RESERVED``).

Token values are always the raw text of the token; ``unquote()`` and ``prefixed_name()``
decode them, so error messages can quote exactly what the user wrote.

>>> [(t.type, t.value) for t in tokenize("select min loss, =lr as 'Learning Rate'")]
[('SELECT', 'select'), ('MIN', 'min'), ('WORD', 'loss'), ('COMMA', ','), ('FLAG', '=lr'), ('AS', 'as'), ('QUOTED', "'Learning Rate'")]
>>> [(t.type, t.value) for t in tokenize(".status=completed and lr>=0.1")]
[('ATTR', '.status'), ('EQ', '='), ('WORD', 'completed'), ('AND', 'and'), ('WORD', 'lr'), ('GE', '>='), ('WORD', '0.1')]
"""

import contextlib
import functools

from ..errors import QueryError

# PLY and re are imported where they are used: the token table below is plain data, and a
# query built in code (``select --min loss``) needs no lexer at all.

#: Keywords, matched case-insensitively; any of them may still name a column after AS.
RESERVED = {
    word: word.upper()
    for word in (
        "select where order by limit asc desc as and or not in is null "
        "min max first last avg total count step contains"
    ).split()
}

#: Synthetic first tokens choosing what the text holds (see ``parser``); never lexed.
START_TOKENS = ("START_QUERY", "START_FILTER", "START_COLUMNS")

tokens = (
    *sorted(set(RESERVED.values())),
    "WORD",
    "QUOTED",
    "SCALAR",
    "ATTR",
    "FLAG",
    "COMMA",
    "LPAREN",
    "RPAREN",
    "EQ",
    "NE",
    "LE",
    "GE",
    "LT",
    "GT",
    "TILDE",
    "LIST",
    "GROUP",
    "LIKE",
    "ILIKE",
    *START_TOKENS,
)

# A quoted string; a quote is written inside one by doubling it ('it''s').
_QUOTED = r"""'(?:[^']|'')*'|"(?:[^"]|"")*\""""
# One character of an unquoted word: anything but white space, a comma, a quote, a
# parenthesis or an operator character (a '!' is allowed unless it starts '!=').
_WORDCHAR = r"""(?:[^\s,'"()=<>!~]|!(?!=))"""
_WORD = _WORDCHAR + "+"
# '=' starts a flag only at the start of a word, so 'lr=0.1' is a comparison.
_AT_WORD_START = r"(?<![^\s,(])"



@functools.lru_cache(maxsize=None)
def _patterns():
    """(BY, VALUE_NEXT, NUMBER, INT): the lexer's helper patterns, compiled on first use."""
    import re

    return (
        re.compile(r"\s+by(?![^\s,'\"()=<>!~])", re.IGNORECASE),
        re.compile(r"\s+(?!(?:where|order|group|having|limit|as|and|or|asc|desc)"
                   r"(?![^\s,'\"()=<>!~]))[^\s,()=<>!~]", re.IGNORECASE),
        re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"),
        re.compile(r"[-+]?[0-9]+"),
    )


def _token(regex):
    "What ``ply.lex.TOKEN`` does (the rule's regex), without importing PLY."

    def set_regex(f):
        f.regex = regex
        return f

    return set_regex

_INT64 = 2**63

#: Unquoted words read as booleans in a value position (YAML 1.1's spellings).
BOOLEANS = {"yes": True, "true": True, "no": False, "false": False}


class _Rules:
    """PLY lexer rules, collected by ``ply.lex.lex(module=_Rules())``."""

    tokens = tokens

    t_COMMA = r","
    t_LPAREN = r"\("
    t_RPAREN = r"\)"
    t_EQ = r"==?"
    t_NE = r"!=|<>"
    t_LE = r"<="
    t_GE = r">="
    t_LT = r"<"
    t_GT = r">"
    t_TILDE = r"~"
    t_ignore_SPACE = r"\s+"

    # Function rules are tried in the order they are defined, before the string rules.

    @_token(_QUOTED)
    def t_QUOTED(self, t):
        return t

    # A bracketed list of values at the start of a word (Guild's ``in [a, b]``); the
    # parser takes its values apart. Unquoted words with brackets inside (the regex key
    # ``loss[0-9]``) are still words.
    @_token(r"%s\[(?:%s|[^\]'\"])*\]" % (_AT_WORD_START, _QUOTED))
    def t_LIST(self, t):
        return t

    @_token(r"scalar:(?:%s|%s)" % (_QUOTED, _WORD))
    def t_SCALAR(self, t):
        return t

    @_token(r"(?:attr:(?:%s|%s)|\.(?:%s|[^\W\d]%s*))" % (_QUOTED, _WORD, _QUOTED, _WORDCHAR))
    def t_ATTR(self, t):
        return t

    @_token(
        r"(?:flag:(?:%s|%s)|%s=(?:%s|[^\W\d]%s*))"
        % (_QUOTED, _WORD, _AT_WORD_START, _QUOTED, _WORDCHAR)
    )
    def t_FLAG(self, t):
        return t

    @_token(_WORD)
    def t_WORD(self, t):
        t.type = RESERVED.get(t.value.lower(), "WORD")
        if t.type == "WORD" and t.value.lower() == "group" and _patterns()[0].match(
                t.lexer.lexdata, t.lexpos + 5):
            # `group` is a keyword only before `by`: a column may still be called group
            t.type = "GROUP"
        elif t.type == "WORD" and t.value.lower() in ("like", "ilike") and _patterns()[1].match(
                t.lexer.lexdata, t.lexpos + len(t.value)):
            # an operator only before a value: a column may still be called like
            t.type = t.value.upper()
        return t

    def t_error(self, t):
        text = t.lexer.lexdata
        # Only an unterminated quote gets here: every other character starts a token.
        raise QueryError(
            "unterminated quoted string",
            text=text,
            pos=t.lexpos,
            line=line_of(text, t.lexpos),
        )


@contextlib.contextmanager
def keep_ply_globals():
    """Undo the module globals ``lex.lex()``/``yacc.yacc()`` set, so that building this
    grammar never changes another grammar's defaults."""
    from ply import lex, yacc

    missing = object()
    names = ((lex, ("lexer", "token", "input")), (yacc, ("parse",)))
    saved = [(m, n, getattr(m, n, missing)) for m, ns in names for n in ns]
    try:
        yield
    finally:
        for module, name, value in saved:
            if value is missing:
                module.__dict__.pop(name, None)
            else:
                setattr(module, name, value)


def build_lexer(**options):
    """Build a new PLY lexer; *options* go to ``lex.lex`` (tests pass ``errorlog``)."""
    from ply import lex

    options.setdefault("errorlog", lex.NullLogger())
    with keep_ply_globals():
        return lex.lex(module=_Rules(), optimize=False, reflags=0, **options)


@functools.lru_cache(maxsize=None)
def _master_lexer():
    return build_lexer()


def new_lexer():
    """A fresh lexer (clones of one built master: cheap, and never shared between parses)."""
    return _master_lexer().clone()


def tokenize(text):
    """All tokens of *text*; raises ``QueryError`` at an unterminated quote."""
    lexer = new_lexer()
    lexer.input(text)
    return list(iter(lexer.token, None))


def line_of(text, pos):
    "1-based line number of offset *pos* in *text*."
    return text.count("\n", 0, pos) + 1


# Decoding and encoding token text.


def unquote(raw):
    """The string a QUOTED token stands for.

    >>> unquote("'foo bar'"), unquote('"it\\'s"'), unquote("'it''s'")
    ('foo bar', "it's", "it's")
    """
    quote = raw[0]
    return raw[1:-1].replace(quote * 2, quote)


def quote(s):
    """*s* as a QUOTED token (single quotes, inner quotes doubled).

    >>> print(quote("it's"))
    'it''s'
    """
    return "'" + s.replace("'", "''") + "'"


def prefixed_name(raw):
    """The name in a SCALAR, ATTR or FLAG token: ``=lr`` -> ``lr``, ``attr:'a b'`` -> ``a b``.

    >>> prefixed_name("=lr"), prefixed_name(".id"), prefixed_name("scalar:'a b'")
    ('lr', 'id', 'a b')
    """
    rest = raw[1:] if raw[0] in ".=" else raw.split(":", 1)[1]
    return unquote(rest) if rest[:1] in ("'", '"') else rest


def word_type(s):
    """The token type *s* alone lexes as, or None if it is not exactly one token.

    >>> word_type("loss"), word_type("min"), word_type(".id"), word_type("a b")
    ('WORD', 'MIN', 'ATTR', None)
    """
    try:
        toks = tokenize(s)
    except QueryError:
        return None
    if len(toks) == 1 and toks[0].value == s:
        return toks[0].type
    return None


def is_plain_word(s):
    "True when *s* reads back, unquoted, as the one WORD *s*."
    return word_type(s) == "WORD"


def word_value(raw):
    """The typed value of an unquoted word: int, float, bool or str.

    >>> word_value("3"), word_value("1e-3"), word_value("yes"), word_value("adam")
    (3, 0.001, True, 'adam')
    """
    _by, _value_next, number, integer = _patterns()
    if number.fullmatch(raw):
        if integer.fullmatch(raw):
            n = int(raw)
            # SQLite integers are 64-bit; a larger literal compares as a real.
            return n if -_INT64 <= n < _INT64 else float(n)
        return float(raw)
    return BOOLEANS.get(raw.lower(), raw)
