"""A run's captured output: ``.rundb/output`` holds the text exactly as printed
(stdout and stderr interleaved), ``.rundb/output.index`` one ``<time_ms> <stream>`` line
per output line (stream 0 = stdout, 1 = stderr).

The output file is the durable copy of output scalars: ``index rebuild`` re-parses it.
"""

import os

from .home import meta_dir

OUTPUT = "output"
OUTPUT_INDEX = "output.index"


class OutputWriter:
    """Appends timestamped lines to a run's output files."""

    def __init__(self, run_dir):
        d = meta_dir(run_dir)
        os.makedirs(d, exist_ok=True)
        self._out = open(os.path.join(d, OUTPUT), "a", encoding="utf-8", errors="replace")
        self._idx = open(os.path.join(d, OUTPUT_INDEX), "a", encoding="ascii")

    def write(self, line, stream=0, time_ms=0):
        """Record one line (with or without its trailing newline)."""
        if not line.endswith("\n"):
            line += "\n"
        self._out.write(line)
        self._idx.write(f"{time_ms} {stream}\n")

    def flush(self):
        self._out.flush()
        self._idx.flush()

    def close(self):
        self._out.close()
        self._idx.close()


def read_output(run_dir):
    """[(time_ms, stream, line)] of a run's output; [] when it has none."""
    d = meta_dir(run_dir)
    try:
        with open(os.path.join(d, OUTPUT), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    try:
        with open(os.path.join(d, OUTPUT_INDEX), encoding="ascii") as f:
            marks = [line.split(" ", 1) for line in f.read().splitlines()]
    except FileNotFoundError:
        marks = []
    out = []
    for i, line in enumerate(lines):
        if i < len(marks) and len(marks[i]) == 2:
            time_ms, stream = int(marks[i][0]), int(marks[i][1])
        else:
            time_ms, stream = 0, 0
        out.append((time_ms, stream, line))
    return out
