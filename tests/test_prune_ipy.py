"""The notebook API with Optuna: ``_optimizer="tpe"`` and ``_prune=...`` on function
trials, stopped by ``TrialPruned`` raised inside the function (issue 18)."""

import math
import time

import pytest

from rundb import ipy


@pytest.fixture(autouse=True)
def ipy_home(home):
    with ipy.use_home(home.path):
        yield home


def curve(x=0.5, steps=40, pace=0.05):
    """Good x (< 0.3) descends, bad x plateaus high; one printed loss a step."""
    reached = 0
    for step in range(1, steps + 1):
        loss = x + (1 - x) * math.exp(-step / 6) if x < 0.3 else 0.7 + 0.3 * x
        print(f"loss: {loss:.6f} (step {step})")
        reached = step
        time.sleep(pace)
    return reached


def test_function_trials_are_pruned_inside_the_function(capsys):
    runs, results = ipy.run(curve, x=[0.05, 0.1, 0.9], _prune="median", _prune_warmup=2,
                            _prune_min_trials=2)
    assert [r.get("status") for r in runs] == ["completed", "completed", "pruned"]
    assert results[:2] == [40, 40] and results[2] is None  # it raised TrialPruned
    pruned = runs[2]
    step = pruned.get("pruned_step")
    assert 2 <= step < 40 and pruned.get("pruned_by") == "median"
    assert pruned.get("exit_status") == -15
    with open(f"{pruned.dir}/.rundb/output") as f:
        output = f.read()
    assert f"rundb: pruned at step {step} (median) by its batch's pruner" in output
    assert "(step 40)" not in output
    assert ipy.runs(pruned=True)["run"].tolist() == [pruned]
    [batch] = ipy.runs(include_batch=True, operations=["+"])["run"]
    assert batch.get("status") == "completed"


def objective(a=0.5, n=4, act="relu"):
    print(f"loss: {(a - 0.3) ** 2 + 0.01 * n + (0 if act == 'relu' else 0.5)}")


def test_tpe_optimizer_on_functions():
    runs, _ = ipy.run(objective, a=slice(0.0, 1.0), n=slice(1, 8), act=["relu", "tanh"],
                      _optimizer="tpe", _max_trials=5, _random_seed=3, _opt_random_starts=2)
    assert len(runs) == 5 and {r.get("status") for r in runs} == {"completed"}
    [batch] = ipy.runs(include_batch=True, operations=["+"])["run"]
    assert batch.op == "objective()+tpe"
    flags = [r.get("flags") for r in runs]
    assert all(0 <= f["a"] <= 1 and 1 <= f["n"] <= 8 and f["act"] in ("relu", "tanh")
               for f in flags)


def test_prune_without_a_search_is_refused(home):
    with pytest.raises(TypeError) as e:
        ipy.run(curve, x=0.1, _prune="median")
    assert str(e.value) == ("_prune needs a search: give a flag a list, a slice or a "
                            "uniform()/loguniform() range")
    assert ipy.runs().empty
