"""The ``rundb`` command: a lazy click group, after a click-free fast path.

Command modules are imported only when their command runs, so ``rundb`` and
``rundb --help`` stay as fast as importing click. Library errors become one
``rundb: ...`` line on stderr (exit 1; exit 2 for malformed query text).

Before click is imported at all, :mod:`rundb_cli.fast` answers the few command lines it
understands completely (``rundb select --min loss``: the library call and the output
helper of the click command, without click's start-up); every other command line, and
every one when ``RUNDB_NO_FAST_PATH=1``, goes to the click group (:mod:`rundb_cli.group`).
"""

import sys

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


def main():
    from .fast import answer

    code = answer(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from .group import cli

    cli(prog_name="rundb")


def __getattr__(name):
    # The click group and its helpers (`from rundb_cli.main import cli`) load click on use.
    if name in ("cli", "RundbGroup"):
        from . import group

        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
