"""One flag-value codec (rundb.flagvals) for the command line, rundb.yml, batch files,
labels and `sql -p` (issue 15 item 3), and the flag-value items of issue 14 (5, 6)."""

import json
import math

import pytest

from rundb import api
from rundb.flagvals import decode_flag_value, is_search_text, load_yaml
from rundb.index.sql import parse_param_value

from conftest import write

NAN, INF = float("nan"), float("inf")

# (text, value) as Guild 0.9.0's own flag_util.decode_flag_val gives them (computed once in
# a scratch venv with guildai==0.9.0; written here as literals).
GUILD = [
    ("1", 1), ("-12", -12), ("1.1", 1.1), (".1", 0.1), ("1.", 1.0), ("1.e1", 10.0),
    ("1e-3", 0.001), ("1E-3", 0.001), ("1.5e+3", 1500.0), ("-1e-06", -1e-06),
    ("1234567e8", 123456700000000.0), ("inf", INF), ("-inf", -INF), ("+inf", INF),
    ("nan", NAN), ("NaN", NAN), ("Infinity", INF), ("-Infinity", -INF), (".inf", INF),
    ("-.inf", -INF), (".nan", NAN), ("1_000", "1_000"), ("010", 10), ("0x10", 16),
    ("1:2", "1:2"), ("10:00", "10:00"), ("yes", True), ("no", False), ("on", True),
    ("off", False), ("True", True), ("null", None), ("~", None), ("", ""), ("a", "a"),
    ("a b", "a b"), ("'1'", "1"), ("http://a", "http://a"), ("[1, 2]", [1, 2]),
    ("[a,b]", ["a", "b"]), ("[http://a,http://b]", ["http://a", "http://b"]),
    ("[a:1,b:2]", ["a:1", "b:2"]), ("[1:2]", "[1:2]"), ("[1:2:3]", "[1:2:3]"),
    ("[-1:1]", "[-1:1]"), ("[1e-4:1e-1]", "[1e-4:1e-1]"), ("[0.1:0.9:0.5]", "[0.1:0.9:0.5]"),
    ("uniform[1:2]", "uniform[1:2]"), ("loguniform[1e-4:1e-1]", "loguniform[1e-4:1e-1]"),
    ("foo[a:b]", "foo[a:b]"), ("[1:2:3:4]", "[1:2:3:4]"), ("[1e-3, 2]", [0.001, 2]), ("{a: 1, b: [1, 2]}", {"a": 1, "b": [1, 2]}),
    ("{a: 1e-3}", {"a": 0.001}), ("[1] * 3", [1, 1, 1]), ("range[3]", [0, 1, 2]),
    ("linspace[0:1:3]", [0.0, 0.5, 1.0]), ("[1,2", "[1,2"), ("'a' b", "'a' b"),
]

# Where rundb's rules differ from Guild 0.9.0 (which answers in the comment).
BEYOND = [
    ("[10:00,12:30]", ["10:00", "12:30"]),  # [600, 750]: YAML 1.1 base-60 ints
    ("[a:b]", ["a:b"]),  # '[a:b]', then a search over non-numbers
    ("[1:a]", ["1:a"]),  # likewise
    ("[hello:1:1.2]", ["hello:1:1.2"]),  # likewise
    ("[inf, 1]", [INF, 1]),  # ['inf', 1]: inside a list as at the top
    ("[nan]", [NAN]),  # ['nan']
    ("a: b", "a: b"),  # {'a': 'b'}: a value without brackets is one scalar
    ("2018-06-26", "2018-06-26"),  # a date object, which no index or JSON can hold
    ("123e4", "123e4"),  # 1230000.0: the seeds keep run-id-like exponents as strings
    ("67217e15", "67217e15"),  # 6.7217e+19
]


def _same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@pytest.mark.parametrize("text,value", GUILD + BEYOND)
def test_decode_table(text, value):
    assert _same(decode_flag_value(text), value)


@pytest.mark.parametrize("text,value", GUILD + BEYOND)
def test_rundb_yml_and_batch_files_read_plain_values_as_the_command_line(text, value):
    # A value written in a YAML file (rundb.yml, a batch file) reads as the same value,
    # apart from the command line's own syntax (functions, repetition, raw fallbacks).
    if text[:1] in "[{'" or "*" in text or text.endswith("]") or ": " in text:
        return
    doc = load_yaml(f"x: {text}\n")
    assert _same(doc["x"], value)


