import json
import os
import subprocess
import sys
import textwrap

import pytest

from rundb.errors import OpError
from rundb.ops.flagimport import FlagDef, flag_args, inspect_script, script_command
from rundb.ops.pyshim import compile_script

ARGPARSE_SCRIPT = """
import argparse
import os

base = argparse.ArgumentParser(add_help=False)
base.add_argument("--seed", type=int, default=7, help="random seed")

p = argparse.ArgumentParser(parents=[base])
p.add_argument("--lr", type=float, default=0.01, help="learning rate (default %(default)s)")
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="optimizer")
p.add_argument("--use-marked", action="store_true", help="only marked runs")
p.add_argument("--no-cuda", dest="cuda", action="store_false")
p.add_argument("--min-loss", default=-0.2)
p.add_argument("-v", "--verbose", action="store_const", const=2, default=0)
p.add_argument("-q", action="store_true")
p.add_argument("--layers", nargs="+", type=int, default=[1, 2])
p.add_argument("--count", action="count", default=0)
p.add_argument("data", nargs="?")
args = p.parse_args()

# training: must never run during flag import
with open("trained.txt", "w") as f:
    f.write("trained")
print("lr", args.lr, "epochs", args.epochs, "use_marked", args.use_marked, "optimizer", args.optimizer)
"""


def write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


@pytest.fixture
def argparse_script(tmp_path):
    return write(tmp_path, "train.py", ARGPARSE_SCRIPT)


def test_argparse_flags(argparse_script, tmp_path):
    info = inspect_script(argparse_script)
    assert info.dest == "args"
    assert info.reason == "train.py imports argparse - assuming args"
    assert info.uses_keras is False
    assert info.warnings == []
    assert info.flags == {
        "epochs": FlagDef(default=10, type="int", arg_name="epochs"),
        "lr": FlagDef(
            default=0.01, description="learning rate (default 0.01)", type="float", arg_name="lr"
        ),
        "min-loss": FlagDef(default=-0.2, arg_name="min-loss"),
        "no-cuda": FlagDef(default=True, type="bool", arg_name="no-cuda", arg_switch=False),
        "optimizer": FlagDef(
            default="adam", description="optimizer", choices=["adam", "sgd"], arg_name="optimizer"
        ),
        "seed": FlagDef(default=7, description="random seed", type="int", arg_name="seed"),
        "use-marked": FlagDef(
            default=False,
            description="only marked runs",
            type="bool",
            arg_name="use-marked",
            arg_switch=True,
        ),
        "verbose": FlagDef(default=0, arg_name="verbose", arg_switch=2),
    }
    assert list(info.flags) == sorted(info.flags)
    # parse_args ended the probe: the training code after it never ran
    assert not (tmp_path / "trained.txt").exists()


