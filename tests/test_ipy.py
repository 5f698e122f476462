"""The notebook API (rundb.ipy): the examples of seeds/guild-ipy-api.md, in order of the
document, with rundb's names (``.rundb/`` for ``.guild/``, prefix ``.rundb`` for
``.guild``). Ids and times are matched loosely, as the seed's ``...`` does.

Where rundb differs from the seed on purpose:

* run files: one ``.rundb/meta.json`` instead of ``.guild/attrs/*`` and ``opref``, and
  ``output.index`` beside ``output``; output scalars are re-derived from ``output``, so
  no event file is written for them (ARCHITECTURE.md, "The home");
* random and Bayesian trials draw their values from rundb's own optimizer streams, so a
  fixed seed repeats rundb's values, not Guild's (the values shown in the seed);
* ``SummaryWriter`` is rundb's ``ScalarEventWriter``.
"""

import doctest
import logging
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

from rundb import api, ipy
from rundb.tfevents import ScalarEventWriter

pd.set_option("display.expand_frame_repr", False)

EMPTY_RUNS = ("Empty RunsDataFrame\n"
              "Columns: [run, operation, started, status, label]\n"
              "Index: []")


@pytest.fixture(autouse=True)
def ipy_home(home):
    with ipy.use_home(home.path):
        yield home


def matches(want, got):
    """True if ``got`` matches ``want``, where ``...`` in want stands for any text."""
    checker = doctest.OutputChecker()
    return checker.check_output(textwrap.dedent(want).strip() + "\n", got.strip() + "\n",
                                doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)


def assert_matches(want, got):
    assert matches(want, got), f"\n--- want\n{textwrap.dedent(want).strip()}\n--- got\n{got}"


def find(path):
    out = []
    for root, dirs, files in os.walk(path):
        for name in files:
            out.append(os.path.relpath(os.path.join(root, name), path))
    return sorted(out)


class LogCapture:
    """Records of the ``rundb`` logger while in the block (the seed's LogCapture)."""

    def __init__(self):
        self.records = []
        self._logger = logging.getLogger("rundb")

    def __enter__(self):
        self._handler = logging.Handler(logging.DEBUG)
        self._handler.emit = self.records.append
        self._level = self._logger.level
        self._logger.addHandler(self._handler)
        self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)

    def lines(self):
        return [r.getMessage() for r in self.records]


def hello(msg, n=3):
    with open("marker", "w"):
        pass
    for i in range(n):
        print("%s %i!" % (msg, i + 1))


def op1(a, b):
    print("x: %i" % (a + b))
    print("y: %i" % (a - b))
    print("z: %i" % (b - a))


def op2(a, c):
    writer = ScalarEventWriter(".")
    writer.add_scalar("x", a + c, 1)
    writer.add_scalar("x", a + c + 1, 2)
    writer.add_scalar("x", a + c + 2, 3)
    writer.close()


@pytest.fixture
def hellos(capsys):
    """The seed's three hello runs: run, run2 (label run2), run3 (tag run3)."""
    run, _ = ipy.run(hello, msg="Hello")
    run2, _ = ipy.run(hello, msg="Hola", n=2, _label="run2")
    run3, _ = ipy.run(hello, msg="Ya", n=1, _tag="run3")
    capsys.readouterr()
    return run, run2, run3


# --- running an operation ----------------------------------------------------------


def test_run_function(capsys):
    run, result = ipy.run(hello, msg="Hello")
    assert capsys.readouterr().out == "Hello 1!\nHello 2!\nHello 3!\n"
    assert_matches("<rundb.ipy.Run '...'>", repr(run))
    assert str(run) == run.short_id == run.id[:8]
    assert result is None
    assert find(run.path) == [".rundb/meta.json", ".rundb/output", ".rundb/output.index",
                              "marker"]
    with open(run.rundb_path("output")) as f:
        assert f.read() == "Hello 1!\nHello 2!\nHello 3!\n"
    assert run.get("flags") == {"msg": "Hello", "n": 3}
    assert run.get("label") == "msg=Hello n=3"
    assert run.get("exit_status") == 0
    assert run.status == "completed" and run.op == "hello()"


def test_runs_are_ordered_in_time(hellos):
    run, run2, _ = hellos
    assert run2.timestamp > run.timestamp
    assert run2.get("label") == "run2"


def test_tag_prefixes_label_and_is_a_tag(hellos):
    run3 = hellos[2]
    assert run3.get("label") == "run3 msg=Ya n=1"
    assert run3.tags == ["run3"]
    assert len(ipy.runs(tags=["run3"])) == 1


# --- listing runs ------------------------------------------------------------------


def test_list_runs(hellos):
    assert_matches("""
             run operation  started     status            label
        0  ...   hello()      ...  completed  run3 msg=Ya n=1
        1  ...   hello()      ...  completed             run2
        2  ...   hello()      ...  completed    msg=Hello n=3
    """, repr(ipy.runs()))
    frame = ipy.runs()
    assert list(frame.columns) == ["run", "operation", "started", "status", "label"]
    assert [r.id for r in frame["run"]] == [r.id for r in reversed(hellos)]
    assert str(frame["started"].dtype) == "datetime64[ns]"


