"""`rundb operations`: the operations defined in rundb.yml here."""

import click

from rundb import api

from .output import fmt_option, table_text


@click.command(name="operations")
@fmt_option
def operations(fmt):
    """List the operations defined in rundb.yml in the current directory."""
    ops = api.operations()
    if not ops:
        click.echo("rundb: no rundb.yml here (or it defines no operations)", err=True)
        raise click.exceptions.Exit(1)
    click.echo(table_text(None, ops, fmt=fmt))
