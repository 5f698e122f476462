"""Flag values on the command line: decode, encode, format, parse (SPEC §3)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rundb.errors import FlagError
from rundb.flagvals import (
    decode_flag_function,
    decode_flag_value,
    encode_flag_value,
    format_flag_assigns,
    format_flag_value,
    format_label_value,
    parse_flag_assigns,
)


def _same(a, b):
    "Equal values of the same type (1 == 1.0 == True in Python, not here)."
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


# ---------------------------------------------------------------------------
# decode_flag_value


@pytest.mark.parametrize(
    "text,expected",
    [
        # ints and floats
        ("1", 1),
        ("-12", -12),
        ("1.1", 1.1),
        (".1", 0.1),
        ("1.", 1.0),
        ("1.e1", 10.0),
        ("1.2e2", 120.0),
        ("1e-06", 1e-06),
        ("1.0e-06", 1e-06),
        ("1234567e1", 12345670.0),
        ("1e2345671", math.inf),
        (".inf", math.inf),
        ("-.inf", -math.inf),
        # run-id-like: 3-8 chars, no [-+.], lowercase e
        ("1e1", "1e1"),
        ("12e2", "12e2"),
        ("123e3", "123e3"),
        ("123456e7", "123456e7"),
        ("67217e15", "67217e15"),
        ("1e234567", "1e234567"),
        ("1234e567", "1234e567"),
        ("1e2", "1e2"),
        ("12e3", "12e3"),
        ("123e4", "123e4"),
        ("1234e5", "1234e5"),
        ("12345e6", "12345e6"),
        # ... and the non-examples, which are floats as in YAML
        ("1234567e8", 123456700000000.0),
        ("+12345e6", 12345000000.0),
        ("123456E7", 1234560000000.0),
        ("1.23455e6", 1234550.0),
        # strings
        ("A", "A"),
        ("a b", "a b"),
        ("'1'", "1"),
        ('"2"', "2"),
        ("'1e3'", "1e3"),
        ("'1234567e1'", "1234567e1"),
        ("'1e2345671'", "1e2345671"),
        ("'a b'", "a b"),
        ("'''a b'''", "'a b'"),
        ('"a\\tb"', "a\tb"),
        ("", ""),
        ("''", ""),
        # booleans and null
        ("True", True),
        ("true", True),
        ("yes", True),
        ("False", False),
        ("false", False),
        ("no", False),
        ("null", None),
        # lists and dicts
        ("[]", []),
        ("[1]", [1]),
        ("[1,2,3,a,b,1.,1.2]", [1, 2, 3, "a", "b", 1.0, 1.2]),
        ("['A','B']", ["A", "B"]),
        ("['', a, 1, 1.0, 0.3333333333333333, yes, no, null]",
         ["", "a", 1, 1.0, 0.3333333333333333, True, False, None]),
        ("{}", {}),
        ("{'a':456,'b':'C'}", {"a": 456, "b": "C"}),
        ("{a: 1.123, b: c d, e: yes, f: [1, 2, g h]}",
         {"a": 1.123, "b": "c d", "e": True, "f": [1, 2, "g h"]}),
        # exceptions to YAML
        ("1_2_3", "1_2_3"),
        ("1.1_2", "1.1_2"),
        ("1:2", "1:2"),
        ("[1:2]", "[1:2]"),
        ("[1:2:3]", "[1:2:3]"),
        ("uniform[-2.0:2.0]", "uniform[-2.0:2.0]"),
        ("f[1e3]", "f[1e3]"),
        # list repetition
        ("[1] * 2", [1, 1]),
        ("[1]*2", [1, 1]),
        (" [1] * 2 ", [1, 1]),
        ("[] * 2", []),
        ("[1] * 0", []),
        ("[1] * 1", [1]),
        ("[1,2] * 2", [1, 2, 1, 2]),
        # not valid syntax: the text itself
        ("[1,2", "[1,2"),
        ("'a' b", "'a' b"),
        ("{a: [1}", "{a: [1}"),
        ("x] * 2", "x] * 2"),
    ],
)
def test_decode_flag_value(text, expected):
    assert _same(decode_flag_value(text), expected)


def test_decode_nan():
    assert math.isnan(decode_flag_value(".nan"))


def test_decode_non_string_passes_through():
    assert decode_flag_value(1.5) == 1.5


# ---------------------------------------------------------------------------
# Sequence functions


@pytest.mark.parametrize(
    "text,expected",
    [
        ("range[1:5]", [1, 2, 3, 4, 5]),
        ("range[0:5:2]", [0, 2, 4]),
        ("range[5:1:-1]", [5, 4, 3, 2, 1]),
        ("range[1:5:0.5]", [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]),
        ("range[1e-5:1e-4:1e-5]",
         [1e-05, 2e-05, 3e-05, 4e-05, 5e-05, 6e-05, 7e-05, 8e-05, 9e-05, 0.0001]),
        ("range[10]", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ("range[1:5:-1]", []),
        ("linspace[1:5]", [1.0, 2.0, 3.0, 4.0, 5.0]),
        ("linspace[1:10]", [1.0, 3.25, 5.5, 7.75, 10.0]),
        ("linspace[1:10:10]", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
        ("linspace[1e-2:1e-1:10]",
         [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]),
        ("linspace[0:1:1]", [0.0]),
        ("logspace[1:5]", [10.0, 100.0, 1000.0, 10000.0, 100000.0]),
        ("logspace[-5:0:6]", [1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0]),
        ("logspace[0:3:4:2]", [1.0, 2.0, 4.0, 8.0]),
    ],
)
def test_sequence_functions(text, expected, warnings_log):
    assert _same(decode_flag_value(text), expected)
    assert warnings_log() == []


def test_float_range_has_exactly_ten_values():
    assert len(decode_flag_value("range[1e-5:1e-4:1e-5]")) == 10


@pytest.mark.parametrize(
    "text,expected,warning",
    [
        ("range[1:5:1:2:3]", [1, 2, 3, 4, 5],
         "WARNING: unsupported arguments for range function: (2, 3) - ignoring"),
        ("range[foo:bar]", "range[foo:bar]",
         "WARNING: error decoding 'range[foo:bar]': invalid arg 'foo': expected a number"),
        ("range[]", "range[]",
         "WARNING: error decoding 'range[]': function requires at least 1 arg(s)"),
        ("range[1:5:0]", "range[1:5:0]",
         "WARNING: error decoding 'range[1:5:0]': step cannot be 0"),
        ("linspace[1:5:5:hello:456]", [1.0, 2.0, 3.0, 4.0, 5.0],
         "WARNING: unsupported arguments for linspace function: ('hello', 456) - ignoring"),
        ("linspace[]", "linspace[]",
         "WARNING: error decoding 'linspace[]': function requires at least 2 arg(s)"),
        ("linspace[1:bar]", "linspace[1:bar]",
         "WARNING: error decoding 'linspace[1:bar]': invalid arg 'bar': expected a number"),
        ("logspace[0:3:4:2:456:hello]", [1.0, 2.0, 4.0, 8.0],
         "WARNING: unsupported arguments for logspace function: (456, 'hello') - ignoring"),
        ("logspace[]", "logspace[]",
         "WARNING: error decoding 'logspace[]': function requires at least 2 arg(s)"),
        ("logspace[1:bar]", "logspace[1:bar]",
         "WARNING: error decoding 'logspace[1:bar]': invalid arg 'bar': expected a number"),
        ("range[1e9]", "range[1e9]",
         "WARNING: error decoding 'range[1e9]': sequence too long "
         "(1000000000 values, max 1000000)"),
    ],
)
def test_sequence_function_warnings(text, expected, warning, warnings_log):
    assert _same(decode_flag_value(text), expected)
    assert warnings_log() == [warning]


# ---------------------------------------------------------------------------
# decode_flag_function


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[]", (None, ())),
        ("[1]", (None, (1,))),
        ("[1:2]", (None, (1, 2))),
        ("[1:2:3]", (None, (1, 2, 3))),
        ("[1:2:3:4:5]", (None, (1, 2, 3, 4, 5))),
        ("uniform[-2.0:2.0]", ("uniform", (-2.0, 2.0))),
        ("log-uniform[-2.0:2.0]", ("log-uniform", (-2.0, 2.0))),
        ("foo.bar.baz[-2.0:2.0]", ("foo.bar.baz", (-2.0, 2.0))),
        ("three_args[1:2:3]", ("three_args", (1, 2, 3))),
        ("four_args[1:2:3:4]", ("four_args", (1, 2, 3, 4))),
        ("five_args[1:2:3:4:5]", ("five_args", (1, 2, 3, 4, 5))),
        ("[hello:1:1.2]", (None, ("hello", 1, 1.2))),
        ("[this has spaces:yes:[1,2,3]]", (None, ("this has spaces", True, [1, 2, 3]))),
        ("myfun[hello:1:1.2]", ("myfun", ("hello", 1, 1.2))),
        ("myfun[this has spaces:no:[1, 2, null]]",
         ("myfun", ("this has spaces", False, [1, 2, None]))),
        ("myfun[1e-1:1.1e-1:[1e-2, 1.1e-2]]", ("myfun", (0.1, 0.11, [0.01, 0.011]))),
        ("f[1.0]", ("f", (1.0,))),
        ("f[1e3]", ("f", (1000.0,))),
        ("[a : b : c]", (None, ("a", "b", "c"))),
        ("['a:b':2]", (None, ("a:b", 2))),
        ("f['1e3']", ("f", ("1e3",))),
        ("range[1e1]", ("range", (10.0,))),
    ],
)
def test_decode_flag_function(text, expected):
    name, args = decode_flag_function(text)
    assert name == expected[0]
    assert _same(list(args), list(expected[1]))
    assert isinstance(args, tuple)


@pytest.mark.parametrize(
    "text", ["a^z[1:2:3:4:5]", "foo", "1", "[1]x[2]", "[1:[2]", "uniform(1, 2)", ""]
)
def test_decode_flag_function_not_a_function(text):
    with pytest.raises(ValueError, match="^not a function$"):
        decode_flag_function(text)


def test_encoding_does_not_warn(warnings_log):
    assert encode_flag_value("range[foo:bar]") == "range[foo:bar]"
    assert encode_flag_value("linspace[1:5]") == "'linspace[1:5]'"
    assert warnings_log() == []


def test_run_id_args_are_numbers_in_sequences():
    assert decode_flag_value("range[1e1]") == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]


def test_decode_flag_function_not_a_string():
    with pytest.raises(ValueError, match="^not a function$"):
        decode_flag_function(123)


# ---------------------------------------------------------------------------
# encode_flag_value


@pytest.mark.parametrize(
    "val,encoded",
    [
        ("", "''"),
        ("a", "a"),
        ("a b", "a b"),
        ("'a b'", "'''a b'''"),
        ("2018_06_26", "'2018_06_26'"),
        (1, "1"),
        (1.0, "1.0"),
        (12e3, "12000.0"),
        (1.234e2, "123.4"),
        (1.234e-2, "0.01234"),
        (1e100, "1.0e+100"),
        (1 / 3, "0.3333333333333333"),
        ("1", "'1'"),
        ("1.1", "'1.1'"),
        ("1.2e3", "'1.2e3'"),
        ("12e3", "'12e3'"),
        ("-1.23e-2", "'-1.23e-2'"),
        ("'1'", "'''1'''"),
        (True, "yes"),
        (False, "no"),
        (None, "null"),
        ([], "[]"),
        (["", "a", 1, 1.0, 1 / 3, True, False, None],
         "['', a, 1, 1.0, 0.3333333333333333, yes, no, null]"),
        ({}, "{}"),
        ({"a": 1.123, "b": "c d", "e": True, "f": [1, 2, "g h"]},
         "{a: 1.123, b: c d, e: yes, f: [1, 2, g h]}"),
        # our own additions
        ("yes", "'yes'"),
        ("null", "'null'"),
        (" a", "' a'"),
        ("[1:2]", "[1:2]"),
        ("uniform[0:1]", "uniform[0:1]"),
        ("range[1:3]", "'range[1:3]'"),
        (["a:b", "c,d", "[x]"], "['a:b', 'c,d', '[x]']"),
        (math.inf, ".inf"),
        (-math.inf, "-.inf"),
        (math.nan, ".nan"),
        (1e-06, "1.0e-06"),
    ],
)
def test_encode_flag_value(val, encoded):
    assert encode_flag_value(val) == encoded
    assert _same(decode_flag_value(encoded), val)


# ---------------------------------------------------------------------------
# format_flag_assigns and format_label_value


def test_format_flag_assigns():
    flags = {
        "s1": "",
        "s2": "a",
        "s3": "a b",
        "s4": "a b 'c d e'",
        "s5": "12e321",
        "i": 101,
        "f1": 1.1,
        "f2": 0.1,
        "f3": 1.0,
        "f4": 1.234e3,
        "f5": -1.234e-3,
        "f6": 1 / 6,
    }
    assert format_flag_assigns(flags) == [
        "f1=1.1",
        "f2=0.1",
        "f3=1.0",
        "f4=1234.0",
        "f5=-0.001234",
        "f6=0.16666666666666666",
        "i=101",
        "s1=''",
        "s2=a",
        "s3='a b'",
        "s4=\"a b 'c d e'\"",
        "s5='12e321'",
    ]


def test_format_flag_assigns_encoding_assignments():
    flags = {
        "b1": True,
        "b2": False,
        "d": {"a": 1.123, "b": "c d", "e": True},
        "e": "",
        "f1": 1.1,
        "f2": 1.0,
        "f3": 0.1,
        "f4": 1 / 6,
        "f5": 0.000012345,
        "i": 312,
        "l": [1, 2, "a", "b c 'd e'"],
        "n": None,
        "s1": "a",
        "s2": "a b",
        "s3": "'1'",
        "s4": "-1.123e4",
        "s5": "123456e2",
    }
    assert format_flag_assigns(flags) == [
        "b1=yes",
        "b2=no",
        "d={a: 1.123, b: c d, e: yes}",
        "e=''",
        "f1=1.1",
        "f2=1.0",
        "f3=0.1",
        "f4=0.16666666666666666",
        "f5=1.2345e-05",
        "i=312",
        "l=[1, 2, a, b c 'd e']",
        "n=null",
        "s1=a",
        "s2='a b'",
        "s3='''1'''",
        "s4='-1.123e4'",
        "s5='123456e2'",
    ]


def test_format_flag_assigns_empty():
    assert format_flag_assigns({}) == []


@pytest.mark.parametrize(
    "val,formatted",
    [
        (1 / 6, "0.16666"),
        (1.1, "1.1"),
        (1.12, "1.12"),
        (1.123, "1.123"),
        (1.1234, "1.1234"),
        (1.12345, "1.12345"),
        (1.123456, "1.12345"),
        (1.123454, "1.12345"),
        (1.123455, "1.12345"),
        (0.999999, "0.99999"),
        (12345.123456, "12345.12345"),
        (0.0000012345, "1.2345e-06"),
        (1.0000012345, "1.00000"),
        (1.0, "1.0"),
        (1 / 3, "0.33333"),
        (-1 / 3, "-0.33333"),
        (1.23456789e-20, "1.23456e-20"),
        (True, "yes"),
        (123, "123"),
        ("hello", "hello"),
        ("hi 2", "'hi 2'"),
        ([1, 1.123456789, "hola"], "[1, 1.12345, hola]"),
    ],
)
def test_format_label_value(val, formatted):
    assert format_label_value(val) == formatted


def test_format_flag_assigns_truncate_floats():
    assert format_flag_assigns({"f": 1 / 6}, truncate_floats=True) == ["f=0.16666"]
    assert format_flag_assigns({"f": 12345.123456}, truncate_floats=True) == ["f=12345.12345"]


def test_format_flag_value_quotes_for_the_shell():
    assert format_flag_value('a "b" $c') == "'a \"b\" $c'"
    assert format_flag_value("it's $x") == '"it\'s \\$x"'


# ---------------------------------------------------------------------------
# parse_flag_assigns


@pytest.mark.parametrize(
    "args,expected",
    [
        ([], {}),
        (["a=1"], {"a": 1}),
        (["a=1.1", "b=.1", "c=1.", "d=1.e1", "e=1.2e2"],
         {"a": 1.1, "b": 0.1, "c": 1.0, "d": 10.0, "e": 120.0}),
        (["a=1e1", "b=12e2", "c=123e3", "d=123456e7"],
         {"a": "1e1", "b": "12e2", "c": "123e3", "d": "123456e7"}),
        (["lr=1e-06"], {"lr": 1e-06}),
        (["run=1234567e1"], {"run": 12345670.0}),
        (["run=1e2345671"], {"run": math.inf}),
        (["lr=1.0e-06"], {"lr": 1e-06}),
        (["a=A"], {"a": "A"}),
        (["a='1'", 'b="2"', "c='1e3'"], {"a": "1", "b": "2", "c": "1e3"}),
        (["run='1234567e1'"], {"run": "1234567e1"}),
        (["run='1e2345671'"], {"run": "1e2345671"}),
        (["a=True", "b=true", "c=yes"], {"a": True, "b": True, "c": True}),
        (["a=False", "b=false", "c=no"], {"a": False, "b": False, "c": False}),
        (["a="], {"a": ""}),
        (["a=[1,2,3,a,b,1.,1.2]"], {"a": [1, 2, 3, "a", "b", 1.0, 1.2]}),
        (["a=['A','B']", "c=123", "d-e=", "f={'a':456,'b':'C'}", "g=null"],
         {"a": ["A", "B"], "c": 123, "d-e": "", "f": {"a": 456, "b": "C"}, "g": None}),
        (["x=a=b"], {"x": "a=b"}),
    ],
)
def test_parse_flag_assigns(args, expected):
    assert _same(parse_flag_assigns(args), expected)


@pytest.mark.parametrize("arg", ["a", "=1"])
def test_parse_flag_assigns_errors(arg):
    with pytest.raises(FlagError) as e:
        parse_flag_assigns([arg])
    assert str(e.value) == f"invalid flag assignment {arg!r}: expected NAME=VALUE"


# ---------------------------------------------------------------------------
# Properties

_scalars = (
    st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.none()
    | st.text()
)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_decode_never_raises(text):
    decode_flag_value(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="[]{}:,'\" *\\0123456789.e-+_abnoyulrgsp\n\t"))
def test_decode_never_raises_on_syntax_soup(text):
    decode_flag_value(text)


@settings(max_examples=1000, deadline=None)
@given(_scalars)
def test_encode_decode_round_trip(val):
    assert _same(decode_flag_value(encode_flag_value(val)), val)


@settings(max_examples=300, deadline=None)
@given(st.lists(_scalars, max_size=5) | st.dictionaries(st.text(), _scalars, max_size=5))
def test_encode_decode_round_trip_collections(val):
    assert _same(decode_flag_value(encode_flag_value(val)), val)
