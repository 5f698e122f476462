"""`rundb compare`, `rundb select` and `rundb query`."""

import click

from rundb import api

from .completion import complete_run
from .fast import print_selected
from .options import filter_options, pass_home, run_filter
from .output import emit, output_options


@click.command(name="compare")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@click.option("-c", "--columns", metavar="QUERY", help="Columns to add (select grammar, may include where/order by/limit).")
@click.option("-cc", "--strict-columns", metavar="QUERY", help="Columns replacing the defaults.")
@click.option("--group-by", metavar="COLS", help="One row per group of COLS (e.g. \"=C, =dropout\"): each numeric column as mean ± std (n); separate mean/std/count columns in CSV and JSON. A 'group by' in -c/-cc does the same.")
@click.option("--min", "min_col", metavar="COL", help="Sort by COL, lowest first.")
@click.option("--max", "max_col", metavar="COL", help="Sort by COL, highest first.")
@click.option("--top", type=int, metavar="N", help="Only the first N runs (after sorting).")
@click.option("-n", "--limit", type=int, metavar="N", help="Alias of --top.")
@click.option("--extra-cols", is_flag=True, help="Add the sourcecode column.")
@click.option("--all-scalars", is_flag=True, help="Include sys/* scalars.")
@click.option("--skip-unchanged", is_flag=True, help="Leave out columns whose values are all the same.")
@click.option("--include-batch", is_flag=True, help="Include batch runs.")
@output_options
@pass_home
def compare(home, specs, columns, strict_columns, group_by, min_col, max_col, top, limit, extra_cols,
            all_scalars, skip_unchanged, include_batch, csv_path, as_json, as_table, fmt, **kw):
    """Compare run flags and scalars.

    \b
    Examples:
      rundb compare --csv -
      rundb compare -cc "=lr, min val_loss, min val_loss step" --min val_loss --top 5
      rundb compare -cc "=C, val_acc" --group-by =C
      rundb compare -cc "val_* where .parent = 47f8c455 group by =C" --csv -
    """
    if min_col and max_col:
        raise click.UsageError("--min and --max cannot be used together")
    if csv_path and not as_json:
        # CSV streams from the index as it is written (constant memory at any size).
        import sys

        count = api.export_csv(
            home, sys.stdout if csv_path == "-" else csv_path, specs,
            run_filter(kw, include_batch=include_batch), columns,
            strict_columns=strict_columns, min_col=min_col, max_col=max_col, top=top or limit,
            extra_cols=extra_cols, all_scalars=all_scalars, skip_unchanged=skip_unchanged,
            group_by=group_by)
        if csv_path != "-":
            click.echo(f"Wrote {count + 1} row(s) to {csv_path}", err=True)
        return
    table = api.compare(
        home, specs, run_filter(kw, include_batch=include_batch), columns=columns,
        strict_columns=strict_columns, min_col=min_col, max_col=max_col, top=top or limit,
        extra_cols=extra_cols, all_scalars=all_scalars, skip_unchanged=skip_unchanged,
        group_by=group_by,
    )
    if not (csv_path or as_json):
        table = table.with_spreads()  # mean ± std (n) in one cell; CSV/JSON keep three
    emit(table.headers, table.rows, table.kinds, csv_path, as_json, fmt=fmt)


@click.command(name="select")
@click.argument("spec", shell_complete=complete_run, required=False)
@filter_options
@click.option("--min", "min_col", metavar="COL", help="The run with the lowest COL.")
@click.option("--max", "max_col", metavar="COL", help="The run with the highest COL.")
@click.option("-s", "--short-id", is_flag=True, help="Print the short id.")
@click.option("-p", "--path", is_flag=True, help="Print the run directory.")
@click.option("-a", "--attr", metavar="NAME", help="Print the value of this column spec instead (e.g. .label, =lr, loss).")
@click.option("--include-batch", is_flag=True, help="Batch runs may be selected too.")
@pass_home
def select(home, spec, min_col, max_col, short_id, path, attr, include_batch, **kw):
    """Print the id of a run: RUN, the best by --min/--max, or the newest.

    \b
    Example:
      cd $(rundb select -p --min "min val_loss")
    """
    if min_col and max_col:
        raise click.UsageError("--min and --max cannot be used together")
    # The one body the fast path (rundb_cli.fast, no click) runs too.
    print_selected(home, spec, run_filter(kw, include_batch=include_batch or bool(spec)),
                   min_col, max_col, short_id=short_id, path=path, attr=attr)


@click.command(name="query")
@click.argument("text")
@filter_options
@output_options
@pass_home
def query(home, text, csv_path, as_json, as_table, fmt, **kw):
    """Answer a whole query, one row per run (or per group):

    \b
      select COLS [where EXPR] [group by COLS [having EXPR]]
             [order by COL [desc], ...] [limit N]

    \b
    COLS (comma-separated, each may end "as NAME"):
      =lr  flags          .label .status .id .parent ...  attributes
      loss  last value    min loss, max acc, avg loss, count loss, loss step
      =opt_*, val_*       glob patterns over the known flags and scalars
    Aggregates over the runs of a group (all selected runs without group by):
      mean(COL) avg(COL) std(COL) std_pop(COL) median(COL) min(COL) max(COL)
      sum(COL) count(COL) count(*); std is the sample std (n-1). mean(min loss)
      is the mean of each run's minimum; min loss (no parentheses) is per run.
    EXPR: COL = != < <= > >= VALUE, COL in (A, B), COL is [not] null,
      COL like 'res%' (ilike: any case), COL ~ REGEX, contains, and/or/not;
      .id and .parent given 8 or more hex digits match by prefix.
    having takes EXPR over aggregates and group keys; order by may name an
    aggregate or an "as" name.

    \b
    Examples:
      rundb query "select .short_id, =lr, min loss where =lr < 0.05 order by min loss limit 3"
      rundb query "select =C, mean(val_acc), std(val_acc), count(*) where .parent = 47f8c455 group by =C"
      rundb query "select =C, =dropout, mean(min val_loss) as m group by =C, =dropout having count(*) = 5 order by m"
      rundb query "select .id, =opt_*, val_* where .label ilike 'resnet%'"
    """
    table = api.query(home, text, run_filter(kw))
    emit(table.headers, table.rows, table.kinds, csv_path, as_json, fmt=fmt)
