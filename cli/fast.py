"""Small questions answered before click is imported (``rundb select --min loss``).

Importing click costs about as long as Python and sqlite3 together, more than the whole
answer to ``select``. :func:`answer` reads the few command lines it understands
completely - ``select`` with the options listed in ``_SELECT_*`` below, each spelled as
one whole word, at most once - and answers them with what the click command itself calls:
:func:`print_selected` (the library's ``api.select`` and :func:`echo`) and, for errors,
:func:`error_exit`, the one-line boundary the click group uses too. Anything else (global
options, ``--help``, ``--opt=value``, a value starting with ``-``, an unknown option,
shell completion, ``RUNDB_DEBUG``) returns None and goes to the click group unchanged, as
does every command line when ``RUNDB_NO_FAST_PATH`` is set (tests compare the two paths).
"""

import os
import sys

#: select's options taking a value: option word -> keyword of the click command.
_SELECT_VALUES = {"--min": "min_col", "--max": "max_col"}
#: select's flags.
_SELECT_FLAGS = {"-s": "short_id", "--short-id": "short_id", "-p": "path", "--path": "path",
                 "--include-batch": "include_batch"}
#: The run filters (cli/options.py's filter_options): one value each, or repeatable.
_FILTER_VALUES = {"-Fs": "started", "--started": "started", "-Fd": "digest",
                  "--digest": "digest", "-F": "filter_", "--filter": "filter_"}
_FILTER_MULTIPLE = {"-o": "ops", "--op": "ops", "-Fo": "operations", "--operation": "operations",
                    "-l": "labels", "-Fl": "labels", "--label": "labels", "-Ft": "tags",
                    "--tag": "tags", "-Fc": "comments", "--comment": "comments"}
_FILTER_FLAGS = {"-U": "unlabeled", "-Fu": "unlabeled", "--unlabeled": "unlabeled"}
_MARKED = {"-Fm": True, "--marked": True, "-Fn": False, "--unmarked": False}


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
    return None


def _select_args(words):
    """The click command's keyword arguments for ``select WORDS``, or None."""
    values = {"spec": None, "min_col": None, "max_col": None, "short_id": False,
              "path": False, "include_batch": False, "filters": {}}
    filters = values["filters"]
    statuses = _status_flags()
    seen = set()
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("-"):
            if values["spec"] is not None:
                return None  # click's "unexpected extra argument"
            values["spec"] = word
            i += 1
            continue
        if word in seen and word not in _FILTER_MULTIPLE:
            return None  # given twice: click's rules decide
        seen.add(word)
        if word in _SELECT_VALUES or word in _FILTER_VALUES or word in _FILTER_MULTIPLE:
            if i + 1 >= len(words) or words[i + 1].startswith("-"):
                return None
            value = words[i + 1]
            if word in _SELECT_VALUES:
                values[_SELECT_VALUES[word]] = value
            elif word in _FILTER_VALUES:
                filters[_FILTER_VALUES[word]] = value
            else:
                filters.setdefault(_FILTER_MULTIPLE[word], []).append(value)
            i += 2
            continue
        if word in _SELECT_FLAGS:
            values[_SELECT_FLAGS[word]] = True
        elif word in _FILTER_FLAGS:
            filters[_FILTER_FLAGS[word]] = True
        elif word in _MARKED:
            if "marked" in filters:
                return None
            filters["marked"] = _MARKED[word]
        elif word in statuses:
            filters[statuses[word]] = True
        else:
            return None  # --help, -a, --opt=value, combined short flags, --, unknown words
        i += 1
    if len({_SELECT_FILTER_NAME.get(w, w) for w in seen}) != len(seen):
        return None  # one option under two spellings (-s and --short-id): click decides
    if values["min_col"] and values["max_col"]:
        return None  # click's usage error
    return values


#: Spellings of one option, so that two spellings of it count as given twice.
_SELECT_FILTER_NAME = {**_SELECT_FLAGS, **_SELECT_VALUES, **_FILTER_VALUES, **_FILTER_FLAGS}


def _select(home, args):
    from .filters import run_filter

    flt = run_filter(args["filters"],
                     include_batch=args["include_batch"] or bool(args["spec"]))
    print_selected(home, args["spec"], flt, args["min_col"], args["max_col"],
                   short_id=args["short_id"], path=args["path"])


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
