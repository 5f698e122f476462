"""Options and decorators shared by several commands."""

import click

from rundb.home import Home

pass_home = click.make_pass_decorator(Home)

#: ``-y/--yes``: act without asking (commands that change or create runs).
yes_option = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")


def confirm(question, default=True):
    """Ask ``question (Y/n)`` as the seeds show it; with nobody to answer (no input, or
    end of input), the answer is no."""
    import sys

    click.echo(f"{question} {'(Y/n)' if default else '(y/N)'} ", nl=False, err=True)
    line = sys.stdin.readline() if sys.stdin else ""
    if not line:
        click.echo("", err=True)
        return False
    answer = line.strip().lower()
    if not answer:
        return default
    return answer in ("y", "yes")


_STATUS_FLAGS = ("running", "completed", "error", "terminated", "pending", "staged")


def filter_options(fn):
    """Run filters shared by runs, compare, select and export (written once)."""
    opts = [
        click.option("-o", "--op", "ops", multiple=True, metavar="OP",
                     help="Runs whose operation contains OP (repeatable)."),
        click.option("-l", "--label", "labels", multiple=True, metavar="TEXT",
                     help="Runs whose label contains TEXT (repeatable)."),
        click.option("--tag", "tags", multiple=True, metavar="TAG", help="Runs tagged TAG (repeatable)."),
        click.option("-U", "--unlabeled", is_flag=True, help="Runs without a label."),
        click.option("--marked", "marked", flag_value=True, default=None, help="Marked runs only."),
        click.option("--unmarked", "marked", flag_value=False, help="Unmarked runs only."),
        click.option("--started", metavar="RANGE",
                     help="Runs started in RANGE ('last hour', 'today', 'after 2024-1-1', ...)."),
        click.option("--digest", metavar="VAL", help="Runs whose source code digest starts with VAL."),
        click.option("-F", "--filter", "filter_", metavar="EXPR",
                     help="Runs for which EXPR holds, e.g. \"=lr > 0.01 and loss < 0.3\"."),
    ] + [
        click.option(f"--{s}", f"status_{s}", is_flag=True, help=f"Runs with status {s}.")
        for s in _STATUS_FLAGS
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def run_filter(kw, **extra):
    """Pop the filter options out of a command's keyword args into a RunFilter."""
    from rundb.api.selection import RunFilter

    statuses = [s for s in _STATUS_FLAGS if kw.pop(f"status_{s}", False)]
    return RunFilter(
        ops=list(kw.pop("ops", ())), labels=list(kw.pop("labels", ())),
        tags=list(kw.pop("tags", ())), unlabeled=kw.pop("unlabeled", False),
        marked=kw.pop("marked", None), statuses=statuses, started=kw.pop("started", None),
        digest=kw.pop("digest", None), filter=kw.pop("filter_", None), **extra,
    )


def format_time(us):
    """Microseconds since the epoch as local 'YYYY-MM-DD HH:MM:SS' ('' for None)."""
    if us is None:
        return ""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6))
