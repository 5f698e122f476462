"""Run a process as a tracked run: output teed and captured, scalars indexed live.

The child writes to pipes that this process drains continuously (one selector loop, in
64 KiB reads), so logging never blocks training. Each line is matched against the
output-scalar patterns; matches are handed in batches to a writer thread that owns its
own index connection and commits every ~0.5 s, off the reader's path. TF event files the
child writes anywhere in its run directory are read incrementally from their last offset.
"""

import getpass
import logging
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
import time

from ..home import meta_dir, new_run_id
from ..index import store, writer
from ..index.db import open_index
from ..index.tfevents import EventFileReader, iter_event_files
from ..output import OutputWriter
from ..query.catalog import OUTPUT_PREFIX
from ..run import Run, now_us, this_host

log = logging.getLogger("rundb")

FLUSH_SECONDS = 0.5
EVENTS_POLL_SECONDS = 1.0
TERMINATED_EXIT = -15


def new_run(home, index, op, flags, *, label="", tags=(), parent=None, attrs=None,
            status="running", output_scalars=None, sourcecode_root=None):
    """Create a run directory and record the run (meta.json + index)."""
    home.ensure()
    run_id = new_run_id()
    run_dir = home.run_dir(run_id)
    os.makedirs(meta_dir(run_dir))
    started = now_us() if status == "running" else None
    run = Run(
        id=run_id, op=op, status=status, created=now_us(), started=started,
        label=label, parent=parent, host=this_host(), user=_user(),
        pid=os.getpid() if status == "running" else None,
        flags=dict(flags), tags=list(tags), attrs=dict(attrs or {}),
        output_scalars=output_scalars, dir=run_dir,
    )
    if sourcecode_root:
        from .sourcecode import snapshot

        run.sourcecode_digest = snapshot(sourcecode_root, os.path.join(meta_dir(run_dir), "sourcecode"))
    store.create_run(index, run)
    return run


def _user():
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return None


class ScalarIngest(threading.Thread):
    """Writes batches of scalar points to the index from its own connection."""

    def __init__(self, index_path, rid):
        super().__init__(name="rundb-ingest", daemon=True)
        self.index_path = index_path
        self.rid = rid
        self.queue = queue.Queue()
        self.error = None

    def run(self):
        index = open_index(self.index_path)
        try:
            while True:
                batch = self.queue.get()
                if batch is None:
                    return
                # Merge whatever else is already waiting into one transaction.
                stop = False
                while True:
                    try:
                        more = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.extend(more)
                writer.add_scalars(index, self.rid, batch)
                if stop:
                    return
        except Exception as e:  # noqa: BLE001 - reported by the runner at exit
            self.error = e
        finally:
            index.close()

    def close(self):
        self.queue.put(None)
        self.join()


class EventFilesWatcher:
    """Reads new records of the TF event files under a run directory."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.readers = {}

    def poll(self):
        points = []
        for prefix, path in iter_event_files(self.run_dir):
            reader = self.readers.get(path)
            if reader is None:
                reader = self.readers[path] = EventFileReader(path)
            for tag, value, step, wall in reader.read_scalars():
                points.append((prefix, tag, step, value, wall))
        return points


def execute(home, index, run, argv, env=None, echo=True):
    """Start ``argv`` for ``run`` and follow it to the end; return the finished run.

    Status becomes ``completed`` (exit 0), ``error`` (non-zero) or ``terminated``
    (SIGINT/SIGTERM received here: forwarded to the child, exit status -15).
    """
    from .outputscalars import OutputScalarParser

    parser = None
    if run.output_scalars is not None:
        parser = OutputScalarParser.from_config(run.output_scalars)
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env.update({
        "RUNDB_RUN_ID": run.id,
        "RUNDB_RUN_DIR": run.dir,
        "RUNDB_HOME": home.path,
        "PYTHONUNBUFFERED": "1",
    })
    ingest = ScalarIngest(index.path, run.rid)
    ingest.start()
    output = OutputWriter(run.dir)
    watcher = EventFilesWatcher(run.dir)
    terminated = []
    try:
        proc = subprocess.Popen(
            argv, cwd=run.dir, env=child_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
    except OSError as e:
        output.write(f"rundb: cannot start {argv[0]}: {e.strerror or e}", stream=1,
                     time_ms=int(time.time() * 1000))
        output.close()
        ingest.close()
        return store.save_run(index, run, status="error", stopped=now_us(), exit_status=127,
                              pid=None)
    store.save_run(index, run, attrs={**run.attrs, "child_pid": proc.pid})

    def forward(signum, _frame):
        terminated.append(signum)
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    old_handlers = _install_handlers(forward)
    try:
        _follow(proc, output, parser, ingest, watcher, echo)
        exit_code = proc.wait()
    finally:
        _restore_handlers(old_handlers)
        output.close()
        ingest.queue.put(watcher.poll())
        ingest.close()
    if ingest.error is not None:
        log.warning(f"some scalars were not indexed: {ingest.error} (run 'rundb index rebuild')")
    if terminated:
        status, exit_status = "terminated", TERMINATED_EXIT
    elif exit_code == 0:
        status, exit_status = "completed", 0
    else:
        status, exit_status = "error", exit_code
    return store.save_run(index, run, status=status, stopped=now_us(), exit_status=exit_status,
                          pid=None)


def _follow(proc, output, parser, ingest, watcher, echo):
    sel = selectors.DefaultSelector()
    sinks = {}
    for stream, pipe, sink in ((0, proc.stdout, sys.stdout), (1, proc.stderr, sys.stderr)):
        sel.register(pipe, selectors.EVENT_READ, stream)
        sinks[stream] = _binary(sink) if echo else None
    partial = {0: b"", 1: b""}
    pending = []
    last_flush = last_poll = time.monotonic()
    open_streams = 2
    while open_streams:
        for key, _ in sel.select(timeout=FLUSH_SECONDS):
            stream = key.data
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                if partial[stream]:
                    _lines([partial[stream]], stream, output, parser, pending)
                    partial[stream] = b""
                continue
            sink = sinks[stream]
            if sink is not None:
                sink.write(data)
                sink.flush()
            lines = (partial[stream] + data).split(b"\n")
            partial[stream] = lines.pop()
            _lines(lines, stream, output, parser, pending)
        now = time.monotonic()
        if now - last_flush >= FLUSH_SECONDS:
            output.flush()
            if pending:
                ingest.queue.put(pending)
                pending = []
            last_flush = now
        if now - last_poll >= EVENTS_POLL_SECONDS:
            points = watcher.poll()
            if points:
                ingest.queue.put(points)
            last_poll = now
    sel.close()
    if pending:
        ingest.queue.put(pending)


def _lines(lines, stream, output, parser, pending):
    now = time.time()
    time_ms = int(now * 1000)
    feed = parser.feed if parser is not None else None
    write = output.write
    for raw in lines:
        text = raw.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        write(text, stream, time_ms)
        if feed is not None:
            # A progress bar redraws with \r: the last redraw is the line's final state.
            parsed = text.rsplit("\r", 1)[-1] if "\r" in text else text
            for key, value, step in feed(parsed):
                pending.append((OUTPUT_PREFIX, key, step, value, now))


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
