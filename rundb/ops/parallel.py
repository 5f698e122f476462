"""Parallel batches: up to N trials at once, on a Dask cluster (see rundb.ops.pools).

A trial is one task running ``rundb run --trial`` for one flag set on a worker (see
rundb.ops.trialtask); that run records its own host and worker and writes to the index the
batch uses. This process is the Dask client: it submits trials as slots free up (the
sequential optimizers ask for each point then, with the points still running told to the
sampler as a constant liar), follows trials through the index, and on Ctrl-C (or
``rundb stop BATCH``) cancels trials not started and stops running ones through the index.
"""

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass

from ..index import reader, store, writer
from ..run import now_us

log = logging.getLogger("rundb")

#: Seconds between looks at the index (trials started, a stop of the batch requested).
TICK = 1.0
#: Seconds running trials get to stop after Ctrl-C before the cluster is shut down.
STOP_GRACE = 60
#: Seconds a lost trial's runner gets to record its end before the trial is marked.
LOST_GRACE = 20


@dataclass
class _Trial:
    payload: dict  # the trial as ``rundb run --trial`` takes it
    number: int
    started: bool = False

    @property
    def id(self):
        return self.payload["id"]

    @property
    def short_id(self):
        return self.payload["id"][:8]


def trial_payload(home, batch, flags, batch_run, label, tags, seed):
    """Everything a worker needs to record and run one trial (no plan resolving there)."""
    from ..home import new_run_id
    from .operation import make_label, output_scalars_for, run_attrs
    from .plan import command, process_env

    plan = batch.plan
    argv = command(plan, flags)
    snapshot = plan.kind != "exec" or not isinstance(plan.target, list)
    return {
        "id": new_run_id(), "parent": batch_run.id, "op": plan.name, "flags": flags,
        "label": make_label(plan, flags, label, tags), "tags": list(tags),
        "attrs": run_attrs(plan, flags, argv, seed), "output_scalars": output_scalars_for(plan),
        "argv": argv, "env": process_env(plan, flags),
        "sourcecode_root": plan.project_dir if snapshot else None, "cwd": plan.project_dir,
    }


def start_trial(home, index, trial):
    """Record and run one trial on this machine (``rundb run --trial``); return the run,
    or an exit status of rundb.ops.trialtask when the trial must not run."""
    from ..index.stops import stop_requested
    from .runner import execute, new_run
    from .trialtask import EXIT_ALREADY_RAN, EXIT_STOPPED_BEFORE_START

    if reader.rid_of(index, trial["id"]) is not None:
        return EXIT_ALREADY_RAN
    if stop_requested(index, trial["id"]) or stop_requested(index, trial["parent"]):
        return EXIT_STOPPED_BEFORE_START
    attrs = dict(trial["attrs"])
    if os.environ.get("RUNDB_WORKER"):
        attrs["worker"] = os.environ["RUNDB_WORKER"]
    run = new_run(home, index, trial["op"], trial["flags"], label=trial["label"],
                  tags=trial["tags"], parent=trial["parent"], attrs=attrs,
                  output_scalars=trial["output_scalars"],
                  sourcecode_root=trial["sourcecode_root"], run_id=trial["id"])
    return execute(home, index, run, trial["argv"], env=trial["env"], echo=False)


def run_parallel(home, index, batch, *, label=None, tags=()):
    """Run the trials of ``batch`` ``batch.parallel`` at a time; return the batch run."""
    from .batch import _create_batch_run, _fixed, close_study, open_study, preset_trials
    from .labels import default_label
    from .pools import open_pool

    pool = open_pool(batch.parallel, batch.cluster,
                     shared_index=index.backend == "postgresql")
    try:
        if batch.trials is None and not batch.sequential:
            batch.trials = preset_trials(batch)
            base = {}
        else:
            base = _fixed(batch.flags)
        batch_run = _create_batch_run(home, index, batch,
                                      label or default_label(batch.opt_flags), tags)
        watch = open_study(home, batch)
        try:
            sweep = _Sweep(home, index, batch, batch_run, pool, base, label, tags, watch)
            status = sweep.run()
        finally:
            close_study(batch, watch)
    finally:
        pool.close()
    exit_status = {"completed": 0, "error": 1, "terminated": -15}[status]
    return store.save_run(index, batch_run, status=status, stopped=now_us(),
                          exit_status=exit_status, pid=None)


