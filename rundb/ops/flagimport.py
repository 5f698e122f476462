"""Flags from a Python script, found without running its training code.

A script that imports ``argparse`` takes its flags as command line arguments (dest
``args``): it is started in a subprocess whose ``ArgumentParser`` writes out its actions
and ends the process as soon as the script parses its arguments. Any other script takes
its flags as module globals (dest ``globals``): its module-level literal assignments are
read with :mod:`ast` and the script is never executed; at run time
:mod:`rundb.ops.pyshim` puts the flag values in place of those assignments.
"""

import ast
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from ..errors import OpError

__all__ = ["FlagDef", "ScriptInfo", "flag_args", "inspect_script", "script_command"]

PROBE_TIMEOUT = 30

_PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_argparse_probe.py")
_TYPES = ("int", "float", "bool", "str")
# argparse actions whose flag is a plain `--name value` option, or a switch
_VALUE_ACTIONS = ("_StoreAction",)
_SWITCH_ACTIONS = ("_StoreTrueAction", "_StoreFalseAction", "_StoreConstAction")


@dataclass
class FlagDef:
    """One flag a script accepts."""

    default: object = None
    description: str | None = None
    choices: list | None = None
    #: "int", "float", "bool", "str" or None when unknown
    type: str | None = None
    #: option name without its leading dashes (dest "args" only)
    arg_name: str | None = None
    #: for an argparse switch (store_true/store_false/store_const): the value that passing
    #: the bare ``--arg_name`` gives; None for an option that takes a value
    arg_switch: object = None


@dataclass
class ScriptInfo:
    """What :func:`inspect_script` learned about a script."""

    path: str
    #: "args" (command line options) or "globals" (module-level variables)
    dest: str
    #: flag name -> FlagDef, sorted by name
    flags: dict
    uses_keras: bool
    #: why ``dest`` was chosen, e.g. ``train.py imports argparse - assuming args``
    reason: str
    warnings: list = field(default_factory=list)


def inspect_script(path, timeout=PROBE_TIMEOUT):
    """Find the flags of the Python script at ``path``.

    Scripts that import argparse are run in a subprocess (cwd = the script's directory)
    only until they parse their arguments; other scripts are not run at all.

    :param timeout: seconds an argparse script may take to reach ``parse_args``.
    :raises OpError: the script cannot be read or parsed, or fails (or times out) before
        parsing its arguments.
    """
    tree = _parse(path)
    name = os.path.basename(path)
    uses_keras = _uses_keras(tree)
    if _imports_argparse(tree):
        flags, warnings = _argparse_flags(path, timeout)
        reason = f"{name} imports argparse - assuming args"
        return ScriptInfo(path, "args", flags, uses_keras, reason, warnings)
    reason = f"{name} does not import argparse - assuming globals"
    return ScriptInfo(path, "globals", _global_flags(tree), uses_keras, reason)


def flag_args(values, flags=None):
    """Command line arguments that pass flag ``values`` to an argparse script.

    Names are sorted. A switch (see :attr:`FlagDef.arg_switch`) is passed bare when its
    value is the switch value and left out otherwise; other flags are ``--name value``
    with booleans written ``yes``/``no``. Flags whose value is None are left out.

    >>> flag_args({"lr": 0.1, "epochs": 5, "debug": True, "model": "cnn"},
    ...           {"debug": FlagDef(False, type="bool", arg_name="debug", arg_switch=True)})
    ['--debug', '--epochs', '5', '--lr', '0.1', '--model', 'cnn']
    """
    flags = flags or {}
    args = []
    for name in sorted(values):
        value = values[name]
        flag = flags.get(name)
        opt = "--" + (flag.arg_name if flag and flag.arg_name else name)
        if flag is not None and flag.arg_switch is not None:
            if value == flag.arg_switch:
                args.append(opt)
        elif value is not None:
            args.extend([opt, _format_arg(value)])
    return args


def script_command(info, values, args=(), python=None):
    """The command that runs the script of ``info`` with flag ``values``.

    Dest ``args`` runs the script directly with :func:`flag_args`; dest ``globals`` runs
    it through :mod:`rundb.ops.pyshim`. ``args`` are appended as extra script arguments.
    """
    python = python or sys.executable
    if info.dest == "args":
        return [python, info.path, *flag_args(values, info.flags), *args]
    if info.dest == "globals":
        return [python, "-m", "rundb.ops.pyshim", "--globals", json.dumps(values), info.path, *args]
    raise OpError(f"unsupported flags dest '{info.dest}' for {info.path}")


