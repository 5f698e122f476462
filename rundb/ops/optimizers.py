"""The scikit-optimize adapter: suggest the next trial's flags for a batch.

rundb's built-in optimizers are ``random``, ``gp`` (alias ``bayesian``), ``forest``
and ``gbrt``. Each call to :func:`suggest` proposes one trial from the search
dimensions (see :mod:`rundb.ops.searchspace`) and the history of earlier trials of
the same batch, and returns the log line the seeds print for it::

    Random start for optimization (1 of 3)
    Found 3 previous trial(s) for use in optimization

skopt, numpy, scikit-learn and threadpoolctl are imported inside the functions that
use them, so importing this module stays cheap.

scikit-optimize 0.10.2 (its latest release) needs two repairs to run its ``gbrt``
optimizer on current libraries. Both are made here in a small subclass of its
surrogate model, :func:`_gbrt_surrogate_class`, never by patching or vendoring skopt:

* scikit-learn >= 1.6 decides ``is_regressor`` from ``__sklearn_tags__``.
  ``GradientBoostingQuantileRegressor`` lists ``BaseEstimator`` before
  ``RegressorMixin``, and ``BaseEstimator.__sklearn_tags__`` does not call
  ``super()``, so the mixin's "regressor" tag is lost and ``Optimizer`` rejects the
  model ("... has to be a regressor.").
* numpy 2.4 removed ``np.in1d``, which its ``predict(X, return_std=True)`` calls;
  every acquisition function needs that call.
"""

import functools
import logging
import math
import numbers
import warnings

from rundb.errors import BatchError

__all__ = [
    "OPTIMIZER_DEFAULTS",
    "opt_flags",
    "resolve_optimizer",
    "suggest",
    "usable_history",
]

log = logging.getLogger(__name__)

#: Optimizer flags and their defaults, by algorithm (the seeds' batch labels).
OPTIMIZER_DEFAULTS = {
    "gp": {
        "acq-func": "gp_hedge",
        "kappa": 1.96,
        "noise": "gaussian",
        "random-starts": 3,
        "xi": 0.05,
    },
    "forest": {"kappa": 1.96, "random-starts": 3, "xi": 0.05},
    "gbrt": {"kappa": 1.96, "random-starts": 3, "xi": 0.05},
    "random": {},
    # Optuna's samplers (rundb.ops.prune): random-starts is their n_startup_trials.
    "tpe": {"random-starts": 10},
    "cmaes": {"random-starts": 0},
    "optuna-random": {},
}

_ALIASES = {"bayesian": "gp"}

# Acquisition functions skopt offers without timing data (EIps/PIps need it).
_ACQ_FUNCS = {"gp_hedge": "gp_hedge", "lcb": "LCB", "ei": "EI", "pi": "PI"}

# What each skopt *_minimize function uses when not told otherwise.
_DEFAULT_ACQ_FUNC = {"gp": "gp_hedge", "forest": "EI", "gbrt": "LCB"}

# skopt's default number of points sampled to optimize the acquisition function.
_ACQ_POINTS = 10000

_MAX_SEED = 2**32


def resolve_optimizer(name):
    """Return the algorithm for an optimizer name.

    Accepts ``random``, ``gp``, ``bayesian`` (``gp``), ``forest`` and ``gbrt``,
    optionally as an opspec with the ``skopt:`` prefix (``skopt:gp``), and Optuna's
    samplers ``tpe``, ``cmaes`` and ``optuna-random`` (``optuna:tpe``, ``optuna:random``).

    :raises BatchError: for any other name.
    """
    bare = name[len("skopt:") :] if name.startswith("skopt:") else name
    if name.startswith("optuna:"):
        bare = name[len("optuna:") :]
        bare = "optuna-random" if bare == "random" else bare
    algorithm = _ALIASES.get(bare, bare)
    if algorithm not in OPTIMIZER_DEFAULTS:
        valid = ", ".join(sorted([*OPTIMIZER_DEFAULTS, *_ALIASES]))
        raise BatchError(f"unknown optimizer '{name}' (expected one of: {valid})")
    return algorithm


def opt_flags(algorithm, overrides=None):
    """Return an optimizer's flags: its defaults updated with ``overrides``.

    ``overrides`` are the ``-Fo NAME=VALUE`` values or the optimizer's settings in
    ``rundb.yml``. Values are checked and coerced (``"1.3"`` becomes ``1.3``).
    The grid optimizer ``+`` has no flags.

    :raises BatchError: for a flag the optimizer does not have, or a bad value.
    """
    return _merge_opt_flags(algorithm, overrides)


