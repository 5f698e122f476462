"""Small questions answered before click is imported (``rundb select --min loss``,
``rundb runs -n 20``).

Importing click costs about as long as Python and sqlite3 together, more than the whole
answer to ``select``. :func:`answer` reads the few command lines it understands
completely - ``select`` and ``runs [list]`` with the options listed in ``_SELECT_*``,
``_RUNS_*`` and ``_FILTER_*`` below, each spelled as one whole word, at most once - and
answers them with what the click commands themselves call: :func:`print_selected` and
:func:`print_runs` (the library's ``api`` functions and :func:`echo`) and, for errors,
:func:`error_exit`, the one-line boundary the click group uses too. Anything else (global
options, ``--help``, ``--opt=value``, a value starting with ``-``, an unknown option,
shell completion, ``RUNDB_DEBUG``) returns None and goes to the click group unchanged, as
does every command line when ``RUNDB_NO_FAST_PATH`` is set (tests compare the two paths).
"""

import os
import sys

#: select's options: those taking a value (option word -> keyword of the click command),
#: and its flags.
_SELECT_VALUES = {"--min": "min_col", "--max": "max_col"}
_SELECT_FLAGS = {"-s": "short_id", "--short-id": "short_id", "-p": "path", "--path": "path",
                 "--include-batch": "include_batch"}
#: runs (list)'s options; --fmt takes one of TABLE_FORMATS, -n a whole number.
_RUNS_VALUES = {"-n": "limit", "--limit": "limit", "--fmt": "fmt"}
_RUNS_FLAGS = {"-a": "all_", "--all": "all_", "-d": "deleted", "--deleted": "deleted"}
#: The run filters (cli/options.py's filter_options): one value each, or repeatable.
_FILTER_VALUES = {"-Fs": "started", "--started": "started", "-Fd": "digest",
                  "--digest": "digest", "-F": "filter_", "--filter": "filter_"}
_FILTER_MULTIPLE = {"-o": "ops", "--op": "ops", "-Fo": "operations", "--operation": "operations",
                    "-l": "labels", "-Fl": "labels", "--label": "labels", "-Ft": "tags",
                    "--tag": "tags", "-Fc": "comments", "--comment": "comments"}
_FILTER_FLAGS = {"-U": "unlabeled", "-Fu": "unlabeled", "--unlabeled": "unlabeled"}
_MARKED = {"-Fm": True, "--marked": True, "-Fn": False, "--unmarked": False}
#: The `runs` subcommands other than list (which click answers).
_RUNS_COMMANDS = ("info", "delete", "restore", "purge")


def _status_flags():
    from .filters import STATUS_FLAGS, STATUS_SHORT

    flags = {}
    for status in STATUS_FLAGS:
        flags[f"--{status}"] = f"status_{status}"
        if status in STATUS_SHORT:
            flags[STATUS_SHORT[status]] = f"status_{status}"
    return flags


def answer(argv):
    """Answer ``argv`` (the words after ``rundb``) and return the exit status, or None
    when the click command line must answer it."""
    env = os.environ
    if (env.get("RUNDB_NO_FAST_PATH", "") not in ("", "0")
            or env.get("RUNDB_DEBUG", "") not in ("", "0") or "_RUNDB_COMPLETE" in env):
        return None
    if argv[:1] == ["select"]:
        args = _select_args(argv[1:])
        if args is not None:
            return _run(_select, args)
    elif argv[:1] == ["runs"]:
        args = _runs_args(argv[1:])
        if args is not None:
            return _run(_runs, args)
    return None


def _words(words, values, flags):
    """``(positional words, options, filters)`` of a command line whose options are
    ``values`` and ``flags`` (option word -> keyword) and the run filters, or None for a
    command line click must read: an unknown word, ``--opt=value``, a value starting with
    ``-``, or an option given twice (or under two spellings)."""
    positional, options, filters = [], {}, {}
    statuses = _status_flags()
    seen = set()
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("-"):
            positional.append(word)
            i += 1
            continue
        if word in seen and word not in _FILTER_MULTIPLE:
            return None
        seen.add(word)
        if word in values or word in _FILTER_VALUES or word in _FILTER_MULTIPLE:
            if i + 1 >= len(words) or words[i + 1].startswith("-"):
                return None
            value = words[i + 1]
            if word in values:
                options[values[word]] = value
            elif word in _FILTER_VALUES:
                filters[_FILTER_VALUES[word]] = value
            else:
                filters.setdefault(_FILTER_MULTIPLE[word], []).append(value)
            i += 2
            continue
        if word in flags:
            options[flags[word]] = True
        elif word in _FILTER_FLAGS:
            filters[_FILTER_FLAGS[word]] = True
        elif word in _MARKED:
            if "marked" in filters:
                return None
            filters["marked"] = _MARKED[word]
        elif word in statuses:
            filters[statuses[word]] = True
        else:
            return None  # --help, --opt=value, combined short flags, --, unknown words
        i += 1
    names = {**values, **flags, **_FILTER_VALUES, **_FILTER_FLAGS}
    if len({names.get(w, w) for w in seen}) != len(seen):
        return None  # one option under two spellings (-s and --short-id): click decides
    return positional, options, filters


def _select_args(words):
    """The click command's arguments for ``select WORDS``, or None."""
    found = _words(words, _SELECT_VALUES, _SELECT_FLAGS)
    if found is None:
        return None
    positional, options, filters = found
    if len(positional) > 1:
        return None  # click's "unexpected extra argument"
    if options.get("min_col") and options.get("max_col"):
        return None  # click's usage error
    return {"spec": positional[0] if positional else None, "min_col": options.get("min_col"),
            "max_col": options.get("max_col"), "short_id": options.get("short_id", False),
            "path": options.get("path", False),
            "include_batch": options.get("include_batch", False), "filters": filters}


