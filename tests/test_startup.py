"""Small questions start fast: `rundb select` and `rundb runs` answered before click is
imported (rundb_cli.fast), with exactly the click commands' output, and the modules on their
path kept free of the heavy imports (click, tabulate, PLY, dataclasses/inspect, re, json,
logging)."""

import dataclasses
import doctest
import os
import re
import subprocess
import sys

import pytest

from rundb import record
from rundb.index import url
from rundb.query import ast, compiler, lexer, parser
from rundb.validate import is_run_id
from rundb_cli import fast

from test_compare import make_run

# --- the fast path against the click path ------------------------------------------------

#: Command lines (after `rundb select`) the fast path answers itself.
FAST = [
    [], ["--min", "loss"], ["--max", "loss"], ["--min", "min loss"], ["--max", "loss", "-s"],
    ["-p", "--min", "loss"], ["--short-id"], ["2"], ["1:2"], ["-o", "train", "--min", "loss"],
    ["-Fo", "train"], ["-l", "best", "-l", "b"], ["-F", "=lr > 0.01", "--min", "loss"],
    ["-Sc", "--min", "loss"], ["--terminated"], ["-Fm"], ["-Fn"], ["-U"], ["--include-batch"],
    ["-Ft", "t1", "-Fc", "note"], ["-Fs", "last hour"], ["-Fd", "0000"],
    # errors, each one line on stderr
    ["--min", "nope"], ["--min", "loss bar"], ["-o", "nothing"], ["nope"], ["99"],
    ["-F", "=lr >"], ["-Fs", "next century"],
]

#: Command lines left to click (help, options it does not read, click's own errors).
CLICK = [
    ["--help"], ["-a", ".label"], ["--min=loss"], ["--min", "loss", "--max", "acc"],
    ["--min", "-x"], ["-sp"], ["-s", "--short-id"], ["a", "b"], ["--", "1"], ["--nope"],
    ["--min", "loss", "--min", "acc"], ["-Fm", "-Fn"],
]


#: `rundb runs` command lines the fast path answers, and ones left to click.
FAST_RUNS = [
    [], ["-n", "2"], ["list", "-n", "1"], ["-o", "train", "-n", "2"], ["-F", "=lr > 0.01"],
    ["-n", "2", "-Fo", "eval"], ["-a"], ["--all", "-d"], ["1", "3"], ["--fmt", "github", "-n", "2"],
    ["-n", "0"], ["-Sc", "-l", "b"], ["-n", "+2"],
    ["-F", "=lr >"], ["nope"], ["-Fs", "next century"],
]
CLICK_RUNS = [
    ["--help"], ["info"], ["list", "--help"], ["--json"], ["-n", "x"], ["--fmt", "nope"],
    ["-n", "2", "--limit", "3"], ["-n=2"], ["delete", "1"],
]


@pytest.fixture
def runs(home, index):
    made = [make_run(home, index, op="train", flags={"lr": lr}, label=label,
                     scalars={"loss": [(0, loss), (1, loss / 2)]})
            for lr, loss, label in ((0.1, 0.5, "best"), (0.01, 0.2, "b"), (0.001, 0.9, ""))]
    make_run(home, index, op="eval", status="terminated")
    return made


def _rundb(args, home, **env):
    full = dict(os.environ, RUNDB_HOME=home.path, **env)
    for name in ("RUNDB_NO_FAST_PATH", "RUNDB_DEBUG"):
        if name not in env:
            full.pop(name, None)
    proc = subprocess.run([sys.executable, "-m", "rundb_cli.main", "select", *args],
                          env=full, capture_output=True, text=True)
    return proc.stdout, proc.stderr, proc.returncode


def test_which_command_lines_take_the_fast_path():
    for args in FAST:
        assert fast._select_args(args) is not None, args
    for args in CLICK:
        assert fast._select_args(args) is None, args
    for args in FAST_RUNS:
        assert fast._runs_args(args) is not None, args
    for args in CLICK_RUNS:
        assert fast._runs_args(args) is None, args


