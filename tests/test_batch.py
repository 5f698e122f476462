"""Batches: grids, batch files, random and scikit-optimize searches with real trial runs."""

import os

import pytest

from rundb import api
from rundb.api.selection import RunFilter

from conftest import write

NOISY = """
import random
x = 0.1
y = 1
z = "a"
loss = (x - 0.3) ** 2 + random.uniform(-0.001, 0.001)
print(f"loss: {loss}")
"""

SAY = """
msg = "hello"
loud = False
print(msg.upper() if loud else msg)
"""


@pytest.fixture
def noisy(project):
    write(project / "noisy.py", NOISY)
    return project


@pytest.fixture
def xyz(project):
    write(project / "xyz.py", "x = 0\ny = 0\nz = 0\nprint(x + y + z)\n")
    return project


@pytest.fixture
def say(project):
    write(project / "say.py", SAY)
    return project


def info_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("INFO: [rundb] ")]


def optimizer_lines(result):
    return [line[len("INFO: [rundb] "):] for line in info_lines(result)
            if "optimization" in line]


def trials_of(home, batch):
    return api.runs(home, flt=RunFilter(parent=batch.id))


def the_batch(home):
    [batch] = [r for r in api.runs(home) if "+" in r.op]
    return batch


# --- trials without running them ------------------------------------------------------


def test_print_trials_grid_order(cli, xyz):
    result = cli("run", "xyz.py", "x=[1,2]", "y=[3,4]", "z=[5,6]", "--print-trials")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "#  x  y  z", "1  1  3  5", "2  1  3  6", "3  1  4  5", "4  1  4  6",
        "5  2  3  5", "6  2  3  6", "7  2  4  5", "8  2  4  6"]


def test_print_trials_keeps_list_order(cli, say):
    out = cli("run", "say.py", "msg=[b,a]", "loud=[no,yes]", "--print-trials").stdout
    assert out.splitlines() == ["#  loud  msg", "1  no    b", "2  no    a", "3  yes   b", "4  yes   a"]


def test_save_trials(cli, xyz):
    result = cli("run", "xyz.py", "x=[1,2]", "y=[3,4]", "z=[5]", "--save-trials", "t.csv")
    assert result.stderr == "Saving trials to t.csv\n"
    assert (xyz / "t.csv").read_text() == "x,y,z\n1,3,5\n1,4,5\n2,3,5\n2,4,5\n"


def test_max_trials_sample_is_repeatable(cli, noisy):
    args = ("run", "noisy.py", "x=[1,2,3]", "y=[4,5,6]", "--max-trials", "2", "--random-seed", "1", "--print-trials")
    first, second = cli(*args).stdout, cli(*args).stdout
    assert first == second and len(first.splitlines()) == 3


def test_batch_file_merge(cli, say):
    write(say / "batch.csv", "msg,loud\nhello 1\nhello 2,yes\nhello 3\n")
    out = cli("run", "say.py", "@batch.csv", "loud=[yes,no]", "--print-trials").stdout
    rows = [line.split(None, 1)[1] for line in out.splitlines()[1:]]
    assert rows == ["yes   hello 1", "no    hello 1", "yes   hello 2", "yes   hello 3", "no    hello 3"]


def test_invalid_batch_file(cli, say):
    write(say / "invalid-item.yaml", "- [1, 2, 3]\n")
    result = cli("run", "say.py", "@invalid-item.yaml", "-y")
    assert result.exit_code == 1
    assert result.stderr == ("rundb: cannot read trials for ./invalid-item.yaml: "
                             "invalid data type for trial [1, 2, 3]: expected dict\n")


def test_print_trials_for_non_batch(cli, noisy):
    result = cli("run", "noisy.py", "x=1", "y=1", "z=1", "--print-trials")
    assert result.exit_code == 1
    assert result.stderr == "Error: cannot print trials for a non-batch operation\n"


