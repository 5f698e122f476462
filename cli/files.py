"""`rundb cat` and `rundb ls`: a run's captured output and files."""

import os

import click

from rundb import api

from .completion import complete_run
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
@click.argument("spec", shell_complete=complete_run, metavar="RUN")
@click.argument("path", required=False)
@filter_options
@click.option("-p", "--path", "path_opt", metavar="PATH", help="The file to print (as Guild's -p; same as PATH).")
@click.option("-n", "--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines.")
@click.option("-f", "--follow", is_flag=True,
              help="Keep printing new output while the run runs (ends when it ends).")
@pass_home
def cat(home, spec, path, path_opt, tail, follow, **kw):
    """Print a run's captured output, or the file PATH in its directory.

    RUN is an id, a short id or a list position (1 is the newest run).

    \b
    Examples:
      rundb cat 1                  # output of the newest run
      rundb cat 1 --tail 20 -f     # last 20 lines, then follow
      rundb cat a1b2c3d4 metrics.csv
    """
    path = _one_path(path, path_opt, "PATH")
    run, full = api.run_file(home, spec, path, run_filter(kw))
    if follow:
        for chunk in api.follow_run_file(home, run, full, tail=tail):
            write_bytes(chunk)
        return
    _run, data = api.read_run_file(home, run.id, path, tail=tail)
    write_bytes(data)


@click.command(name="ls")
@click.argument("spec", shell_complete=complete_run, metavar="RUN")
@click.argument("pattern", required=False)
@filter_options
@click.option("-a", "--all", "all_", is_flag=True, help="Include rundb's files (.rundb/).")
@click.option("-p", "--path", "path_opt", metavar="PATTERN", help="Only these files (as Guild's -p; same as PATTERN).")
@click.option("-f", "--full-path", is_flag=True, help="Print absolute paths.")
@output_options
@pass_home
def ls(home, spec, pattern, path_opt, all_, full_path, csv_path, as_json, as_table, fmt, **kw):
    """List a run's files with their sizes.

    PATTERN is a directory of the run or a glob (``*.csv``, ``checkpoints/*``).

    \b
    Examples:
      rundb ls 1
      rundb ls 1 "*.pt" --full-path
    """
    pattern = _one_path(pattern, path_opt, "PATTERN")
    run, files = api.run_files(home, spec, run_filter(kw), pattern, all_)
    rows = [[os.path.join(run.dir, f.path) if full_path else f.path,
             "" if f.is_dir else human_size(f.size)] for f in files]
    if as_json or csv_path:
        rows = [[r[0], f.size] for r, f in zip(rows, files)]
    emit(["path", "size"], rows, csv_path=csv_path, as_json=as_json, fmt=fmt)


def _one_path(argument, option, name):
    """The path given as an argument or with -p/--path (Guild's letter), not both."""
    if argument is not None and option is not None:
        raise click.UsageError(f"give {name} or --path, not both")
    return option if option is not None else argument


def human_size(n):
    """Bytes as ``ls -h`` writes them: 512, 1.5K, 20M."""
    for unit in ("", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n}" if not unit else (f"{n:.1f}{unit}" if n < 10 else f"{n:.0f}{unit}")
        n /= 1024
    return str(n)


@click.command(name="watch")
@click.argument("spec", shell_complete=complete_run, metavar="[RUN]", required=False)
@filter_options
@click.option("-p", "--path", "path_opt", metavar="PATH", help="The file to print (as Guild's -p; same as PATH).")
@click.option("-n", "--tail", type=click.IntRange(min=0), default=20, show_default=True,
              metavar="N", help="Start with the last N lines of output.")
@pass_home
def watch(home, spec, tail, **kw):
    """Follow a running run: its output as it comes, and a line with its latest scalars.

    Without RUN, the newest running run. Returns when the run ends; Ctrl-C stops
    watching, not the run. Output goes to stdout, the scalar line to stderr.

    \b
    Examples:
      rundb watch
      rundb watch a1b2c3d4 -n 0
    """
    import sys
    import time

    run = api.watched_run(home, spec, run_filter(kw))
    _run, full = api.run_file(home, run.id)
    status_line = _StatusLine(sys.stderr)
    click.echo(f"Watching run {run.short_id} ({run.op}); Ctrl-C stops watching, not the run",
               err=True)
    last_check = 0.0
    try:
        for chunk in api.follow_run_file(home, run, full, tail=tail, idle=True):
            if chunk:
                status_line.clear()
                write_bytes(chunk)
            now = time.monotonic()
            if chunk or now - last_check >= 1.0:
                last_check = now
                status_line.show(_progress_text(run, *api.run_progress(home, run.id)))
        status_line.show(_progress_text(run, *api.run_progress(home, run.id)), final=True)
    except KeyboardInterrupt:
        status_line.clear()
        click.echo(f"Stopped watching; run {run.short_id} goes on", err=True)


class _StatusLine:
    """One line of progress on stderr: redrawn in place on a terminal, else printed
    when it changes."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.text = None
        self.drawn = False

    def show(self, text, final=False):
        if self.tty:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
            self.drawn = not final
        elif text != self.text or final and self.text is None:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.text = text

    def clear(self):
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False


def _progress_text(run, status, exit_status, started, stopped, scalars):
    import time

    end = stopped if stopped else time.time() * 1e6
    elapsed = int(max(0, end - (started or end)) / 1e6)
    clock = f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
    state = status if exit_status is None or status == "running" else (
        f"{status} (exit {exit_status})")
    values = "  ".join(f"{key}={value:g} (step {step})" for key, value, step in scalars
                       if value is not None)
    return f"[{run.short_id} {run.op} {state} {clock}]" + (f" {values}" if values else "")
