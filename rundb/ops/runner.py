"""Run a process as a tracked run: output teed and captured, scalars indexed live.

The child writes to pipes that this process drains continuously (one selector loop, in
64 KiB reads), writing whole lines to the terminal and to ``.rundb/output``, so logging
never blocks training. Scalars are found and indexed by a separate indexer process
(rundb.ops.ingest) that follows the output file and the run's TF event files.
"""

import getpass
import logging
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from ..home import meta_dir, new_run_id
from ..index import store
from ..output import OutputWriter
from ..run import Run, now_us, this_host

log = logging.getLogger("rundb")

TERMINATED_EXIT = -15


def new_run(home, index, op, flags, *, label="", tags=(), parent=None, attrs=None,
            status="running", output_scalars=None, sourcecode_root=None, run_id=None):
    """Create a run directory and record the run (meta.json + index).

    :param run_id: the id to use (a parallel batch chooses its trials' ids), else a new one.
    """
    home.ensure()
    run_id = run_id or new_run_id()
    run_dir = home.run_dir(run_id)
    os.makedirs(meta_dir(run_dir))
    started = now_us() if status == "running" else None
    from .provenance import basic_attrs

    attrs = {**basic_attrs(), **(attrs or {})}
    run = Run(
        id=run_id, op=op, status=status, created=now_us(), started=started,
        label=label, parent=parent, host=this_host(), user=_user(),
        pid=os.getpid() if status == "running" else None,
        flags=dict(flags), tags=list(tags), attrs=attrs,
        output_scalars=output_scalars, dir=run_dir,
    )
    try:
        if sourcecode_root:
            from .sourcecode import snapshot

            run.sourcecode_digest = snapshot(sourcecode_root,
                                             os.path.join(meta_dir(run_dir), "sourcecode"))
        store.create_run(index, run)
    except BaseException:
        # Never a phantom run: a run that could not be recorded (a full disk, a damaged
        # index) leaves no directory behind to be found later as "running".
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run


def _user():
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return None


def execute(home, index, run, argv, env=None, echo=True, sys_metrics=True):
    """Start ``argv`` for ``run`` and follow it to the end; return the finished run.

    Status becomes ``completed`` (exit 0), ``error`` (non-zero) or ``terminated``
    (SIGINT/SIGTERM received here: forwarded to the child, exit status -15).
    """
    from . import ingest

    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env.update({
        "RUNDB_RUN_ID": run.id,
        "RUNDB_RUN_DIR": run.dir,
        "RUNDB_HOME": home.path,
        **({"RUNDB_INDEX": home.index_url} if home.index_url else {}),
        "PYTHONUNBUFFERED": "1",
    })
    from .supervise import child_preexec

    output = OutputWriter(run.dir)
    indexer = ingest.start(index.path, run.dir, run.rid, run.output_scalars)
    terminated = []
    try:
        proc = subprocess.Popen(
            argv, cwd=run.dir, env=child_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=child_preexec(),
        )
    except OSError as e:
        message = f"cannot start {_shown(run, argv)}: {e.strerror or e}"
        output.write(f"rundb: {message}", stream=1, time_ms=int(time.time() * 1000))
        if echo:
            sys.stderr.write(f"rundb: {message}\n")
            sys.stderr.flush()
        else:
            log.error(message)
        output.close()
        ingest.finish(indexer)
        return store.save_run(index, run, status="error", stopped=now_us(), exit_status=127,
                              pid=None)
    _widen_pipes(proc)
    # What produced the run is gathered once its process is on its way (a git process
    # and, when not cached, the package metadata cost more than the start budget).
    try:
        store.save_run(index, run, attrs={**run.attrs, "child_pid": proc.pid,
                                          **record_provenance(home, index, run)})
    except sqlite3.Error as e:
        # The child runs already: follow it to the end whatever the index says.
        log.warning(f"cannot update the index for run {run.short_id} ({e}): "
                    f"after it ends, run '{_rebuild_command(home)}'")
    sampler = None
    if sys_metrics:
        from . import sysmetrics

        sampler = sysmetrics.start(proc.pid, run.dir)

    def forward(signum, _frame):
        terminated.append(signum)
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    watch = _Watch(run, indexer, home, index=index,
                   on_stop=lambda: forward(signal.SIGTERM, None))
    old_handlers = _install_handlers(forward)
    try:
        _follow(proc, output, echo, watch)
        exit_code = proc.wait()
    finally:
        _restore_handlers(old_handlers)
        if sampler is not None:
            sampler.stop()  # before the indexer's last look, so every sample is indexed
        try:
            output.close()
        except OSError as e:
            watch.output_failed(e)
        error = ingest.finish(indexer)
    if error is not None and not watch.warned_indexer:
        missing, total = ingest.missing_points(index, run)
        if missing is None or missing:
            counted = f"{missing} of {total} points missing, " if missing else ""
            log.warning(f"some scalars of run {run.short_id} were not indexed ({error}): "
                        f"{counted}run '{_rebuild_command(home)}'")
    if watch.stop_seen:
        _clear_stop(index, run)
    changes = {}
    if terminated:
        status, exit_status = "terminated", TERMINATED_EXIT
        pruned = _pruned(watch)
        if pruned is not None:
            status, changes = "pruned", {"attrs": {**run.attrs, **pruned}}
    elif exit_code == 0:
        status, exit_status = "completed", 0
    else:
        status, exit_status = "error", exit_code
    return store.save_run(index, run, status=status, stopped=now_us(), exit_status=exit_status,
                          pid=None, **changes)