@pytest.mark.slow
def test_max_trials_on_plain_run_warns_and_runs(cli, home, noisy):
    result = cli("run", "noisy.py", "--max-trials", "5", "-y", "-q")
    assert result.exit_code == 0
    assert "WARNING: not a batch run - ignoring --max-trials" in result.stderr
    assert len(api.runs(home)) == 1


def test_no_search_dimensions(cli, home, noisy):
    result = cli("run", "noisy.py", "x=1.0", "y=2", "z=a", "--optimizer", "random", "-y")
    assert result.exit_code == 1
    assert result.stderr == (
        "rundb: flags for batch (x=1.0, y=2, z=a) do not contain any search dimensions\n"
        "Try specifying a range for one or more flags as NAME=[MIN:MAX].\n")
    assert os.listdir(home.runs_dir) == []


@pytest.mark.parametrize("args,message", [
    (("--optimizer", "nope"), "rundb: unknown optimizer 'nope' (expected one of: bayesian, cmaes, "
         "forest, gbrt, gp, optuna-random, random, tpe)\n"),
    (("-Fo", "foo=123"), "rundb: invalid optimizer flag foo=123: no optimizer specified\n"),
    (("--optimizer", "gp", "--maximize", "the quick brown fox"),
     "rundb: invalid objective 'the quick brown fox': unexpected token 'quick', line 1, pos 11\n"),
    (("--optimizer", "gp", "--minimize", "loss, accuracy"),
     "rundb: invalid objective 'loss, accuracy': too many columns\n"),
    (("--optimizer", "gp", "-Fo", "baz=1"), "rundb: unsupported flag 'baz'\n"),
])
def test_optimizer_errors_create_nothing(cli, home, noisy, args, message):
    result = cli("run", "noisy.py", "x=[-2.0:2.0]", *args, "-y")
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert os.listdir(home.runs_dir) == []


def test_bad_search_function(cli, home, noisy):
    result = cli("run", "noisy.py", "x=normal[1.0:2.0]", "--optimizer", "gp", "-y")
    assert result.exit_code == 1
    assert result.stderr == "rundb: unknown function 'normal' used for flag x\n"


# --- real batches ----------------------------------------------------------------------


@pytest.mark.slow
def test_grid_batch_runs_trials_as_runs(cli, home, say):
    result = cli("run", "say.py", "msg=[hi,ho]", "loud=[no,yes]", "-y", "-q")
    assert result.exit_code == 0, result.output
    assert [line for line in info_lines(result)][0].startswith("INFO: [rundb] Running trial ")
    assert info_lines(result)[0].endswith(": say.py (loud=no, msg=hi)")
    batch = the_batch(home)
    assert batch.op == "say.py+" and batch.status == "completed"
    trials = trials_of(home, batch)
    assert sorted(t.label for t in trials) == ["loud=no msg=hi", "loud=no msg=ho",
                                               "loud=yes msg=hi", "loud=yes msg=ho"]
    assert all(t.status == "completed" for t in trials)
    assert [r[1] for r in api.compare(home).rows] == ["say.py"] * 4


@pytest.mark.slow
def test_gp_log_sequence_and_batch_label(cli, home, noisy):
    result = cli("run", "noisy.py", "x=[-2.0:2.0]", "--optimizer", "gp", "--max-trials", "5", "-y", "-q")
    assert result.exit_code == 0, result.output
    assert optimizer_lines(result) == [
        "Random start for optimization (1 of 3)",
        "Random start for optimization (2 of 3)",
        "Random start for optimization (3 of 3)",
        "Found 3 previous trial(s) for use in optimization",
        "Found 4 previous trial(s) for use in optimization",
    ]
    batch = the_batch(home)
    assert batch.op == "noisy.py+gp"
    assert batch.label == "acq-func=gp_hedge kappa=1.96 noise=gaussian random-starts=3 xi=0.05"
    trials = trials_of(home, batch)
    assert len(trials) == 5 and all(-2.0 <= t.flags["x"] <= 2.0 for t in trials)


