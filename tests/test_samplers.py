"""Optuna's samplers as rundb optimizers: tpe, cmaes, optuna-random (issue 18)."""

import math
import subprocess
import sys

import pytest

from rundb import api
from rundb.api.selection import RunFilter
from rundb.errors import BatchError
from rundb.ops.optimizers import opt_flags, resolve_optimizer
from rundb.ops.prune import SearchStudy
from rundb.ops.searchspace import flag_dims

from conftest import write

# --- the adapter, in-process over a cheap objective -------------------------------------

#: A 4-dimensional mixed space: two floats (one log-scaled), an int and a categorical.
SPACE = {"a": "uniform[0.0:1.0]", "b": "loguniform[1e-4:1e-1]", "n": "[1:16]",
         "act": ["relu", "tanh", "gelu"]}
_ACT = {"relu": 0.0, "tanh": 0.4, "gelu": 0.2}
OPTIMUM = 1.0  # at a=0.3, b=10**-2.5, n=11, act=relu


def objective(p):
    return (1 + (p["a"] - 0.3) ** 2 + 0.1 * (math.log10(p["b"]) + 2.5) ** 2
            + 0.1 * ((p["n"] - 11) / 8) ** 2 + _ACT[p["act"]])


def best_of(algorithm, seed, trials=40):
    """Drive the batch's study as a batch does (ask, bind to a run, tell); best value."""
    names, dims, _ = flag_dims(SPACE)
    study = SearchStudy(algorithm, seed=seed, opt_flags=opt_flags(algorithm), names=names,
                        dims=dims)
    best = math.inf
    for i in range(trials):
        params = study.ask()
        study.bind(f"run{i}")
        value = objective(params)
        best = min(best, value)
        study.finish(f"run{i}", "completed", value)
    return best


def test_tpe_beats_random_on_a_mixed_space():
    near = {alg: sum(best_of(alg, seed) <= OPTIMUM * 1.05 for seed in range(10))
            for alg in ("tpe", "optuna-random")}
    print(f"within 5% of the optimum in 40 trials, of 10 seeds: {near}")
    assert near["tpe"] >= 8
    assert near["optuna-random"] < near["tpe"]


@pytest.mark.parametrize("algorithm", ["tpe", "cmaes", "optuna-random"])
def test_same_seed_same_trials(algorithm):
    names, dims, _ = flag_dims(SPACE)

    def trials(seed):
        study = SearchStudy(algorithm, seed=seed, opt_flags=opt_flags(algorithm), names=names,
                            dims=dims)
        out = []
        for i in range(12):
            params = study.ask()
            study.bind(str(i))
            study.finish(str(i), "completed", objective(params))
            out.append(params)
        return out

    first = trials(7)
    assert first == trials(7)
    assert first != trials(8)
    for params in first:  # plain values of the flags' types, inside the space
        assert 0 <= params["a"] <= 1 and 1e-4 <= params["b"] <= 1e-1
        assert type(params["n"]) is int and 1 <= params["n"] <= 16
        assert params["act"] in _ACT


@pytest.mark.parametrize("name,algorithm", [
    ("tpe", "tpe"), ("cmaes", "cmaes"), ("optuna-random", "optuna-random"),
    ("optuna:tpe", "tpe"), ("optuna:random", "optuna-random")])
def test_resolve_optuna_samplers(name, algorithm):
    assert resolve_optimizer(name) == algorithm


def test_tpe_random_starts_flag():
    assert opt_flags("tpe", {"random-starts": "4"}) == {"random-starts": 4}
    with pytest.raises(BatchError, match="unsupported flag 'xi'"):
        opt_flags("tpe", {"xi": 0.1})


# --- real batches ------------------------------------------------------------------------

STEPS = """
import math
x = 0.5
n = 4
act = "relu"
loss = (x - 0.3) ** 2 + 0.01 * n + (0 if act == "relu" else 0.5)
for step in range(1, 4):
    print(f"loss: {loss + 1 / step} (step {step})")
"""


@pytest.fixture
def steps(project):
    write(project / "steps.py", STEPS)
    return project


def trials_of(home, batch):
    return api.runs(home, flt=RunFilter(parent=batch.id))


def the_batches(home):
    return [r for r in api.runs(home) if "+" in r.op]


def optimizer_lines(result):
    return [line[len("INFO: [rundb] "):] for line in result.stderr.splitlines()
            if line.startswith("INFO: [rundb] ") and "optimization" in line]


def test_tpe_batch_runs_real_trials(cli, home, steps):
    result = cli("run", "steps.py", "x=[0.0:1.0]", "n=[1:8]", "act=[relu,tanh]",
                 "--optimizer", "tpe", "-Fo", "random-starts=2", "-m", "4",
                 "--random-seed", "5", "-y")
    assert result.exit_code == 0, result.output
    assert optimizer_lines(result) == [
        "Random start for optimization (1 of 2)", "Random start for optimization (2 of 2)",
        "Found 2 previous trial(s) for use in optimization",
        "Found 3 previous trial(s) for use in optimization"]
    [batch] = the_batches(home)
    assert batch.op == "steps.py+tpe" and batch.status == "completed"
    assert batch.flags == {"random-starts": 2}
    trials = trials_of(home, batch)
    assert len(trials) == 4 and {t.status for t in trials} == {"completed"}
    for t in trials:
        assert 0 <= t.flags["x"] <= 1 and 1 <= t.flags["n"] <= 8
        assert t.flags["act"] in ("relu", "tanh")
    # A second batch learns from the first (--prev-trials operation), in one query.
    result = cli("run", "steps.py", "x=[0.0:1.0]", "n=[1:8]", "act=[relu,tanh]",
                 "--optimizer", "cmaes", "-m", "1", "--prev-trials", "operation",
                 "--random-seed", "5", "-y")
    assert result.exit_code == 0, result.output
    assert optimizer_lines(result) == ["Found 4 previous trial(s) for use in optimization"]
    assert "with 'optuna:cmaes' optimizer" not in result.stderr  # -y: no preview


def test_same_seed_same_sweep(cli, home, steps):
    def sweep():
        result = cli("run", "steps.py", "x=[0.0:1.0]", "n=[1:8]", "--optimizer", "tpe",
                     "-Fo", "random-starts=1", "-m", "3", "--random-seed", "11", "-y")
        assert result.exit_code == 0, result.output
        batch = the_batches(home)[0]
        return sorted((t.flags["x"], t.flags["n"]) for t in trials_of(home, batch))

    assert sweep() == sweep()


def test_preview_names_optuna(cli, home, steps):
    result = cli("run", "steps.py", "x=[0.0:1.0]", "--optimizer", "optuna-random", "-m", "2",
                 input="n\n")
    assert result.exit_code == 1
    assert ("You are about to run steps.py with 'optuna:random' optimizer "
            "(max 2 trials, minimize loss)") in result.stderr
    assert api.runs(home) == []


def test_space_optuna_cannot_express(cli, home, steps):
    result = cli("run", "steps.py", "act=[relu, tanh, relu]", "--optimizer", "tpe", "-y")
    assert result.exit_code == 1
    assert result.stderr == (
        "rundb: optimizer tpe cannot search flag act: its values relu and relu are the same to "
        "Optuna (a list to search needs distinct values)\n")
    assert api.runs(home) == []


def test_help_does_not_import_optuna():
    code = ("import sys; from rundb_cli.main import main; sys.argv = ['rundb', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('optuna' in sys.modules, 'rundb.ops.prune' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
