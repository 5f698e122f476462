"""Optuna in a batch: its samplers (``tpe``, ``cmaes``, ``optuna-random``) and pruners
(``median``, ``percentile:P``, ``asha``, ``hyperband``), fed from the index.

A batch that uses either keeps one in-memory Optuna study for its life
(:class:`SearchStudy`): earlier trials in scope are added to it from the index as
finished trials (completed, or pruned with their intermediate values); each trial of the
batch is asked from it, reported to while it runs and told when it ends. Optuna's own
algorithms decide; nothing here re-implements them. The study lives in memory because
Optuna's samplers and pruners keep state in it between decisions (CMA-ES its generation,
ASHA its rungs, Hyperband its brackets by trial number), and because the index is the one
place trials are recorded: the study is rebuilt from it by the next batch.

:class:`PruneWatch` is the thread that, while trials run, reads their new points of the
prune-on scalar from the index (one query a tick for all running trials), reports them to
the study and asks the pruner. A trial pruned is stopped through the index's stop channel,
as ``rundb stop`` stops a run: its runner terminates its child and records it ``pruned``,
with the step of the decision (the ``pruned_step`` attribute, in meta.json too).

Optuna (and numpy) are imported only inside the functions that use them.
"""

import logging
import math
import re
import threading
from dataclasses import dataclass

from ..errors import BatchError

log = logging.getLogger("rundb")

#: Optimizers that are Optuna's samplers.
OPTUNA_SAMPLERS = ("tpe", "cmaes", "optuna-random")

#: Optimizer flags of Optuna's samplers and their defaults (Optuna's own defaults).
OPTUNA_DEFAULTS = {
    "tpe": {"random-starts": 10},
    "cmaes": {"random-starts": 0},
    "optuna-random": {},
}

PRUNE_RULES = ("median", "percentile:P", "asha", "hyperband", "none")

#: Seconds between looks at the running trials' curves.
TICK = 0.25

#: Trials finished (completed or pruned) before any trial is pruned, by default.
DEFAULT_MIN_TRIALS = 5

_REASON = re.compile(r"^pruned at step (-?\d+) \(([^)]*)\)$")


def prune_reason(step, rule):
    """The stop-request reason that makes a runner record its run ``pruned``."""
    return f"pruned at step {step} ({rule})"


def parse_prune_reason(reason):
    """``(step, rule)`` of a pruning stop request, else None.

    >>> parse_prune_reason("pruned at step 12 (median)"), parse_prune_reason("rundb stop")
    ((12, 'median'), None)
    """
    match = _REASON.match(reason or "")
    return (int(match.group(1)), match.group(2)) if match else None


def pruned_attrs(step, rule):
    """The run attributes a pruned run gets (meta.json and the index)."""
    return {"pruned_step": step, "pruned_by": rule}


@dataclass
class PruneSpec:
    """What ``--prune RULE --prune-on COL --prune-warmup N --prune-min-trials N`` ask."""

    rule: str  # median, percentile:P, asha, hyperband
    key: str  # the scalar whose curve is judged (``val_loss``)
    warmup: int = 0
    min_trials: int = DEFAULT_MIN_TRIALS
    percentile: float | None = None

    def pruner(self):
        """Optuna's pruner for the rule."""
        import optuna

        if self.rule == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=self.warmup)
        if self.rule.startswith("percentile"):
            return optuna.pruners.PercentilePruner(self.percentile, n_startup_trials=0,
                                                   n_warmup_steps=self.warmup)
        if self.rule == "asha":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=self.warmup if self.warmup > 0 else "auto")
        if self.rule == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=max(1, self.warmup))
        raise AssertionError(self.rule)


def parse_prune(rule, on=None, warmup=None, min_trials=None, objective=None):
    """The PruneSpec for ``--prune RULE`` (None for ``none`` or no rule).

    :param objective: the batch's Objective: its scalar is the default ``--prune-on``.
    :raises BatchError: an unknown rule, a bad percentile, a negative count, a
        ``--prune-on`` that is not a scalar.
    """
    if rule is None:
        for name, value in (("--prune-on", on), ("--prune-warmup", warmup),
                            ("--prune-min-trials", min_trials)):
            if value is not None:
                raise BatchError(f"{name} needs --prune RULE")
        return None
    text = str(rule).strip().lower()
    if text == "none":
        return None
    percentile = None
    if text.startswith("percentile"):
        _, _, number = text.partition(":")
        try:
            percentile = float(number)
        except ValueError:
            percentile = None
        if percentile is None or not 0 < percentile < 100:
            raise BatchError(f"invalid pruning rule '{rule}': percentile needs a number "
                             "between 0 and 100 (percentile:25)")
        text = f"percentile:{percentile:g}"
    elif text not in ("median", "asha", "hyperband"):
        raise BatchError(f"unknown pruning rule '{rule}' (expected one of: "
                         f"{', '.join(PRUNE_RULES)})")
    for name, value in (("--prune-warmup", warmup), ("--prune-min-trials", min_trials)):
        if value is not None and value < 0:
            raise BatchError(f"invalid {name} {value}: expected a number >= 0")
    key = _prune_key(on, objective)
    return PruneSpec(rule=text, key=key, warmup=warmup or 0, percentile=percentile,
                     min_trials=DEFAULT_MIN_TRIALS if min_trials is None else min_trials)


