"""Search dimensions from flag values (the seeds' ``flag_dims`` doctests)."""

import subprocess
import sys

import pytest

from rundb.errors import BatchError
from rundb.ops.searchspace import flag_dims, is_search_spec, no_dims_error, search_flags

INT_1_100 = "Integer(low=1, high=100, prior='uniform', transform='identity')"
REAL_1_2 = "Real(low=1.0, high=2.0, prior='uniform', transform='identity')"
LOG_1_2 = "Real(low=1.0, high=2.0, prior='log-uniform', transform='identity')"


@pytest.mark.parametrize(
    "flags,expected",
    [
        ({}, "([], [], [])"),
        # Scalars and strings are never dims.
        ({"a": 1}, "([], [], [])"),
        ({"a": 2.1}, "([], [], [])"),
        ({"a": "hello"}, "([], [], [])"),
        ({"a": True}, "([], [], [])"),
        ({"a": None}, "([], [], [])"),
        ({"a": "1:2"}, "([], [], [])"),
        # Lists are categorical.
        ({"a": [1, 2, 3]}, "(['a'], [Categorical(categories=(1, 2, 3), prior=None)], [None])"),
        (
            {"a": [1, 2.1, "hello"]},
            "(['a'], [Categorical(categories=(1, 2.1, 'hello'), prior=None)], [None])",
        ),
        # Unnamed functions are uniform.
        ({"a": "[1.0:2.0]"}, f"(['a'], [{REAL_1_2}], [None])"),
        ({"a": "[1.0:2.0:0.0]"}, f"(['a'], [{REAL_1_2}], [0.0])"),
        ({"a": "[1:100]"}, f"(['a'], [{INT_1_100}], [None])"),
        ({"a": "[1:100:50]"}, f"(['a'], [{INT_1_100}], [50])"),
        ({"a": "uniform[1.0:2.0]"}, f"(['a'], [{REAL_1_2}], [None])"),
        ({"a": "uniform[1:100]"}, f"(['a'], [{INT_1_100}], [None])"),
        ({"a": "uniform[1:100:25]"}, f"(['a'], [{INT_1_100}], [25])"),
        ({"a": "loguniform[1.0:2.0]"}, f"(['a'], [{LOG_1_2}], [None])"),
        ({"a": "loguniform[1.0:2.0:0.1]"}, f"(['a'], [{LOG_1_2}], [0.1])"),
        (
            {"a": "loguniform[1:100]"},
            "(['a'], [Real(low=1, high=100, prior='log-uniform', transform='identity')], [None])",
        ),
        (
            {"lr": "loguniform[1e-4:1e-1]"},
            "(['lr'], [Real(low=0.0001, high=0.1, prior='log-uniform', "
            "transform='identity')], [None])",
        ),
        # A float bound makes the range Real.
        (
            {"a": "[-2.0:2]"},
            "(['a'], [Real(low=-2.0, high=2, prior='uniform', transform='identity')], [None])",
        ),
        # Dims are sorted by name; fixed flags are left out.
        (
            {"c": [1], "b": [2], "a": [3], "z": "fixed"},
            "(['a', 'b', 'c'], [Categorical(categories=(3,), prior=None), "
            "Categorical(categories=(2,), prior=None), "
            "Categorical(categories=(1,), prior=None)], [None, None, None])",
        ),
    ],
)
def test_flag_dims(flags, expected):
    # (issue 14: "[]", "[1.0]", "[a:b]" and "[1:2:x]" are lists, not searches)
    assert str(flag_dims(flags)) == expected


@pytest.mark.parametrize(
    "flags,message",
    [
        ({"a": "normal[1.0:2.0]"}, "unknown function 'normal' used for flag a"),
        ({"a": "lognormal[1.0:2.0]"}, "unknown function 'lognormal' used for flag a"),
        ({"a": "unsupported[1.0:2.0]"}, "unknown function 'unsupported' used for flag a"),
        ({"a": "floop[1:2]"}, "unknown function 'floop' used for flag a"),
        ({"a": "uniform[]"}, "uniform requires 2 or 3 args, got () for flag a"),
        ({"a": "uniform[1.0]"}, "uniform requires 2 or 3 args, got (1.0,) for flag a"),
        (
            {"a": "uniform[1.0:2.0:3.0:4.0]"},
            "uniform requires 2 or 3 args, got (1.0, 2.0, 3.0, 4.0) for flag a",
        ),
        (
            {"x": "loguniform[1:2:3:4]"},
            "loguniform requires 2 or 3 args, got (1, 2, 3, 4) for flag x",
        ),
        ({"a": "[1:2:3:4]"}, "uniform requires 2 or 3 args, got (1, 2, 3, 4) for flag a"),
        # Beyond the seeds: what skopt could not search, reported for the flag.
        ({"a": "uniform[a:b]"}, "uniform requires numbers for its bounds, got ('a', 'b') for flag a"),
        ({"a": "uniform[1:2:x]"}, "invalid initial value 'x' for flag a: expected a number"),
        ({"a": "[2:1]"}, "invalid range for flag a: low (2) must be less than high (1)"),
        ({"a": "[1:1]"}, "invalid range for flag a: low (1) must be less than high (1)"),
        (
            {"a": "loguniform[0.0:1.0]"},
            "loguniform requires bounds above 0, got [0.0:1.0] for flag a",
        ),
        ({"a": []}, "no values to search for flag a (empty list)"),
        ({"a": [[1], 2]}, "cannot search flag a: list item [1] is not a single value"),
    ],
)
def test_flag_dims_errors(flags, message):
    with pytest.raises(BatchError) as e:
        flag_dims(flags)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "value,expected",
    [
        ([1, 2], True),
        ([], True),
        ("[1:2]", True),
        ("uniform[0.1:0.9]", True),
        ("loguniform[1e-4:1e-1:1e-2]", True),
        ("normal[1:2]", True),  # a function, rejected by flag_dims with a message
        ("hello", False),
        ("1:2", False),
        (1, False),
        (1.5, False),
        (True, False),
        (None, False),
        ({"a": 1}, False),
    ],
)
def test_is_search_spec(value, expected):
    assert is_search_spec(value) is expected


def test_search_flags():
    flags = {"z": "[1:2]", "y": 2, "x": [1, 2], "w": "a"}
    assert search_flags(flags) == ["x", "z"]


@pytest.mark.parametrize(
    "flags,assigns",
    [
        ({"x": 1.0, "y": 2, "z": "a"}, "x=1.0, y=2, z=a"),
        ({"s": "hello", "i": 3, "f": 2.0, "b": True}, "b=yes, f=2.0, i=3, s=hello"),
        ({"x": 0.1, "noise": 0.1}, "noise=0.1, x=0.1"),
    ],
)
def test_no_dims_error(flags, assigns):
    error = no_dims_error(flags)
    assert isinstance(error, BatchError)
    assert str(error) == (
        f"flags for batch ({assigns}) do not contain any search dimensions\n"
        "Try specifying a range for one or more flags as NAME=[MIN:MAX]."
    )


def test_import_is_cheap():
    code = (
        "import sys, rundb.ops.searchspace, rundb.ops.optimizers\n"
        "heavy = [m for m in ('skopt', 'numpy', 'sklearn', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "rundb.ops.searchspace.search_flags({'a': '[1:2]', 'b': [1]})\n"
        "assert 'skopt' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
