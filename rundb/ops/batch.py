"""Batches: many trials of one operation, as a grid, a random search or a Bayesian search.

A batch is itself a run (op ``train.py+``, ``train.py+random``, ``train.py+gp`` ...) whose
flags are the optimizer's flags; its trials are ordinary runs with ``parent`` = the batch.
Sequential optimizers read the history of earlier trials (flags and objective) from the
index with one compiled query before each trial.
"""

import logging
import random
from dataclasses import dataclass, field

from ..errors import BatchError, QueryError
from ..index import reader, store
from ..run import now_us

log = logging.getLogger("rundb")

DEFAULT_MAX_TRIALS = 20
OPTUNA_SAMPLERS = ("tpe", "cmaes", "optuna-random")  # as rundb.ops.prune names them
PREV_TRIALS = ("batch", "operation", "sourcecode", "query")


@dataclass
class Objective:
    """The column an optimizer minimizes (``negate`` when the user maximizes it)."""

    text: str
    column: object  # a query AST column
    negate: bool = False
    given: bool = True  # named by the user or the op (not the default ``loss``)

    def describe(self):
        return f"{'maximize' if self.negate else 'minimize'} {self.text}"


@dataclass
class BatchPlan:
    plan: object  # OpPlan of the trials
    flags: dict  # base flags: fixed values, lists (grid), search specs
    optimizer: str  # "+" (grid), "random", "gp", "forest", "gbrt"
    opt_flags: dict = field(default_factory=dict)
    trials: list | None = None  # explicit trials (grid, batch files, random sampled)
    max_trials: int | None = None
    random_seed: int = 0
    seed_given: bool = False
    objective: Objective | None = None
    prev_trials: str = "batch"
    prev_trials_filter: str | None = None
    fail_on_trial_error: bool = False
    needed: bool = False
    parallel: int | None = None  # trials at once (> 1, or a cluster: rundb.ops.parallel)
    cluster: str | None = None  # an existing Dask scheduler's address
    prune: object = None  # rundb.ops.prune.PruneSpec, or None
    #: The batch's Optuna study while it runs (rundb.ops.prune.SearchStudy), or None.
    study: object = field(default=None, compare=False, repr=False)

    @property
    def op_name(self):
        return f"{self.plan.name}+" + ("" if self.optimizer == "+" else self.optimizer)

    @property
    def sequential(self):
        return self.optimizer in ("gp", "forest", "gbrt", *OPTUNA_SAMPLERS)

    @property
    def optuna(self):
        """The optimizer is one of Optuna's samplers."""
        return self.optimizer in OPTUNA_SAMPLERS


def parse_objective(minimize=None, maximize=None, opdef_objective=None):
    """The batch objective: ``--minimize``/``--maximize``, else the op's, else ``loss``.

    :raises BatchError: ``invalid objective '...': ...`` or ``too many columns``.
    """
    negate = False
    text = "loss"
    given = bool(minimize or maximize or opdef_objective)
    if minimize or maximize:
        text, negate = (maximize, True) if maximize else (minimize, False)
    elif isinstance(opdef_objective, str):
        text = opdef_objective
    elif isinstance(opdef_objective, dict):
        if "maximize" in opdef_objective:
            text, negate = str(opdef_objective["maximize"]), True
        elif "minimize" in opdef_objective:
            text = str(opdef_objective["minimize"])
    from ..query import parse

    try:
        query = parse(f"select {text}")
    except QueryError as e:
        raise BatchError(f"invalid objective '{text}': {e}") from None
    if len(query.columns) != 1 or query.where is not None or query.order_by or query.limit:
        raise BatchError(f"invalid objective '{text}': too many columns")
    return Objective(text, query.columns[0], negate, given)


def check_objective_known(index, objective, found, rows, catalog=None):
    """Stop a batch whose objective is a typo of a known name once trials have completed
    without it (``--minimize val_los`` when val_loss is known), naming the closest names.

    An objective like nothing known keeps the seed's behaviour: random starts, each
    saying ``cannot find objective``.

    :raises BatchError: ``unknown scalar 'val_los'; did you mean val_loss? (in --minimize)``
    """
    if found or not rows or not objective.given:
        return
    from ..query.columns import unknown_column

    problem = unknown_column(objective.column, catalog or reader.catalog(index))
    if problem and "did you mean" in problem:
        option = "--maximize" if objective.negate else "--minimize"
        raise BatchError(f"{problem} (in {option})")


