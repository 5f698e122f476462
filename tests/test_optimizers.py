"""The skopt optimizer adapter: flags, suggestions, log lines and upstream repairs."""

import math

import numpy as np
import pytest
import sklearn
from sklearn.base import is_regressor
from sklearn.ensemble import GradientBoostingRegressor

from rundb.errors import BatchError
from rundb.ops import optimizers
from rundb.ops.optimizers import (
    OPTIMIZER_DEFAULTS,
    opt_flags,
    resolve_optimizer,
    suggest,
    usable_history,
)
from rundb.ops.searchspace import flag_dims


def run_batch(algorithm, flags, max_trials, overrides=None, objective=None, seed=1):
    """Drive suggest() the way a batch does; return (trial flags, log lines)."""
    names, dims, initials = flag_dims(flags)
    settings = opt_flags(algorithm, overrides)
    objective = objective or (lambda trial: (trial["x"] - 0.3) ** 2)
    history, trials, logs = [], [], []
    for i in range(1, max_trials + 1):
        trial, line = suggest(
            algorithm,
            names,
            dims,
            history,
            i,
            max_trials,
            settings,
            seed,
            "loss",
            initials,
        )
        trials.append(trial)
        logs.append(line)
        history.append((trial, objective(trial)))
    return trials, logs


def random_start(i, n):
    return f"Random start for optimization ({i} of {n})"


def found(k):
    return f"Found {k} previous trial(s) for use in optimization"


# Optimizer names and flags


@pytest.mark.parametrize(
    "name,algorithm",
    [
        ("random", "random"),
        ("gp", "gp"),
        ("bayesian", "gp"),
        ("forest", "forest"),
        ("gbrt", "gbrt"),
        ("skopt:gp", "gp"),
        ("skopt:random", "random"),
    ],
)
def test_resolve_optimizer(name, algorithm):
    assert resolve_optimizer(name) == algorithm


def test_resolve_optimizer_unknown():
    with pytest.raises(BatchError) as e:
        resolve_optimizer("nope")
    assert str(e.value) == (
        "unknown optimizer 'nope' (expected one of: bayesian, cmaes, forest, gbrt, gp, "
        "optuna-random, random, tpe)"
    )


def test_opt_flags_defaults():
    # The seeds' batch labels.
    assert opt_flags("gp", {}) == {
        "acq-func": "gp_hedge",
        "kappa": 1.96,
        "noise": "gaussian",
        "random-starts": 3,
        "xi": 0.05,
    }
    assert opt_flags("bayesian", None) == OPTIMIZER_DEFAULTS["gp"]
    assert opt_flags("forest", {}) == {"kappa": 1.96, "random-starts": 3, "xi": 0.05}
    assert opt_flags("gbrt", {}) == {"kappa": 1.96, "random-starts": 3, "xi": 0.05}
    assert opt_flags("random", {}) == {}


def test_opt_flags_overrides_are_coerced():
    flags = opt_flags("forest", {"kappa": "1.3", "xi": 0.3})
    assert flags == {"kappa": 1.3, "random-starts": 3, "xi": 0.3}
    flags = opt_flags("gp", {"random-starts": "2", "noise": 0.1, "acq-func": "ei"})
    assert flags["random-starts"] == 2
    assert flags["noise"] == 0.1
    assert flags["acq-func"] == "EI"
    # Merging already merged flags changes nothing.
    assert opt_flags("gp", flags) == flags


@pytest.mark.parametrize("algorithm", ["+", "random", "gp", "forest", "gbrt"])
def test_opt_flags_unsupported(algorithm):
    with pytest.raises(BatchError) as e:
        opt_flags(algorithm, {"baz": 789})
    assert str(e.value) == (
        "unsupported flag 'baz'\n"
        f"Try 'rundb run {algorithm} --help-op' for a list of flags "
        "or use --force-flags to skip this check."
    )


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            {"random-starts": -1},
            "invalid value for optimizer flag random-starts: -1 (expected a whole number >= 0)",
        ),
        (
            {"random-starts": 1.5},
            "invalid value for optimizer flag random-starts: 1.5 (expected a whole number >= 0)",
        ),
        ({"kappa": "big"}, "invalid value for optimizer flag kappa: 'big' (expected a number)"),
        (
            {"noise": "loud"},
            "invalid value for optimizer flag noise: 'loud' "
            "(expected 'gaussian' or a number >= 0)",
        ),
        (
            {"acq-func": "EIps"},
            "invalid value for optimizer flag acq-func: 'EIps' "
            "(expected one of: EI, LCB, PI, gp_hedge)",
        ),
    ],
)
def test_opt_flags_invalid_values(overrides, message):
    with pytest.raises(BatchError) as e:
        opt_flags("gp", overrides)
    assert str(e.value) == message


