"""Guild 0.9's filter options (-Fo, -Fl, -Ft, -Fc, -Sc ...) and filter syntax (`in [a, b]`,
`is [not] undefined`, `contains`) select what Guild selects on the same runs.

The expected selections were read from Guild 0.9.0 itself on these runs; when a Guild
peer venv exists (``make bench-peers``, or ``RUNDB_TEST_GUILD=path/to/guild``), the last
test runs the same runs through Guild and compares the selections directly.
"""

import os
import subprocess

import pytest

from rundb import api

from conftest import REPO, rundb_proc, write

GUILD = os.environ.get("RUNDB_TEST_GUILD") or os.path.join(
    REPO, "bench", ".peers", "guild", "bin", "guild")

OPS_YML = """
train:
  main: train
  flags:
    lr: 0.1
pretrain:
  main: prep
prep:
  main: prep
"""

TRAIN = 'lr = 0.1\nprint("loss: %f" % (1 - lr))\n'
PREP = 'print("acc: 0.5")\n'

# (operation, flags, label) newest last
RUNS = [
    ("train", ["lr=0.1"], "best one"),
    ("train", ["lr=0.01"], None),
    ("train", ["lr=0.5"], "worst"),
    ("prep", [], "prep best"),
    ("pretrain", [], "pre"),
]

CASES = [
    (["-Fo", "train"], ["best one", "lr=0.01", "worst"]),
    (["--operation", "train"], ["best one", "lr=0.01", "worst"]),
    (["-Fo", "*train"], ["best one", "lr=0.01", "pre", "worst"]),
    (["-Fo", "^pre"], ["pre", "prep best"]),
    (["-Fl", "best"], ["best one", "prep best"]),
    (["-F", "lr in [0.1, 0.01]"], ["best one", "lr=0.01"]),
    (["-F", "loss is undefined"], ["pre", "prep best"]),
    (["-F", "loss is not undefined"], ["best one", "lr=0.01", "worst"]),
    (["-F", "label contains best"], ["best one", "prep best"]),
    (["-F", "label contains BEST"], ["best one", "prep best"]),
    (["-Fo", "train", "-Fl", "best"], ["best one"]),
]


def make_runs(cli, project):
    write(project / "rundb.yml", OPS_YML)
    write(project / "train.py", TRAIN)
    write(project / "prep.py", PREP)
    for op, flags, label in RUNS:
        args = ["run", op, *flags, "-y"] + (["-l", label] if label else [])
        result = cli(*args)
        assert result.exit_code == 0, result.output


def labels(cli, *args):
    out = cli("runs", *args).stdout.splitlines()
    return sorted(line.split(None, 5)[5] for line in out)


@pytest.fixture
def runs(cli, project):
    make_runs(cli, project)


@pytest.mark.parametrize("args,expected", CASES)
def test_guild_filter_options_and_syntax(cli, runs, args, expected):
    assert labels(cli, *args) == expected


def test_not_in_follows_sql_for_runs_without_the_flag(cli, runs):
    # Guild (Python's None) also selects the runs that have no lr; rundb, as for `!=`,
    # compares only runs that have it (docs/cli-reference.md, --filter).
    assert labels(cli, "-F", "lr not in [0.1, 0.01]") == ["worst"]


def test_op_filters_differ_as_documented(cli, runs):
    # rundb's own -o matches a part of the name; Guild's -Fo the whole name
    assert labels(cli, "-o", "train") == ["best one", "lr=0.01", "pre", "worst"]
    assert labels(cli, "-Fo", "rain") == []


def test_guild_spellings_on_compare_select_and_status(cli, home, runs):
    assert cli("runs", "-Sc", "-Fo", "prep").stdout.count("prep best") == 1
    assert cli("runs", "-Sr").stdout == ""
    csv = cli("compare", "-Fo", "train", "-F", "lr in [0.5]", "--csv", "-").stdout
    assert len(csv.splitlines()) == 2 and ",0.5," in csv
    assert cli("select", "-Fl", "worst").stdout == api.runs(home)[2].id + "\n"


def test_comment_filter(cli, runs):
    assert cli("comment", "1", "-m", "keep this one", "-y").exit_code == 0
    assert labels(cli, "-Fc", "keep") == ["pre"]


@pytest.mark.parametrize("expr,message", [
    ("lr in [0.1, ]", "rundb: expected a value in the list, line 1, pos 12\n"),
    ("loss is nothing", "rundb: unexpected token 'nothing', line 1, pos 8\n"),
    ("label includes best", "rundb: unexpected token 'includes', line 1, pos 6\n"),
])
def test_bad_guild_syntax_is_one_line(home, runs, expr, message):
    result = rundb_proc("runs", "-F", expr, home=home)
    assert result.returncode == 2
    assert result.stderr == message


def test_fo_is_no_longer_read_as_dash_f_o(home, runs):
    result = rundb_proc("runs", "-Fo", "train", home=home)
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(GUILD), reason="no Guild 0.9 (make bench-peers)")
def test_same_selection_as_guild_itself(cli, home, project, tmp_path):
    write(project / "guild.yml", OPS_YML)
    write(project / "train.py", TRAIN)
    write(project / "prep.py", PREP)
    guild_home = tmp_path / "guild-home"
    guild_home.mkdir()
    env = {**os.environ, "GUILD_HOME": str(guild_home)}

    def guild(*args):
        out = subprocess.run([GUILD, *args], cwd=project, env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    for op, flags, label in RUNS:
        guild("run", op, *flags, "-y", *(["-l", label] if label else []))
    result = cli("import", "--guild", str(guild_home), "-y")
    assert result.exit_code == 0, result.output
    for args, _expected in CASES + [(["-F", "label contains BEST"], None)]:
        theirs = sorted(line.split()[0].split(":")[1].rstrip("]")
                        for line in guild("runs", *args).splitlines())
        ours = sorted(line.split()[0].split(":")[1].rstrip("]")
                      for line in cli("runs", *args).stdout.splitlines())
        assert ours == theirs, args


@pytest.mark.parametrize("text,canonical", [
    ("lr in [0.1, 0.01]", "lr in (0.1, 0.01)"),
    ("=opt not in [adam, 's g', null]", "=opt not in (adam, 's g', null)"),
    ("loss is undefined", "loss is null"),
    ("loss IS NOT Undefined", "loss is not null"),
    ("label contains best", "label contains best"),
    (".label contains 'a b' and lr in [1]", ".label contains 'a b' and lr in (1)"),
])
def test_guild_syntax_parses_to_the_canonical_form(text, canonical):
    from rundb.query import parse_filter

    assert str(parse_filter(text)) == canonical
    assert str(parse_filter(canonical)) == canonical


def test_words_with_brackets_are_still_words():
    from rundb.query import parse

    assert [str(c) for c in parse("select loss[0-9], acc").columns] == [
        "scalar:loss[0-9]", "scalar:acc"]