def _rundb_runs(args, home, **env):
    full = dict(os.environ, RUNDB_HOME=home.path, **env)
    if "RUNDB_NO_FAST_PATH" not in env:
        full.pop("RUNDB_NO_FAST_PATH", None)
    full.pop("RUNDB_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "rundb_cli.main", "runs", *args],
                          env=full, capture_output=True, text=True)
    return proc.stdout, proc.stderr, proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("args", FAST_RUNS + CLICK_RUNS, ids=lambda a: " ".join(a) or "-")
def test_fast_runs_print_what_click_prints(home, runs, args):
    assert _rundb_runs(args, home) == _rundb_runs(args, home, RUNDB_NO_FAST_PATH="1")


@pytest.mark.slow
@pytest.mark.parametrize("args", FAST + CLICK, ids=lambda a: " ".join(a) or "-")
def test_fast_path_prints_what_click_prints(home, runs, args):
    quick = _rundb(args, home)
    assert quick == _rundb(args, home, RUNDB_NO_FAST_PATH="1")
    if args in FAST:
        assert quick[1].count("\n") <= 1  # an error is one line
        assert not quick[1] or quick[1].startswith("rundb: ")


def test_fast_path_answers_in_process_as_the_click_command(home, runs, cli, capsys,
                                                           monkeypatch):
    monkeypatch.setenv("RUNDB_HOME", home.path)
    monkeypatch.delenv("RUNDB_NO_FAST_PATH", raising=False)
    for command, lines in (("select", FAST), ("runs", FAST_RUNS)):
        for args in lines:
            expected = cli(command, *args)
            status = fast.answer([command, *args])
            out, err = capsys.readouterr()
            assert (out, err, status) == (
                expected.stdout, expected.stderr, expected.exit_code), (command, args)


def test_bad_input_is_one_clear_line(home, runs):
    assert _rundb(["--min", "nope"], home) == (
        "", "rundb: unknown scalar 'nope' (in --min)\n", 2)
    out, err, status = _rundb(["-F", "=lr >"], home)
    assert (out, status) == ("", 2) and err.startswith("rundb: ") and err.count("\n") == 1
    assert _rundb(["-o", "nothing"], home) == ("", "rundb: no matching runs\n", 1)


def test_output_that_is_not_ascii_goes_through_click_echo(tmp_path, index_backend):
    # A home whose path is not ASCII: click.echo prints it (the fast path defers to it).
    if index_backend != "sqlite":
        pytest.skip("the home's own index")
    from rundb.home import Home
    from rundb.index.db import open_index

    home = Home(str(tmp_path / "h\u00f6me")).ensure()
    with open_index(home.index_path) as ix:
        ix.home_dir = home.path
        run = make_run(home, ix, scalars={"loss": [(0, 1.0)]})
    for args in (["-p"], ["-p", "--min", "loss"]):
        assert _rundb(args, home) == _rundb(args, home, RUNDB_NO_FAST_PATH="1")
        assert _rundb(args, home)[0] == run.dir + "\n"


def test_debug_and_completion_go_to_click(monkeypatch):
    monkeypatch.setenv("RUNDB_DEBUG", "1")
    assert fast.answer(["select"]) is None
    monkeypatch.delenv("RUNDB_DEBUG")
    monkeypatch.setenv("_RUNDB_COMPLETE", "bash_complete")
    assert fast.answer(["select"]) is None
    monkeypatch.delenv("_RUNDB_COMPLETE")
    monkeypatch.setenv("RUNDB_NO_FAST_PATH", "1")
    assert fast.answer(["select"]) is None
    assert fast.answer(["runs"]) is None and fast.answer(["-H", "x", "select"]) is None


#: Imports a `select` must not pay for: click (the fast path's point), PLY (a plain column
#: needs no parser), dataclasses and inspect (rundb.record), logging, re, json and
#: contextlib (the index's context managers are classes).
HEAVY = ("click", "ply", "dataclasses", "inspect", "logging", "re", "json", "yaml",
         "contextlib")