def _select(home, args):
    from .filters import run_filter

    flt = run_filter(args["filters"],
                     include_batch=args["include_batch"] or bool(args["spec"]))
    print_selected(home, args["spec"], flt, args["min_col"], args["max_col"],
                   short_id=args["short_id"], path=args["path"])


def _runs_args(words):
    """The click command's arguments for ``runs [list] WORDS``, or None."""
    if words[:1] == ["list"]:
        words = words[1:]
    elif words[:1] and words[0] in _RUNS_COMMANDS:
        return None
    found = _words(words, _RUNS_VALUES, _RUNS_FLAGS)
    if found is None:
        return None
    specs, options, filters = found
    from .tables import TABLE_FORMATS

    fmt = options.get("fmt", "plain")
    if fmt not in TABLE_FORMATS:
        return None  # click's usage error
    limit = options.get("limit")
    if limit is not None:
        try:
            limit = int(limit)  # as click's INT reads it
        except ValueError:
            return None
    return {"specs": tuple(specs), "limit": limit, "all_": options.get("all_", False),
            "deleted": options.get("deleted", False), "fmt": fmt, "filters": filters}


def _runs(home, args):
    from .filters import run_filter

    flt = run_filter(args["filters"], deleted=args["deleted"])
    print_runs(home, args["specs"], flt, args["limit"], args["all_"], args["fmt"])


def _run(command, args):
    """Run ``command(home, args)`` inside the CLI's error boundary; the exit status."""
    from rundb.home import Home

    home = Home.resolve()
    try:
        command(home, args)
    except KeyboardInterrupt:
        echo("", err=True)  # what click prints for ^C
        echo("Aborted!", err=True)
        return 1
    except Exception as e:  # noqa: BLE001 - the boundary, as the click group's
        return error_exit(e, home)
    return 0


def print_selected(home, spec, flt, min_col=None, max_col=None, short_id=False, path=False,
                   attr=None):
    """``rundb select``: print the chosen run's id, short id, directory or a column's value
    (the click command and the fast path both print through here)."""
    from rundb import api

    run = api.select(home, spec, flt, min_col=min_col, max_col=max_col, details=False)
    if attr:
        value = api.run_value(home, run.id, attr)
        echo("" if value is None else value)
    elif path:
        echo(run.dir)
    else:
        echo(run.short_id if short_id else run.id)


#: Runs a page shows unless ``-n`` says otherwise.
DEFAULT_LIMIT = 20
#: The "N total" under a page of runs is counted up to this many: a count reads every
#: matching run, and under a filter that matches one run in four, counting 10,000 of
#: them read 40,000 runs (half as long again as the page itself at a million runs).
COUNT_AT_MOST = 1_000


def print_runs(home, specs, flt, limit=None, all_=False, fmt="plain",
               count_at_most=COUNT_AT_MOST):
    """``rundb runs``: a page of runs, newest first, and on stderr how many there are in
    all when there are more (the click command and the fast path both print through here).
    """
    from rundb import api

    limit = None if all_ else (limit or DEFAULT_LIMIT)
    found = api.runs(home, specs, flt, limit=limit + 1 if limit else None)
    shown = found[:limit] if limit else found
    for line in format_lines(numbered_lines(home, shown, flt), fmt):
        echo(line)
    if limit and len(found) > limit:
        total = api.count_runs(home, flt, at_most=count_at_most)
        total = f"more than {count_at_most:,}" if total > count_at_most else f"{total}"
        echo(f"Showing the first {limit} runs ({total} total) - use --all to show all",
             err=True)


def run_line(index, run):
    from .tables import format_time

    op = run.op + (" [marked]" if run.marked else "")
    return [f"[{index}:{run.short_id}]", op, format_time(run.started), run.status, run.label]


def numbered_lines(home, runs, flt):
    """Table lines of ``runs`` with the positions run specs give them (deleted runs keep
    their places among all runs, so ``delete 2`` then ``restore 2`` name one run)."""
    if not flt.deleted:
        return [run_line(i, r) for i, r in enumerate(runs, 1)]
    from rundb import api

    found = api.run_positions(home, runs, flt)
    return [run_line(found[r.id], r) for r in runs]


def format_lines(rows, fmt="plain"):
    """Lines of a table without headers (through cli.tables.table_text: control characters
    escaped, fitted to the terminal)."""
    from .tables import table_text

    if not rows:
        return []
    return table_text(None, rows, fmt=fmt).splitlines()


def echo(message, err=False):
    """``click.echo(message, err=err)``: plain ASCII text (no escape sequence for click to
    strip) is written directly, anything else through click.echo itself."""
    if not isinstance(message, str) or not message.isascii() or "\x1b" in message:
        import click

        click.echo(message, err=err)
        return
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n")
    stream.flush()


def error_exit(error, home):
    """Print the one ``rundb: ...`` line for an error that reached the CLI's boundary;
    return the exit status (the error's own for a RundbError, else 1)."""
    from rundb.errors import RundbError
    from rundb.text import printable

    if isinstance(error, RundbError):
        echo(f"rundb: {printable(str(error), lines=True)}", err=True)
        return error.exit_code
    if isinstance(error, BrokenPipeError):
        quiet_stdout()
        return 1
    from .errors import one_line

    echo(f"rundb: {printable(one_line(error, home), lines=True)}", err=True)
    return 1


def quiet_stdout():
    """Output piped into ``head``: stop quietly, and keep Python's final flush from
    failing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
