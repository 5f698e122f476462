"""`rundb stop`."""

import click

from rundb import api

from .options import confirm, pass_home, yes_option
from .runs import format_lines, run_line


@click.command(name="stop", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("specs", nargs=-1)
@yes_option
@pass_home
def stop(home, specs, yes):
    """Stop running runs. No RUN means every running run.

    The request is recorded in the index; each run's own runner (on this machine or on a
    cluster worker sharing the index) sees it within about a second and stops its process
    as Ctrl-C would: the run ends `terminated`, its output and scalars kept.

    \b
    Example:
      rundb stop 1a2b3c4d
    """
    from rundb.api.selection import RunFilter

    selected = api.runs(home, specs, RunFilter(statuses=["running"]))
    if not selected:
        click.echo("No running runs to stop", err=True)
        return
    if not yes:
        click.echo("You are about to stop the following runs:", err=True)
        for line in format_lines([run_line(i, r) for i, r in enumerate(selected, 1)]):
            click.echo(f"  {line}", err=True)
        if not confirm("Continue?"):
            click.echo("Nothing changed", err=True)
            raise click.exceptions.Exit(1)
    for run_id in api.request_stop(home, [r.id for r in selected], reason="rundb stop"):
        click.echo(f"Stopping {run_id[:8]}", err=True)