def _pruned(watch):
    """The run attributes of a run stopped by its batch's pruner, else None."""
    if not watch.stop_seen:
        return None
    from .prune import parse_prune_reason, pruned_attrs

    decision = parse_prune_reason(watch.stop_reason)
    return pruned_attrs(*decision) if decision else None


def _clear_stop(index, run):
    from ..index.stops import clear_stop

    try:
        clear_stop(index, run.id)
    except Exception:  # noqa: BLE001 - a stale request only costs a row
        pass


def record_provenance(home, index, run):
    """Provenance attributes of a started run (see rundb.ops.provenance); its package
    set goes into the index once. Never raises: a failure is a warning."""
    from ..index.packages import has_package_set, store_package_set
    from .provenance import read_package_set, run_provenance

    op = run.attrs.get("op")
    project_dir = op.get("project_dir") if isinstance(op, dict) else None
    try:
        attrs, packages = run_provenance(home, project_dir, run.dir)
        digest = attrs.get("packages")
        if digest and packages is None and not has_package_set(index, digest):
            packages = read_package_set(home, digest, run.dir)
        if digest and packages is not None:
            store_package_set(index, digest, packages)
    except Exception as e:  # noqa: BLE001 - provenance must never fail a run
        log.warning(f"cannot record the run's environment: {e}")
        return {}
    return attrs


def _shown(run, argv):
    """The executable as the user wrote it (``./train.sh``), not as resolved."""
    op = run.attrs.get("op")
    target = op.get("target") if isinstance(op, dict) else None
    if isinstance(target, list) and target:
        return target[0]
    return argv[0]



def _rebuild_command(home):
    """The exact command that recovers this home's index."""
    import shlex

    from ..home import Home

    if Home.resolve().path == home.path:
        return "rundb index rebuild"
    return f"rundb -H {shlex.quote(home.path)} index rebuild"