def test_filter_runs(hellos):
    assert_matches("""
             run operation  started     status label
        0  ...   hello()      ...  completed  run2
    """, repr(ipy.runs(labels=["run2"])))
    assert repr(ipy.runs(error=True, terminated=True)) == EMPTY_RUNS
    assert len(ipy.runs(operations=["hello"], completed=True)) == 3
    assert repr(ipy.runs(operations=["bye"])) == EMPTY_RUNS


def test_runs_rejects_unknown_filters():
    with pytest.raises(TypeError, match="unexpected keyword argument 'foobar'"):
        ipy.runs(foobar=True)


# --- runs info -----------------------------------------------------------------------


def test_latest_run_info(hellos, capsys):
    ipy.runs().info()
    assert_matches("""
        id: ...
        operation: hello()
        status: completed
        started: ...
        stopped: ...
        label: run3 msg=Ya n=1
        run_dir: ...
        flags:
          msg: Ya
          n: 1
    """, capsys.readouterr().out)


def test_run_info_of_a_row(hellos, capsys):
    ipy.runs().iloc[1].info()
    out = capsys.readouterr().out
    assert_matches("""
        id: ...
        operation: hello()
        status: completed
        started: ...
        stopped: ...
        label: run2
        run_dir: ...
        flags:
          msg: Hola
          n: 2
    """, out)
    assert f"id: {hellos[1].id}\n" in out
    assert f"run_dir: {hellos[1].path}\n" in out


def test_run_info_with_output(hellos, capsys):
    ipy.runs().iloc[1].info(output=True)
    assert_matches("""
        id: ...
        ...
        output:
          Hola 1!
          Hola 2!
    """, capsys.readouterr().out)


def test_run_info_with_no_scalars(hellos, capsys):
    ipy.runs().iloc[1].info(scalars=True)
    out = capsys.readouterr().out
    assert_matches("id: ...\n...\nscalars:", out)
    assert out.endswith("scalars:\n")


# --- flags --------------------------------------------------------------------------


def test_flags(hellos):
    flags = ipy.runs().flags()
    assert_matches("""
             msg  n       run
        0     Ya  1  ...
        1   Hola  2  ...
        2  Hello  3  ...
    """, repr(flags))
    assert flags.to_dict("records") == [
        {"msg": "Ya", "n": 1, "run": hellos[2].short_id},
        {"msg": "Hola", "n": 2, "run": hellos[1].short_id},
        {"msg": "Hello", "n": 3, "run": hellos[0].short_id},
    ]


# --- delete runs -----------------------------------------------------------------------


def test_delete_runs(hellos, home):
    deleted = ipy.runs().delete()
    assert sorted(deleted) == sorted(r.id for r in hellos)
    assert repr(ipy.runs()) == EMPTY_RUNS
    assert ipy.runs().delete() == []
    assert sorted(os.listdir(home.trash_dir)) == sorted(deleted)
    assert len(ipy.runs(deleted=True)) == 3


def test_delete_part_of_a_frame(hellos):
    frame = ipy.runs()
    assert frame[frame["label"] == "run2"].delete() == [hellos[1].id]
    assert [r.id for r in ipy.runs()["run"]] == [hellos[2].id, hellos[0].id]


# --- logging scalars: printed -------------------------------------------------------------


def test_output_scalars(capsys):
    run, _ = ipy.run(op1, a=1, b=2)
    assert capsys.readouterr().out == "x: 3\ny: -1\nz: 1\n"
    assert find(run.path) == [".rundb/meta.json", ".rundb/output", ".rundb/output.index"]
    scalars = ipy.runs().scalars()
    assert list(scalars.columns) == [
        "run", "prefix", "tag", "first_val", "first_step", "last_val", "last_step",
        "min_val", "min_step", "max_val", "max_step", "avg_val", "count", "total"]
    assert_matches("""
             run  prefix tag  first_val  first_step  last_val  last_step  min_val  min_step  max_val  max_step  avg_val  count  total
        0  ...  .rundb   x        3.0           0       3.0          0      3.0         0      3.0         0      3.0      1    3.0
        1  ...  .rundb   y       -1.0           0      -1.0          0     -1.0         0     -1.0         0     -1.0      1   -1.0
        2  ...  .rundb   z        1.0           0       1.0          0      1.0         0      1.0         0      1.0      1    1.0
    """, repr(scalars))
    assert_matches("""
             run tag  last_step  last_val
        0  ...   x          0       3.0
        1  ...   y          0      -1.0
        2  ...   z          0       1.0
    """, repr(scalars[["run", "tag", "last_step", "last_val"]]))
    assert_matches("""
             run    path tag  val  step
        0  ...  .rundb   x  3.0     0
        1  ...  .rundb   y -1.0     0
        2  ...  .rundb   z  1.0     0
    """, repr(ipy.runs().scalars_detail()))