def _merge_opt_flags(algorithm, overrides):
    defaults = {} if algorithm == "+" else OPTIMIZER_DEFAULTS[resolve_optimizer(algorithm)]
    flags = dict(defaults)
    for name, value in (overrides or {}).items():
        if name not in defaults:
            raise BatchError(
                f"unsupported flag '{name}'\n"
                f"Try 'rundb run {algorithm} --help-op' for a list of flags "
                "or use --force-flags to skip this check."
            )
        flags[name] = _coerce_opt_flag(name, value)
    return flags


def _coerce_opt_flag(name, value):
    if name == "random-starts":
        number = _number(value)
        if number is None or number != int(number) or number < 0:
            raise BatchError(
                f"invalid value for optimizer flag {name}: {value!r} "
                "(expected a whole number >= 0)"
            )
        return int(number)
    if name in ("kappa", "xi"):
        number = _number(value)
        if number is None:
            raise BatchError(
                f"invalid value for optimizer flag {name}: {value!r} (expected a number)"
            )
        return number
    if name == "noise":
        if value == "gaussian":
            return value
        number = _number(value)
        if number is None or number < 0:
            raise BatchError(
                f"invalid value for optimizer flag noise: {value!r} "
                "(expected 'gaussian' or a number >= 0)"
            )
        return number
    if name == "acq-func":
        canonical = _ACQ_FUNCS.get(str(value).lower())
        if canonical is None:
            raise BatchError(
                f"invalid value for optimizer flag acq-func: {value!r} "
                "(expected one of: EI, LCB, PI, gp_hedge)"
            )
        return canonical
    return value


def _number(value):
    # Flags may arrive decoded (1.3) or as command-line text ("1.3").
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def usable_history(names, dims, history):
    """Split trial history into skopt's ``x0``/``y0``, dropping unusable trials.

    A trial is unusable when its objective is missing or not finite, when a flag
    in ``names`` is missing or None, or when a value lies outside its dimension
    (say, from a batch restarted with a narrower range). skopt would fail on
    these ("Not all points are within the bounds of the space", or a TypeError).
    Values are converted to their dimension's type (``3.0`` for an Integer → ``3``).

    :param history: ``(flag values, objective)`` pairs, objectives already
        negated when maximizing.
    :returns: ``(x0, y0, skipped)`` where ``skipped`` counts dropped trials.
    """
    x0, y0, skipped = [], [], 0
    for flags, objective in history:
        point = _point(names, dims, flags)
        if point is None or not _is_finite(objective):
            skipped += 1
            continue
        x0.append(point)
        y0.append(float(objective))
    return x0, y0, skipped