def _prune_key(on, objective):
    from ..query import ast, parse
    from ..errors import QueryError

    if on is None:
        column = objective.column if objective is not None else None
        if not isinstance(column, ast.Scalar):
            raise BatchError("--prune needs a scalar to judge trials by: the objective "
                             f"'{objective.text if objective else ''}' is not one "
                             "(give --prune-on SCALAR)")
        return column.key
    try:
        query = parse(f"select {on}")
    except QueryError as e:
        raise BatchError(f"invalid --prune-on '{on}': {e}") from None
    if len(query.columns) != 1 or not isinstance(query.columns[0], ast.Scalar):
        raise BatchError(f"invalid --prune-on '{on}': expected one scalar (val_loss)")
    return query.columns[0].key


# --- the search space in Optuna's terms ------------------------------------------------


def distributions(algorithm, names, dims):
    """Optuna distributions for the skopt dims of a search space (rundb.ops.searchspace).

    :raises BatchError: a space Optuna cannot express: a categorical list whose values
        Optuna cannot tell apart (``1`` and ``yes``, repeated values, NaN).
    """
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out = {}
    for name, dim in zip(names, dims):
        kind = type(dim).__name__
        if kind == "Integer":
            out[name] = IntDistribution(int(dim.low), int(dim.high))
        elif kind == "Real":
            out[name] = FloatDistribution(float(dim.low), float(dim.high),
                                          log=dim.prior == "log-uniform")
        else:
            choices = list(dim.categories)
            _check_choices(algorithm, name, choices)
            out[name] = CategoricalDistribution(choices)
    return out


def _check_choices(algorithm, name, choices):
    from ..flagvals import encode_flag_value

    for i, value in enumerate(choices):
        if not isinstance(value, (type(None), bool, int, float, str)):
            raise BatchError(f"optimizer {algorithm} cannot search flag {name}: "
                             f"{value!r} is not a number, string, boolean or null")
        if isinstance(value, float) and math.isnan(value):
            raise BatchError(f"optimizer {algorithm} cannot search flag {name}: "
                             "Optuna cannot choose nan (it equals no value)")
        for other in choices[:i]:
            if other == value:
                raise BatchError(
                    f"optimizer {algorithm} cannot search flag {name}: its values "
                    f"{encode_flag_value(other)} and {encode_flag_value(value)} are the "
                    "same to Optuna (a list to search needs distinct values)")


def _sampler(algorithm, seed, opt_flags):
    import optuna

    seed = None if seed is None else int(seed) % 2**32
    if algorithm == "tpe":
        return optuna.samplers.TPESampler(seed=seed,
                                          n_startup_trials=opt_flags.get("random-starts", 10))
    if algorithm == "cmaes":
        return optuna.samplers.CmaEsSampler(
            seed=seed, n_startup_trials=opt_flags.get("random-starts", 0),
            warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)