# --- logging scalars: TF event files -------------------------------------------------------


def test_event_file_scalars(capsys):
    run, _ = ipy.run(op2, a=1.0, c=0.0)
    files = find(run.path)
    assert files[:3] == [".rundb/meta.json", ".rundb/output", ".rundb/output.index"]
    assert len(files) == 4 and files[3].startswith("events.out.tfevents.")
    runs = ipy.runs()
    scalars = runs.loc[runs["run"] == run.id].scalars()
    assert scalars.to_dict("records") == [{
        "avg_val": 2.0, "count": 3, "first_step": 1, "first_val": 1.0, "last_step": 3,
        "last_val": 3.0, "max_step": 3, "max_val": 3.0, "min_step": 1, "min_val": 1.0,
        "prefix": "", "run": run.short_id, "tag": "x", "total": 6.0,
    }]
    assert_matches("""
             run path tag  val  step
        0  ...    .   x  1.0     1
        1  ...    .   x  2.0     2
        2  ...    .   x  3.0     3
    """, repr(runs.loc[runs["run"] == run.id].scalars_detail()))


# --- comparing runs ---------------------------------------------------------------------------


def test_compare(capsys):
    ipy.run(op1, a=1, b=2)
    ipy.run(op2, a=1.0, c=0.0)
    compare = ipy.runs().compare()
    assert_matches("""
             run operation                    started                   time     status        label    a    b    c  step    x    y    z
        0  ...     op2() ...  completed  a=1.0 c=0.0  1.0  NaN  0.0     3  3.0  NaN  NaN
        1  ...     op1() ...  completed      a=1 b=2  1.0  2.0  NaN     0  3.0 -1.0  1.0
    """, repr(compare))
    assert list(compare.columns) == ["run", "operation", "started", "time", "status", "label",
                                     "a", "b", "c", "step", "x", "y", "z"]
    dtypes = {name: str(t) for name, t in compare.dtypes.items()}
    assert {k: dtypes[k] for k in ("started", "time", "a", "b", "c", "step", "x", "y", "z")} == {
        "started": "datetime64[ns]", "time": "timedelta64[ns]", "a": "float64",
        "b": "float64", "c": "float64", "step": "int64", "x": "float64", "y": "float64",
        "z": "float64"}
    for name in ("run", "operation", "status", "label"):
        assert pd.api.types.is_string_dtype(compare[name]) or dtypes[name] == "object"
    assert compare.notna().sum().to_dict() == {
        "run": 2, "operation": 2, "started": 2, "time": 2, "status": 2, "label": 2,
        "a": 2, "b": 1, "c": 1, "step": 2, "x": 2, "y": 1, "z": 1}
    assert (compare["time"] >= pd.Timedelta(0)).all()
    assert compare["started"][0] > compare["started"][1]


def test_compare_a_slice_and_a_filtered_frame(capsys):
    ipy.run(op1, a=1, b=2)
    ipy.run(op2, a=1.0, c=0.0)
    frame = ipy.runs()
    one = frame[frame["operation"] == "op1()"].compare()
    assert list(one.columns) == ["run", "operation", "started", "time", "status", "label",
                                 "a", "b", "step", "x", "y", "z"]
    assert one["x"].tolist() == [3.0] and one["step"].tolist() == [0]
    assert frame.iloc[0].compare()["operation"].tolist() == ["op2()"]


def test_compare_keeps_to_the_frame(capsys):
    ipy.run(op1, a=1, b=2)
    frame = ipy.runs()
    ipy.run(op1, a=5, b=6)  # after the frame was read
    compare = frame.compare()
    assert compare["label"].tolist() == ["a=1 b=2"]


def test_compare_empty():
    assert len(ipy.runs().compare()) == 0


# --- grid search --------------------------------------------------------------------------


def test_grid_search(capsys):
    runs, results = ipy.run(op1, a=[1, 2], b=[3, 4])
    assert capsys.readouterr().out == textwrap.dedent("""\
        Running op1 (a=1, b=3):
        x: 4
        y: -2
        z: 2
        Running op1 (a=1, b=4):
        x: 5
        y: -3
        z: 3
        Running op1 (a=2, b=3):
        x: 5
        y: -1
        z: 1
        Running op1 (a=2, b=4):
        x: 6
        y: -2
        z: 2
    """)
    assert_matches("""
        [<rundb.ipy.Run '...'>,
         <rundb.ipy.Run '...'>,
         <rundb.ipy.Run '...'>,
         <rundb.ipy.Run '...'>]
    """, repr(runs))
    assert results == [None, None, None, None]
    assert [r.get("label") for r in runs] == ["a=1 b=3", "a=1 b=4", "a=2 b=3", "a=2 b=4"]
    # the batch is a run too, listed with include_batch; its trials are its children
    [batch] = [r for r in ipy.runs(include_batch=True)["run"] if r.op == "op1()+"]
    assert {r.get("parent") for r in runs} == {batch.id}
    assert batch.status == "completed"
    assert len(ipy.runs().delete()) == 4