@pytest.mark.parametrize("args", [["select", "--min", "loss"], ["select", "-p"],
                                  ["select", "--max", "min loss", "-o", "train"]])
def test_fast_path_imports_nothing_heavy(home, runs, args, index_backend):
    if index_backend != "sqlite":
        pytest.skip("PostgreSQL's driver has imports of its own")
    code = (
        "import sys\n"
        f"sys.argv = ['rundb', *{args!r}]\n"
        "from rundb_cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = dict(os.environ, RUNDB_HOME=home.path)
    env.pop("RUNDB_NO_FAST_PATH", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_the_installed_command_is_the_plain_script():
    # bin/rundb, not pip's console-script wrapper (which imports re before main).
    script = os.path.join(os.path.dirname(sys.executable), "rundb")
    with open(script) as f:
        text = f.read()
    assert "from rundb_cli.main import main" in text and "import re" not in text


# --- records: dataclasses' behaviour without importing dataclasses ------------------------


def test_record_docstring_examples():
    result = doctest.testmod(record)
    assert result.failed == 0 and result.attempted > 0


def _pair(**options):
    """The same class as a dataclass and as a record."""
    def body():
        class Point:
            x: int
            y: int = 0
            tags: list = (record.field(default_factory=list) if built is record.record
                          else dataclasses.field(default_factory=list))
            pos: int = (record.field(default=-1, compare=False, repr=False)
                        if built is record.record
                        else dataclasses.field(default=-1, compare=False, repr=False))
        return Point

    classes = []
    for built in (dataclasses.dataclass, record.record):
        classes.append(built(**options)(body()))
    return classes


@pytest.mark.parametrize("frozen", [False, True])
def test_records_behave_as_dataclasses(frozen):
    dc, rec = _pair(frozen=frozen)
    for cls in (dc, rec):
        cls.__qualname__ = "Point"
    a, b = dc(1, y=2, pos=5), rec(1, y=2, pos=5)
    assert repr(a) == repr(b) == "Point(x=1, y=2, tags=[])"
    assert (a == dc(1, 2)) and (b == rec(1, 2)) and b != rec(2, 2) and b != a
    assert [f.name for f in dataclasses.fields(a)] == [f.name for f in record.fields(b)]
    assert dataclasses.asdict(a) == record.asdict(b)
    assert dataclasses.replace(a, y=7).y == record.replace(b, y=7).y == 7
    assert record.replace(b, y=7).pos == 5
    assert rec(1).tags is not rec(1).tags
    if frozen:
        assert hash(rec(1, 2, ())) == hash(rec(1, 2, (), pos=9)) == hash(dc(1, 2, ()))
        with pytest.raises(AttributeError):
            b.x = 3
    else:
        assert type(b).__hash__ is None
        b.x = 3
        assert b.x == 3
    for bad in (lambda: rec(), lambda: rec(1, 2, [], 4, 5), lambda: rec(1, z=1),
                lambda: rec(1, x=1)):
        with pytest.raises(TypeError):
            bad()


def test_replace_and_asdict_take_dataclasses_too():
    dc, _ = _pair()
    assert record.replace(dc(1), x=2).x == 2
    assert record.asdict(dc(1)) == {"x": 1, "y": 0, "tags": [], "pos": -1}
    assert [f.name for f in record.fields(dc)] == ["x", "y", "tags", "pos"]


def test_ast_nodes_keep_equality_hash_and_post_init():
    a = ast.And(ast.IsNull(ast.Scalar("a")), ast.Not(ast.IsNull(ast.Flag("b"))))
    assert a.depth == 2 and a == parser.parse_filter("scalar:a is null and not =b is null")
    assert hash(ast.Scalar("loss", pos=3)) == hash(ast.Scalar("loss"))
    assert record.replace(ast.Scalar("loss"), alias="l").header == "l"


# --- the string checks that replaced regular expressions ---------------------------------

PLAIN = ["loss", "min loss", "MAX val#acc", "count a.b/c-d", "x_1", "loss step", " loss",
         "min  loss", "min", "step", "group", "like", "having", "1e3", "=lr", ".label", "a b",
         "scalar:x", "val_*", "loss,acc", "min(loss)", "l\u00f6ss", "", "min loss as m",
         "avg 'x y'", "total x", "first_x"]


@pytest.mark.parametrize("spec", PLAIN)
def test_plain_colspecs_are_what_the_parser_gives(spec):
    col = ast.plain_colspec(spec)
    if col is None:
        return
    parsed = parser.parse_colspecs(spec)
    assert (col,) == parsed and col.pos == parsed[0].pos


def test_words_that_are_not_plain_are_the_lexers_keywords():
    assert ast.NOT_PLAIN == set(lexer.RESERVED) | {"group", "like", "ilike", "having"}


@pytest.mark.parametrize("value", [
    "a" * 32, "0123456789abcdef" * 2, "A" * 32, "a" * 31, "a" * 33, "g" * 32, "a" * 31 + "\n",
    "", "a" * 31 + "\u0660", "0" * 8, "deadbeef", "DEADBEEF", "dead", "x" * 8, "0" * 31])
def test_id_checks_match_their_patterns(value):
    assert is_run_id(value) == (re.match(r"[0-9a-f]{32}\Z", value) is not None)
    assert compiler._id_prefix(value) == (re.fullmatch(r"[0-9a-fA-F]{8,31}", value) is not None)


@pytest.mark.parametrize("sql", ["s0.last_val", "s12.min_val", "s.x", "s1.", "s1.a.b", "t1.x",
                                 "s1.a b", "s\u0661.x", "s1.\u00e9t\u00e9", "(s1.x)", "s1x"])
def test_stat_column_matches_its_pattern(sql):
    m = re.fullmatch(r"(s\d+)\.(\w+)", sql)
    assert compiler._stat_column(sql) == (m.groups() if m else None)


@pytest.mark.parametrize("location", ["/a/index.db", "postgresql://u@h/db", "sqlite:///x.db",
                                      "x://y", "1x://y", "a/b://c", None, ""])
def test_url_scheme_matches_its_pattern(location):
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", location or "")
    assert url.scheme(location) == (m.group(1).lower() if m else None)


# --- tables without tabulate -------------------------------------------------------------


def _random_table(rng):
    ncols = rng.randint(1, 6)
    alphabet = "ab xyz019.-:[]_"
    def cell():
        return "".join(rng.choice(alphabet) for _ in range(rng.choice((0, 0, 1, 3, 8, 20))))
    rows = [[cell() for _ in range(ncols)] for _ in range(rng.randint(1, 6))]
    heads = None if rng.random() < 0.4 else [cell() for _ in range(ncols)]
    numeric = [rng.random() < 0.4 for _ in range(ncols)]
    return heads, rows, numeric


def test_plain_tables_are_tabulates():
    import random

    from rundb_cli import tables

    rng = random.Random(22)
    for _ in range(2000):
        heads, rows, numeric = _random_table(rng)
        assert tables._plain_table(heads, rows, numeric) == tables._tabulated(
            heads, rows, numeric, "plain"), (heads, rows, numeric)
    for heads, rows in ((None, [["\u00e9t\u00e9", "x"]]), (["a", "b"], [["\x1b[1m", "x"]]),
                        (None, [["\u4e2d", "x"]]), (["a", "b"], []), (None, [["a\nb", "x"]])):
        assert tables._plain_table(heads, rows, [False, False]) is None


@pytest.mark.parametrize("args", [["runs", "-n", "2"], ["runs", "-o", "train"]])
def test_a_page_of_runs_imports_no_click_nor_tabulate(home, runs, args, index_backend):
    if index_backend != "sqlite":
        pytest.skip("PostgreSQL's driver has imports of its own")
    heavy = ("click", "tabulate", "ply", "dataclasses", "inspect", "logging", "yaml", "shutil")
    code = (f"import sys\nsys.argv = ['rundb', *{args!r}]\n"
            "from rundb_cli.main import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n")
    env = dict(os.environ, RUNDB_HOME=home.path)
    env.pop("RUNDB_NO_FAST_PATH", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