class _Sweep:
    def __init__(self, home, index, batch, batch_run, pool, base, label, tags, watch=None):
        self.home, self.index, self.batch, self.batch_run = home, index, batch, batch_run
        self.pool, self.base, self.label, self.tags = pool, base, label, tags
        self.watch = watch  # the pruner's (rundb.ops.prune.PruneWatch), or None
        self.pending = {}  # future -> _Trial
        self.seed = batch.random_seed if batch.seed_given else None
        self.total = len(batch.trials) if batch.trials is not None else batch.max_trials
        self.next = 1

    def run(self):
        status = "completed"
        old = _sigterm_as_interrupt()
        try:
            failed = self._loop()
            if failed:
                status = "error"
        except KeyboardInterrupt:
            status = "terminated"
            self._stop_all()
        except BaseException:
            self._stop_all()
            raise
        finally:
            _restore(old)
            self._clear_stops()
        return status

    def _loop(self):
        failed = False
        while True:
            while not failed and self.next <= self.total and len(self.pending) < self.pool.slots:
                self._submit_next()
            if not self.pending:
                break
            done = self.pool.wait_any(list(self.pending), TICK)
            self._log_starts()
            if self._batch_stop_requested():
                raise KeyboardInterrupt
            for future in done:
                run = self._finish(future, self.pending.pop(future))
                self._ended(run)
                if (run is not None and run.status == "error" and self.batch.fail_on_trial_error
                        and not failed):
                    log.error("stopping batch because a trial failed (remaining staged trials "
                              "may be started as needed)")
                    failed = True
        if failed:
            self._stage_rest()
        return failed

    def _submit_next(self):
        from .batch import _already_done, _assigns, _order_like, _suggest, bind_trial

        batch, i = self.batch, self.next
        self.next += 1
        if batch.trials is not None:
            flags = {**self.base, **batch.trials[i - 1]}
        else:
            running = [t.payload["flags"] for t in self.pending.values()]
            flags = _suggest(self.index, batch, self.batch_run, i, self.base, pending=running)
        flags = _order_like(flags, batch.plan)
        if batch.needed and _already_done(self.index, batch.plan.name, flags):
            log.info(f"Skipping trial because a completed run has flags ({_assigns(flags)}) "
                     "(--needed specified)")
            return
        payload = trial_payload(self.home, batch, flags, self.batch_run, self.label,
                                self.tags, self.seed)
        bind_trial(batch, payload["id"])
        future = self.pool.submit({
            "home": self.home.path, "index": self.home.index_url,
            "cluster": bool(batch.cluster), "trial": payload,
        })
        self.pending[future] = _Trial(payload, i)

    def _log_starts(self):
        for trial in self.pending.values():
            if not trial.started:
                run = reader.get_run(self.index, trial.id)
                if run is not None:
                    self._log_start(trial, run)

    def _log_start(self, trial, run):
        from .batch import _assigns

        trial.started = True
        log.info(f"Trial {trial.short_id} started on {_where(run)}: {run.op} "
                 f"({_assigns(trial.payload['flags'])})")

    def _finish(self, future, trial, stopping=False):
        from .trialtask import EXIT_ALREADY_RAN, EXIT_STOPPED_BEFORE_START

        out = self.pool.outcome(future)
        if "lost" in out or out.get("returncode") == EXIT_ALREADY_RAN:
            reason = out.get("lost") or ("its worker was lost; the task was started again "
                                         "elsewhere and refused to run it twice")
            return self._lost(trial, reason, stopping)
        run = reader.get_run(self.index, trial.id)
        if run is None:
            if out.get("returncode") == EXIT_STOPPED_BEFORE_START:
                return None
            log.error(f"trial {trial.short_id} could not start on {out.get('worker')}: "
                      f"{_last_line(out.get('stderr'))}")
            return None
        if not trial.started:
            self._log_start(trial, run)
        if run.status == "running":
            run = self._mark_error(run, f"its runner on {_where(run)} ended without recording "
                                        f"the end ({_returncode(out.get('returncode'))})")
        log.info(f"Trial {trial.short_id} {run.status} on {_where(run)}")
        if run.status == "error":
            log.error(f"trial {trial.short_id} exited with an error (see log for details)")
        return run

    def _ended(self, run):
        from .batch import trial_ended

        trial_ended(self.index, self.batch, run, self.watch)

    def _lost(self, trial, reason, stopping):
        """A trial whose task failed (its worker died): ``error`` with the reason, once
        its runner (which dies with the worker) has recorded its end."""
        deadline = time.monotonic() + LOST_GRACE
        run = reader.get_run(self.index, trial.id)
        while run is not None and run.status == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
            run = reader.get_run(self.index, trial.id)
        if run is None:
            if not stopping:
                log.error(f"trial {trial.short_id} was lost before it started: {reason}")
            return None
        if stopping and run.status == "terminated":
            return run
        if run.status in ("running", "terminated"):
            run = self._mark_error(run, reason)
        log.error(f"trial {trial.short_id} on {_where(run)} ended with an error: {reason}")
        return run

    def _mark_error(self, run, reason):
        changes = {"status": "error", "stopped": run.stopped or now_us(), "pid": None}
        if os.path.isdir(run.dir) and run.host == _this_host():
            return store.save_run(self.index, run, attrs={**run.attrs, "error_reason": reason},
                                  **changes)
        # Its files are on another machine: only the shared index is changed here.
        with self.index.atomic():
            writer.update_run(self.index, run.id, **changes)
            writer.set_attrs(self.index, run.rid, {"error_reason": reason})
        return reader.get_run(self.index, run.id)

    def _batch_stop_requested(self):
        from ..index.stops import stop_requested

        return stop_requested(self.index, self.batch_run.id) is not None

    def _stop_all(self):
        """Ctrl-C: trials not started never start; running ones are stopped through the
        index (their runners terminate them, wherever they run) and waited for."""
        from ..index.stops import request_stop

        if not self.pending:
            return
        log.info("Stopping the batch: cancelling trials not started, stopping running ones")
        ids = [t.id for t in self.pending.values()]
        request_stop(self.index, [*ids, self.batch_run.id], reason="batch stopped")
        started = {f: t for f, t in self.pending.items()
                   if t.started or reader.rid_of(self.index, t.id) is not None}
        self.pool.cancel([f for f in self.pending if f not in started])
        deadline = time.monotonic() + STOP_GRACE
        while started and time.monotonic() < deadline:
            for future in self.pool.wait_any(list(started), TICK):
                self._finish(future, started.pop(future), stopping=True)
        for future, trial in started.items():
            log.warning(f"trial {trial.short_id} did not stop within {STOP_GRACE} s")

    def _clear_stops(self):
        from ..index.stops import clear_stop

        try:
            with self.index.atomic():
                for trial in self.pending.values():
                    clear_stop(self.index, trial.id)
                clear_stop(self.index, self.batch_run.id)
        except Exception:  # noqa: BLE001 - a stale request only costs a row
            pass

    def _stage_rest(self):
        from .batch import _stage_rest
        from .operation import create_run

        def create_trial(flags, **kw):
            return create_run(self.home, self.index, self.batch.plan, flags, **kw)

        _stage_rest(self.batch, self.batch_run, self.next - 1, self.base, self.label,
                    self.tags, create_trial)


def _where(run):
    worker = run.attrs.get("worker") if run.attrs else None
    return f"{worker} ({run.host})" if worker else (run.host or "?")


def _this_host():
    from ..run import this_host

    return this_host()


def _last_line(text):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _returncode(code):
    from .supervise import describe_returncode

    return describe_returncode(code) if isinstance(code, int) else "no exit status"


def _sigterm_as_interrupt():
    """SIGTERM stops a parallel batch as Ctrl-C does (trials stopped, nothing left)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _restore(old):
    if old is not None:
        signal.signal(signal.SIGTERM, old)