def plan_batch(plan, flags, *, batch_files=(), optimizer=None, opt_assigns=None,
               max_trials=None, random_seed=None, minimize=None, maximize=None,
               prev_trials="batch", prev_trials_filter=None, fail_on_trial_error=False,
               needed=False, optimize=False, parallel=None, cluster=None, prune=None,
               prune_on=None, prune_warmup=None, prune_min_trials=None):
    """A BatchPlan when ``flags``/options ask for several trials, else None.

    :param prune: a pruning rule (``median``, ``percentile:25``, ``asha``, ``hyperband``,
        ``none``), with ``prune_on`` (a scalar; default the objective's),
        ``prune_warmup`` and ``prune_min_trials`` (see rundb.ops.prune).
    :raises BatchError: bad optimizer, optimizer flags, search space, objective or
        pruning rule; ``--prune`` on a single run.
    """
    batch = _plan_batch(plan, flags, batch_files, optimizer, opt_assigns, max_trials,
                        random_seed, minimize, maximize, prev_trials, prev_trials_filter,
                        fail_on_trial_error, needed, optimize, parallel, cluster)
    from .prune import parse_prune

    if batch is None:
        if prune is not None and str(prune).strip().lower() != "none":
            parse_prune(prune, prune_on, prune_warmup, prune_min_trials,
                        parse_objective(minimize, maximize,
                                        getattr(plan.opdef, "objective", None)))
            raise BatchError("--prune needs a search: give a flag a range or a list of "
                             "values (lr=[0.001:0.1]), or an optimizer")
        parse_prune(None, prune_on, prune_warmup, prune_min_trials)  # options alone
        return None
    objective = batch.objective or parse_objective(minimize, maximize,
                                                   getattr(plan.opdef, "objective", None))
    batch.prune = parse_prune(prune, prune_on, prune_warmup, prune_min_trials, objective)
    if batch.prune is not None and batch.objective is None:
        batch.objective = objective
    return batch


def _plan_batch(plan, flags, batch_files, optimizer, opt_assigns, max_trials, random_seed,
                minimize, maximize, prev_trials, prev_trials_filter, fail_on_trial_error,
                needed, optimize, parallel, cluster):
    from .optimizers import opt_flags as merge_opt_flags
    from .optimizers import resolve_optimizer
    from .searchspace import flag_dims, is_search_spec, no_dims_error
    from .trials import expand_grid, is_batch_value, read_batch_files, sample_trials, trials_for

    opdef = plan.opdef
    opt_config = {}
    if optimize and not optimizer:
        default = opdef.default_optimizer() if hasattr(opdef, "default_optimizer") else None
        if default is None:
            raise BatchError(f"operation {plan.name} does not define an optimizer")
        opt_config = dict(default)
        optimizer = opt_config.pop("algorithm", None)
    elif optimizer and optimizer in getattr(opdef, "optimizers", {}):
        opt_config = dict(opdef.optimizers[optimizer])
        optimizer = opt_config.pop("algorithm", optimizer)
    opt_config.pop("default", None)
    if opt_assigns and not optimizer:
        name, value = next(iter(opt_assigns.items()))
        raise BatchError(f"invalid optimizer flag {name}={value}: no optimizer specified")
    file_trials = read_batch_files(list(batch_files)) if batch_files else None
    has_lists = any(is_batch_value(v) for v in flags.values())
    has_specs = any(isinstance(v, str) and is_search_spec(v) for v in flags.values())
    if optimizer in ("+", "grid"):
        optimizer = "+"
    elif optimizer:
        optimizer = resolve_optimizer(optimizer)
    elif has_specs:
        optimizer = "random"
    elif has_lists or file_trials is not None:
        optimizer = "+"
    else:
        return None
    if file_trials is not None and len(file_trials) <= 1 and not has_lists and optimizer == "+":
        return None if not file_trials else _single(plan, flags, file_trials[0])
    seed_given = random_seed is not None
    seed = random_seed if seed_given else random.randint(0, 2**32 - 1)
    batch = BatchPlan(
        plan=plan, flags=flags, optimizer=optimizer, random_seed=seed, seed_given=seed_given,
        prev_trials=prev_trials, prev_trials_filter=prev_trials_filter,
        fail_on_trial_error=fail_on_trial_error, needed=needed,
        parallel=parallel, cluster=cluster or None,
    )
    if optimizer == "+":
        batch.opt_flags = merge_opt_flags("+", opt_assigns) if opt_assigns else {}
        trials = trials_for(flags, file_trials) if file_trials is not None else expand_grid(flags)
        if max_trials is not None and max_trials < len(trials):
            trials = sample_trials(trials, max_trials, seed)
        batch.trials = trials
        batch.max_trials = max_trials
        return batch
    batch.opt_flags = merge_opt_flags(optimizer, {**opt_config, **(opt_assigns or {})})
    names, dims, _ = flag_dims(flags)
    if not dims:
        raise no_dims_error(flags)
    batch.max_trials = max_trials if max_trials is not None else DEFAULT_MAX_TRIALS
    batch.objective = parse_objective(minimize, maximize, getattr(opdef, "objective", None))
    if prev_trials not in PREV_TRIALS:
        raise BatchError(f"invalid --prev-trials '{prev_trials}' (expected one of: {', '.join(PREV_TRIALS)})")
    if prev_trials == "query" and not prev_trials_filter:
        raise BatchError("--prev-trials query needs --prev-trials-filter EXPR")
    if batch.optuna:
        from .prune import distributions

        distributions(optimizer, names, dims)  # a space Optuna cannot express fails here
    return batch


