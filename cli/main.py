"""The ``rundb`` command: a lazy click group.

Command modules are imported only when their command runs, so ``rundb`` and
``rundb --help`` stay as fast as importing click. Library errors become one
``rundb: ...`` line on stderr (exit 1; exit 2 for malformed query text).
"""

import importlib
import sys

import click

# name -> (module in rundb_cli, attribute, one-line help shown by `rundb --help`)
COMMANDS = {
    "cat": ("files", "cat", "Print a run's output or one of its files (-f to follow)."),
    "compare": ("compare", "compare", "Compare run flags and scalars in a table, CSV or JSON."),
    "diff": ("diff", "diff", "Show how two runs differ (flags, scalars, packages, source)."),
    "export": ("export", "export", "Export runs to a directory, an SQLite file or CSV."),
    "import": ("export", "import_runs", "Import runs from an export, a home or a Guild home."),
    "index": ("index", "index", "Show, rebuild or check the index."),
    "ls": ("files", "ls", "List a run's files with their sizes."),
    "label": ("runs", "label", "Set, change or clear run labels."),
    "mark": ("runs", "mark", "Mark runs (or clear marks with --clear)."),
    "comment": ("runs", "comment", "Set or clear a run's comment."),
    "operations": ("operations", "operations", "List the operations defined in rundb.yml."),
    "query": ("compare", "query", "Answer a whole query: select ... where ... order by ..."),
    "run": ("run", "run", "Run a script or operation as a tracked run."),
    "runs": ("runs", "runs", "List runs, or show, delete, restore and purge them."),
    "select": ("compare", "select", "Print the id (or dir) of a run chosen by a column."),
    "sql": ("sql", "sql", "Run one read-only SQL statement against the index."),
    "stop": ("stop", "stop", "Stop running runs, wherever they run."),
    "tag": ("runs", "tag", "Add tags to runs."),
    "untag": ("runs", "untag", "Remove tags from runs."),
    "tensorboard": ("tensorboard", "tensorboard", "Prepare a TensorBoard log dir (with HParams) for runs."),
    "watch": ("files", "watch", "Follow a running run: its output and latest scalars."),
    "view": ("view", "view", "Serve a web view of runs, compare tables and scalar curves."),
}

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: Commands that never log: they skip importing and configuring logging (start-up time).
QUIET = frozenset({"runs", "compare", "select", "query", "sql", "label", "mark", "comment",
                   "tag", "untag", "cat", "ls", "diff", "watch"})


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
        (tracebacks only with ``--debug`` or ``RUNDB_DEBUG=1``)."""
        from rundb.errors import RundbError

        try:
            return super().invoke(ctx)
        except RundbError as e:
            if _debug(ctx):
                raise
            from rundb.text import printable

            click.echo(f"rundb: {printable(str(e), lines=True)}", err=True)
            ctx.exit(e.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort):
            raise
        except Exception as e:  # noqa: BLE001 - the boundary: no traceback reaches a user
            if _debug(ctx):
                raise
            if isinstance(e, BrokenPipeError):
                _quiet_stdout()
                ctx.exit(1)
            from rundb.text import printable

            from .errors import one_line

            click.echo(f"rundb: {printable(one_line(e, ctx.obj), lines=True)}", err=True)
            ctx.exit(1)


def _debug(ctx):
    import os

    return bool(ctx.params.get("debug")) or os.environ.get("RUNDB_DEBUG", "") not in ("", "0")


def _quiet_stdout():
    # Output piped into `head`: stop quietly, and keep Python's final flush from failing.
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


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


def main():
    cli(prog_name="rundb")


if __name__ == "__main__":
    main()
