"""The indexer of a running run: a separate process that follows the run's files.

The runner only tees the child's output into ``.rundb/output`` (and the terminal). This
process tails that file, parses whole lines for output scalars, polls the TF event files
under the run directory, and hands what it finds every ~0.5 s to a writer process of its
own, which commits it to the index while the next block is parsed. Being processes,
they work beside the runner without contending for its GIL (a thread here lost 7x to
GIL hand-offs in ``executemany``), and at a lower priority than the training script;
and because they read the same files ``index rebuild`` reads, live and rebuilt scalars
are the same.

The runner closes this process's stdin to say the run has ended; it then reads the files
to their end, writes the last batch and exits.

Usage (internal): ``python -m rundb.ops.ingest INDEX RUN_DIR RID PATTERNS_JSON``
"""

import json
import os
import select
import subprocess
import sys
import time

FLUSH_SECONDS = 0.5
EVENTS_POLL_SECONDS = 1.0
WAIT_SECONDS = 0.05
MAX_PENDING = 200_000


def start(index_path, run_dir, rid, patterns_config):
    """Start the indexer for a run; returns its Popen (stop it with :func:`finish`).

    It leads a process group of its own (with the writer it forks), which the runner
    owns (see rundb.ops.supervise). Its stderr goes to an unnamed temporary file, not a
    pipe: a pipe kept open by an orphaned writer once hung the runner reading it.
    """
    import tempfile

    errors = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rundb.ops.ingest", index_path, run_dir, str(rid),
             json.dumps(patterns_config)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
            process_group=0,
        )
    except BaseException:
        errors.close()
        raise
    proc.errors = errors
    return proc


def stopped(proc):
    """How the indexer ended if it has (``"killed by SIGKILL"``), else None. Never blocks."""
    from .supervise import exit_status

    how = exit_status(proc.pid)
    if how is not None and how.startswith("exit status"):
        err = os.pread(proc.errors.fileno(), 1 << 16, 0).decode("utf-8", "replace").strip()
        if err:
            return err.splitlines()[-1]
    return how


def finish(proc):
    """Tell the indexer the run has ended and wait for it; returns an error text or None.

    Whatever is left of its process group afterwards (a writer whose indexer was
    killed) is killed, so nothing outlives the run.
    """
    from .supervise import kill_group, wait_unreaped

    try:
        proc.stdin.close()
    except OSError:
        pass  # the indexer is gone already
    wait_unreaped(proc.pid)
    kill_group(proc.pid)
    proc.wait()
    proc.errors.seek(0)
    err = proc.errors.read().decode("utf-8", "replace").strip()
    proc.errors.close()
    if proc.returncode != 0:
        if proc.returncode < 0:
            from .supervise import describe_returncode

            return describe_returncode(proc.returncode)
        return err.splitlines()[-1] if err else f"indexer exit status {proc.returncode}"
    return None


#: Output read and parsed at a time (about 130,000 short lines): while one block is
#: parsed, the writer process inserts the one before.
READ_BLOCK = 1 << 22


def follow(index_path, run_dir, rid, patterns_config, stop_fd):
    """Index the run's scalars until ``stop_fd`` reaches end of file, then finish.

    Parsing (this process) and inserting (a writer process forked here, before any
    SQLite connection exists) overlap: a batch goes to the writer through a pipe and this
    process parses the next while the writer commits it.
    """
    from ..home import meta_dir
    from ..index import writer
    from ..tfevents import EventFilesWatcher
    from ..catalog import OUTPUT_PREFIX
    from ..outputscalars import OutputScalarParser

    send, finish_writer = _start_writer(index_path, rid)
    parser = OutputScalarParser.from_config(patterns_config) if patterns_config is not None else None
    watcher = EventFilesWatcher(run_dir)
    output = open(os.path.join(meta_dir(run_dir), "output"), "rb")
    lines = TimedLines(os.path.join(meta_dir(run_dir), "output.index"))
    pending, n_pending = {}, 0
    last_flush = last_poll = time.monotonic()
    done = more = False
    try:
        while True:
            ready, _, _ = select.select([stop_fd], [], [], 0 if more else WAIT_SECONDS)
            if ready and not os.read(stop_fd, 4096):
                done = True
            data = output.read(READ_BLOCK)
            more = len(data) == READ_BLOCK
            last = done and not more
            if parser is not None:
                # Each line keeps the time the runner recorded for it in output.index,
                # as `index rebuild` reads it: live and rebuilt points are the same.
                for time_ms, text in lines.feed(data, final=last):
                    found = parser.feed_text(text)
                    t = time_ms / 1000
                    for key, (steps, values) in found.items():
                        n_pending += len(steps)
                        writer.merge_series(pending, {(OUTPUT_PREFIX, key): (steps, values, [t] * len(steps))})
            now = time.monotonic()
            if last or now - last_poll >= EVENTS_POLL_SECONDS:
                events = watcher.poll()
                n_pending += sum(len(s[0]) for s in events.values())
                writer.merge_series(pending, events)
                last_poll = now
            if pending and (last or n_pending >= MAX_PENDING or now - last_flush >= FLUSH_SECONDS):
                send(pending)
                pending, n_pending = {}, 0
                last_flush = now
            if last:
                break
    finally:
        output.close()
        lines.close()
        finish_writer()


