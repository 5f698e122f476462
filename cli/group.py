"""The click group behind ``rundb`` (see main.py, which loads it only when a command
line needs click: the fast path of fast.py answers a few small questions without it)."""

import importlib
import sys

import click

from .fast import error_exit
from .main import COMMANDS, CONTEXT_SETTINGS, QUIET


class RundbGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module = importlib.import_module(f"rundb_cli.{spec[0]}")
        return getattr(module, spec[1])

    def format_commands(self, ctx, formatter):
        # The help lines come from COMMANDS: listing them imports no command module.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        """The CLI's error boundary: every error is one ``rundb: ...`` line on stderr
        (tracebacks only with ``--debug`` or ``RUNDB_DEBUG=1``), printed by the fast
        path's own :func:`~rundb_cli.fast.error_exit`."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort):
            raise
        except Exception as e:  # noqa: BLE001 - the boundary: no traceback reaches a user
            if _debug(ctx):
                raise
            ctx.exit(error_exit(e, ctx.obj))


def _debug(ctx):
    import os

    return bool(ctx.params.get("debug")) or os.environ.get("RUNDB_DEBUG", "") not in ("", "0")


def _setup_logging(debug):
    """Print rundb's log records the way the seeds show them (``INFO: [rundb] ...``)."""
    import logging

    class Formatter(logging.Formatter):
        def format(self, record):
            from rundb.text import printable

            msg = printable(record.getMessage(), lines=True)
            if record.levelno >= logging.ERROR:
                return f"ERROR: [rundb] {msg}"
            if record.levelno >= logging.WARNING:
                return f"WARNING: {msg}"
            if record.levelno >= logging.INFO:
                return f"INFO: [rundb] {msg}"
            return f"DEBUG: [rundb] {msg}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter())
    log = logging.getLogger("rundb")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False


@click.group(name="rundb", cls=RundbGroup, context_settings=CONTEXT_SETTINGS,
             invoke_without_command=True, subcommand_metavar="COMMAND [ARGS]...")
@click.option("-H", "--home", "home_path", metavar="PATH", envvar="RUNDB_HOME",
              help="rundb home (default $RUNDB_HOME, else ~/.rundb).")
@click.option("--index", "index_url", metavar="URL", envvar="RUNDB_INDEX",
              help="Index to use: postgresql://USER@HOST/DB or an SQLite file "
                   "(default $RUNDB_INDEX, else index: in HOME/config.yml, else HOME/index.db).")
@click.option("-C", "cwd", metavar="PATH", help="Run as if started in PATH.")
@click.option("--debug", is_flag=True,
              help="Log debug messages; show tracebacks (also RUNDB_DEBUG=1).")
@click.version_option("0.1.0", prog_name="rundb")
@click.pass_context
def cli(ctx, home_path, index_url, cwd, debug):
    """rundb: a run database for machine-learning experiments.

    Every run's flags, attributes and scalars are indexed in SQLite as they are
    written; every command below reads that index.
    """
    import os

    from rundb.home import Home

    if cwd:
        os.chdir(cwd)
    if debug or (ctx.invoked_subcommand and ctx.invoked_subcommand not in QUIET):
        _setup_logging(debug)
    ctx.obj = Home.resolve(home_path, index=index_url)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