def _format_arg(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _parse(path):
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        raise OpError(f"cannot read {path}: {e.strerror}") from None
    try:
        return ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as e:
        line = f" (line {e.lineno})" if getattr(e, "lineno", None) else ""
        raise OpError(f"cannot import flags from {path}: invalid Python{line}") from None


def _imports_argparse(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name == "argparse" for a in node.names):
                return True
        elif isinstance(node, ast.ImportFrom):
            if node.module == "argparse" and not node.level:
                return True
    return False


def _is_keras_module(name):
    return name.split(".")[0] in ("keras", "tf_keras") or name.startswith(
        ("tensorflow.keras", "tensorflow.python.keras")
    )


def _uses_keras(tree):
    "Whether the script imports Keras, or uses ``keras`` of an imported tensorflow."
    tf_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if _is_keras_module(a.name):
                    return True
                if a.name == "tensorflow":
                    tf_names.add(a.asname or a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if _is_keras_module(node.module):
                return True
            if node.module == "tensorflow" and any(a.name == "keras" for a in node.names):
                return True
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "keras"
            and isinstance(node.value, ast.Name)
            and node.value.id in tf_names
        ):
            return True
    return False


def literal_value(node):
    """The value of an int, float, bool or str literal node (``-1`` included), or raise
    ValueError. Shared with :mod:`rundb.ops.pyshim` so both agree on what a flag is."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool, str):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) in (int, float)
    ):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    raise ValueError("not a literal")


def global_assigns(tree):
    """``(name, value)`` for each module-level assignment of a literal to a public name,
    in source order."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        try:
            value = literal_value(node.value)
        except ValueError:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and not target.id.startswith("_"):
                yield target.id, value


def _global_flags(tree):
    defaults = dict(global_assigns(tree))  # the last assignment wins
    return {
        name: FlagDef(default=defaults[name], type=type(defaults[name]).__name__)
        for name in sorted(defaults)
    }


def _argparse_flags(path, timeout):
    script = os.path.abspath(path)
    with tempfile.TemporaryDirectory(prefix="rundb-flags-") as tmp:
        out_path = os.path.join(tmp, "actions.json")
        try:
            proc = subprocess.run(
                [sys.executable, _PROBE, out_path, script],
                cwd=os.path.dirname(script),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise OpError(
                f"cannot import flags from {path}: it did not parse its arguments "
                f"within {timeout:g} seconds"
            ) from None
        try:
            with open(out_path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            data = None
    if data is None:
        if proc.returncode != 0:
            why = _last_line(proc.stderr, proc.returncode)
            raise OpError(f"cannot import flags from {path}: {why}")
        name = os.path.basename(path)
        return {}, [f"{name} imports argparse but did not parse arguments - no flags imported"]
    return _flags_from_actions(data)


def _last_line(stderr, returncode):
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit status {returncode}"


def _flags_from_actions(data):
    prefix = data.get("prefix_chars", "-")
    flags, warnings = {}, []
    for action in data["actions"]:
        longs = [o for o in action["options"] if len(o) > 2 and o[0] in prefix and o[1] in prefix]
        kind = action["action"]
        if not longs or kind not in _VALUE_ACTIONS + _SWITCH_ACTIONS:
            continue  # positionals, short-only options and counters cannot be set by name
        if kind in _VALUE_ACTIONS and action["nargs"] not in (None, "?"):
            continue  # lists of values do not fit `--name value`
        name = longs[0][2:]
        if action["default_coerced"]:
            warnings.append(
                f"cannot serialize value {action['default']} for flag {name} - coercing to string"
            )
        flag = FlagDef(
            default=action["default"],
            description=action["help"],
            choices=action["choices"],
            type=action["type"] if action["type"] in _TYPES else None,
            arg_name=name,
        )
        if kind == "_StoreTrueAction":
            flag.type, flag.arg_switch = "bool", True
        elif kind == "_StoreFalseAction":
            flag.type, flag.arg_switch = "bool", False
        elif kind == "_StoreConstAction":
            flag.arg_switch = action["const"]
        flags.setdefault(name, flag)
    return dict(sorted(flags.items())), warnings
