"""Capturing what a function run in this process prints (used by rundb.ops.funcrun).

While any run is in progress, ``sys.stdout`` and ``sys.stderr`` are routed through
:class:`StreamRouter`: text is echoed and handed to the :class:`Recorder` of the run the
writing thread belongs to. A recorder's own thread writes whole lines to
``.rundb/output`` (with ``output.index``), parses them for output scalars, reads the TF
event files under the run directory, and writes the scalars to the index every
``FLUSH_SECONDS``: the same files and parser ``rundb index rebuild`` uses.
"""

import sys
import threading
import time

#: Seconds between index writes of a running function's scalars.
FLUSH_SECONDS = 0.5

#: Seconds between looks at the run's TF event files while it runs.
EVENTS_POLL_SECONDS = 1.0

# Runs in progress, by the thread that called run() (a stack: runs may nest).
_active = {}
_active_lock = threading.Lock()
_routers = None  # (stdout router, stderr router) while any run is in progress


def _current_recorder():
    """The recorder of the run this thread's output belongs to, if any.

    A thread's own run first. A thread with none (say, a data loader the function
    started) writes to the only run in progress, unless it is the main thread: a
    notebook's main thread printing while a run goes on in another thread is not part
    of that run.
    """
    stack = _active.get(threading.get_ident())
    if stack:
        return stack[-1]
    if threading.current_thread() is not threading.main_thread() and len(_active) == 1:
        for stack in list(_active.values()):
            if stack:
                return stack[-1]
    return None


def active_run_dir():
    """The directory of the run the calling thread is in, if any (rundb.keras uses it)."""
    rec = _current_recorder()
    return rec.run.dir if rec is not None else None


class StreamRouter:
    """Stands in for sys.stdout or sys.stderr while runs are in progress: text goes to
    the original stream (echo) and to the run the writing thread belongs to."""

    def __init__(self, original, stream):
        self._original = original
        self._stream = stream

    def write(self, text):
        rec = _current_recorder()
        if rec is None:
            return self._original.write(text) if self._original is not None else len(text)
        if rec.echo and self._original is not None:
            self._original.write(text)
        rec.write(self._stream, text)
        if rec.prune is not None:
            check_pruned()
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._original is not None:
            self._original.flush()

    def __getattr__(self, name):
        return getattr(self._original, name)


class TrialPruned(Exception):
    "The batch's pruner stopped this trial: raised inside a function run at its next print."

    def __init__(self, step, rule):
        super().__init__(f"pruned at step {step} ({rule})")
        self.step, self.rule = step, rule


def request_prune(run_id, step, rule):
    """Make the function run ``run_id`` raise :class:`TrialPruned` at its next print (or
    next epoch logged by ``rundb.keras.RunCallback``); called from the pruner's thread."""
    with _active_lock:
        for stack in _active.values():
            for rec in stack:
                if rec.run.id == run_id:
                    rec.prune = (step, rule)


def check_pruned():
    """Raise :class:`TrialPruned` in a function run's own thread once its batch's pruner
    has pruned it (once)."""
    stack = _active.get(threading.get_ident())
    rec = stack[-1] if stack else None
    if rec is not None and rec.prune is not None and not rec.prune_raised:
        rec.prune_raised = True
        raise TrialPruned(*rec.prune)


def push(rec):
    global _routers
    with _active_lock:
        _active.setdefault(threading.get_ident(), []).append(rec)
        if _routers is None:
            _routers = (StreamRouter(sys.stdout, 0), StreamRouter(sys.stderr, 1))
            sys.stdout, sys.stderr = _routers


def pop(rec):
    global _routers
    with _active_lock:
        ident = threading.get_ident()
        stack = _active.get(ident, [])
        if rec in stack:
            stack.remove(rec)
        if not stack:
            _active.pop(ident, None)
        if not _active and _routers is not None:
            out, err = _routers
            # Put the originals back only where ours are still in place: code that
            # replaced a stream meanwhile keeps its own (ours then just passes through).
            if sys.stdout is out:
                sys.stdout = out._original
            if sys.stderr is err:
                sys.stderr = err._original
            _routers = None


