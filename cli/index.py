"""`rundb index rebuild|check`."""

import click

from rundb import api

from .options import pass_home


@click.group(name="index")
def index():
    """Show, rebuild, check, push or pull the index."""


@index.command(name="info")
@pass_home
def info(home):
    """Show which index this home uses: backend, URL (password masked), schema version
    and counts.

    \b
    Example:
      RUNDB_INDEX=postgresql://ann@db.lab/runs rundb index info
    """
    data = api.index_info(home)
    click.echo(f"backend: {data['backend']}")
    click.echo(f"url: {data['url']}")
    click.echo(f"schema version: {data['schema_version']}")
    for name, count in data["counts"].items():
        click.echo(f"{name}: {count}")


@index.command(name="push")
@click.argument("url")
@pass_home
def push(home, url):
    """Copy this home's runs into the index at URL (a shared PostgreSQL index).

    By run id: new runs are added, changed ones (status, stop time, scalars ...)
    updated; pushing twice changes nothing. Run directories stay here.

    \b
    Example:
      rundb index push postgresql://ann@db.lab/runs
    """
    result = api.push_index(home, url, progress=_progress_bar("Pushing"))
    click.echo(f"Pushed to {_masked(url)}: {result.summary()}", err=True)


@index.command(name="pull")
@click.argument("url")
@pass_home
def pull(home, url):
    """Copy the runs of the index at URL into this home's own index (for offline work).

    By run id, as push; the runs' directories stay on the hosts that hold them.

    \b
    Example:
      rundb index pull postgresql://ann@db.lab/runs
    """
    result = api.pull_index(home, url, progress=_progress_bar("Pulling"))
    click.echo(f"Pulled from {_masked(url)}: {result.summary()}", err=True)


def _masked(url):
    return api.masked_url(url)


_JOBS = click.option(
    "-j", "--jobs", type=click.IntRange(min=1), default=None,
    help="Processes reading run directories (default: one per CPU for thousands of runs).")


@index.command(name="rebuild")
@_JOBS
@pass_home
def rebuild(home, jobs):
    """Recreate index.db from the run directories alone.

    \b
    Example:
      rundb index rebuild
    """
    result = api.rebuild_index(home, progress=_progress_bar(), waiting=_waiting, jobs=jobs)
    for err in result.errors:
        click.echo(f"rundb: {err}", err=True)
    click.echo(f"Indexed {result.indexed} run(s)", err=True)
    if result.errors:
        raise click.exceptions.Exit(1)


@index.command(name="check")
@_JOBS
@pass_home
def check(home, jobs):
    """Report runs whose index rows differ from their files (exit 1 if any)."""
    diffs = api.check_index(home, progress=_progress_bar("Checking"), jobs=jobs)
    for line in diffs:
        click.echo(line)
    if diffs:
        raise click.exceptions.Exit(1)
    click.echo("Index matches the run directories", err=True)


def _waiting():
    click.echo("Waiting for running runs to finish before rebuilding (Ctrl-C to stop)",
               err=True)


def _progress_bar(what="Indexing"):
    import sys

    if not sys.stderr.isatty():
        return None

    def progress(done, total):
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(f"\r{what} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return progress