def test_grid_results_are_return_values(capsys):
    def square(x):
        return x * x

    runs, results = ipy.run(square, x=[1, 2, 3])
    assert results == [1, 4, 9]
    assert [r.get("flags") for r in runs] == [{"x": 1}, {"x": 2}, {"x": 3}]


# --- random search ---------------------------------------------------------------------


def _trial_lines(out):
    return [line for line in out.splitlines() if line.startswith("Running op1 ")]


def test_random_search_with_fixed_seed(capsys):
    runs, _ = ipy.run(op1, a=slice(0, 5), b=12, _max_trials=3, _random_seed=1)
    out = capsys.readouterr().out
    assert len(runs) == 3
    flags = [r.get("flags") for r in runs]
    assert all(set(f) == {"a", "b"} and f["b"] == 12 and 0 <= f["a"] <= 5 for f in flags)
    assert all(isinstance(f["a"], int) for f in flags)
    assert _trial_lines(out) == [f"Running op1 (a={f['a']}, b=12):" for f in flags]
    for f in flags:
        assert f"x: {f['a'] + 12}\ny: {f['a'] - 12}\nz: {12 - f['a']}\n" in out
    assert [r.get("label") for r in runs] == [f"a={f['a']} b=12" for f in flags]
    assert all(r.get("random_seed") == 1 for r in runs)

    # The same seed draws the same values, with a slice, a range or the explicit optimizer.
    again, _ = ipy.run(op1, a=ipy.uniform(0, 5), b=12, _label="random-2", _max_trials=3,
                       _random_seed=1)
    assert [r.get("flags") for r in again] == flags
    assert [r.get("label") for r in again] == ["random-2", "random-2", "random-2"]
    third, _ = ipy.run(op1, a=slice(0, 5), b=12, _optimizer="random", _label="random-3",
                       _max_trials=3, _random_seed=1)
    assert [r.get("flags") for r in third] == flags
    assert [r.get("label") for r in third] == ["random-3", "random-3", "random-3"]
    assert len(ipy.runs().delete()) == 9
    batches = ipy.runs(include_batch=True)
    assert batches["operation"].tolist() == ["op1()+random"] * 3


def test_loguniform_search(capsys):
    def fit(lr):
        print(f"loss: {lr}")

    runs, _ = ipy.run(fit, lr=ipy.loguniform(1e-4, 1e-1), _max_trials=4, _random_seed=3)
    assert all(1e-4 <= r.get("flags")["lr"] <= 1e-1 for r in runs)
    assert all(isinstance(r.get("flags")["lr"], float) for r in runs)


# --- hyperparameter optimization --------------------------------------------------------------


def test_gp_optimizer(capsys):
    with LogCapture() as logs:
        runs, _ = ipy.run(op1, a=slice(-10, 10), b=slice(-5, 5), _optimizer="gp",
                          _minimize="x", _max_trials=3, _random_seed=1, _opt_xi=0.02)
    assert logs.lines() == [
        "Random start for optimization (missing previous trials)",
        "Found 1 previous trial(s) for use in optimization",
        "Found 2 previous trial(s) for use in optimization",
    ]
    assert len(runs) == 3
    out = capsys.readouterr().out
    flags = [r.get("flags") for r in runs]
    assert _trial_lines(out) == [f"Running op1 (a={f['a']}, b={f['b']}):" for f in flags]
    assert all(-10 <= f["a"] <= 10 and -5 <= f["b"] <= 5 for f in flags)
    assert_matches("""
             run operation  started     status ...
        0  ...     op1()      ...  completed ...
        1  ...     op1()      ...  completed ...
        2  ...     op1()      ...  completed ...
    """, repr(ipy.runs()))
    assert ipy.runs()["label"].tolist() == [f"a={f['a']} b={f['b']}" for f in reversed(flags)]
    [batch] = ipy.runs(include_batch=True, operations=["+"])["run"]
    assert batch.op == "op1()+gp"
    assert batch.get("flags")["xi"] == 0.02


def test_forest_optimizer(capsys):
    with LogCapture() as logs:
        runs, _ = ipy.run(op1, a=slice(-10, 10), b=slice(-5, 5), _optimizer="forest",
                          _minimize="x", _max_trials=3, _random_seed=1,
                          _opt_random_starts=2, _opt_kappa=2.0, _opt_xi=0.05)
    assert logs.lines() == [
        "Random start for optimization (1 of 2)",
        "Random start for optimization (2 of 2)",
        "Found 2 previous trial(s) for use in optimization",
    ]
    assert len(runs) == 3