class Recorder:
    """The output and scalars of one function run.

    The function's thread only appends what it writes to a list. A thread of the
    recorder's own, with its own index connection, takes that list every FLUSH_SECONDS:
    it writes whole lines to ``.rundb/output`` (with ``output.index``), feeds them to the
    run's output-scalar parser, reads new records of the TF event files under the run
    directory, and writes the scalars found to the index; once more when the run ends.
    So printing costs the function little, and the files are those ``index rebuild``
    reads again.
    """

    def __init__(self, run, index_path, echo=True):
        from ..outputscalars import OutputScalarParser
        from ..output import OutputWriter

        self.run = run
        self.echo = echo
        self.error = None
        self.prune = None  # (step, rule) once its batch's pruner prunes it
        self.prune_raised = False
        self._index_path = index_path
        self._output = OutputWriter(run.dir)
        self._parser = (OutputScalarParser.from_config(run.output_scalars)
                        if run.output_scalars is not None else None)
        self._chunks = []  # (stream, text, time_ms) not yet taken by the thread
        self._partial = ["", ""]
        self._closed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True,
                                        name=f"rundb-ipy-{run.short_id}")
        self._thread.start()

    def write(self, stream, text):
        if not text:
            return
        time_ms = int(time.time() * 1000)
        with self._lock:
            if not self._closed:
                self._chunks.append((stream, text, time_ms))

    def write_text(self, stream, text):
        """Record text directly, not through sys.stdout/sys.stderr (so not echoed)."""
        self.write(stream, text if text.endswith("\n") else text + "\n")

    def _take_blocks(self, final):
        """[(stream, time_ms, lines)]: the whole lines written since the last call (and the
        last partial lines when ``final``), in the order completed, in blocks of one
        stream and one millisecond."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
        blocks = []
        partial = self._partial
        i, n = 0, len(chunks)
        while i < n:
            stream, _text, time_ms = chunks[i]
            j = i + 1
            while j < n and chunks[j][0] == stream and chunks[j][2] == time_ms:
                j += 1
            text = partial[stream] + "".join(chunk[1] for chunk in chunks[i:j])
            if "\n" in text:
                *done, partial[stream] = text.split("\n")
                blocks.append((stream, time_ms, done))
            else:
                partial[stream] = text
            i = j
        if final:
            time_ms = int(time.time() * 1000)
            for stream in (0, 1):
                if partial[stream]:
                    blocks.append((stream, time_ms, [partial[stream]]))
                    partial[stream] = ""
        return blocks

    def _record(self, blocks):
        """Write blocks of lines to the output files; return the output scalars found in
        them as series (``{(prefix, tag): (steps, values, time)}``)."""
        from ..index.writer import merge_series
        from ..catalog import OUTPUT_PREFIX

        series = {}
        for stream, time_ms, lines in blocks:
            text = "\n".join(lines) + "\n"
            self._output.write_lines(text.encode("utf-8", "replace"), len(lines), stream,
                                     time_ms)
            if self._parser is not None:
                # The parser the indexer of `rundb run` and `index rebuild` use, a block at
                # a time (a progress bar's \r redraws count as their last).
                found = self._parser.feed_text(text)
                merge_series(series, {
                    (OUTPUT_PREFIX, key): (steps, values, [time_ms / 1000] * len(steps))
                    for key, (steps, values) in found.items()})
        return series

    def _follow(self):
        from ..index import writer
        from ..index.db import open_index
        from ..tfevents import EventFilesWatcher

        index = None
        events = EventFilesWatcher(self.run.dir)
        try:
            index = open_index(self._index_path)
            last_poll = time.monotonic()
            while not self._stop.wait(FLUSH_SECONDS):
                series = self._record(self._take_blocks(final=False))
                if time.monotonic() - last_poll >= EVENTS_POLL_SECONDS:
                    writer.merge_series(series, events.poll())
                    last_poll = time.monotonic()
                writer.add_series(index, self.run.rid, series)
            series = self._record(self._take_blocks(final=True))
            writer.merge_series(series, events.poll())
            writer.add_series(index, self.run.rid, series)
        except Exception as e:  # noqa: BLE001 - reported when the run ends
            self.error = e
            self._stop.wait()
            # Keep the output, whatever happened to the index.
            try:
                self._record(self._take_blocks(final=True))
            except Exception:  # noqa: BLE001
                pass
        finally:
            if index is not None:
                index.close()

    def close(self):
        """Write out what is left and index it; return an error or None."""
        with self._lock:
            self._closed = True
        self._stop.set()
        self._thread.join()
        self._output.close()
        return self.error