# Suggestions inside the space

MIXED = {
    "x": "[-2.0:2.0]",
    "n": "[1:10]",
    "lr": "loguniform[1e-4:1e-1]",
    "act": ["relu", "tanh", 3],
    "fixed": "keep",
}


def mixed_history():
    rng = np.random.RandomState(0)
    history = []
    for _ in range(6):
        trial = {
            "x": float(rng.uniform(-2, 2)),
            "n": int(rng.randint(1, 11)),
            "lr": float(10 ** rng.uniform(-4, -1)),
            "act": ["relu", "tanh", 3][rng.randint(3)],
        }
        loss = trial["x"] ** 2 + trial["n"] / 10 + (trial["act"] == "tanh")
        history.append((trial, loss))
    return history


def assert_in_mixed_space(trial):
    assert set(trial) == {"x", "n", "lr", "act"}
    assert type(trial["x"]) is float and -2.0 <= trial["x"] <= 2.0
    assert type(trial["n"]) is int and 1 <= trial["n"] <= 10
    assert type(trial["lr"]) is float and 1e-4 <= trial["lr"] <= 1e-1
    assert trial["act"] in ("relu", "tanh", 3)
    assert type(trial["act"]) in (str, int)  # the category itself, not np.str_


@pytest.mark.parametrize("algorithm", ["random", "gp", "forest", "gbrt"])
def test_suggest_inside_space(algorithm):
    names, dims, _ = flag_dims(MIXED)
    history = mixed_history()
    trial, line = suggest(algorithm, names, dims, history, 7, 20, None, 5, "loss")
    assert_in_mixed_space(trial)
    assert line == (None if algorithm == "random" else found(6))


@pytest.mark.parametrize("algorithm", ["gp", "forest", "gbrt"])
def test_suggest_single_category_dim(algorithm):
    # A one-value list is a dim too (seed: i=[3]); the model must cope with it.
    names, dims, _ = flag_dims({"i": [3], "x": "[-2.0:2.0]"})
    history = [({"i": 3, "x": x}, x**2) for x in (-1.5, 0.5, 1.0)]
    trial, line = suggest(algorithm, names, dims, history, 4, 5, None, 1, "loss")
    assert trial["i"] == 3 and type(trial["i"]) is int
    assert -2.0 <= trial["x"] <= 2.0
    assert line == found(3)


# The seeds' log sequences


def test_gp_log_sequence():
    trials, logs = run_batch("gp", {"x": "[-2.0:2.0]", "noise": 0.1}, 5)
    assert logs == [
        random_start(1, 3),
        random_start(2, 3),
        random_start(3, 3),
        found(3),
        found(4),
    ]
    assert all(-2.0 <= t["x"] <= 2.0 and set(t) == {"x"} for t in trials)


def test_gp_initial_value_and_max_trials_cap_random_starts():
    trials, logs = run_batch("gp", {"x": "[-2.0:2.0:0.1]"}, 2, {"kappa": 1.5, "xi": 0.2})
    assert logs == [random_start(1, 2), random_start(2, 2)]
    assert trials[0] == {"x": 0.1}
    assert trials[1] != {"x": 0.1}


def test_forest_log_sequence():
    trials, logs = run_batch("forest", {"x": "[-2.0:2.0]"}, 3, {"random-starts": 2})
    assert logs == [random_start(1, 2), random_start(2, 2), found(2)]


def test_forest_initial_value():
    trials, logs = run_batch("forest", {"x": "[-2.0:2.0:0.3]"}, 2, {"kappa": 1.3, "xi": 0.3})
    assert logs == [random_start(1, 2), random_start(2, 2)]
    assert trials[0] == {"x": 0.3}