def quiet_optuna():
    """Optuna logs every trial at INFO: keep it to warnings (and ours to say what matters)."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


# --- the study -------------------------------------------------------------------------


@dataclass
class HistoryTrial:
    """An earlier trial as the index holds it."""

    run_id: str
    rid: int
    status: str  # completed or pruned
    flags: dict
    objective: float | None  # negated when maximizing
    curve: dict | None = None  # {step: value}, negated when maximizing


class SearchStudy:
    """One batch's in-memory Optuna study (see the module docstring); thread-safe.

    :param algorithm: an Optuna sampler name, or None when the batch's trials come from
        elsewhere (a grid, random or skopt): the study then serves the pruner alone.
    :param negate: the objective is maximized: every value given to Optuna is negated,
        so the study always minimizes.
    """

    def __init__(self, algorithm=None, seed=None, opt_flags=None, prune=None, negate=False,
                 names=(), dims=()):
        import optuna

        quiet_optuna()
        self.algorithm = algorithm
        self.prune = prune
        self.negate = negate
        self.names = list(names)
        self.dists = distributions(algorithm, names, dims) if algorithm else {}
        sampler = (_sampler(algorithm, seed, opt_flags or {}) if algorithm
                   else optuna.samplers.RandomSampler(seed=None if seed is None
                                                      else int(seed) % 2**32))
        # A fixed name: Hyperband assigns trials to brackets by a hash of the study's name
        # and the trial's number, so Optuna's random default made its decisions differ
        # from one batch to the next on the same curves.
        self.study = optuna.create_study(
            study_name="rundb", direction="minimize", sampler=sampler,
            pruner=prune.pruner() if prune else optuna.pruners.NopPruner())
        self.lock = threading.RLock()
        self.known = set()  # run ids in the study
        self.own = {}  # run id -> optuna Trial of this batch, while it runs
        self.last_step = {}  # run id -> last step reported
        self.pruned = set()  # run ids asked to stop
        self.finished = 0  # trials completed or pruned (the --prune-min-trials count)
        self.from_history = 0  # earlier trials added from the index
        self._asked = None
        self._initials_used = False

    # samplers

    def add_history(self, trials):
        """Add earlier trials not yet in the study (completed, or pruned with their
        curve); return how many the study holds from outside this batch's asking."""
        from optuna.distributions import CategoricalDistribution
        from optuna.trial import TrialState, create_trial

        with self.lock:
            for t in trials:
                if t.run_id in self.known:
                    continue
                self.known.add(t.run_id)
                params = {}
                for name in self.names:
                    value = t.flags.get(name)
                    dist = self.dists[name]
                    if not _contains(dist, value, CategoricalDistribution):
                        break
                    params[name] = _param_value(dist, value, CategoricalDistribution)
                else:
                    self._add(t, params, TrialState, create_trial)
                    continue
                log.debug("skipped trial %s: its flags are outside the space", t.run_id[:8])
            return self.from_history

    def _add(self, t, params, TrialState, create_trial):
        curve = {int(s): v for s, v in (t.curve or {}).items() if _finite(v)}
        dists = {name: self.dists[name] for name in params}
        if t.status == "pruned":
            trial = create_trial(state=TrialState.PRUNED, params=params, distributions=dists,
                                 intermediate_values=curve)
        elif _finite(t.objective):
            trial = create_trial(state=TrialState.COMPLETE, params=params,
                                 distributions=dists, value=float(t.objective),
                                 intermediate_values=curve)
        else:
            return
        self.study.add_trial(trial)
        self.from_history += 1
        self.finished += 1

    def ask(self, initials=None):
        """The next trial's flag values from the sampler (kept until :meth:`bind`)."""
        with self.lock:
            if initials and any(v is not None for v in initials) and not self._initials_used:
                self._initials_used = True
                self.study.enqueue_trial({n: v for n, v in zip(self.names, initials)
                                          if v is not None}, skip_if_exists=False)
            trial = self.study.ask(self.dists)
            self._asked = trial
            return {name: _plain(trial.params[name]) for name in self.names}

    def bind(self, run_id):
        """The trial just asked (or a new one, for trials not asked here) is ``run_id``."""
        with self.lock:
            trial, self._asked = self._asked, None
            if trial is None:
                trial = self.study.ask()
            self.own[run_id] = trial
            self.known.add(run_id)

    # pruners

    def running(self):
        with self.lock:
            return [run_id for run_id in self.own if run_id not in self.pruned]

    def report(self, run_id, points):
        """Report a running trial's new points; return the last step reported, or None."""
        with self.lock:
            trial = self.own.get(run_id)
            if trial is None:
                return None
            last = self.last_step.get(run_id)
            for step in sorted(points):
                value = points[step]
                if (last is not None and step <= last) or not _finite(value):
                    continue
                trial.report(-value if self.negate else value, step)
                last = step
            if last is not None:
                self.last_step[run_id] = last
            return last

    def should_prune(self, run_id):
        """Ask the pruner about a running trial (its warm-up passed, enough trials done)."""
        with self.lock:
            trial = self.own.get(run_id)
            step = self.last_step.get(run_id)
            if (trial is None or self.prune is None or run_id in self.pruned or step is None
                    or step < self.prune.warmup or self.finished < self.prune.min_trials):
                return False
            if trial.should_prune():
                self.pruned.add(run_id)
                return True
            return False

    def finish(self, run_id, status, objective=None, points=None):
        """Tell the study how a trial of this batch ended (``objective`` negated when
        maximizing, ``points`` its curve's last points)."""
        from optuna.trial import TrialState

        with self.lock:
            trial = self.own.pop(run_id, None)
            if trial is None:
                return
            if points:
                self._report_points(run_id, trial, points)
            self.last_step.pop(run_id, None)
            if status == "pruned":
                self.study.tell(trial, state=TrialState.PRUNED)
                self.finished += 1
            elif status == "completed" and _finite(objective):
                self.study.tell(trial, float(objective))
                self.finished += 1
            else:
                self.study.tell(trial, state=TrialState.FAIL)

    def _report_points(self, run_id, trial, points):
        last = self.last_step.get(run_id)
        for step in sorted(points):
            value = points[step]
            if (last is None or step > last) and _finite(value):
                trial.report(-value if self.negate else value, step)
                last = step
        if last is not None:
            self.last_step[run_id] = last


