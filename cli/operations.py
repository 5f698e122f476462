"""`rundb operations`: the operations defined in rundb.yml here."""

import click

from rundb import api


@click.command(name="operations")
def operations():
    """List the operations defined in rundb.yml in the current directory."""
    ops = api.operations()
    if not ops:
        click.echo("rundb: no rundb.yml here (or it defines no operations)", err=True)
        raise click.exceptions.Exit(1)
    width = max(len(name) for name, _ in ops)
    for name, description in ops:
        click.echo(f"{name.ljust(width)}  {description}".rstrip())
