"""The query parser: the seed's "Query parser" doctests, the where/order by/limit
extensions, canonical round trips, error positions and the grammar itself."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rundb.errors import QueryError
from rundb.query import parse, parse_colspec, parse_colspecs, parse_filter
from rundb.query import ast, lexer, parser
from rundb.query.ast import And, Attr, Compare, Flag, In, IsNull, Name, Not, Or, Order, Query, Scalar

FIXTURES = Path(__file__).parent / "fixtures"


def cols(text):
    return [str(col) for col in parse(text).columns]


# The seed's "Query parser" section, example by example.
SEED_CASES = [
    ("select loss", ["scalar:loss"]),
    ("select scalar:loss", ["scalar:loss"]),
    ("select loss, train_acc, val_acc", ["scalar:loss", "scalar:train_acc", "scalar:val_acc"]),
    ("select min loss", ["scalar:min loss"]),
    ("select max loss", ["scalar:max loss"]),
    ("select first loss", ["scalar:first loss"]),
    ("select last loss", ["scalar:last loss"]),
    ("select avg gpu", ["scalar:avg gpu"]),
    ("select total hits", ["scalar:total hits"]),
    ("select count loss", ["scalar:count loss"]),
    ("select loss step", ["scalar:loss step"]),
    (
        """
  select min loss,
         min loss step,
         max acc,
         max acc step,
         last loss step