def _finite(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _contains(dist, value, CategoricalDistribution):
    if value is None:
        return isinstance(dist, CategoricalDistribution) and None in dist.choices
    if isinstance(dist, CategoricalDistribution):
        return any(type(c) is type(value) and c == value for c in dist.choices) or any(
            c == value and not isinstance(c, bool) and not isinstance(value, bool)
            for c in dist.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return dist.low <= value <= dist.high


def _param_value(dist, value, CategoricalDistribution):
    if isinstance(dist, CategoricalDistribution):
        for c in dist.choices:
            if type(c) is type(value) and c == value:
                return c
        for c in dist.choices:
            if c == value:
                return c
    if type(dist).__name__ == "IntDistribution":
        return int(value)
    return float(value)


def _plain(value):
    return value.item() if type(value).__module__ == "numpy" else value


# --- the watch -------------------------------------------------------------------------


class PruneWatch:
    """A thread that asks the pruner about the batch's running trials every ``TICK``.

    :param open_index: a function returning a new connection to the batch's index (this
        thread's own).
    :param on_prune: ``on_prune(run_id, step, reason)``; by default a stop request in the
        index (the trial's runner stops it and records it ``pruned``).
    """

    def __init__(self, study, open_index, on_prune=None, tick=TICK):
        self.study = study
        self.open_index = open_index
        self.on_prune = on_prune
        self.tick = tick
        self._stop = threading.Event()
        self._thread = None
        self._rids = {}
        self.key_ids = []
        self.warned = False
        self.decisions = 0

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, name="rundb-prune", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self):
        index = None
        try:
            while not self._stop.wait(self.tick):
                try:
                    if index is None:
                        index = self.open_index()
                    self.check(index)
                except Exception as e:  # noqa: BLE001 - a busy index: look again later
                    log.debug("pruning check failed: %s", e)
        finally:
            if index is not None:
                index.close()

    def check(self, index):
        """One look: new points of every running trial, then the pruner's word on each."""
        from ..index.curves import curves, key_ids

        running = self.study.running()
        if not running:
            return
        if not self.key_ids:
            self.key_ids = key_ids(index, self.study.prune.key)
            if not self.key_ids:
                return
        rids = {}
        for run_id in running:
            rid = self._rids.get(run_id) or self._rid(index, run_id)
            if rid is not None:
                rids[rid] = run_id
        after = {rid: self.study.last_step.get(run_id, -1) for rid, run_id in rids.items()}
        new = curves(index, list(rids), self.key_ids, after=after)
        for rid, points in new.items():
            if not points:
                continue
            run_id = rids[rid]
            step = self.study.report(run_id, points)
            if step is not None and self.study.should_prune(run_id):
                self.decisions += 1
                reason = prune_reason(step, self.study.prune.rule)
                log.info(f"Pruning trial {run_id[:8]} at step {step} "
                         f"({self.study.prune.rule} of {self.study.prune.key})")
                if self.on_prune is not None:
                    self.on_prune(run_id, step, reason)
                else:
                    from ..index.stops import request_stop

                    request_stop(index, [run_id], reason=reason)

    def _rid(self, index, run_id):
        from ..index import reader

        rid = reader.rid_of(index, run_id)
        if rid is not None:
            self._rids[run_id] = rid
        return rid

    def last_points(self, index, run_id):
        """A finished trial's points not yet reported (its curve's tail)."""
        from ..index import reader
        from ..index.curves import curves, key_ids

        if not self.key_ids:
            self.key_ids = key_ids(index, self.study.prune.key)
        rid = self._rids.get(run_id) or reader.rid_of(index, run_id)
        if rid is None or not self.key_ids:
            return {}
        return curves(index, [rid], self.key_ids,
                      after={rid: self.study.last_step.get(run_id, -1)})[rid]

