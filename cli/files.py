"""`rundb cat` and `rundb ls`: a run's captured output and files."""

import os

import click

from rundb import api

from .options import filter_options, pass_home, run_filter
from .output import emit, output_options


def write_bytes(data):
    """Bytes to stdout as they are (output may not be UTF-8)."""
    import sys

    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()
        return
    sys.stdout.flush()
    out.write(data)
    out.flush()


@click.command(name="cat")
@click.argument("spec", metavar="RUN")
@click.argument("path", required=False)
@filter_options
@click.option("-n", "--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines.")
@click.option("-f", "--follow", is_flag=True,
              help="Keep printing new output while the run runs (ends when it ends).")
@pass_home
def cat(home, spec, path, tail, follow, **kw):
    """Print a run's captured output, or the file PATH in its directory.

    RUN is an id, a short id or a list position (1 is the newest run).

    \b
    Examples:
      rundb cat 1                  # output of the newest run
      rundb cat 1 --tail 20 -f     # last 20 lines, then follow
      rundb cat a1b2c3d4 metrics.csv
    """
    run, full = api.run_file(home, spec, path, run_filter(kw))
    if follow:
        for chunk in api.follow_run_file(home, run, full, tail=tail):
            write_bytes(chunk)
        return
    _run, data = api.read_run_file(home, run.id, path, tail=tail)
    write_bytes(data)


@click.command(name="ls")
@click.argument("spec", metavar="RUN")
@click.argument("pattern", required=False)
@filter_options
@click.option("-a", "--all", "all_", is_flag=True, help="Include rundb's files (.rundb/).")
@click.option("-p", "--full-path", is_flag=True, help="Print absolute paths.")
@output_options
@pass_home
def ls(home, spec, pattern, all_, full_path, csv_path, as_json, as_table, fmt, **kw):
    """List a run's files with their sizes.

    PATTERN is a directory of the run or a glob (``*.csv``, ``checkpoints/*``).

    \b
    Examples:
      rundb ls 1
      rundb ls 1 "*.pt" --full-path
    """
    run, files = api.run_files(home, spec, run_filter(kw), pattern, all_)
    rows = [[os.path.join(run.dir, f.path) if full_path else f.path,
             "" if f.is_dir else human_size(f.size)] for f in files]
    if as_json or csv_path:
        rows = [[r[0], f.size] for r, f in zip(rows, files)]
    emit(["path", "size"], rows, csv_path=csv_path, as_json=as_json, fmt=fmt)


def human_size(n):
    """Bytes as ``ls -h`` writes them: 512, 1.5K, 20M."""
    for unit in ("", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n}" if not unit else (f"{n:.1f}{unit}" if n < 10 else f"{n:.0f}{unit}")
        n /= 1024
    return str(n)