def _single(plan, flags, trial):
    # A batch file holding one trial is a plain run with those flags (seed behaviour).
    flags.update(trial)
    return None


def preview(batch):
    """The lines shown before a batch starts (seed wording)."""
    from ..flagvals import encode_flag_value

    plan = batch.plan
    if batch.optimizer == "+":
        n = len(batch.trials)
        lines = [f"You are about to run {plan.name} as a batch ({n} trial{'s' if n != 1 else ''})"]
    elif batch.optimizer == "random":
        lines = [f"You are about to run {plan.name} with random search (max {batch.max_trials} trials)"]
    else:
        engine = "optuna" if batch.optuna else "skopt"
        name = "random" if batch.optimizer == "optuna-random" else batch.optimizer
        lines = [f"You are about to run {plan.name} with '{engine}:{name}' optimizer "
                 f"(max {batch.max_trials} trials, {batch.objective.describe()})"]
    if batch.prune is not None:
        p = batch.prune
        lines.append(f"Pruning trials by {p.rule} of {p.key} (after step {p.warmup}, "
                     f"once {p.min_trials} trial(s) have finished)")
    for name in sorted(batch.flags):
        lines.append(f"  {name}: {encode_flag_value(batch.flags[name])}")
    if batch.opt_flags:
        lines.append("Optimizer flags:")
        for name in sorted(batch.opt_flags):
            lines.append(f"  {name}: {encode_flag_value(batch.opt_flags[name])}")
    return lines


def preset_trials(batch):
    """Every trial's flags when they can be known before running (grid, random)."""
    if batch.trials is not None:
        return [{**_fixed(batch.flags), **t} for t in batch.trials]
    if batch.sequential:
        raise BatchError("optimizer does not support printing trials command")
    from .optimizers import suggest
    from .searchspace import flag_dims

    names, dims, initials = flag_dims(batch.flags)
    out = []
    for i in range(1, batch.max_trials + 1):
        values, _ = suggest("random", names, dims, [], i, batch.max_trials,
                            random_state=batch.random_seed, initials=initials)
        out.append({**_fixed(batch.flags), **values})
    return out


def _fixed(flags):
    from .searchspace import is_search_spec
    from .trials import is_batch_value

    return {k: v for k, v in flags.items()
            if not is_batch_value(v) and not (isinstance(v, str) and is_search_spec(v))}