def test_argparse_flags_run_with_args(argparse_script, tmp_path):
    info = inspect_script(argparse_script)
    values = {"lr": 0.5, "epochs": 3, "use-marked": True, "no-cuda": True, "optimizer": "sgd"}
    cmd = script_command(info, values)
    assert cmd[2:] == ["--epochs", "3", "--lr", "0.5", "--optimizer", "sgd", "--use-marked"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out == "lr 0.5 epochs 3 use_marked True optimizer sgd\n"
    assert (tmp_path / "trained.txt").exists()


def test_only_the_parser_that_parses_counts(tmp_path):
    path = write(
        tmp_path,
        "multi.py",
        """
        from argparse import ArgumentParser
        unused = ArgumentParser()
        unused.add_argument("--unused", default=1)
        p = ArgumentParser()
        p.add_argument("--foo", default=123)
        if __name__ == "__main__":
            p.parse_known_args()
            raise SystemExit("should not get here")
        """,
    )
    info = inspect_script(path)
    assert info.flags == {"foo": FlagDef(default=123, arg_name="foo")}


def test_unserializable_default_is_coerced(tmp_path):
    path = write(
        tmp_path,
        "paths.py",
        """
        import argparse, pathlib
        p = argparse.ArgumentParser()
        p.add_argument("--out", default=pathlib.PurePosixPath("/tmp/x"))
        p.parse_args()
        """,
    )
    info = inspect_script(path)
    assert info.flags["out"].default == "/tmp/x"
    assert info.warnings == ["cannot serialize value /tmp/x for flag out - coercing to string"]


def test_script_failing_before_parse_args(tmp_path):
    path = write(
        tmp_path,
        "broken.py",
        """
        import argparse
        import no_such_module_for_rundb
        argparse.ArgumentParser().parse_args()
        """,
    )
    with pytest.raises(OpError) as e:
        inspect_script(path)
    assert str(e.value) == (
        f"cannot import flags from {path}: "
        "ModuleNotFoundError: No module named 'no_such_module_for_rundb'"
    )


def test_script_exiting_silently_before_parse_args(tmp_path):
    path = write(tmp_path, "quit.py", "import argparse, os\nos._exit(3)\n")
    with pytest.raises(OpError, match=r"quit.py: exit status 3$"):
        inspect_script(path)


def test_argparse_script_that_never_parses(tmp_path):
    path = write(tmp_path, "noparse.py", "import argparse\nx = 1\n")
    info = inspect_script(path)
    assert (info.dest, info.flags) == ("args", {})
    assert info.warnings == [
        "noparse.py imports argparse but did not parse arguments - no flags imported"
    ]


def test_probe_timeout(tmp_path):
    path = write(tmp_path, "slow.py", "import argparse, time\ntime.sleep(30)\n")
    with pytest.raises(OpError, match=r"slow.py: it did not parse its arguments within 0.5 seconds"):
        inspect_script(path, timeout=0.5)


@pytest.mark.parametrize(
    "source,msg",
    [
        ("x = (\n", r"bad.py: invalid Python \(line 1\)$"),
        ("x = 1\0\n", r"bad.py: invalid Python"),
    ],
)
def test_unreadable_scripts(tmp_path, source, msg):
    path = write(tmp_path, "bad.py", source)
    with pytest.raises(OpError, match=msg):
        inspect_script(path)


def test_missing_script(tmp_path):
    with pytest.raises(OpError, match="cannot read .*nope.py: No such file or directory"):
        inspect_script(str(tmp_path / "nope.py"))


GLOBALS_SCRIPT = """
import sys

batch_size = 32
epochs: int = 5
lr = 0.1
lr = 0.001
dropout = -0.2
offset = -3
plus = +4
debug = False
name = "mnist"
a = b = 1
_private = 42
__dunder = 1
computed = len(sys.argv)
items = [1, 2]
none = None
neg_bool = -True
x, y = 1, 2
if True:
    nested = 1

def f():
    inner = 1

print(f"batch_size={batch_size} epochs={epochs} lr={lr} dropout={dropout} debug={debug} "
      f"name={name} a={a} b={b} extra={extra} argv={sys.argv[1:]}")
if debug:
    raise RuntimeError("debug mode")
"""


def test_globals_flags(tmp_path):
    path = write(tmp_path, "op.py", GLOBALS_SCRIPT)
    info = inspect_script(path)
    assert info.dest == "globals"
    assert info.reason == "op.py does not import argparse - assuming globals"
    assert {name: (f.default, f.type) for name, f in info.flags.items()} == {
        "a": (1, "int"),
        "b": (1, "int"),
        "batch_size": (32, "int"),
        "debug": (False, "bool"),
        "dropout": (-0.2, "float"),
        "epochs": (5, "int"),
        "lr": (0.001, "float"),
        "name": ("mnist", "str"),
        "offset": (-3, "int"),
        "plus": (4, "int"),
    }
    assert list(info.flags) == sorted(info.flags)
    assert all(f.arg_name is None and f.arg_switch is None for f in info.flags.values())


def test_globals_script_is_not_executed(tmp_path):
    path = write(tmp_path, "op.py", "x = 1\nopen('ran.txt', 'w').close()\n")
    assert inspect_script(path).flags == {"x": FlagDef(default=1, type="int")}
    assert not (tmp_path / "ran.txt").exists()


def run_shim(path, flags, *args):
    cmd = [sys.executable, "-m", "rundb.ops.pyshim", "--globals", json.dumps(flags), path, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(path))


def test_shim_runs_globals_script_with_flag_values(tmp_path):
    path = write(tmp_path, "op.py", GLOBALS_SCRIPT)
    flags = {"batch_size": 64, "lr": 0.5, "epochs": 2, "name": "cifar", "a": 9, "extra": [1, "x"]}
    p = run_shim(path, flags, "--foo", "bar")
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "batch_size=64 epochs=2 lr=0.5 dropout=-0.2 debug=False name=cifar a=9 b=1 "
        "extra=[1, 'x'] argv=['--foo', 'bar']\n"
    )


def test_shim_defaults_and_script_environment(tmp_path):
    write(tmp_path, "helper.py", "VALUE = 'from helper'\n")
    path = write(
        tmp_path,
        "env.py",
        '''
        """Doc."""
        import sys, helper
        x = 1
        class C:
            pass
        print(__name__, __doc__, sys.argv == [__file__], x, helper.VALUE, C.__module__,
              sys.modules["__main__"].C is C)
        ''',
    )
    p = run_shim(path, {})
    assert p.returncode == 0, p.stderr
    assert p.stdout == "__main__ Doc. True 1 from helper __main__ True\n"


