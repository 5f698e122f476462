"""Run a Python script as ``__main__`` with flag values as its module globals.

Usage::

    python -m rundb.ops.pyshim --globals '{"lr": 0.01, "epochs": 5}' train.py [ARGS...]

The script's module-level assignments of a literal to a flag name (``lr = 0.1``) get the
flag's value instead, so the script sees its flags as its own globals, and a flag the
script never assigns is set as a global before the script starts. The script runs with
``sys.argv == [SCRIPT, *ARGS]`` and its directory first on ``sys.path``, as under
``python SCRIPT``. An exception prints a traceback of the script's frames and exits with
status 1; ``sys.exit(code)`` keeps its code.
"""

import ast
import builtins
import json
import os
import sys
import traceback
import types

from .flagimport import literal_value

USAGE = "usage: python -m rundb.ops.pyshim --globals JSON SCRIPT [ARGS...]"


def compile_script(source, filename, flags):
    """Compile ``source`` with flag values in place of its module-level literal
    assignments to those names.

    :returns: ``(code, assigned)``: the code object and the flag names it assigns.
    """
    tree = ast.parse(source, filename=filename)
    assigned = set()
    body = []
    for node in tree.body:
        body.extend(_replace_assign(node, flags, assigned))
    tree.body = body
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec", dont_inherit=True), assigned


def _replace_assign(node, flags, assigned):
    "The statements that stand for ``node``: itself, or its assignments with flag values."
    if isinstance(node, ast.AnnAssign):
        targets = [node.target] if node.value is not None else []
    elif isinstance(node, ast.Assign):
        targets = node.targets
    else:
        return [node]
    names = [t.id for t in targets if isinstance(t, ast.Name) and t.id in flags]
    if not names:
        return [node]
    try:
        literal_value(node.value)
    except ValueError:
        return [node]  # computed values are the script's business
    assigned.update(names)
    if isinstance(node, ast.AnnAssign):
        node.value = ast.copy_location(_value_node(flags[node.target.id]), node.value)
        return [node]
    # a = b = 1 becomes one assignment per target, each with its own value
    stmts = []
    for target in targets:
        if isinstance(target, ast.Name) and target.id in flags:
            value = ast.copy_location(_value_node(flags[target.id]), node.value)
        else:
            value = node.value
        stmts.append(ast.copy_location(ast.Assign(targets=[target], value=value), node))
    return stmts


def _value_node(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return ast.Constant(value)
    # lists and dicts from JSON; their repr is Python source
    return ast.parse(repr(value), mode="eval").body


def run(script, flags, args=()):
    """Run ``script`` as ``__main__`` in this process with ``flags`` applied.

    :returns: the exit status: 0, or 1 after printing the traceback of an exception.
        ``SystemExit`` propagates.
    """
    with open(script, "rb") as f:
        source = f.read()
    try:
        code, assigned = compile_script(source, script, flags)
    except (SyntaxError, ValueError) as e:  # ValueError: null bytes
        traceback.print_exception(type(e), e, None)
        return 1
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __file__=script, __builtins__=builtins, __cached__=None, __loader__=None, __spec__=None
    )
    module.__dict__.update((k, v) for k, v in flags.items() if k not in assigned)
    sys.modules["__main__"] = module
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        exec(code, module.__dict__)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as e:
        # leave out this frame: the user wants to see their script, not the shim
        e.__traceback__ = e.__traceback__.tb_next
        sys.excepthook(type(e), e, e.__traceback__)
        return 1
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[0] != "--globals":
        print(USAGE, file=sys.stderr)
        return 2
    try:
        flags = json.loads(argv[1])
    except ValueError as e:
        print(f"rundb: invalid --globals JSON: {e}", file=sys.stderr)
        return 2
    if not isinstance(flags, dict):
        print("rundb: invalid --globals JSON: expected an object", file=sys.stderr)
        return 2
    script = argv[2]
    if not os.path.isfile(script):
        print(f"rundb: cannot find script {script}", file=sys.stderr)
        return 2
    return run(script, flags, argv[3:])


if __name__ == "__main__":
    sys.exit(main())