@pytest.mark.parametrize("text,search", [
    ("[0:1]", True), ("[1e-4:1e-1:1e-2]", True), ("uniform[a:b]", True), ("[a:b]", False),
    ("[http://a,http://b]", False), ("[10:00,12:30]", False), ("[1:2:3:4]", True),
    ("[1:2:x]", False),
    ("[1, 2]", False), ("x", False),
])
def test_search_only_for_numeric_ranges_and_named_functions(text, search):
    assert is_search_text(text) is search


@pytest.mark.parametrize("value", ["[http://a,http://b]", "[a:1,b:2]", "[10:00,12:30]"])
def test_lists_with_colons_are_two_trial_grids(cli, home, project, value):
    write(project / "train.py", "optimizer = 'x'\nprint(optimizer)\n")
    result = cli("run", "train.py", f"optimizer={value}", "--print-trials")
    assert result.exit_code == 0, result.output
    shown = result.output.strip().splitlines()
    assert len(shown) == 3 and shown[0].startswith("#"), result.output  # header + 2 trials
    result = cli("run", "train.py", f"optimizer={value}", "-y", "-q")
    assert result.exit_code == 0, result.output
    trials = [r for r in api.runs(home) if r.op == "train.py"]
    assert sorted(r.flags["optimizer"] for r in trials) == sorted(decode_flag_value(value))


SHOW = """
import json
print("GOT " + json.dumps([lr, type(lr).__name__, steps, type(steps).__name__]))
"""


def _script_saw(home, run):
    from rundb.output import read_output

    [line] = [line for _, _, line in read_output(run.dir) if line.startswith("GOT ")]
    return json.loads(line[4:])


def test_rundb_yml_and_command_line_values_reach_a_script_identically(cli, home, project):
    write(project / "show.py", "lr = 0.1\nsteps = 'x'\n" + SHOW)
    write(project / "rundb.yml", """
        show:
          main: show
          flags:
            lr: 1e-3
            steps: 1_000
    """)
    assert cli("run", "show", "-y").exit_code == 0
    assert cli("run", "show.py", "lr=1e-3", "steps=1_000", "-y").exit_code == 0
    from_yml, from_cli = sorted(api.runs(home), key=lambda r: r.op)
    assert from_yml.op == "show" and from_cli.op == "show.py"
    assert from_yml.flags == from_cli.flags == {"lr": 0.001, "steps": "1_000"}
    assert _script_saw(home, from_yml) == _script_saw(home, from_cli) == [
        0.001, "float", "1_000", "str"]


def test_inf_and_nan_flags_are_floats_end_to_end(cli, home, project):
    write(project / "show.py", "lr = 0.1\nsteps = 0.5\n" + SHOW.replace("json.dumps(", "repr("))
    assert cli("run", "show.py", "lr=-inf", "steps=nan", "-y").exit_code == 0
    [run] = api.runs(home)
    assert run.flags["lr"] == -INF and math.isnan(run.flags["steps"])


def test_yaml_batch_file_reads_values_as_the_command_line(cli, home, project):
    write(project / "show.py", "lr = 'x'\nsteps = 'x'\n" + SHOW)
    write(project / "trials.yml", "- {lr: 1e-3, steps: 1_000}\n- {lr: '1e-3', steps: 2}\n")
    result = cli("run", "show.py", "@trials.yml", "-y", "-q")
    assert result.exit_code == 0, result.output
    got = sorted((repr(r.flags["lr"]), repr(r.flags["steps"])) for r in api.runs(home)
                 if r.op == "show.py")
    assert got == sorted([("0.001", "'1_000'"), ("'1e-3'", "2")])


@pytest.mark.parametrize("text,value", [
    ("0.01", 0.01), ("1e-3", 0.001), ("train", "train"), ('"12"', "12"), ("'7'", "7"),
    ("yes", 1), ("null", None), ("[1]", "[1]"), ("-inf", -INF),
])
def test_sql_params_decode_as_flag_values(text, value):
    assert _same(parse_param_value(text), value)


def test_sql_param_1e3_matches_a_flag_set_as_1e3(cli, home, project):
    write(project / "show.py", "lr = 0.1\nsteps = 1\n" + SHOW)
    assert cli("run", "show.py", "lr=1e-3", "-y").exit_code == 0
    result = cli("sql", "SELECT count(*) AS n FROM flags WHERE name = 'lr' AND value = :v",
                 "-p", "v", "1e-3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["n"] == 1