def test_gbrt_optimizer(capsys):
    with LogCapture() as logs:
        runs, _ = ipy.run(op1, a=slice(-10, 10), b=slice(-5, 5), _optimizer="gbrt",
                          _minimize="x", _max_trials=4, _random_seed=2,
                          _opt_random_starts=2, _tag="gbrt", _opt_kappa=2.0)
    assert logs.lines() == [
        "Random start for optimization (1 of 2)",
        "Random start for optimization (2 of 2)",
        "Found 2 previous trial(s) for use in optimization",
        "Found 3 previous trial(s) for use in optimization",
    ]
    frame = ipy.runs(labels=["gbrt"])
    assert len(frame) == 4
    flags = [r.get("flags") for r in reversed(runs)]
    assert frame["label"].tolist() == [f"gbrt a={f['a']} b={f['b']}" for f in flags]


def test_unsupported_optimizer():
    with pytest.raises(TypeError) as e:
        ipy.run(op1, a=1, b=2, _optimizer="not supported")
    assert str(e.value) == "optimizer 'not supported' is not supported"
    assert len(ipy.runs(include_batch=True)) == 0


# --- alternative operation implementations -------------------------------------------------


INFO = """
    id: ...
    operation: {op}
    status: completed
    started: ...
    stopped: ...
    label: {label}
    run_dir: ...
    flags:
    {flags}
"""


def assert_info(capsys, op, label, flags):
    capsys.readouterr()
    ipy.runs().info()
    flag_lines = "\n".join(f"      {name}: {value}" for name, value in flags)
    want = textwrap.dedent(INFO).format(op=op, label=label, flags=flag_lines.strip())
    assert_matches(want, capsys.readouterr().out)


class Trainer:
    def train(self, lr):
        print("Training with lr=%s" % lr)


class Op:
    def __call__(self, a, b, c=3):
        return a, b, c


class Trainer2:
    @staticmethod
    def train(dropout=0.2):
        print("Training with dropout=%s" % dropout)


class Trainer3:
    model_name = "ze model"

    @classmethod
    def train(cls, batch_size):
        print("Train %s with batch_size=%s" % (cls.model_name, batch_size))


def test_bound_method(capsys):
    result = ipy.run(Trainer().train, 0.1)
    assert capsys.readouterr().out == "Training with lr=0.1\n"
    assert_matches("(<rundb.ipy.Run '...'>, None)", repr(result))
    assert_info(capsys, "train()", "lr=0.1", [("lr", "0.1")])


def test_callable_object(capsys):
    result = ipy.run(Op(), 1, 2)
    assert_matches("(<rundb.ipy.Run '...'>, (1, 2, 3))", repr(result))
    assert_info(capsys, "Op()", "a=1 b=2 c=3", [("a", 1), ("b", 2), ("c", 3)])


def test_static_method(capsys):
    result = ipy.run(Trainer2().train)
    assert capsys.readouterr().out == "Training with dropout=0.2\n"
    assert_matches("(<rundb.ipy.Run '...'>, None)", repr(result))
    assert_info(capsys, "train()", "dropout=0.2", [("dropout", 0.2)])


def test_class_method(capsys):
    result = ipy.run(Trainer3().train, 200)
    assert capsys.readouterr().out == "Train ze model with batch_size=200\n"
    assert_matches("(<rundb.ipy.Run '...'>, None)", repr(result))
    assert_info(capsys, "train()", "batch_size=200", [("batch_size", 200)])


def test_lambda_and_op_name(capsys):
    run, result = ipy.run(lambda x=2: x + 1, _op_name="plus-one")
    assert result == 3 and run.op == "plus-one()" and run.get("flags") == {"x": 2}


# --- run exceptions ------------------------------------------------------------------------


def error():
    raise Exception("boom")


def ctrl_c():
    raise KeyboardInterrupt()


def test_run_error(capsys):
    with pytest.raises(ipy.RunError) as caught:
        ipy.run(error)
    e = caught.value
    assert_matches("<rundb.ipy.Run '...'>", repr(e.run))
    assert repr(e.from_exc) == "Exception('boom')"
    assert_matches("(<rundb.ipy.Run '...'>, Exception('boom'))", str(e))
    assert e.__cause__ is e.from_exc
    # the original traceback starts at the function, not in rundb
    import traceback

    shown = "".join(traceback.format_exception(e.from_exc))
    assert 'in error\n    raise Exception("boom")' in shown
    assert "rundb/ipy/" not in shown and "rundb/ops/funcrun.py" not in shown


def test_failed_runs_are_recorded(capsys):
    for _ in range(2):
        with pytest.raises(ipy.RunError):
            ipy.run(error)
    assert_matches("""
             run operation  started status label
        0  ...   error()      ...  error
        1  ...   error()      ...  error
    """, repr(ipy.runs()[:2]))
    row = ipy.runs().iloc[0]
    assert row[0].run.get("exit_status") == 1
    assert row["run"].get("exit_status") == 1
    with open(row["run"].rundb_path("output")) as f:
        text = f.read()
    assert "Exception: boom" in text and "in error" in text
    assert "rundb/ipy/" not in text and "rundb/ops/funcrun.py" not in text


