"""`rundb diff`: two runs side by side."""

import click

from rundb import api

from .completion import complete_run
from .options import filter_options, pass_home, run_filter
from .output import emit, output_options


@click.command(name="diff")
@click.argument("specs", shell_complete=complete_run, nargs=-1, metavar="[RUN1 RUN2]")
@filter_options
@click.option("--all", "all_", is_flag=True, help="Show equal values too (and sys/* scalars).")
@click.option("--source", is_flag=True, help="Diff the source code snapshots (unified diff).")
@click.option("--output", is_flag=True, help="Diff the captured output (unified diff).")
@output_options
@pass_home
def diff(home, specs, all_, source, output, csv_path, as_json, as_table, fmt, **kw):
    """Show how two runs differ: flags, attributes, final scalars and packages.

    With no RUN, the two newest runs the filters select are compared (the older on the
    left). Only differences are shown unless --all.

    \b
    Examples:
      rundb diff 2 1
      rundb diff -o train --completed
      rundb diff a1b2c3d4 e5f6a7b8 --source
    """
    flt = run_filter(kw)
    if source or output:
        a, b = api.diff_pair(home, specs, flt)
        if source:
            changes, text = api.diff_run_sources(home, a, b)
            if text:
                click.echo(text, nl=False)
            else:
                for status, path in changes:
                    click.echo(f"{status} {path}")
        if output:
            click.echo(api.diff_run_outputs(home, a, b), nl=False)
        return
    d = api.diff_runs(home, specs, flt, all_=all_)
    headers = ["kind", "name", d.a.short_id, d.b.short_id]
    if csv_path or as_json:
        emit(headers, [list(row) for row in d.rows], csv_path=csv_path, as_json=as_json, fmt=fmt)
        return
    if not d.rows:
        click.echo(f"Runs {d.a.short_id} and {d.b.short_id} do not differ", err=True)
        return
    emit(headers, [[kind, name, _text(kind, va), _text(kind, vb)]
                   for kind, name, va, vb in d.rows], fmt=fmt)


def _text(kind, value):
    if value is None:
        return "-"
    if kind == "scalar" and isinstance(value, float):
        return f"{value:g}"
    if kind == "flag" or isinstance(value, (bool, list, dict)):
        from rundb.flagvals import encode_flag_value

        return encode_flag_value(value)
    return str(value)
