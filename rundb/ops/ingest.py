"""The indexer of a running run: a separate process that follows the run's files.

The runner only tees the child's output into ``.rundb/output`` (and the terminal). This
process tails that file, parses whole lines for output scalars, polls the TF event files
under the run directory, and writes what it finds to the index every ~0.5 s. Being a
process of its own, it works on another core without contending for the runner's GIL,
so a script printing hundreds of thousands of lines a second is never slowed by
indexing; and because it reads the same files ``index rebuild`` reads, live and rebuilt
scalars are the same.

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
    """Start the indexer for a run; returns its Popen (stop it with :func:`finish`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rundb.ops.ingest", index_path, run_dir, str(rid),
         json.dumps(patterns_config)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def finish(proc):
    """Tell the indexer the run has ended and wait for it; returns an error text or None."""
    proc.stdin.close()
    err = proc.stderr.read().decode("utf-8", "replace").strip()
    proc.wait()
    if proc.returncode != 0:
        return err.splitlines()[-1] if err else f"indexer exit status {proc.returncode}"
    return None


def follow(index_path, run_dir, rid, patterns_config, stop_fd):
    """Index the run's scalars until ``stop_fd`` reaches end of file, then finish."""
    from ..home import meta_dir
    from ..index import writer
    from ..index.db import open_index
    from ..index.tfevents import EventFilesWatcher
    from ..query.catalog import OUTPUT_PREFIX
    from .outputscalars import OutputScalarParser

    index = open_index(index_path)
    parser = OutputScalarParser.from_config(patterns_config) if patterns_config is not None else None
    watcher = EventFilesWatcher(run_dir)
    output = open(os.path.join(meta_dir(run_dir), "output"), "rb")
    partial = b""
    pending, n_pending = {}, 0
    last_flush = last_poll = time.monotonic()
    done = False
    try:
        while True:
            ready, _, _ = select.select([stop_fd], [], [], WAIT_SECONDS)
            if ready and not os.read(stop_fd, 4096):
                done = True
            data = output.read()
            if data and parser is not None:
                data = partial + data
                cut = data.rfind(b"\n") + 1
                partial = data[cut:]
                if cut:
                    now = time.time()
                    found = parser.feed_text(data[:cut].decode("utf-8", "replace"))
                    for key, (steps, values) in found.items():
                        n_pending += len(steps)
                        writer.merge_series(pending, {(OUTPUT_PREFIX, key): (steps, values, [now] * len(steps))})
            now = time.monotonic()
            if done or now - last_poll >= EVENTS_POLL_SECONDS:
                events = watcher.poll()
                n_pending += sum(len(s[0]) for s in events.values())
                writer.merge_series(pending, events)
                last_poll = now
            if pending and (done or n_pending >= MAX_PENDING or now - last_flush >= FLUSH_SECONDS):
                writer.add_series(index, rid, pending)
                pending, n_pending = {}, 0
                last_flush = now
            if done:
                return
    finally:
        output.close()
        index.close()


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
    follow(index_path, run_dir, int(rid), json.loads(patterns), sys.stdin.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