def test_keyboard_interrupt_terminates_the_run(capsys):
    with pytest.raises(ipy.RunTerminated) as caught:
        ipy.run(ctrl_c)
    assert_matches("(<rundb.ipy.Run '...'>, KeyboardInterrupt())", str(caught.value))
    assert_matches("""
             run operation  started      status label
        0  ...  ctrl_c()      ...  terminated
    """, repr(ipy.runs()[:1]))
    assert ipy.runs().iloc[0][0].run.get("exit_status") == -15


def test_error_in_a_trial_stops_the_batch(capsys):
    def fails_on_two(x):
        if x == 2:
            raise ValueError("two")
        print(f"loss: {x}")

    with pytest.raises(ipy.RunError) as caught:
        ipy.run(fails_on_two, x=[1, 2, 3])
    assert caught.value.run.get("flags") == {"x": 2}
    statuses = ipy.runs(include_batch=True)["status"].tolist()
    assert statuses == ["error", "completed", "error"]  # trial 2, trial 1, the batch


def test_interrupted_trial_terminates_the_batch(capsys):
    def stop_on_two(x):
        if x == 2:
            raise KeyboardInterrupt()

    with pytest.raises(ipy.RunTerminated):
        ipy.run(stop_on_two, x=[1, 2, 3])
    frame = ipy.runs(include_batch=True)
    assert frame["status"].tolist() == ["terminated", "completed", "terminated"]
    assert frame["run"][0].get("exit_status") == -15


def test_system_exit(capsys):
    def exits(code):
        raise SystemExit(code)

    run, result = ipy.run(exits, code=0)
    assert run.status == "completed" and result is None
    with pytest.raises(ipy.RunError):
        ipy.run(exits, code=3)
    assert ipy.runs().iloc[0]["run"].get("exit_status") == 3


# --- the run process ----------------------------------------------------------------------


def test_run_in_a_thread_is_running_until_it_ends(home, capsys):
    class BackgroundOp(threading.Thread):
        def __init__(self, in_q, out_q):
            super().__init__()
            self.in_q = in_q
            self.out_q = out_q

        def run(self):
            with ipy.use_home(home.path):
                ipy.run(self._op, _op_name="op-in-thread")

        def _op(self):
            print("from the thread")
            self.out_q.put("started")
            self.in_q.get()

    in_q, out_q = queue.Queue(), queue.Queue()
    op = BackgroundOp(in_q, out_q)
    op.start()
    assert out_q.get(timeout=30) == "started"
    capsys.readouterr()
    ipy.runs().info()
    assert_matches("""
        id: ...
        operation: op-in-thread()
        status: running
        started: ...
        stopped:
        label:
        run_dir: ...
        flags:
    """, capsys.readouterr().out)
    print("from the main thread")
    in_q.put("stop")
    op.join(30)
    assert capsys.readouterr().out == "from the main thread\n"
    ipy.runs().info(output=True)
    assert_matches("""
        id: ...
        operation: op-in-thread()
        status: completed
        started: ...
        stopped: ...
        label:
        run_dir: ...
        flags:
        output:
          from the thread
    """, capsys.readouterr().out)


def test_scalars_are_indexed_while_the_function_runs(home, capsys):
    from rundb.keras import RunCallback

    started, finish = threading.Event(), threading.Event()

    def slow():
        print("loss: 0.5")
        RunCallback().on_epoch_end(0, {"acc": 0.25})
        started.set()
        finish.wait(30)

    def in_thread():
        with ipy.use_home(home.path):
            ipy.run(slow)

    thread = threading.Thread(target=in_thread)
    thread.start()
    try:
        assert started.wait(30)
        deadline = time.monotonic() + 15
        tags = []
        while time.monotonic() < deadline:
            tags = sorted(ipy.runs(running=True).scalars()["tag"])
            if tags == ["acc", "loss"]:
                break
            time.sleep(0.1)
        assert tags == ["acc", "loss"]
    finally:
        finish.set()
        thread.join(30)
    counts = ipy.runs(completed=True).scalars()[["tag", "count", "last_step"]]
    assert counts.to_dict("records") == [{"tag": "acc", "count": 1, "last_step": 1},
                                         {"tag": "loss", "count": 1, "last_step": 0}]


# --- relative home -------------------------------------------------------------------------


def test_relative_home(tmp_path, monkeypatch, capsys):
    home_dir = tmp_path / "relative-home"
    monkeypatch.chdir(tmp_path)
    with ipy.use_home("relative-home"):
        run, _ = ipy.run(hello, msg="Hello")
    assert capsys.readouterr().out == "Hello 1!\nHello 2!\nHello 3!\n"
    assert os.getcwd() == str(tmp_path)
    assert run.dir == str(home_dir / "runs" / run.id)
    assert find(run.dir) == [".rundb/meta.json", ".rundb/output", ".rundb/output.index",
                             "marker"]
    with ipy.use_home(str(home_dir)):
        assert len(ipy.runs()) == 1