""",
        [
            "scalar:min loss",
            "scalar:min loss step",
            "scalar:max acc",
            "scalar:max acc step",
            "scalar:last loss step",
        ],
    ),
    ("select losses/.+", ["scalar:losses/.+"]),
    ("select .id", ["attr:id"]),
    ("select attr:id", ["attr:id"]),
    ("select .id, .started, .stopped, .time", ["attr:id", "attr:started", "attr:stopped", "attr:time"]),
    ("select =learning-rate, =batch-size", ["flag:learning-rate", "flag:batch-size"]),
    ("select flag:learning-rate, flag:batch-size", ["flag:learning-rate", "flag:batch-size"]),
    ("select last loss step as steps", ["scalar:last loss step as steps"]),
    ("select =learning-rate as 'Learning Rate'", ["flag:learning-rate as 'Learning Rate'"]),
    (
        "select .id, =batch-size, train/losses/total_loss as loss",
        ["attr:id", "flag:batch-size", "scalar:train/losses/total_loss as loss"],
    ),
    ("select 'loss'", ["scalar:loss"]),
    ("select 'foo bar baz'", ["scalar:foo bar baz"]),
    ("select 'losses/[^ ,]', acc", ["scalar:losses/[^ ,]", "scalar:acc"]),
    ("select 'flag:batch-size'", ["scalar:flag:batch-size"]),
    ("select flags:foo", ["scalar:flags:foo"]),
    ("select min loss as min", ["scalar:min loss as min"]),
    ("select min loss step as step", ["scalar:min loss step as step"]),
]


@pytest.mark.parametrize("text,expected", SEED_CASES)
def test_seed_query_parser(text, expected):
    assert cols(text) == expected


SEED_ERRORS = [
    ("", "query string cannot be empty", None, None),
    ("insert into flags", "unexpected token 'insert', line 1, pos 0", 0, 1),
    ("select minn loss", "unexpected token 'loss', line 1, pos 12", 12, 1),
]


@pytest.mark.parametrize("text,message,pos,line", SEED_ERRORS)
def test_seed_query_parser_errors(text, message, pos, line):
    with pytest.raises(QueryError) as e:
        parse(text)
    assert str(e.value) == message
    assert (e.value.pos, e.value.line) == (pos, line)


# Column specs on their own: `select --min`, `--minimize`, `compare --columns`.


def test_colspec_error_is_reported_in_select_text():
    # The seed: select(min="foo bar") -> "invalid scalar 'foo bar': unexpected token 'bar', line 1, pos 11"
    with pytest.raises(QueryError) as e:
        parse_colspec("foo bar")
    assert str(e.value) == "invalid scalar 'foo bar': unexpected token 'bar', line 1, pos 11"
    assert e.value.text == "select foo bar" and e.value.pos == 11


@pytest.mark.parametrize(
    "spec,message",
    [
        (
            "the quick brown fox",
            "invalid objective 'the quick brown fox': unexpected token 'quick', line 1, pos 11",
        ),
        ("loss, accuracy", "invalid objective 'loss, accuracy': too many columns"),
    ],
)
def test_objective_errors(spec, message):
    with pytest.raises(QueryError) as e:
        parse_colspec(spec, kind="objective")
    assert str(e.value) == message


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("loss", "scalar:loss"),
        ("min loss", "scalar:min loss"),
        ("x step as x_step", "scalar:x step as x_step"),
        ("=a as A", "flag:a as A"),
        (".label", "attr:label"),
        ("'foo bar'", "scalar:foo bar"),
    ],
)
def test_parse_colspec(spec, expected):
    assert str(parse_colspec(spec)) == expected


@pytest.mark.parametrize("spec", ["loss where x = 1", "loss order by x", "loss limit 1", ""])
def test_parse_colspec_takes_columns_only(spec):
    with pytest.raises(QueryError):
        parse_colspec(spec)


def test_parse_colspecs():
    # compare -cc .label,loss and a rundb.yml `compare:` list
    assert [str(c) for c in parse_colspecs(".label,loss")] == ["attr:label", "scalar:loss"]
    specs = ["=a as A", "=b as B", "x step as x_step", "x", "y", "z/ab as ab"]
    assert [c.header for c in parse_colspecs(", ".join(specs))] == ["A", "B", "x_step", "x", "y", "ab"]


@pytest.mark.parametrize(
    "spec,header",
    [
        ("=a", "a"),
        ("=a as A", "A"),
        (".id", "id"),
        ("loss", "loss"),
        ("min loss", "min loss"),
        ("min loss step", "min loss step"),
        ("x step", "x step"),
        ("x step as x_step", "x_step"),
        ("'foo bar'", "foo bar"),
        ("z/ab as ab", "ab"),
    ],
)
def test_headers(spec, header):
    # Compare's header rule: the AS name, else the column's body.
    assert parse_colspec(spec).header == header


# Tokens


@pytest.mark.parametrize(
    "text,expected",
    [
        ("select", [("SELECT", "select")]),
        ("SeLeCt", [("SELECT", "SeLeCt")]),
        ("loss", [("WORD", "loss")]),
        ("losses/.+", [("WORD", "losses/.+")]),
        ("val#acc", [("WORD", "val#acc")]),
        ("'a b'", [("QUOTED", "'a b'")]),
        ('"a b"', [("QUOTED", '"a b"')]),
        ("scalar:loss", [("SCALAR", "scalar:loss")]),
        (".id", [("ATTR", ".id")]),
        ("attr:id", [("ATTR", "attr:id")]),
        ("=lr", [("FLAG", "=lr")]),
        ("flag:lr", [("FLAG", "flag:lr")]),
        ("flags:foo", [("WORD", "flags:foo")]),
        (".5", [("WORD", ".5")]),
        ("lr=0.1", [("WORD", "lr"), ("EQ", "="), ("WORD", "0.1")]),
        ("lr = 0.1", [("WORD", "lr"), ("EQ", "="), ("WORD", "0.1")]),
        ("lr ==0.1", [("WORD", "lr"), ("EQ", "=="), ("WORD", "0.1")]),
        ("a!=b", [("WORD", "a"), ("NE", "!="), ("WORD", "b")]),
        ("a<>b", [("WORD", "a"), ("NE", "<>"), ("WORD", "b")]),
        ("a<=b", [("WORD", "a"), ("LE", "<="), ("WORD", "b")]),
        ("a>=b", [("WORD", "a"), ("GE", ">="), ("WORD", "b")]),
        ("a<b", [("WORD", "a"), ("LT", "<"), ("WORD", "b")]),
        ("a>b", [("WORD", "a"), ("GT", ">"), ("WORD", "b")]),
        ("a~b", [("WORD", "a"), ("TILDE", "~"), ("WORD", "b")]),
        ("wow!", [("WORD", "wow!")]),
        ("(=a,=b)", [("LPAREN", "("), ("FLAG", "=a"), ("COMMA", ","), ("FLAG", "=b"), ("RPAREN", ")")]),
    ],
)
def test_tokens(text, expected):
    assert [(t.type, t.value) for t in lexer.tokenize(text)] == expected


def test_unterminated_quote():
    with pytest.raises(QueryError) as e:
        parse("select 'loss")
    assert str(e.value) == "unterminated quoted string, line 1, pos 7"


# where, order by, limit


def test_where_order_limit():
    q = parse("select .id, min loss where =lr > 0.01 order by min loss desc, .started limit 5")
    assert q == Query(
        (Attr("id"), Scalar("loss", qualifier="min")),
        Compare(Flag("lr"), ">", 0.01),
        (Order(Scalar("loss", qualifier="min"), desc=True), Order(Attr("started"))),
        5,
    )


@pytest.mark.parametrize(
    "text,expected",
    [
        ("=lr > 0.01", Compare(Flag("lr"), ">", 0.01)),
        ("min loss < 0.2", Compare(Scalar("loss", "min"), "<", 0.2)),
        (".status = completed", Compare(Attr("status"), "=", "completed")),
        (".label ~ 'resnet'", Compare(Attr("label"), "~", "resnet")),
        (".label ~ 1e3", Compare(Attr("label"), "~", "1e3")),
        ("=optimizer in (adam, sgd)", In(Flag("optimizer"), ("adam", "sgd"))),
        ("=optimizer not in (adam)", In(Flag("optimizer"), ("adam",), negate=True)),
        ("last acc is not null", IsNull(Scalar("acc", "last"), negate=True)),
        ("acc is null", IsNull(Name("acc"))),
        ("a != 1", Compare(Name("a"), "!=", 1)),
        ("a <= 1", Compare(Name("a"), "<=", 1)),
        ("a >= 1", Compare(Name("a"), ">=", 1)),
        ("loss step > 10", Compare(Scalar("loss", step=True), ">", 10)),
        ("scalar:loss < 1", Compare(Scalar("loss"), "<", 1)),
        ("'loss' < 1", Compare(Scalar("loss"), "<", 1)),
        ("status = error", Compare(Name("status"), "=", "error")),
        ("lr=0.1", Compare(Name("lr"), "=", 0.1)),
    ],
)
def test_parse_filter(text, expected):
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    "word,value",
    [
        ("3", 3),
        ("-3", -3),
        ("+3", 3),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1e-3", 0.001),
        ("1E3", 1000.0),
        ("99999999999999999999", 1e20),  # beyond 64 bits: a real
        ("yes", True),
        ("no", False),
        ("true", True),
        ("False", False),
        ("null", None),
        ("NULL", None),
        ("adam", "adam"),
        ("1e1x", "1e1x"),
        ("inf", "inf"),
        ("nan", "nan"),
        ("٣", "٣"),  # only ASCII digits make numbers
        ("'3'", "3"),
        ("'yes'", "yes"),
        ("'it''s'", "it's"),
        ("last", "last"),  # keywords are strings where a value is expected
        ("step", "step"),
    ],
)
def test_values_are_typed(word, value):
    got = parse_filter(f"=x = {word}").value
    assert got == value and type(got) is type(value)


def test_and_binds_tighter_than_or():
    # a and b or c = (a and b) or c
    q = parse_filter("a = 1 and b = 2 or c = 3")
    a, b, c = (Compare(Name(n), "=", i) for n, i in (("a", 1), ("b", 2), ("c", 3)))
    assert q == Or(And(a, b), c) == parse_filter("(a = 1 and b = 2) or c = 3")
    # a or b and c = a or (b and c)
    q = parse_filter("a = 1 or b = 2 and c = 3")
    assert q == Or(a, And(b, c)) == parse_filter("a = 1 or (b = 2 and c = 3)")


def test_not_binds_tighter_than_and():
    a, b = Compare(Name("a"), "=", 1), Compare(Name("b"), "=", 2)
    assert parse_filter("not a = 1 and b = 2") == And(Not(a), b)
    assert parse_filter("not (a = 1 and b = 2)") == Not(And(a, b))


def test_and_or_associate_left():
    a, b, c = (Compare(Name(n), "=", 1) for n in "abc")
    assert parse_filter("a = 1 and b = 1 and c = 1") == And(And(a, b), c)
    assert parse_filter("a = 1 or b = 1 or c = 1") == Or(Or(a, b), c)


def test_keywords_as_names():
    assert cols("select x as select, y as where, z as order, w as null") == [
        "scalar:x as select",
        "scalar:y as where",
        "scalar:z as order",
        "scalar:w as null",
    ]


def test_multiline_query():
    q = parse("select .id,\n  min loss\nwhere =lr > 0.1\norder by min loss\nlimit 3\n")
    assert str(q) == "select .id, min loss where =lr > 0.1 order by min loss limit 3"


@pytest.mark.parametrize(
    "text,message,pos,line",
    [
        ("select", "unexpected end of query", 6, 1),
        ("select loss,", "unexpected end of query", 12, 1),
        ("select loss\n  where )", "unexpected token ')'", 20, 2),
        ("select loss,\n\n  min", "unexpected end of query", 19, 3),
        ("select loss limit -1", "invalid limit '-1': expected a whole number", 18, 1),
        ("select loss limit 1.5", "invalid limit '1.5': expected a whole number", 18, 1),
        ("select loss where x ~ '('", "invalid regular expression '(': missing ), unterminated subpattern at position 0", 22, 1),
        ("select loss where x = 1 2", "unexpected token '2'", 24, 1),
        ("select loss where x in ()", "unexpected token ')'", 24, 1),
        ("select loss where x", "unexpected end of query", 19, 1),
        ("select loss where = 1", "unexpected token '='", 18, 1),
        ("select loss order loss", "unexpected token 'loss'", 18, 1),
        ("select step", "unexpected token 'step'", 7, 1),
        ("select loss as", "unexpected end of query", 14, 1),
        ("select loss as .x", "unexpected token '.x'", 15, 1),
        ("select =a =b", "unexpected token '=b'", 10, 1),
        ("select loss where status =completed", "unexpected token '=completed'", 25, 1),
        ("select a b", "unexpected token 'b'", 9, 1),
    ],
)
def test_errors(text, message, pos, line):
    with pytest.raises(QueryError) as e:
        parse(text)
    assert (e.value.msg, e.value.pos, e.value.line) == (message, pos, line)
    assert e.value.text == text
    assert str(e.value) == f"{message}, line {line}, pos {pos}"


def test_error_caret():
    with pytest.raises(QueryError) as e:
        parse("select loss\n  where )")
    assert e.value.caret() == "  where )\n        ^"


@pytest.mark.parametrize("text", ["", "  ", "\n\t"])
def test_empty_filter(text):
    with pytest.raises(QueryError) as e:
        parse_filter(text)
    assert str(e.value) == "filter cannot be empty"


def test_filter_errors_are_positioned_in_filter_text():
    with pytest.raises(QueryError) as e:
        parse_filter("lr > 0.1 and and")
    assert (e.value.msg, e.value.pos) == ("unexpected token 'and'", 13)


def test_deep_nesting_is_an_error_not_a_crash():
    text = "not " * (parser.MAX_DEPTH + 1) + "a = 1"
    with pytest.raises(QueryError) as e:
        parse_filter(text)
    assert e.value.msg.startswith("expression nested too deeply")
    parse_filter("not " * parser.MAX_DEPTH + "a = 1")


# Canonical text


def _fixture_queries():
    lines = (FIXTURES / "queries.txt").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("text", _fixture_queries())
def test_round_trip(text):
    assert str(parse(text)) == text


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("SELECT scalar:loss AS L", "select loss as L"),
        ("select 'loss', \"acc\"", "select loss, acc"),
        ("select attr:id, flag:lr", "select .id, =lr"),
        ("select .id where (a = 1 and b = 2) or c = 3", "select .id where a = 1 and b = 2 or c = 3"),
        ("select .id where ((a = 1))", "select .id where a = 1"),
        ("select .id where x == 1e-3", "select .id where x = 0.001"),
        ("select .id where x <> yes", "select .id where x != true"),
        ("select .id where x = 'plain'", "select .id where x = plain"),
        ("select .id order by x asc", "select .id order by x"),
    ],
)
def test_canonical_text(text, canonical):
    assert str(parse(text)) == canonical
    assert str(parse(canonical)) == canonical


def test_columns_built_in_code_print_reparsable_text():
    q = Query(
        (
            Scalar("a b"),
            Scalar("min"),
            Scalar(".hidden", qualifier="max", step=True),
            Attr("odd name"),
            Attr("1st"),
            Flag("x'y"),
            Flag("q", alias="a 'b'"),
        ),
        Compare(Scalar("loss"), "<", 1),
    )
    assert parse(str(q)) == q


# Properties

_PIECES = st.sampled_from(
    [
        "select", "where", "order", "by", "limit", "asc", "desc", "as", "and", "or", "not", "in",
        "is", "null", "min", "max", "first", "last", "avg", "total", "count", "step", "loss",
        "=lr", ".id", "attr:x", "flag:y", "scalar:z", "'q w'", '"e"', "'", '"', ",", "(", ")",
        "=", "!=", "<", "<=", ">", ">=", "~", "==", "<>", "1", "-2.5e3", "yes", "\n", "#", "/.+",
        "\x00", "\ud800", "é", "",
    ]
)
_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(_PIECES, max_size=25).map(" ".join),
    st.lists(_PIECES, max_size=25).map("".join),
    st.lists(_PIECES, max_size=25).map(lambda p: "select " + " ".join(p)),
)


def _check_parse(fn, text):
    try:
        result = fn(text)
    except QueryError as e:
        if e.pos is None:
            assert not text.strip()
        else:
            assert 0 <= e.pos <= len(e.text) and e.line == e.text.count("\n", 0, e.pos) + 1
        return None
    # Whatever parses prints as text that parses back to the same tree.
    assert fn(str(result)) == result
    return result


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_random_text_parses_or_raises_query_error(text):
    _check_parse(parse, text)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_random_text_as_filter(text):
    _check_parse(parse_filter, text)
    _check_parse(parse_filter, "a = 1 and " + text)


@settings(max_examples=200)
@given(_TEXT)
def test_random_colspecs(text):
    try:
        parse_colspecs(text)
    except QueryError as e:
        assert e.pos is None or 0 <= e.pos <= len(e.text)


@given(st.text(max_size=20))
def test_any_string_value_round_trips(s):
    node = Compare(Flag("x"), "=", s)
    assert parse_filter(str(node)) == node


# The grammar


class _Log:
    def __init__(self):
        self.messages = []

    def _record(self, level):
        return lambda msg, *args, **kw: self.messages.append((level, msg % args if args else msg))

    def __getattr__(self, level):
        if level in ("debug", "info"):
            return lambda *a, **kw: None
        return self._record(level)


def test_grammar_has_no_conflicts_or_unused_symbols(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = _Log()
    # debug=True makes PLY report conflicts; a debuglog keeps it from writing parser.out.
    parser.build_parser(debug=True, debuglog=_Log(), errorlog=log)
    assert log.messages == []
    lexlog = _Log()
    lexer.build_lexer(errorlog=lexlog, debug=False)
    assert lexlog.messages == []
    assert list(tmp_path.iterdir()) == []


def test_grammar_uses_every_token():
    used = set()
    for name in dir(parser._Grammar):
        rule = getattr(parser._Grammar, name)
        if name.startswith("p_") and name != "p_error":
            used.update(rule.__doc__.replace("|", " ").replace(":", " ").split())
    assert set(lexer.tokens) - used == set()


def test_building_writes_no_files():
    package = Path(parser.__file__).parent
    before = sorted(p.name for p in package.iterdir())
    parser.build_parser()
    lexer.build_lexer()
    after = sorted(p.name for p in package.iterdir())
    assert before == after
    assert not any(name.startswith(("parsetab", "parser.out", "lextab")) for name in after)


def test_import_is_cheap_and_builds_nothing():
    code = (
        "import sys, rundb.query, rundb.catalog\n"
        "assert 'rundb.query.parser' not in sys.modules, sorted(sys.modules)\n"
        "assert 'ply' not in sys.modules\n"
        "from rundb.query import parse\n"
        "from rundb.query import parser\n"
        "assert parser._parser.cache_info().currsize == 0\n"
        "parse('select loss')\n"
        "assert parser._parser.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))


def test_works_under_python_OO():
    code = "from rundb.query import parse; print(parse('select min loss where a = 1'))"
    out = subprocess.run(
        [sys.executable, "-OO", "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out == "select min loss where a = 1\n"


def test_another_ply_grammar_is_unaffected():
    # Both grammars build from their own `module=` objects; building ours leaves PLY's
    # module-level defaults as they were.
    from ply import lex, yacc

    before = (getattr(lex, "lexer", None), getattr(yacc, "parse", None))
    parser.build_parser()
    lexer.build_lexer()
    assert (getattr(lex, "lexer", None), getattr(yacc, "parse", None)) == before
    from rundb.query import timerange

    assert timerange is not None
    assert str(parse("select a")) == "select a"


def test_frozen_nodes_and_positions_out_of_equality():
    a = parse("select loss").columns[0]
    b = parse("select    loss").columns[0]
    assert a == b and (a.pos, b.pos) == (7, 10)
    with pytest.raises(AttributeError):
        a.key = "x"
    assert isinstance(a, ast.Scalar)
