"""Turning tables of runs into text: an aligned table, CSV or JSON.

Data goes to stdout; messages (``Wrote N row(s) to PATH``) go to stderr.
"""

import json
import sys

import click

from rundb.csvtext import csv_text

# Tables as text are click-free (the fast path of fast.py prints them too).
from .tables import FLOAT_DIGITS, TABLE_FORMATS, table_text, terminal_width  # noqa: F401

SCALAR = "scalar"


def json_text(headers, rows):
    return json.dumps([dict(zip(headers, map(json_value, row))) for row in rows], indent=2,
                      default=str)


def json_value(v):
    """``v`` as strict JSON can hold it: NaN and infinities as ``"nan"``, ``"inf"``,
    ``"-inf"`` (the spelling of the table and CSV)."""
    if isinstance(v, float) and (v != v or v in (_INF, -_INF)):
        return str(v)
    return v


_INF = float("inf")


def emit(headers, rows, kinds=None, csv_path=None, as_json=False, fmt="plain"):
    """Write a table as CSV (to a path or '-'), JSON, or a table in format ``fmt``."""
    if csv_path:
        text = csv_text(headers, rows)
        if csv_path == "-":
            # color=True: click would otherwise strip ESC sequences from data in a pipe.
            sys.stdout.write(text) if not _in_click() else click.echo(text, nl=False, color=True)
            return
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"Wrote {len(rows) + 1} row(s) to {csv_path}", err=True)
        return
    if as_json:
        click.echo(json_text(headers, rows))
        return
    click.echo(table_text(headers, rows, kinds, fmt=fmt))


def _in_click():
    return click.get_current_context(silent=True) is not None


def fmt_option(fn):
    """--fmt FORMAT: the table format (tabulate's names)."""
    return click.option("--fmt", type=click.Choice(TABLE_FORMATS), default="plain",
                        show_default=True, help="Table format (as tabulate names them).")(fn)


def output_options(fn):
    """--csv PATH|-, --json, --fmt and -t/--table (the default, accepted for Guild users)."""
    fn = fmt_option(fn)
    fn = click.option("-t", "--table", "as_table", is_flag=True, help="Aligned table (the default).")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")(fn)
    fn = click.option("--csv", "csv_path", metavar="PATH", help="Write CSV to PATH ('-' for stdout).")(fn)
    return fn
