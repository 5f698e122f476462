"""Run a script until it parses its arguments, then write its argparse actions as JSON.

Usage: ``python _argparse_probe.py OUT_JSON SCRIPT``. Started by
:func:`rundb.ops.flagimport.inspect_script` by path, not as part of the package, so it
needs nothing but the standard library. The first parser to parse arguments writes
OUT_JSON and ends the process with ``os._exit(0)``: no training code, ``finally`` block or
``atexit`` handler of the script runs after that.
"""

import argparse
import json
import os
import runpy
import sys


def _jsonable(value):
    "``(value, coerced)``: ``value`` if JSON can hold it, else its ``str()`` and True."
    if value is argparse.SUPPRESS:
        return None, False
    try:
        return json.loads(json.dumps(value)), False
    except (TypeError, ValueError):
        return str(value), True


def _help(parser, action):
    if action.help is None or action.help == argparse.SUPPRESS:
        return None
    # argparse expands %(default)s and friends only when it formats help
    params = dict(vars(action), prog=parser.prog)
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    try:
        return action.help % params
    except (KeyError, TypeError, ValueError):
        return action.help


def _actions(parser):
    skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    for action in parser._actions:
        if isinstance(action, skip):
            continue
        default, coerced = _jsonable(action.default)
        const, _ = _jsonable(action.const)
        choices = None
        if action.choices is not None:
            choices, _ = _jsonable(list(action.choices))
        yield {
            "action": type(action).__name__,
            "options": list(action.option_strings),
            "dest": action.dest,
            "default": default,
            "default_coerced": coerced,
            "const": const,
            "nargs": action.nargs if isinstance(action.nargs, (int, str, type(None))) else None,
            "help": _help(parser, action),
            "choices": choices,
            "type": getattr(action.type, "__name__", None),
        }


def main():
    out_path, script = sys.argv[1], sys.argv[2]

    def probe(parser, *args, **kw):
        data = {"prefix_chars": parser.prefix_chars, "actions": list(_actions(parser))}
        with open(out_path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    cls = argparse.ArgumentParser
    for name in dir(cls):
        if name.startswith("parse_") and name.endswith("args"):
            setattr(cls, name, probe)
    sys.argv = [script]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
