"""`rundb export` (a directory, an SQLite file or CSV) and `rundb import`."""

import logging

import click

from rundb import api

from .options import confirm, filter_options, pass_home, run_filter, yes_option
from .runs import format_lines, run_line

log = logging.getLogger("rundb")

_ACTIONS = {"copy": "Copying", "move": "Moving"}


def _progress(action, run_id):
    if action == "skip":
        log.warning(f"{run_id} exists, skipping")
    else:
        click.echo(f"{_ACTIONS[action]} {run_id}", err=True)


def _preview(header, runs):
    click.echo(header, err=True)
    for line in format_lines([run_line(i, r) for i, r in enumerate(runs, 1)]):
        click.echo(f"  {line}", err=True)
    if not confirm("Continue?"):
        click.echo("Nothing changed", err=True)
        raise click.exceptions.Exit(1)


def _report_errors(errors, verb):
    from rundb.text import printable

    for where, msg in errors:
        click.echo(printable(f"rundb: cannot {verb} {where}: {msg}", lines=True), err=True)


@click.command(name="export")
@click.argument("args", nargs=-1, metavar="[DIR] [RUN...]")
@filter_options
@click.option("--sql", "sql_path", metavar="FILE", help="Write the runs' index rows and views "
              "to the SQLite file FILE instead (DIR is not given).")
@click.option("--csv", "csv_path", metavar="FILE", help="Write one CSV row per run (the compare "
              "columns) to FILE ('-' for stdout) instead (DIR is not given).")
@click.option("-c", "--columns", metavar="QUERY", help="With --csv: columns to add, as for compare "
              "-c (e.g. \"=lr, min loss\").")
@click.option("-cc", "--strict-columns", metavar="QUERY", help="With --csv: columns replacing the "
              "defaults, as for compare -cc.")
@click.option("--min", "min_col", metavar="COL", help="With --csv: sort by COL, lowest first.")
@click.option("--max", "max_col", metavar="COL", help="With --csv: sort by COL, highest first.")
@click.option("--top", type=int, metavar="N", help="With --csv: only the first N runs (after sorting).")
@click.option("--extra-cols", is_flag=True, help="With --csv: add the sourcecode column.")
@click.option("--all-scalars", is_flag=True, help="With --csv: include sys/* scalars.")
@click.option("--skip-unchanged", is_flag=True, help="With --csv: leave out columns whose values "
              "are all the same.")
@click.option("--include-batch", is_flag=True, help="With --csv: include batch runs (as compare).")
@click.option("-m", "--move", is_flag=True, help="Move the runs instead of copying them.")
@yes_option
@pass_home
def export(home, args, sql_path, csv_path, columns, strict_columns, min_col, max_col, top,
           extra_cols, all_scalars, skip_unchanged, include_batch, move, yes, **kw):
    """Export runs to DIR, to an SQLite file (--sql) or to CSV (--csv).

    DIR becomes a rundb home holding copies of the runs (DIR/runs/<id>, DIR/index.db):
    'rundb -H DIR runs' lists them and 'rundb import DIR' brings them into another
    home. Runs already in DIR are skipped. No RUN means every run the filters select.

    \b
    Examples:
      rundb export ~/exports/2024-06 -o train --completed
      rundb export --sql runs.db
      rundb export --csv - --columns "=lr, min val_loss"

    --csv writes the rows and columns 'rundb compare --csv' writes for the same options
    (batch runs only with --include-batch).
    """
    table_options = dict(strict_columns=strict_columns, min_col=min_col, max_col=max_col,
                         top=top, extra_cols=extra_cols, all_scalars=all_scalars,
                         skip_unchanged=skip_unchanged)
    # DIR and --sql exports take every selected run; --csv compare's rows
    flt = run_filter(kw, include_batch=include_batch or not csv_path)
    if sql_path and csv_path:
        raise click.UsageError("use one of DIR, --sql or --csv")
    if sql_path or csv_path:
        if move:
            raise click.UsageError("--move applies only to a DIR export")
        if sql_path:
            _export_sql(home, sql_path, args, flt)
        else:
            if min_col and max_col:
                raise click.UsageError("--min and --max cannot be used together")
            _export_csv(home, csv_path, args, flt, columns, table_options)
        return
    if columns or include_batch or any(table_options.values()):
        raise click.UsageError("--columns, -cc, --min, --max, --top, --extra-cols, "
                               "--all-scalars, --skip-unchanged and --include-batch apply "
                               "only to --csv")
    if not args:
        raise click.UsageError("missing DIR (or --sql FILE, --csv FILE)")
    dest, specs = args[0], args[1:]
    _check_dir(dest)
    runs = api.runs(home, specs, flt)
    if runs and not yes:
        verb = "move" if move else "copy"
        _preview(f"You are about to {verb} the following runs to '{dest}':", runs)
    result = api.export_runs(home, dest, [r.id for r in runs], move=move, progress=_progress)
    click.echo(f"Exported {len(result.done)} run(s)", err=True)
    if result.errors:
        _report_errors(result.errors, "export")
        raise click.exceptions.Exit(1)


def _check_dir(dest):
    import os

    from rundb.errors import ExportError

    if os.path.exists(dest) and not os.path.isdir(dest):
        raise ExportError(f"'{dest}' is not a directory")


def _export_sql(home, path, specs, flt):
    result = api.export_sql(home, path, specs=specs, flt=flt, progress=_progress)
    click.echo(f"Exported {result.copied} run(s) to {path}", err=True)


def _export_csv(home, path, specs, flt, columns, options):
    if path == "-":
        import sys

        count = api.export_csv(home, sys.stdout, specs, flt, columns, **options)
    else:
        count = api.export_csv(home, path, specs, flt, columns, **options)
    click.echo(f"Exported {count} run(s) to {'stdout' if path == '-' else path}", err=True)


@click.command(name="import")
@click.argument("path", metavar="PATH")
@click.option("--guild", "guild", is_flag=True,
              help="PATH is a Guild AI home: convert its runs (it is never modified).")
@click.option("-m", "--move", is_flag=True, help="Move the runs instead of copying them.")
@yes_option
@pass_home
def import_runs(home, path, guild, move, yes):
    """Import runs from PATH: an export directory, another rundb home, or (with --guild)
    a Guild AI home.

    Runs already in this home are skipped, so importing twice changes nothing.

    \b
    Examples:
      rundb import ~/exports/2024-06
      rundb import --guild ~/.guild
    """
    if guild and move:
        raise click.UsageError("--move cannot be used with --guild (the Guild home is only read)")
    if not yes:
        # Unreadable runs are left out here; the import reports them.
        runs, _errors = api.guild_runs(path) if guild else api.archive_runs(path)
        if runs:
            how = "move" if move else "copy"
            _preview(f"You are about to import ({how}) the following runs from '{path}':", runs)
    if guild:
        result = api.import_guild(home, path, progress=_progress)
    else:
        result = api.import_runs(home, path, move=move, progress=_progress)
    for msg in result.warnings:
        log.warning(msg)
    click.echo(f"Imported {len(result.done)} run(s)", err=True)
    if result.errors:
        _report_errors(result.errors, "import")
        raise click.exceptions.Exit(1)