@pytest.mark.slow
def test_missing_objective(cli, home, noisy):
    result = cli("run", "noisy.py", "x=[-2.0:2.0]", "--optimizer", "gp", "-Fo", "random-starts=2",
                 "--minimize", "no_such_scalar", "--max-trials", "4", "-y", "-q")
    assert result.exit_code == 0, result.output
    assert optimizer_lines(result) == [
        "Random start for optimization (1 of 2)",
        "Random start for optimization (2 of 2)",
        "Random start for optimization (cannot find objective 'no_such_scalar')",
        "Random start for optimization (cannot find objective 'no_such_scalar')",
    ]


@pytest.mark.slow
def test_forest_initial_value_and_flags(cli, home, noisy):
    result = cli("run", "noisy.py", "x=[-2.0:2.0:0.3]", "--optimizer", "forest", "-Fo", "kappa=1.3",
                 "-Fo", "xi=0.3", "--max-trials", "2", "-y", "-q")
    assert result.exit_code == 0, result.output
    batch = the_batch(home)
    assert batch.flags == {"kappa": 1.3, "random-starts": 3, "xi": 0.3}
    first = sorted(trials_of(home, batch), key=lambda r: r.created)[0]
    assert first.flags["x"] == 0.3


@pytest.mark.slow
def test_gbrt_log_sequence(cli, home, noisy):
    result = cli("run", "noisy.py", "x=[-2.0:2.0]", "--optimizer", "gbrt", "-Fo", "random-starts=2",
                 "--max-trials", "3", "-y", "-q")
    assert result.exit_code == 0, result.output
    assert optimizer_lines(result) == [
        "Random start for optimization (1 of 2)",
        "Random start for optimization (2 of 2)",
        "Found 2 previous trial(s) for use in optimization",
    ]


@pytest.mark.slow
def test_history_scope(cli, home, noisy):
    args = ("run", "noisy.py", "x=[-2.0:2.0]", "--optimizer", "gp", "-Fo", "random-starts=1",
            "--max-trials", "1", "-y", "-q")
    cli(*args)
    second = cli(*args)
    # a new batch starts fresh: the first batch's trials are not its history
    assert optimizer_lines(second) == ["Random start for optimization (1 of 1)"]
    third = cli(*args[:-4], "--max-trials", "2", "--prev-trials", "operation", "-y", "-q")
    assert optimizer_lines(third)[-1] == "Found 3 previous trial(s) for use in optimization"


@pytest.mark.slow
def test_random_search_from_ranges(cli, home, noisy):
    result = cli("run", "noisy.py", "x=uniform[0:1]", "y=[1:5]", "--max-trials", "3",
                 "--random-seed", "7", "-y", "-q")
    assert result.exit_code == 0, result.output
    batch = the_batch(home)
    assert batch.op == "noisy.py+random" and batch.attrs["random_seed"] == 7
    trials = trials_of(home, batch)
    assert len(trials) == 3
    assert all(0 <= t.flags["x"] <= 1 and 1 <= t.flags["y"] <= 5 and isinstance(t.flags["y"], int)
               for t in trials)
    assert all(t.attrs["random_seed"] == 7 for t in trials)


FAILS = """
x = 1
if x == 2:
    raise SystemExit(1)
print("loss: 0.1")
"""


@pytest.mark.slow
def test_trial_error_continues(cli, home, project):
    write(project / "f.py", FAILS)
    result = cli("run", "f.py", "x=[1,2,3]", "-y", "-q")
    assert result.exit_code == 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and errors[0].endswith("exited with an error (see log for details)")
    batch = the_batch(home)
    assert batch.status == "completed"
    assert sorted(t.status for t in trials_of(home, batch)) == ["completed", "completed", "error"]