def test_shim_exception_exits_1_with_script_traceback(tmp_path):
    path = write(tmp_path, "op.py", GLOBALS_SCRIPT)
    p = run_shim(path, {"debug": True, "extra": None})
    assert p.returncode == 1
    assert p.stderr.startswith("Traceback (most recent call last):\n")
    assert p.stderr.endswith("RuntimeError: debug mode\n")
    assert f'File "{path}", line' in p.stderr
    assert "pyshim" not in p.stderr
    assert "debug=True" in p.stdout


@pytest.mark.parametrize(
    "body,code,stderr",
    [
        ("import sys\nsys.exit(3)\n", 3, ""),
        ("import sys\nsys.exit('bye')\n", 1, "bye\n"),
        ("x = 1\n", 0, ""),
    ],
)
def test_shim_preserves_exit_status(tmp_path, body, code, stderr):
    p = run_shim(write(tmp_path, "exit.py", body), {})
    assert (p.returncode, p.stderr) == (code, stderr)


def test_shim_syntax_error(tmp_path):
    p = run_shim(write(tmp_path, "bad.py", "x = (\n"), {})
    assert p.returncode == 1
    assert p.stderr.strip().endswith("SyntaxError: '(' was never closed")
    assert "pyshim" not in p.stderr


@pytest.mark.parametrize(
    "argv,msg",
    [
        ([], "usage: python -m rundb.ops.pyshim --globals JSON SCRIPT [ARGS...]"),
        (["--globals", "{", "x.py"], "rundb: invalid --globals JSON: "),
        (["--globals", "[]", "x.py"], "rundb: invalid --globals JSON: expected an object"),
        (["--globals", "{}", "no-such.py"], "rundb: cannot find script no-such.py"),
    ],
)
def test_shim_usage_errors(tmp_path, argv, msg):
    p = subprocess.run(
        [sys.executable, "-m", "rundb.ops.pyshim", *argv], capture_output=True, text=True, cwd=tmp_path
    )
    assert p.returncode == 2
    assert p.stderr.startswith(msg)


def test_compile_script_keeps_computed_values():
    code, assigned = compile_script("x = 1\nx = x * 2\ny = f()\n", "<s>", {"x": 5, "y": 1, "z": 2})
    scope = {"f": lambda: 7}
    exec(code, scope)
    assert (scope["x"], scope["y"], assigned) == (10, 7, {"x"})


@pytest.mark.parametrize(
    "source,keras",
    [
        ("import keras\n", True),
        ("from keras.layers import Dense\n", True),
        ("import keras.models as km\n", True),
        ("from tensorflow import keras\n", True),
        ("from tensorflow.keras.models import Sequential\n", True),
        ("import tensorflow.keras\n", True),
        ("import tensorflow as tf\nmodel = tf.keras.Sequential()\n", True),
        ("def main():\n    import tensorflow as tf\n    return tf.keras.Model\n", True),
        ("import tf_keras\n", True),
        ("import tensorflow as tf\nx = tf.constant(1)\n", False),
        ("import torch\nkeras = 1\nprint(keras)\n", False),
        ("from .keras import x\n", False),
        ("import kerasx\n", False),
        ("x = 1\n", False),
    ],
)
def test_keras_detection(tmp_path, source, keras):
    assert inspect_script(write(tmp_path, "k.py", source)).uses_keras is keras


def test_keras_detection_with_argparse(tmp_path):
    path = write(
        tmp_path,
        "k.py",
        """
        import argparse

        def main():
            args = argparse.ArgumentParser().parse_args()
            from tensorflow import keras  # never reached while importing flags
            keras.Sequential()

        main()
        """,
    )
    info = inspect_script(path)
    assert (info.dest, info.flags, info.uses_keras) == ("args", {}, True)


@pytest.mark.parametrize(
    "values,flags,args",
    [
        ({"b": 2, "a": "x y"}, None, ["--a", "x y", "--b", "2"]),
        ({"flag": True, "other": False}, None, ["--flag", "yes", "--other", "no"]),
        ({"lr": 1e-06, "n": None}, None, ["--lr", "1e-06"]),
        ({"sw": False}, {"sw": FlagDef(False, arg_name="sw", arg_switch=True)}, []),
        ({"no-cuda": False}, {"no-cuda": FlagDef(True, arg_name="no-cuda", arg_switch=False)}, ["--no-cuda"]),
        ({"v": 2}, {"v": FlagDef(0, arg_name="verbose", arg_switch=2)}, ["--verbose"]),
        ({"lr": 0.1}, {"lr": FlagDef(0.01, arg_name="learning-rate")}, ["--learning-rate", "0.1"]),
    ],
)  # fmt: skip
def test_flag_args(values, flags, args):
    assert flag_args(values, flags) == args