def run_batch(home, index, batch, *, label=None, tags=(), echo=True, create_trial=None,
              start_trial=None, on_prune=None):
    """Run every trial of ``batch``; return the batch run (status completed, error or
    terminated). Trials run one after another in this process.

    How a trial is recorded and run can be replaced (the notebook API runs Python
    functions in-process this way); by default a trial is a run of ``batch.plan``'s
    command, started as a child process.

    :param create_trial: ``create_trial(flags, label=, tags=, parent=, random_seed=,
        status=)`` records a trial run and returns it (``status`` is ``running``, or
        ``staged`` for trials left over when the batch stops on an error).
    :param start_trial: ``start_trial(run, flags)`` runs a recorded trial to its end and
        returns the finished run; a trial whose status is ``terminated`` stops the batch.
    :param on_prune: ``on_prune(run_id, step, reason)`` stops a trial the pruner prunes
        (default: a stop request in the index, which the trial's runner acts on).
    """
    from .labels import default_label
    from .operation import create_run, start_run

    if ((batch.parallel or 1) > 1 or batch.cluster) and create_trial is None and start_trial is None:
        from .parallel import run_parallel

        return run_parallel(home, index, batch, label=label, tags=tags)
    if create_trial is None:
        def create_trial(flags, **kw):
            return create_run(home, index, batch.plan, flags, **kw)
    if start_trial is None:
        def start_trial(trial, flags):
            log.info(f"Running trial {trial.short_id}: {batch.plan.name} ({_assigns(flags)})")
            return start_run(home, index, batch.plan, trial, echo=echo)

    if batch.trials is None and not batch.sequential:
        batch.trials = [{k: v for k, v in t.items()} for t in preset_trials(batch)]
        base = {}
    else:
        base = _fixed(batch.flags)
    batch_run = _create_batch_run(home, index, batch, label or default_label(batch.opt_flags), tags)
    total = len(batch.trials) if batch.trials is not None else batch.max_trials
    status = "completed"
    watch = open_study(home, batch, on_prune)
    try:
        for i in range(1, total + 1):
            if batch.trials is not None:
                flags = {**base, **batch.trials[i - 1]} if base else dict(batch.trials[i - 1])
            else:
                flags = _suggest(index, batch, batch_run, i, base)
            flags = _order_like(flags, batch.plan)
            if batch.needed and _already_done(index, batch.plan.name, flags):
                log.info(f"Skipping trial because a completed run has flags ({_assigns(flags)}) "
                         "(--needed specified)")
                continue
            seed = batch.random_seed if batch.seed_given else None
            trial = create_trial(flags, label=label, tags=tags, parent=batch_run.id,
                                 random_seed=seed, status="running")
            bind_trial(batch, trial.id)
            trial = start_trial(trial, flags)
            trial_ended(index, batch, trial, watch)
            if trial.status == "terminated":
                status = "terminated"
                break
            if trial.status == "error":
                log.error(f"trial {trial.short_id} exited with an error (see log for details)")
                if batch.fail_on_trial_error:
                    log.error("stopping batch because a trial failed (remaining staged trials "
                              "may be started as needed)")
                    _stage_rest(batch, batch_run, i, base, label, tags, create_trial)
                    status = "error"
                    break
    except KeyboardInterrupt:
        status = "terminated"
    except BaseException:
        # Never leave a half-run batch marked running.
        store.save_run(index, batch_run, status="error", stopped=now_us(), exit_status=1, pid=None)
        raise
    finally:
        close_study(batch, watch)
    exit_status = {"completed": 0, "error": 1, "terminated": -15}[status]
    _clear_stop(index, batch_run)
    return store.save_run(index, batch_run, status=status, stopped=now_us(),
                          exit_status=exit_status, pid=None)


def open_study(home, batch, on_prune=None):
    """Start the batch's Optuna study (an Optuna sampler, or pruning) and, when it prunes,
    the thread that watches its running trials; return that watch (or None)."""
    if not (batch.optuna or batch.prune is not None):
        return None
    from ..index.db import open_index
    from .prune import PruneWatch, SearchStudy
    from .searchspace import flag_dims

    names, dims = ((), ())
    if batch.optuna:
        names, dims, _ = flag_dims(batch.flags)
    batch.study = SearchStudy(
        batch.optimizer if batch.optuna else None, seed=batch.random_seed,
        opt_flags=batch.opt_flags, prune=batch.prune,
        negate=bool(batch.objective and batch.objective.negate), names=names, dims=dims)
    if batch.prune is None:
        return None
    location = home.index_location

    def connect():
        ix = open_index(location)
        ix.home_dir = home.path
        return ix

    watch = PruneWatch(batch.study, connect, on_prune=on_prune)
    watch.__enter__()
    return watch


def close_study(batch, watch):
    if watch is not None:
        watch.__exit__(None, None, None)
    batch.study = None


def bind_trial(batch, run_id):
    """The trial just recorded (with the flags last suggested) is ``run_id``."""
    if batch.study is not None:
        batch.study.bind(run_id)


