"""Turning tables of runs into text: an aligned table, CSV or JSON.

Data goes to stdout; messages (``Wrote N row(s) to PATH``) go to stderr.
"""

import csv
import io
import json
import sys

import click

SCALAR = "scalar"


def table_text(headers, rows, kinds=None):
    """Aligned columns; scalar values as %f, booleans yes/no, None blank.

    Control characters in any cell or header are shown as escapes (rundb.text.printable):
    a label or flag from an imported run cannot drive the terminal.
    """
    from rundb.text import printable

    kinds = kinds or [None] * len(headers)
    headers = [printable(h) for h in headers]
    cells = [[printable(_cell(v, k)) for v, k in zip(row, kinds)] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    numeric = [all(_is_number(row[i]) for row in rows if row[i] is not None) and any(
        row[i] is not None for row in rows) for i in range(len(headers))]

    def line(values):
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cell(value, kind):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == SCALAR and isinstance(value, (int, float)):
        return f"{value:f}"
    if isinstance(value, (list, dict)):
        from rundb.flagvals import encode_flag_value

        return encode_flag_value(value)
    return str(value)


def csv_text(headers, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(headers)
    for row in rows:
        w.writerow(["" if v is None else _csv_cell(v) for v in row])
    return buf.getvalue()


def _csv_cell(v):
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return v


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


def emit(headers, rows, kinds=None, csv_path=None, as_json=False):
    """Write a table as CSV (to a path or '-'), JSON, or aligned text."""
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
    click.echo(table_text(headers, rows, kinds))


def _in_click():
    return click.get_current_context(silent=True) is not None


def output_options(fn):
    """--csv PATH|-, --json and -t/--table (the default, accepted for Guild users)."""
    fn = click.option("-t", "--table", "as_table", is_flag=True, help="Aligned table (the default).")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")(fn)
    fn = click.option("--csv", "csv_path", metavar="PATH", help="Write CSV to PATH ('-' for stdout).")(fn)
    return fn
