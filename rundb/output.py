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
        # Unbuffered: the indexer process follows these files while the run goes on.
        self._out = open(os.path.join(d, OUTPUT), "ab", buffering=0)
        self._idx = open(os.path.join(d, OUTPUT_INDEX), "ab", buffering=0)

    def write(self, line, stream=0, time_ms=0):
        """Record one line (with or without its trailing newline)."""
        data = line.encode("utf-8", "replace") if isinstance(line, str) else line
        if not data.endswith(b"\n"):
            data += b"\n"
        self.write_lines(data, 1, stream, time_ms)

    def write_lines(self, data, n_lines, stream=0, time_ms=0):
        """Record ``n_lines`` whole lines (bytes, each ending in a newline) at once.

        :raises OSError: the write failed (a full disk); the files then hold whole lines
            only, each with its mark, as before the call.
        """
        marks = f"{time_ms} {stream}\n".encode("ascii") * n_lines
        out_at, idx_at = self._out.tell(), self._idx.tell()
        try:
            _write_all(self._out, data)
            _write_all(self._idx, marks)
        except OSError:
            for f, at in ((self._out, out_at), (self._idx, idx_at)):
                try:
                    f.truncate(at)
                except OSError:
                    pass
            raise

    def close(self):
        self._out.close()
        self._idx.close()


def _write_all(f, data):
    # An unbuffered file may write part of the data (a full disk) without raising.
    view = memoryview(data)
    while view:
        n = f.write(view)
        if not n:
            raise OSError(28, "No space left on device", f.name)
        view = view[n:]


def read_output(run_dir):
    """[(time_ms, stream, line)] of a run's output; [] when it has none."""
    d = meta_dir(run_dir)
    try:
        with open(os.path.join(d, OUTPUT), "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    # Lines end with \n only; a \r inside a line is a progress-bar redraw, kept.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
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