def trial_ended(index, batch, run, watch=None):
    """Tell the batch's study how a trial ended (its objective, its curve's last points);
    say once when the prune-on scalar is nowhere to be found."""
    study = batch.study
    if study is None or run is None:
        return
    objective = None
    if run.status == "completed":
        objective = _objective_of(index, batch, run.id)
    points = watch.last_points(index, run.id) if watch is not None else None
    study.finish(run.id, run.status, objective, points)
    if watch is not None and not watch.warned and not watch.key_ids:
        watch.warned = True
        _warn_prune_key(index, batch)


def _warn_prune_key(index, batch):
    from ..query import ast
    from ..query.columns import unknown_column

    key = batch.prune.key
    problem = unknown_column(ast.Scalar(key), reader.catalog(index))
    hint = f": {problem.split(';', 1)[1].strip()}" if problem and ";" in problem else ""
    log.warning(f"no trial has logged '{key}' (--prune-on): trials are not pruned{hint}")


def _objective_of(index, batch, run_id):
    from ..index.conditions import run_with_id
    from ..query import ast, compile

    compiled = compile(ast.Query(columns=(batch.objective.column,)), reader.catalog(index),
                       *run_with_id(run_id))
    rows = reader.compiled_rows(index, compiled)
    value = rows[0][1] if rows else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return -value if batch.objective.negate else value
    return None


def _clear_stop(index, batch_run):
    # `rundb stop BATCH` reached the running trial through its runner (which looks for
    # its parent's request too); the request ends with the batch.
    from ..index.stops import clear_stop

    try:
        clear_stop(index, batch_run.id)
    except Exception:  # noqa: BLE001 - a stale request only costs a row
        pass


def _create_batch_run(home, index, batch, label, tags):
    from .runner import new_run

    attrs = {
        "batch": {
            "optimizer": batch.optimizer,
            "proto_flags": batch.flags,
            "prev_trials": batch.prev_trials,
        },
        "random_seed": batch.random_seed,
        "op": batch.plan.describe(),
    }
    if batch.max_trials is not None:
        attrs["max_trials"] = batch.max_trials
    if batch.objective is not None:
        attrs["objective"] = batch.objective.describe()
    if batch.prune is not None:
        p = batch.prune
        attrs["prune"] = {"rule": p.rule, "on": p.key, "warmup": p.warmup,
                          "min_trials": p.min_trials}
    return new_run(home, index, batch.op_name, batch.opt_flags, label=label, tags=tags,
                   attrs=attrs)


def _suggest(index, batch, batch_run, trial_index, base, pending=None):
    from .optimizers import suggest
    from .searchspace import flag_dims

    names, dims, initials = flag_dims(batch.flags)
    if batch.optuna:
        return {**base, **_ask_optuna(index, batch, batch_run, names, initials)}
    history, _ = trial_history(index, batch, batch_run, names, typed=_has_bool_category(dims))
    values, msg = suggest(
        batch.optimizer, names, dims, history, trial_index, batch.max_trials,
        opt_flags=batch.opt_flags, random_state=batch.random_seed,
        objective_name=batch.objective.text, initials=initials, pending=pending,
    )
    if msg:
        log.info(msg)
    return {**base, **values}


def _ask_optuna(index, batch, batch_run, names, initials):
    """The next point from the batch's Optuna sampler, told first of the earlier trials
    in scope that it does not know yet (one query, plus one for their curves)."""
    study = batch.study
    study.add_history(optuna_history(index, batch, batch_run, names, study.known))
    done = study.finished
    starts = batch.opt_flags.get("random-starts", 0)
    values = study.ask(initials)
    if batch.optimizer == "optuna-random":
        pass
    elif done < starts:
        log.info(f"Random start for optimization ({done + 1} of {starts})")
    elif done:
        log.info(f"Found {done} previous trial(s) for use in optimization")
    return values


