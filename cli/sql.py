"""`rundb sql`: one read-only SQL statement against the index's documented views."""

import click

from rundb import api

from .options import pass_home
from .output import fmt_option

#: Seconds a statement may run by default when a person is watching (stdout is a terminal).
TERMINAL_TIMEOUT = 5.0


@click.command(name="sql")
@click.argument("statement")
@click.option("-p", "--param", "named", type=(str, str), multiple=True, metavar="NAME VALUE",
              help="Bind :NAME to VALUE (repeatable). VALUE is a number, true/false, null or "
                   "a \"quoted\" string when it reads as JSON, else plain text.")
@click.option("--params", "positional", metavar="JSON_LIST",
              help="Bind the ? placeholders, in order, to the items of a JSON list.")
@click.option("--csv", "csv_path", metavar="PATH", help="Write CSV to PATH ('-' for stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")
@click.option("--timeout", type=click.FloatRange(min=0), metavar="SECONDS",
              help=f"Stop the statement after SECONDS (0: no limit). Default "
                   f"{TERMINAL_TIMEOUT:g} s when the output is a terminal, else no limit.")
@click.option("--max-result-mb", type=click.FloatRange(min=0, min_open=True), metavar="N",
              help="Refuse results larger than N MiB (default 256).")
@fmt_option
@pass_home
def sql(home, statement, named, positional, csv_path, as_json, timeout, max_result_mb, fmt):
    """Run one read-only SQL STATEMENT against the index.

    The views runs, flags, tags, attrs, scalars and scalar_summary are documented in
    docs/sql.md. Statements that would change anything (INSERT, UPDATE, DELETE, DROP,
    CREATE, ATTACH, PRAGMA assignments) are refused, as are functions that expose memory or
    load code (fts3_tokenizer, load_extension); one value may not exceed 32 MiB.

    \b
    Examples:
      rundb sql "SELECT operation, count(*) FROM runs GROUP BY operation"
      rundb sql "SELECT run, last_val FROM scalar_summary WHERE tag = :tag" -p tag loss
      rundb sql "SELECT * FROM flags WHERE name = ? AND value > ?" --params '["lr", 0.01]' --csv -
    """
    if csv_path and as_json:
        raise click.UsageError("--csv and --json cannot be used together")
    params = _params(named, positional)
    if timeout is None:
        import sys

        timeout = TERMINAL_TIMEOUT if sys.stdout.isatty() else 0
    max_bytes = int(max_result_mb * 2**20) if max_result_mb else None
    headers, rows = api.sql_query(home, statement, params, timeout=timeout, max_bytes=max_bytes)
    _print(headers, rows, csv_path, as_json, fmt)


def _params(named, positional):
    import json

    from rundb.api.sql import parse_param_value

    if named and positional:
        raise click.UsageError("use -p/--param or --params, not both")
    if positional is not None:
        try:
            values = json.loads(positional)
        except ValueError as e:
            raise click.UsageError(f"--params: invalid JSON: {e}") from None
        if not isinstance(values, list):
            raise click.UsageError("--params: expected a JSON list, e.g. '[\"lr\", 0.01]'")
        return [int(v) if isinstance(v, bool) else v for v in values]
    if named:
        return {name.lstrip(":"): parse_param_value(value) for name, value in named}
    return None


def _print(headers, rows, csv_path, as_json, fmt="plain"):
    import base64

    from .output import emit

    def plain(v):
        return base64.b64encode(v).decode("ascii") if isinstance(v, bytes) else v

    rows = [tuple(plain(v) for v in row) for row in rows]
    if not headers and not (csv_path or as_json):
        return
    emit(headers, rows, csv_path=csv_path, as_json=as_json, fmt=fmt)