@pytest.mark.slow
def test_fail_on_trial_error_stages_the_rest(cli, home, project):
    write(project / "f.py", FAILS)
    result = cli("run", "f.py", "x=[1,2,3,4]", "--fail-on-trial-error", "-y", "-q")
    assert result.exit_code == 1
    assert ("ERROR: [rundb] stopping batch because a trial failed (remaining staged trials "
            "may be started as needed)") in result.stderr
    batch = the_batch(home)
    assert batch.status == "error"
    statuses = {t.flags["x"]: t.status for t in trials_of(home, batch)}
    assert statuses == {1: "completed", 2: "error", 3: "staged", 4: "staged"}


@pytest.mark.slow
def test_needed_skips_done_runs(cli, home, say):
    assert cli("run", "say.py", "msg=a", "-y", "-q").exit_code == 0
    result = cli("run", "say.py", "msg=a", "--needed", "-y", "-q")
    assert "Skipping because the following runs match this operation (--needed specified):" in result.stderr
    result = cli("run", "say.py", "msg=[a,b]", "--needed", "-y", "-q")
    assert "Skipping trial" in result.stderr
    assert len(api.runs(home, flt=RunFilter(ops=["say.py"], include_batch=False))) == 2


BOOLS = """
x = 0.1
fast = False
print(f"loss: {(x - 0.3) ** 2 + (0.1 if fast else 0.0)}")
"""


@pytest.mark.slow
def test_boolean_categories_are_found_in_history(cli, home, project):
    write(project / "b.py", BOOLS)
    result = cli("run", "b.py", "x=[-2.0:2.0]", "fast=[yes,no]", "--optimizer", "gp",
                 "-Fo", "random-starts=2", "--max-trials", "3", "-y", "-q")
    assert result.exit_code == 0, result.output
    assert optimizer_lines(result)[-1] == "Found 2 previous trial(s) for use in optimization"
    trials = trials_of(home, the_batch(home))
    assert {type(t.flags["fast"]) for t in trials} == {bool}


@pytest.mark.slow
def test_home_inside_the_project_keeps_history(runner, project):
    """A home inside the project directory: snapshots must not touch its SQLite files
    (closing one releases the process's locks), or later trials read stale history."""
    from rundb_cli.main import cli as rundb_cli

    write(project / "noisy.py", NOISY)
    home = str(project / "myhome")
    result = runner.invoke(rundb_cli, ["-H", home, "run", "noisy.py", "x=[-2.0:2.0]",
                                       "--optimizer", "gp", "-Fo", "random-starts=2",
                                       "--max-trials", "4", "-y", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert optimizer_lines(result)[2:] == [
        "Found 2 previous trial(s) for use in optimization",
        "Found 3 previous trial(s) for use in optimization",
    ]


@pytest.mark.slow
def test_needed_matches_the_operation_and_flags_in_the_index(cli, home, say):
    """``--needed`` (api.needed_run) asks the index for completed runs of the operation
    and compares only their flags; a deleted run or other flags do not count."""
    assert cli("run", "say.py", "msg=a", "-y", "-q").exit_code == 0
    assert cli("run", "say.py", "msg=b", "-y", "-q").exit_code == 0
    plan = api.plan_run("say.py", cwd=str(say))
    found = api.needed_run(home, plan, api.resolve_flags(plan, ["msg=b"]))
    newest = api.runs(home)[0]
    assert found is not None and found.id == newest.id and found.op == "say.py"
    assert api.needed_run(home, plan, api.resolve_flags(plan, ["msg=c"])) is None
    assert cli("runs", "delete", newest.id[:8], "-y").exit_code == 0
    assert api.needed_run(home, plan, api.resolve_flags(plan, ["msg=b"])) is None
    result = cli("run", "say.py", "msg=b", "--needed", "-y", "-q")
    assert result.exit_code == 0 and "Skipping" not in result.stderr