def optuna_history(index, batch, batch_run, names, known=()):
    """Earlier trials in scope that are not in ``known`` (run ids), completed or pruned,
    as rundb.ops.prune.HistoryTrial: flags, objective and (for pruned trials, and all
    when pruning) the curve of the prune-on scalar, or the objective's."""
    from ..index.curves import curves, key_ids
    from ..query import ast, compile
    from .prune import HistoryTrial

    cols = (ast.Attr("id"), ast.Attr("status"), *(ast.Flag(n) for n in names),
            batch.objective.column)
    where, params = _scope(index, batch, batch_run, with_pruned=True)
    catalog = reader.catalog(index)
    rows = reader.compiled_rows(index, compile(ast.Query(columns=cols), catalog, where, params))
    n = len(names)
    negate = batch.objective.negate
    trials = []
    found = False
    for row in reversed(rows):  # oldest first: Optuna numbers trials as they come
        rid, run_id, status = row[0], row[1], row[2]
        objective = row[n + 3]
        if isinstance(objective, (int, float)) and not isinstance(objective, bool):
            found = True
            objective = -objective if negate else objective
        else:
            objective = None
        if run_id in known:
            continue
        flags = {name: v for name, v in zip(names, row[3 : n + 3]) if v is not None}
        trials.append(HistoryTrial(run_id, rid, status, flags, objective))
    check_objective_known(index, batch.objective, found, len(rows), catalog)
    key = batch.prune.key if batch.prune else getattr(batch.objective.column, "key", None)
    wanted = [t for t in trials if batch.prune or t.status == "pruned"]
    if key and wanted:
        ids = key_ids(index, key)
        by_rid = curves(index, [t.rid for t in wanted], ids)
        for t in wanted:
            t.curve = {s: (-v if negate else v) for s, v in by_rid.get(t.rid, {}).items()}
    return trials


def trial_history(index, batch, batch_run, names, typed=False):
    """[(flag values, objective)] of earlier trials in scope, with one compiled query.

    Objectives are negated when maximizing (skopt minimizes). Values come back as SQLite
    stores them, which is their type for numbers and strings; ``typed`` converts every
    cell to its flag type (needed only for booleans, stored as 0/1) at some cost.
    """
    from ..query import ast, compile

    cols = tuple(ast.Flag(n) for n in names) + (batch.objective.column,)
    where, params = _scope(index, batch, batch_run)
    catalog = reader.catalog(index)
    compiled = compile(ast.Query(columns=cols), catalog, where, params)
    if typed:
        rows = reader.compiled_rows(index, compiled)
    else:
        rows = reader.compiled_rows(index, compiled, convert=False)
    n = len(names)
    negate = batch.objective.negate
    history = []
    found = False
    for row in rows:
        flags = {name: v for name, v in zip(names, row[1 : n + 1]) if v is not None}
        objective = row[n + 1]
        if isinstance(objective, (int, float)) and not isinstance(objective, bool):
            found = True
            objective = -objective if negate else objective
        else:
            objective = None
        history.append((flags, objective))
    check_objective_known(index, batch.objective, found, len(rows), catalog)
    return history, found


def _has_bool_category(dims):
    return any(isinstance(c, bool) for d in dims for c in getattr(d, "categories", ()))


def _scope(index, batch, batch_run, with_pruned=False):
    from ..index.conditions import prior_trials

    if batch.prev_trials in ("batch", "operation", "sourcecode"):
        return prior_trials(index, batch.prev_trials, batch_run.id, batch.plan.name,
                            with_pruned=with_pruned)
    from ..query import compile_filter, parse_filter

    sql, params = compile_filter(parse_filter(batch.prev_trials_filter), reader.catalog(index))
    return prior_trials(index, "filter", batch_run.id, batch.plan.name, sql, params,
                        with_pruned=with_pruned)


def _already_done(index, op, flags):
    return completed_match(index, op, flags) is not None


def completed_match(index, op, flags):
    """The newest completed, not deleted run of ``op`` whose flags equal ``flags``, else
    None. SQL picks the operation's completed runs; only their flags are compared."""
    from ..index.conditions import completed_runs_of

    rids = reader.run_rids(index, *completed_runs_of(op))
    by_rid = reader.load_flags(index, rids)
    for rid in rids:
        if by_rid[rid] == flags:
            return reader.load_runs(index, [rid], details=False)[0]
    return None


def _stage_rest(batch, batch_run, done, base, label, tags, create_trial):
    if batch.trials is None:
        return
    seed = batch.random_seed if batch.seed_given else None
    for trial in batch.trials[done:]:
        flags = _order_like({**base, **trial}, batch.plan)
        create_trial(flags, label=label, tags=tags, parent=batch_run.id, random_seed=seed,
                     status="staged")


def _order_like(flags, plan):
    return {k: flags[k] for k in sorted(flags)}


def _assigns(flags):
    from ..flagvals import format_flag_assigns

    return ", ".join(format_flag_assigns(flags))