def _is_finite(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _point(names, dims, flags):
    point = []
    for name, dim in zip(names, dims):
        if name not in flags:
            return None
        value = _dim_value(dim, flags[name])
        if value is _OUTSIDE:
            return None
        point.append(value)
    return point


_OUTSIDE = object()


def _dim_value(dim, value):
    """``value`` as a plain Python value of ``dim``, or ``_OUTSIDE``."""
    kind = type(dim).__name__
    if kind == "Categorical":
        for category in dim.categories:
            if _same_category(category, value):
                return category
        return _OUTSIDE
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return _OUTSIDE
    if not dim.low <= value <= dim.high:
        return _OUTSIDE
    if kind == "Integer":
        return int(value) if value == int(value) else _OUTSIDE
    return float(value)


def _same_category(category, value):
    # skopt hands back np.str_/np.float64/np.bool_ for mixed categories, and
    # True == 1 in Python, but a flag of True is not the category 1.
    if type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(category, bool) != isinstance(value, bool):
        return False
    if isinstance(category, str) != isinstance(value, str):
        return False
    try:
        return bool(category == value)
    except Exception:
        return False


def suggest(
    algorithm,
    names,
    dims,
    history,
    trial_index,
    max_trials=None,
    opt_flags=None,
    random_state=None,
    objective_name="loss",
    initials=None,
    pending=None,
):
    """Suggest the flag values for the next trial of an optimizer batch.

    :param algorithm: ``random``, ``gp``, ``forest`` or ``gbrt`` (see
        :func:`resolve_optimizer`).
    :param names: search flag names, sorted, as from ``flag_dims``.
    :param dims: skopt dimensions for ``names``, as from ``flag_dims``.
    :param history: ``(flag values, objective or None)`` for the batch's earlier
        trials, objectives negated by the caller when maximizing.
    :param trial_index: 1-based number of the trial being suggested.
    :param max_trials: the batch's trial limit (caps the random starts).
    :param opt_flags: optimizer flags, as from :func:`opt_flags` (defaults if None).
    :param random_state: the batch's random seed; the same seed, trial index and
        history give the same suggestion. None for a fresh random stream.
    :param objective_name: the objective column, for the log line.
    :param initials: initial values from ``flag_dims`` (``[a:b:initial]``), used
        for the first trial's random start; None entries are drawn at random.
    :param pending: flag values of trials still running (a parallel batch), or None.
        They are told to the model with the best objective so far (a constant liar, as
        skopt's ``ask(n_points=...)`` does), so parallel trials spread out; a suggestion
        equal to a point already tried or running is replaced by a random one.
    :returns: ``(flags, log_line)``: plain Python values by flag name (int for
        Integer dims, float for Real, the category itself for Categorical) and
        the line to log at INFO level, or None (``random`` logs nothing).
    :raises BatchError: for an unknown algorithm, bad optimizer flags, or no
        dims (callers report ``searchspace.no_dims_error(flags)`` before this).
    """
    algorithm = resolve_optimizer(algorithm)
    if not dims:
        raise BatchError("flags for batch do not contain any search dimensions")
    flags = _merge_opt_flags(algorithm, opt_flags)
    rng = _random_state(random_state, trial_index)
    if algorithm == "random":
        return _random_point(names, dims, rng, initials, trial_index), None

    x0, y0, skipped = usable_history(names, dims, history)
    if skipped:
        log.debug("skipped %i previous trial(s) that cannot be used", skipped)
    random_starts = flags["random-starts"]
    n_random = random_starts if max_trials is None else min(random_starts, max_trials)
    if trial_index <= n_random and len(x0) < random_starts:
        msg = f"Random start for optimization ({trial_index} of {n_random})"
    elif history and all(objective is None for _, objective in history):
        msg = f"Random start for optimization (cannot find objective '{objective_name}')"
    elif not x0:
        msg = "Random start for optimization (missing previous trials)"
    else:
        lies = [p for p in (_point(names, dims, f) for f in pending or ()) if p is not None]
        point = _fit_and_ask(algorithm, dims, x0 + lies, y0 + [min(y0)] * len(lies), flags,
                             rng)
        values = [_plain(dim, value) for dim, value in zip(dims, point)]
        msg = f"Found {len(x0)} previous trial(s) for use in optimization"
        if lies:
            msg += f" ({len(lies)} still running)"
        if pending is not None and _point(names, dims, dict(zip(names, values))) in x0 + lies:
            return _unseen_random_point(names, dims, rng, x0 + lies), msg
        return dict(zip(names, values)), msg
    values = _random_point(names, dims, rng, initials, trial_index)
    if pending is not None:
        taken = [p for p in (_point(names, dims, f) for f in pending) if p is not None] + x0
        if _point(names, dims, values) in taken:
            values = _unseen_random_point(names, dims, rng, taken)
    return values, msg


def _unseen_random_point(names, dims, rng, taken, tries=100):
    """A random point not in ``taken`` (when the space has one within ``tries``)."""
    for _ in range(tries):
        values = _random_point(names, dims, rng, None, 0)
        if _point(names, dims, values) not in taken:
            break
    return values


def _random_state(seed, trial_index):
    import numpy as np

    if seed is None:
        return np.random.RandomState()
    # One stream per (batch seed, trial): repeatable, and trials differ.
    return np.random.RandomState([int(seed) % _MAX_SEED, int(trial_index) % _MAX_SEED])


def _random_point(names, dims, rng, initials, trial_index):
    from skopt.space import Space

    sampled = Space(dims).rvs(n_samples=1, random_state=rng)[0]
    values = [_plain(dim, value) for dim, value in zip(dims, sampled)]
    if trial_index == 1 and initials:
        values = [value if init is None else init for value, init in zip(values, initials)]
    return dict(zip(names, values))


def _plain(dim, value):
    """A value from skopt as the plain Python value the flag should hold."""
    kind = type(dim).__name__
    if kind == "Integer":
        return int(value)
    if kind == "Real":
        return float(value)
    for category in dim.categories:
        if _same_category(category, value):
            return category
    # skopt returned something that is not one of our categories: keep it usable.
    return value.item() if type(value).__module__ == "numpy" else value


def _fit_and_ask(algorithm, dims, x0, y0, flags, rng):
    """Fit the surrogate model to ``x0``/``y0`` and return skopt's next point."""
    from skopt import Optimizer
    from threadpoolctl import threadpool_limits

    space, estimator = _space_and_estimator(algorithm, dims, flags, rng)
    optimizer = Optimizer(
        space,
        estimator,
        # Every told point counts as an initial point, so the model is fitted and
        # asked as soon as the history is told, as *_minimize(x0=, y0=) does.
        n_initial_points=len(x0),
        acq_func=flags.get("acq-func", _DEFAULT_ACQ_FUNC[algorithm]),
        acq_func_kwargs={"xi": flags["xi"], "kappa": flags["kappa"]},
        acq_optimizer_kwargs={
            "n_points": _ACQ_POINTS,
            "n_restarts_optimizer": 5,
            "n_jobs": 1,
        },
        random_state=rng,
    )
    # BLAS/OpenMP threads cost more than they give on these tiny fits (about 3x
    # slower on 2 cores), hence one thread: OMP_NUM_THREADS=1 for this call only.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        # Repeating an earlier point is expected with few trials; skopt then
        # picks a random point itself and says so. The seeds ignore this too.
        warnings.filterwarnings(
            "ignore", message="The objective has been evaluated at point"
        )
        optimizer.tell(x0, y0)
        return optimizer.ask()


def _space_and_estimator(algorithm, dims, flags, rng):
    """The space and surrogate model each skopt *_minimize function would use."""
    from skopt.utils import cook_estimator, normalize_dimensions

    if algorithm == "gp":
        space = normalize_dimensions(dims)
        estimator = cook_estimator(
            "GP",
            space=space,
            random_state=rng.randint(0, 2**31 - 1),
            noise=flags["noise"],
        )
        return space, estimator
    if algorithm == "forest":
        return dims, cook_estimator("ET", n_jobs=1)
    if algorithm == "gbrt":
        return dims, _gbrt_estimator(rng)
    raise AssertionError(algorithm)


def _gbrt_estimator(rng):
    from sklearn.ensemble import GradientBoostingRegressor

    # The model skopt's cook_estimator("GBRT") builds, in our repaired class.
    quantile_gbrt = GradientBoostingRegressor(n_estimators=30, loss="quantile")
    return _gbrt_surrogate_class()(base_estimator=quantile_gbrt, random_state=rng)


@functools.lru_cache(maxsize=None)
def _gbrt_surrogate_class():
    """skopt's ``GradientBoostingQuantileRegressor``, repaired for current libraries.

    Built on first use so that skopt is only imported when gbrt runs.
    """
    from skopt.learning import GradientBoostingQuantileRegressor

    class GBRTSurrogate(GradientBoostingQuantileRegressor):
        """Quantile GBRT surrogate that sklearn >= 1.6 and numpy >= 2.4 accept."""

        def __sklearn_tags__(self):
            # What RegressorMixin.__sklearn_tags__ would add, had the MRO let it.
            from sklearn.utils import RegressorTags

            tags = super().__sklearn_tags__()
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
            tags.target_tags.required = True
            return tags

        def predict(self, X, return_std=False, return_quantiles=False):
            if return_quantiles or not return_std:
                return super().predict(X, return_quantiles=return_quantiles)
            # The upstream return_std branch calls np.in1d (gone in numpy 2.4).
            # Same result: the median, and half the 16%-84% spread as std.
            if not all(q in self.quantiles for q in (0.16, 0.5, 0.84)):
                raise ValueError(
                    "return_std works only if the quantiles during "
                    "instantiation include 0.16, 0.5 and 0.84"
                )
            low, mean, high = (
                self.regressors_[self.quantiles.index(q)].predict(X)
                for q in (0.16, 0.5, 0.84)
            )
            return mean, (high - low) / 2.0

    GBRTSurrogate.__qualname__ = GBRTSurrogate.__name__
    return GBRTSurrogate