def test_gbrt_log_sequence():
    trials, logs = run_batch("gbrt", {"x": "[-2.0:2.0]"}, 3, {"random-starts": 2})
    assert logs == [random_start(1, 2), random_start(2, 2), found(2)]
    assert all(-2.0 <= t["x"] <= 2.0 for t in trials)


def test_gbrt_initial_value():
    trials, logs = run_batch("gbrt", {"x": "[-2.0:2.0:0.4]"}, 3, {"kappa": 1.4, "xi": 0.4})
    assert logs == [random_start(1, 3), random_start(2, 3), random_start(3, 3)]
    assert trials[0] == {"x": 0.4}


def test_missing_objective():
    # Seed case 57: the objective is never logged.
    _, logs = run_batch(
        "gp", {"x": "[-2.0:2.0]"}, 4, {"random-starts": 2}, objective=lambda t: None
    )
    cannot_find = "Random start for optimization (cannot find objective 'loss')"
    assert logs == [random_start(1, 2), random_start(2, 2), cannot_find, cannot_find]


def test_missing_previous_trials():
    names, dims, _ = flag_dims({"x": "[-2.0:2.0]"})
    trial, line = suggest("gp", names, dims, [], 4, 10, None, 1, "loss")
    assert line == "Random start for optimization (missing previous trials)"
    assert -2.0 <= trial["x"] <= 2.0


def test_random_starts_one_new_batch():
    # Seed case 59: a new batch starts from an empty history.
    names, dims, _ = flag_dims({"x": "[-2.0:2.0]"})
    _, line = suggest("gp", names, dims, [], 1, 2, {"random-starts": 1}, None, "loss")
    assert line == random_start(1, 1)


# Unusable history


def test_usable_history_skips_bad_trials():
    names, dims, _ = flag_dims({"x": "[-2.0:2.0]", "n": "[1:10]", "c": ["a", "b"]})
    history = [
        ({"c": "a", "n": 2, "x": 0.5}, 1.0),  # usable
        ({"c": "b", "n": 3.0, "x": 1}, 2),  # usable: 3.0 -> 3, 1 -> 1.0
        ({"c": "a", "n": 2, "x": 5.0}, 1.0),  # x outside the range
        ({"c": "a", "n": 11, "x": 0.5}, 1.0),  # n outside the range
        ({"c": "a", "n": 2.5, "x": 0.5}, 1.0),  # n not whole
        ({"c": "z", "n": 2, "x": 0.5}, 1.0),  # not a category
        ({"c": "a", "n": 2, "x": None}, 1.0),  # None flag
        ({"c": "a", "n": 2, "x": "high"}, 1.0),  # wrong type
        ({"c": "a", "x": 0.5}, 1.0),  # missing flag
        ({"c": "a", "n": 2, "x": 0.5}, None),  # no objective
        ({"c": "a", "n": 2, "x": 0.5}, math.nan),  # objective not finite
        ({"c": "a", "n": 2, "x": 0.5}, math.inf),
    ]
    x0, y0, skipped = usable_history(names, dims, history)
    assert x0 == [["a", 2, 0.5], ["b", 3, 1.0]]
    assert [type(v) for v in x0[1]] == [str, int, float]
    assert y0 == [1.0, 2.0]
    assert skipped == 10


def test_categories_keep_their_types():
    names, dims, _ = flag_dims({"c": [1, True, "1", 2.5]})
    history = [({"c": True}, 1.0), ({"c": 1}, 2.0), ({"c": "1"}, 3.0), ({"c": 2.5}, 4.0)]
    x0, _, skipped = usable_history(names, dims, history)
    assert skipped == 0
    assert [type(p[0]) for p in x0] == [bool, int, str, float]


@pytest.mark.parametrize("algorithm", ["gp", "forest", "gbrt"])
def test_suggest_skips_unusable_history(algorithm):
    names, dims, _ = flag_dims({"x": "[-1.0:1.0]", "y": "[1:5]"})
    history = [
        ({"x": -0.5, "y": 1}, 0.25),
        ({"x": 0.2, "y": 3}, 0.04),
        ({"x": 0.9, "y": 5}, 0.81),
        ({"x": 3.0, "y": 2}, 9.0),  # from a wider range: skopt would refuse it
        ({"x": None, "y": 2}, 1.0),  # skopt would raise TypeError
        ({"y": 2}, 1.0),
        ({"x": 0.1, "y": 2}, None),
    ]
    trial, line = suggest(algorithm, names, dims, history, 8, 20, None, 1, "loss")
    assert line == found(3)
    assert -1.0 <= trial["x"] <= 1.0 and type(trial["x"]) is float
    assert 1 <= trial["y"] <= 5 and type(trial["y"]) is int