class _Watch:
    """What the runner keeps an eye on while it tees: the indexer's life and the output
    file's writes. Each problem is reported once; the run goes on to its true status."""

    #: Seconds between looks at the indexer while the child is quiet.
    POLL_SECONDS = 1.0

    def __init__(self, run, indexer, home, index=None, on_stop=None):
        self.run = run
        self.indexer = indexer
        self.home = home
        self.index = index
        self.on_stop = on_stop
        self.stop_seen = False
        self.stop_reason = None
        self.warned_indexer = False
        self.output_ok = True
        self._next_poll = time.monotonic() + self.POLL_SECONDS

    def poll(self):
        now = time.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + self.POLL_SECONDS
        if not self.stop_seen and self.index is not None:
            self._poll_stop()
        if self.warned_indexer:
            return
        from . import ingest

        how = ingest.stopped(self.indexer)
        if how is not None:
            self.warned_indexer = True
            log.warning(f"the indexer of run {self.run.short_id} stopped ({how}); the run goes "
                        f"on and its output is kept, but its scalars are no longer indexed "
                        f"live: after it ends, run '{_rebuild_command(self.home)}'")

    def _poll_stop(self):
        """Stop the child when a stop of this run, or of its batch, is requested."""
        from ..index.stops import stop_requested

        try:
            request = stop_requested(self.index, self.run.id)
            if request is None and self.run.parent:
                request = stop_requested(self.index, self.run.parent)
        except Exception:  # noqa: BLE001 - a busy or unreachable index: look again later
            return
        if request is not None:
            self.stop_seen = True
            self.stop_reason = request[1]
            reason = f" ({request[1]})" if request[1] else ""
            log.info(f"Stopping run {self.run.short_id}: stop requested{reason}")
            if self.on_stop is not None:
                self.on_stop()

    def output_failed(self, error):
        if self.output_ok:
            self.output_ok = False
            log.warning(f"cannot write the output of run {self.run.short_id} "
                        f"({error.strerror or error}): the rest of it is not recorded")


def _follow(proc, output, echo, watch=None):
    """Tee the child's stdout and stderr to the terminal and the output files until both
    close. Only whole lines go to the output file, so its reader never sees half a line."""
    sel = selectors.DefaultSelector()
    sinks = {}
    for stream, pipe, sink in ((0, proc.stdout, sys.stdout), (1, proc.stderr, sys.stderr)):
        sel.register(pipe, selectors.EVENT_READ, stream)
        sinks[stream] = _binary(sink) if echo else None
    partial = {0: b"", 1: b""}
    open_streams = 2
    timeout = watch.POLL_SECONDS if watch is not None else None
    if watch is not None:
        write_lines = _guarded(output, watch)
    else:
        def write_lines(data, stream):
            _lines(output, data, stream)
    while open_streams:
        if watch is not None:
            watch.poll()
        for key, _ in sel.select(timeout):
            stream = key.data
            data = os.read(key.fd, 1 << 16)
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                if partial[stream]:
                    write_lines(partial[stream] + b"\n", stream)
                    partial[stream] = b""
                continue
            sink = sinks[stream]
            if sink is not None:
                try:
                    sink.write(data)
                    sink.flush()
                except OSError:
                    sinks[stream] = None  # the terminal went away; keep recording
            data = partial[stream] + data
            cut = data.rfind(b"\n") + 1
            partial[stream] = data[cut:]
            if cut:
                write_lines(data[:cut], stream)
    sel.close()


def _guarded(output, watch):
    def write_lines(data, stream):
        if not watch.output_ok:
            return
        try:
            _lines(output, data, stream)
        except OSError as e:  # a full disk: keep teeing, say it once
            watch.output_failed(e)

    return write_lines


#: Pipe buffer for the child's output: slack so that a burst of printing never blocks
#: the child while this process waits for a core (Linux allows up to 1 MiB unprivileged).
PIPE_BUFFER = 1 << 20


def _widen_pipes(proc):
    import fcntl

    for pipe in (proc.stdout, proc.stderr):
        try:
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BUFFER)
        except (AttributeError, OSError):
            pass  # not Linux, or over the system's limit: the default buffer still works


def _lines(output, data, stream):
    output.write_lines(data, data.count(b"\n"), stream, int(time.time() * 1000))


def _binary(stream):
    return getattr(stream, "buffer", None) or _TextSink(stream)


class _TextSink:
    def __init__(self, stream):
        self.stream = stream

    def write(self, data):
        self.stream.write(data.decode("utf-8", "replace"))

    def flush(self):
        self.stream.flush()


def _install_handlers(handler):
    if threading.current_thread() is not threading.main_thread():
        return None
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_handlers(old):
    if old:
        for sig, h in old.items():
            signal.signal(sig, h)