def test_set_home(tmp_path, capsys):
    other = tmp_path / "other"
    ipy.set_home(str(other))
    try:
        with ipy.use_home(str(tmp_path / "inner")):
            assert ipy.get_home().path == str(tmp_path / "inner")
        token = ipy._home_override.set(None)  # outside any use_home block
        try:
            run, _ = ipy.run(hello, msg="x", n=1)
            assert run.dir.startswith(str(other))
        finally:
            ipy._home_override.reset(token)
    finally:
        ipy.set_home(None)


# --- more than the seed: options, capture, cwd, the index ----------------------------------


def test_run_changes_directory_and_restores_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def where():
        return os.getcwd()

    run, result = ipy.run(where)
    assert result == run.dir and os.getcwd() == str(tmp_path)
    with pytest.raises(ipy.RunError):
        ipy.run(error)
    assert os.getcwd() == str(tmp_path)


def test_stderr_is_captured_as_stream_1(capsys):
    def both():
        print("to out")
        print("to err", file=sys.stderr)
        print("loss: 0.5", file=sys.stderr)

    run, _ = ipy.run(both)
    captured = capsys.readouterr()
    assert captured.out == "to out\n" and captured.err == "to err\nloss: 0.5\n"
    with open(run.rundb_path("output")) as f:
        assert f.read() == "to out\nto err\nloss: 0.5\n"
    with open(run.rundb_path("output.index")) as f:
        assert [line.split()[1] for line in f] == ["0", "1", "1"]
    assert ipy.runs().scalars()["tag"].tolist() == ["loss"]


def test_partial_lines_and_progress_redraws(capsys):
    def progress():
        sys.stdout.write("acc: 0.1\racc: 0.2\racc: 0.3\n")
        sys.stdout.write("loss: 0.")
        sys.stdout.write("75")  # no newline at the end

    run, _ = ipy.run(progress)
    scalars = {s["tag"]: s for s in ipy.runs().scalars().to_dict("records")}
    assert scalars["acc"]["last_val"] == 0.3 and scalars["acc"]["count"] == 1
    assert scalars["loss"]["last_val"] == 0.75


def test_steps_from_output(capsys):
    def fit(epochs=3):
        for epoch in range(1, epochs + 1):
            print(f"step: {epoch}")
            print(f"loss: {1.0 / epoch}")

    ipy.run(fit)
    [row] = ipy.runs().scalars().to_dict("records")
    assert (row["tag"], row["first_step"], row["last_step"], row["count"]) == ("loss", 1, 3, 3)


def test_output_scalars_off(capsys):
    ipy.run(op1, a=1, b=2, _output_scalars=False)
    assert len(ipy.runs().scalars()) == 0


def test_output_scalar_patterns(capsys):
    def fit():
        print("epoch 3 acc=0.9")

    ipy.run(fit, _output_scalars=[r"epoch (?P<step>\step) acc=(?P<acc>\value)"])
    [row] = ipy.runs().scalars().to_dict("records")
    assert (row["tag"], row["last_val"], row["last_step"]) == ("acc", 0.9, 3)