# Repeatability


def test_random_is_repeatable():
    names, dims, initials = flag_dims(MIXED)
    first = [suggest("random", names, dims, [], i, 5, None, 42)[0] for i in (1, 2, 3)]
    again = [suggest("random", names, dims, [], i, 5, None, 42)[0] for i in (1, 2, 3)]
    other = [suggest("random", names, dims, [], i, 5, None, 43)[0] for i in (1, 2, 3)]
    assert first == again
    assert first != other
    assert first[0] != first[1] != first[2]
    for trial in first:
        assert_in_mixed_space(trial)


def test_random_uses_initial_values_first():
    names, dims, initials = flag_dims({"x": "[1:100:50]", "y": "[0.0:1.0]"})
    trial, _ = suggest("random", names, dims, [], 1, 5, None, 1, initials=initials)
    assert trial["x"] == 50 and 0.0 <= trial["y"] <= 1.0
    trial, _ = suggest("random", names, dims, [], 2, 5, None, 1, initials=initials)
    assert 1 <= trial["x"] <= 100


def test_gp_is_repeatable():
    names, dims, _ = flag_dims({"x": "[-2.0:2.0]"})
    history = [({"x": x}, (x - 0.3) ** 2) for x in (-1.5, -0.2, 1.1)]
    first = suggest("gp", names, dims, history, 4, 10, None, 7)
    assert suggest("gp", names, dims, history, 4, 10, None, 7) == first


# The gbrt repairs (scikit-optimize 0.10.2 on scikit-learn >= 1.6, numpy >= 2.4)


def test_gbrt_surrogate_is_a_regressor():
    surrogate = optimizers._gbrt_estimator(np.random.RandomState(0))
    assert is_regressor(surrogate)
    assert isinstance(surrogate, _upstream_gbrt_class())


def test_gbrt_surrogate_predicts_std():
    surrogate = optimizers._gbrt_estimator(np.random.RandomState(0))
    X = np.linspace(-2, 2, 20).reshape(-1, 1)
    y = (X[:, 0] - 0.3) ** 2
    surrogate.fit(X, y)
    mean, std = surrogate.predict(X, return_std=True)
    quantiles = surrogate.predict(X, return_quantiles=True)
    assert np.allclose(mean, quantiles[:, 1])
    assert np.allclose(std, (quantiles[:, 2] - quantiles[:, 0]) / 2.0)
    assert np.allclose(surrogate.predict(X), mean)


def _upstream_gbrt_class():
    from skopt.learning import GradientBoostingQuantileRegressor

    return GradientBoostingQuantileRegressor


SKLEARN_TAGS = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 6)


@pytest.mark.skipif(not SKLEARN_TAGS, reason="scikit-learn < 1.6 reads _estimator_type")
def test_upstream_gbrt_is_not_a_regressor():
    """Documents why the adapter subclasses skopt's model (remove when fixed upstream)."""
    from skopt import gbrt_minimize

    assert not is_regressor(_upstream_gbrt_class()())
    with pytest.raises(ValueError, match="has to be a regressor"):
        gbrt_minimize(lambda x: x[0] ** 2, [(-2.0, 2.0)], n_calls=2, n_initial_points=1)


@pytest.mark.skipif(hasattr(np, "in1d"), reason="numpy < 2.4 still has np.in1d")
def test_upstream_gbrt_predict_std_needs_in1d():
    """Documents why the adapter overrides predict(return_std=True)."""
    upstream = _upstream_gbrt_class()(
        base_estimator=GradientBoostingRegressor(n_estimators=5, loss="quantile")
    )
    X = np.linspace(-2, 2, 10).reshape(-1, 1)
    upstream.fit(X, X[:, 0] ** 2)
    with pytest.raises(AttributeError, match="in1d"):
        upstream.predict(X, return_std=True)


def test_suggest_without_dims():
    with pytest.raises(BatchError, match="do not contain any search dimensions"):
        suggest("random", [], [], [], 1)