class TimedLines:
    """Whole lines of ``.rundb/output`` paired with their times from ``output.index``
    (one ``<time_ms> <stream>`` mark per line, written just after the lines).

    :meth:`feed` takes newly read output bytes and returns ``[(time_ms, text)]``: blocks
    of whole lines sharing a time, as ``index rebuild`` groups them. A line whose mark
    has not arrived yet waits for it, unless ``final`` (then it has time 0, as in a
    rebuild of an output file without marks).
    """

    def __init__(self, marks_path):
        self._marks_path = marks_path
        self._marks_file = None
        self._text = b""
        self._marks = b""

    def _read_marks(self):
        if self._marks_file is None:
            try:
                self._marks_file = open(self._marks_path, "rb")
            except FileNotFoundError:
                return
        data = self._marks_file.read()
        if data:
            self._marks += data

    def feed(self, data, final=False):
        from itertools import groupby

        if data:
            self._text += data
        cut = self._text.rfind(b"\n") + 1
        if not cut:
            return []
        self._read_marks()
        mcut = self._marks.rfind(b"\n") + 1
        marks = self._marks[:mcut].split(b"\n")
        marks.pop()
        lines = self._text[:cut].split(b"\n")
        lines.pop()
        n = len(lines) if final else min(len(lines), len(marks))
        if not n:
            return []
        if n == len(lines):
            self._text = self._text[cut:]
        else:
            self._text = b"\n".join(lines[n:]) + b"\n" + self._text[cut:]
        used = min(n, len(marks))
        if used == len(marks):
            self._marks = self._marks[mcut:]
        else:
            self._marks = b"\n".join(marks[used:]) + b"\n" + self._marks[mcut:]
        blocks = []
        start = 0
        for mark, group in groupby(marks[:used]):
            count = len(list(group))
            time_ms = _mark_time(mark)
            if blocks and blocks[-1][0] == time_ms:
                blocks[-1][2] += count
            else:
                blocks.append([time_ms, start, count])
            start += count
        if used < n:
            if blocks and blocks[-1][0] == 0:
                blocks[-1][2] += n - used
            else:
                blocks.append([0, used, n - used])
        return [(time_ms, (b"\n".join(lines[i:i + k]) + b"\n").decode("utf-8", "replace"))
                for time_ms, i, k in blocks]

    def close(self):
        if self._marks_file is not None:
            self._marks_file.close()


def _mark_time(mark):
    parts = mark.split(b" ", 1)
    try:
        return int(parts[0]) if len(parts) == 2 else 0
    except ValueError:
        return 0


def _start_writer(index_path, rid):
    """Fork the process that writes batches to the index; returns (send, finish)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_write_batches, args=(index_path, rid, receive, send, os.getpid()),
                       daemon=True)
    proc.start()
    receive.close()

    def finish():
        try:
            send.send(None)
        except OSError:
            pass  # the writer is gone; its exit status says why
        send.close()
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(1)  # the writer printed why, as the last line on stderr

    return send.send, finish


def _write_batches(index_path, rid, receive, send, indexer_pid):
    from ..index import writer
    from ..index.db import open_index
    from .supervise import set_parent_death_signal

    # Only the indexer may hold the sending end: when it dies, recv() sees end of file.
    send.close()
    set_parent_death_signal(parent_pid=indexer_pid)
    try:
        index = open_index(index_path)
        try:
            while True:
                try:
                    batch = receive.recv()
                except EOFError:
                    raise SystemExit(1) from None  # the indexer died; the runner says so
                if batch is None:
                    return
                index = _add_series_retrying(index, index_path, rid, batch)
        finally:
            index.close()
    except Exception as e:  # noqa: BLE001 - one line for the runner's warning
        print(f"{type(e).__name__}: {e}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


#: Seconds between tries of a batch whose index connection was lost (a shared index's
#: server restarting or a network blip); then the batch is given up (its points stay in
#: the run directory, for `rundb index rebuild`).
RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15, 30)


def _add_series_retrying(index, index_path, rid, batch):
    """Write one batch; on a lost connection, reopen the index and write it again."""
    from ..errors import IndexConnectionError
    from ..index import writer
    from ..index.db import open_index

    for delay in (*RETRY_DELAYS, None):
        try:
            writer.add_series(index, rid, batch)
            return index
        except IndexConnectionError:
            if delay is None:
                raise
            time.sleep(delay)
            try:
                index.close()
            except Exception:  # noqa: BLE001 - the connection is gone already
                pass
            try:
                index = open_index(index_path)
            except IndexConnectionError:
                continue
    return index


#: Lower priority than the training process: when cores are scarce, training goes first
#: and the indexer catches up (it is never more than its pending batch behind on disk).
NICENESS = 10


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    index_path, run_dir, rid, patterns = argv
    try:
        # Held until exit, so `index rebuild` waits for this run's last write.
        from .. import runlock

        runlock.hold_shared_forever(os.path.dirname(os.path.dirname(os.path.abspath(run_dir))))
    except OSError:
        pass  # no lock file possible there; the open below reports why
    follow(index_path, run_dir, int(rid), json.loads(patterns), sys.stdin.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())


def missing_points(index, run):
    """``(missing, total)``: how many of the scalar points the run's files give (as
    ``index rebuild`` derives them) the index lacks. An indexer that ended with an error
    (a signal, say) may still have written everything; only missing points are worth a
    warning."""
    from ..index import reader
    from ..index.rebuild import derive_scalars

    try:
        derived = derive_scalars(run)
    except Exception:  # noqa: BLE001 - unreadable files: say nothing is known to be there
        return None, None
    total = sum(len(steps) for steps, _values, _times in derived.values())
    indexed = len(reader.scalar_points(index, run.rid))
    return max(total - indexed, 0), total