def test_bad_arguments_create_no_run():
    with pytest.raises(TypeError, match="missing a required argument: 'a'"):
        ipy.run(op1, b=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        ipy.run(op1, a=1, b=2, nope=3)
    with pytest.raises(TypeError, match="unsupported run option '_nope'"):
        ipy.run(op1, a=1, b=2, _nope=3)
    assert len(ipy.runs(include_batch=True)) == 0


def test_var_keyword_arguments_are_flags(capsys):
    def fit(lr, **extra):
        return lr, extra

    run, result = ipy.run(fit, lr=0.1, momentum=0.9)
    assert result == (0.1, {"momentum": 0.9})
    assert run.get("flags") == {"lr": 0.1, "momentum": 0.9}


def test_index_rebuild_agrees_with_live_runs(home, capsys):
    ipy.run(op1, a=1, b=2)
    ipy.run(op2, a=1.0, c=0.0)
    ipy.run(op1, a=[1, 2], b=3)
    with pytest.raises(ipy.RunError):
        ipy.run(error)
    assert api.check_index(home) == []
    before = ipy.runs(include_batch=True).compare()
    api.rebuild_index(home)
    after = ipy.runs(include_batch=True).compare()
    pd.testing.assert_frame_equal(before, after)


def test_query(capsys):
    ipy.run(op1, a=1, b=2)
    ipy.run(op1, a=3, b=4)
    frame = ipy.query("select .label, x, =a where x > 5")
    assert frame.to_dict("records") == [{"label": "a=3 b=4", "x": 7.0, "a": 3}]
    assert list(ipy.query("select x where x > 100").columns) == ["x"]


def test_run_handle(capsys):
    run, _ = ipy.run(op1, a=1, b=2)
    assert run == run.id and run == run.short_id and run == run.refresh()
    assert run["flags"] == {"a": 1, "b": 2}
    with pytest.raises(KeyError):
        run["nope"]
    assert run.get("nope", 5) == 5
    assert run.get("random_seed") is not None
    assert run.scalars()["tag"].tolist() == ["x", "y", "z"]
    assert run.compare()["x"].tolist() == [3.0]


def test_import_rundb_does_not_import_pandas():
    code = ("import sys, rundb, rundb.api, rundb.keras; "
            "print(sorted(m for m in ('pandas', 'keras', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- a real model: scikit-learn logistic regression, epoch by epoch ------------------------


def train_logreg(epochs=5, alpha=0.001):
    """Logistic regression by SGD, one partial_fit pass per epoch: prints loss and acc
    (output scalars) and logs validation metrics through RunCallback's event file."""
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, log_loss

    from rundb.keras import RunCallback

    x, y = make_classification(n_samples=600, n_features=8, random_state=0)
    x_train, y_train, x_val, y_val = x[:450], y[:450], x[450:], y[450:]
    model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)
    callback = RunCallback()
    callback.on_train_begin()
    for epoch in range(epochs):
        model.partial_fit(x_train, y_train, classes=np.array([0, 1]))
        loss = log_loss(y_train, model.predict_proba(x_train))
        acc = accuracy_score(y_train, model.predict(x_train))
        print(f"loss: {loss:.6f} (step {epoch + 1})")
        print(f"acc: {acc:.6f}")
        callback.on_epoch_end(epoch, {
            "val_loss": log_loss(y_val, model.predict_proba(x_val)),
            "val_acc": accuracy_score(y_val, model.predict(x_val)),
        })
    callback.on_train_end()
    return acc


def test_train_a_real_model(home, capsys):
    runs, results = ipy.run(train_logreg, alpha=[0.001, 0.01])
    out = capsys.readouterr().out
    assert out.count("loss: ") == 10
    scalars = ipy.runs().scalars()
    assert sorted(set(scalars["tag"])) == ["acc", "loss", "val_acc", "val_loss"]
    assert set(scalars["prefix"]) == {".rundb"}
    assert (scalars["count"] == 5).all()  # once each epoch: never counted twice
    assert (scalars["first_step"] == 1).all() and (scalars["last_step"] == 5).all()
    for run, acc in zip(runs, results):
        mine = scalars[scalars["run"] == run.short_id].set_index("tag")
        assert mine.loc["acc", "last_val"] == pytest.approx(acc, abs=1e-6)
        assert 0.5 < mine.loc["val_acc", "last_val"] <= 1.0
        assert mine.loc["loss", "min_val"] <= mine.loc["loss", "first_val"]
    detail = ipy.runs().scalars_detail()
    loss_steps = detail[(detail["run"] == runs[0].short_id) & (detail["tag"] == "loss")]
    assert loss_steps["step"].tolist() == [1, 2, 3, 4, 5]
    compare = ipy.runs().compare()
    assert list(compare.columns) == ["run", "operation", "started", "time", "status", "label",
                                     "alpha", "epochs", "step", "acc", "loss", "val_acc",
                                     "val_loss"]
    assert compare["step"].tolist() == [5, 5] and str(compare["step"].dtype) == "int64"
    assert compare["alpha"].tolist() == [0.01, 0.001]
    assert compare["acc"].tolist() == pytest.approx(results[::-1], abs=1e-6)
    assert api.check_index(home) == []


def test_arguments_that_are_not_flag_values_are_passed_through(capsys):
    import numpy as np

    def fit(data, lr=np.float64(0.1), epochs=np.int64(2)):
        print(f"loss: {data['y'].mean() * lr}")
        return len(data)

    data = pd.DataFrame({"y": [1.0, 3.0]})
    run, result = ipy.run(fit, data)
    assert result == 2
    assert run.get("flags") == {"lr": 0.1, "epochs": 2}
    assert isinstance(run.get("flags")["epochs"], int)
    assert run.get("args") == {"data": "DataFrame"}
    assert run.get("label") == "epochs=2 lr=0.1"
    runs, results = ipy.run(fit, data, lr=[0.1, 0.2])
    assert results == [2, 2] and [r.get("flags")["lr"] for r in runs] == [0.1, 0.2]


def test_function_runs_from_two_threads_at_once_are_refused(home, capsys):
    """A function run changes the process's working directory, so a second thread's run
    is refused with a clear error while the first is inside its function, and makes no
    run; the first finishes normally in its own directory."""
    from rundb.errors import BatchError

    started, finish = threading.Event(), threading.Event()
    seen = {}

    def slow():
        started.set()
        finish.wait(30)
        seen["cwd"] = os.getcwd()

    def in_thread():
        with ipy.use_home(home.path):
            seen["run"] = ipy.run(slow)[0]

    thread = threading.Thread(target=in_thread)
    thread.start()
    try:
        assert started.wait(30)
        with pytest.raises(BatchError, match="one thread at a time"):
            ipy.run(noop)
    finally:
        finish.set()
        thread.join(30)
    assert seen["cwd"] == seen["run"].dir
    assert len(ipy.runs()) == 1
    ipy.run(noop)  # and afterwards this thread may run functions again
    assert len(ipy.runs()) == 2


def noop():
    pass
