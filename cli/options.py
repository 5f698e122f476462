"""Options and decorators shared by several commands."""

import click

from rundb.home import Home

# The filters' names and run_filter are click-free, for the fast path (cli/fast.py).
from .filters import STATUS_FLAGS, STATUS_SHORT, run_filter  # noqa: F401 - re-exported
from .tables import format_time  # noqa: F401 - re-exported

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


def filter_options(fn):
    """Run filters shared by runs, compare, select and export (written once).

    Each has Guild 0.9's spelling too (``-Fo``, ``-Fl``, ``-Sc`` ...), which Guild users
    type from habit."""
    opts = [
        click.option("-o", "--op", "ops", multiple=True, metavar="OP",
                     help="Runs whose operation contains OP (repeatable)."),
        click.option("-Fo", "--operation", "operations", multiple=True, metavar="OP",
                     help="Runs of operation OP, matched as Guild does: whole name (or "
                          "the part after MODEL:), * globs, ^...$ regex (repeatable)."),
        click.option("-l", "-Fl", "--label", "labels", multiple=True, metavar="TEXT",
                     help="Runs whose label contains TEXT (repeatable)."),
        click.option("-Ft", "--tag", "tags", multiple=True, metavar="TAG",
                     help="Runs tagged TAG (repeatable)."),
        click.option("-Fc", "--comment", "comments", multiple=True, metavar="TEXT",
                     help="Runs whose comment contains TEXT (repeatable)."),
        click.option("-U", "-Fu", "--unlabeled", is_flag=True, help="Runs without a label."),
        click.option("-Fm", "--marked", "marked", flag_value=True, default=None,
                     help="Marked runs only."),
        click.option("-Fn", "--unmarked", "marked", flag_value=False, help="Unmarked runs only."),
        click.option("-Fs", "--started", metavar="RANGE",
                     help="Runs started in RANGE ('last hour', 'today', 'after 2024-1-1', ...)."),
        click.option("-Fd", "--digest", metavar="VAL",
                     help="Runs whose source code digest starts with VAL."),
        click.option("-F", "--filter", "filter_", metavar="EXPR",
                     help="Runs for which EXPR holds, e.g. \"=lr > 0.01 and loss < 0.3\", "
                          "\"lr in [0.1, 0.01]\", \"loss is undefined\", "
                          "\"label contains best\"."),
    ] + [
        click.option(*([STATUS_SHORT[s]] if s in STATUS_SHORT else []), f"--{s}",
                     f"status_{s}", is_flag=True, help=f"Runs with status {s}.")
        for s in STATUS_FLAGS
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn
