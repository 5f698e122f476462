"""rundb.keras.RunCallback: per-epoch metrics logged as scalars of the current run.

The callback is exercised the way Keras drives callbacks (set_model, set_params, then
on_train_begin, on_epoch_begin/on_epoch_end per epoch, on_train_end), inside
``ipy.run`` and inside ``rundb run``. A last test trains a real Keras model when Keras
and a backend are installed (they are not part of the requirements: it is skipped then).
"""

import os
import subprocess
import sys

import pytest

from rundb import api, ipy
from rundb.keras import RunCallback, current_run_dir

from conftest import write


@pytest.fixture(autouse=True)
def ipy_home(home):
    with ipy.use_home(home.path):
        yield home


def fake_fit(callbacks, epochs, history):
    """A training loop that calls callbacks as keras.Model.fit does."""
    for cb in callbacks:
        cb.set_model(object())
        cb.set_params({"epochs": epochs, "verbose": 0})
        cb.on_train_begin()
    for epoch in range(epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        for batch in range(3):
            for cb in callbacks:
                cb.on_train_batch_begin(batch)
                cb.on_train_batch_end(batch, {"loss": 9.0})
        for cb in callbacks:
            cb.on_epoch_end(epoch, history[epoch])
    for cb in callbacks:
        cb.on_train_end()


HISTORY = [
    {"loss": 0.9, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.45},
    {"loss": 0.6, "accuracy": 0.7, "val_loss": 0.8, "val_accuracy": 0.6},
    {"loss": 0.4, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.65},
]


def summaries(frame):
    return {s["tag"]: s for s in frame.scalars().to_dict("records")}


def test_epochs_are_logged_once_inside_ipy_run(home):
    def train(epochs=3):
        fake_fit([RunCallback()], epochs, HISTORY)

    run, _ = ipy.run(train)
    found = summaries(ipy.runs())
    assert sorted(found) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    loss = found["loss"]
    assert loss["prefix"] == ".rundb"
    assert (loss["count"], loss["first_step"], loss["last_step"]) == (3, 1, 3)
    assert (loss["first_val"], loss["min_val"]) == (pytest.approx(0.9), pytest.approx(0.4))
    # batch logs are not epochs: nothing of them is logged
    assert loss["max_val"] == pytest.approx(0.9)
    files = os.listdir(run.rundb_path())
    assert len([f for f in files if f.startswith("events.out.tfevents.")]) == 1
    # the event file is what the index was built from: a rebuild gives the same
    assert api.check_index(home) == []
    compare = ipy.runs().compare()
    assert list(compare.columns)[-5:] == ["step", "accuracy", "loss", "val_accuracy",
                                          "val_loss"]
    assert compare["step"].tolist() == [3]


def test_callback_and_printed_metrics_together(capsys):
    def train():
        cb = RunCallback()
        cb.on_train_begin()
        for epoch in range(2):
            print(f"train_loss: {1.0 / (epoch + 1)} (step {epoch + 1})")
            cb.on_epoch_end(epoch, {"val_loss": 2.0 / (epoch + 1)})
        cb.on_train_end()

    ipy.run(train)
    found = summaries(ipy.runs())
    assert {tag: s["count"] for tag, s in found.items()} == {"train_loss": 2, "val_loss": 2}
    assert {tag: s["last_step"] for tag, s in found.items()} == {"train_loss": 2, "val_loss": 2}


def test_evaluate_outside_fit_logs_test_metrics():
    def train():
        cb = RunCallback()
        fake_fit([cb], 2, HISTORY)
        cb.on_test_begin()
        cb.on_test_end({"loss": 0.5, "accuracy": 0.75})

    ipy.run(train)
    found = summaries(ipy.runs())
    assert found["test_loss"]["last_val"] == 0.5 and found["test_loss"]["last_step"] == 2
    assert found["test_accuracy"]["last_val"] == 0.75


def test_validation_inside_fit_is_not_logged_twice():
    def train():
        cb = RunCallback()
        cb.on_train_begin()
        cb.on_test_end({"loss": 0.3})  # Keras validating during fit
        cb.on_epoch_end(0, {"loss": 0.4, "val_loss": 0.3})
        cb.on_train_end()

    ipy.run(train)
    assert sorted(summaries(ipy.runs())) == ["loss", "val_loss"]


def test_values_that_are_not_numbers_are_skipped():
    class Scalar:
        def item(self):
            return 0.25

    def train():
        cb = RunCallback()
        cb.on_epoch_end(0, {"loss": Scalar(), "name": "adam", "lr": None, "pair": [1, 2],
                            "flag": True})

    ipy.run(train)
    found = summaries(ipy.runs())
    assert sorted(found) == ["flag", "loss"]
    assert found["loss"]["last_val"] == 0.25


def test_first_step_and_explicit_run_dir(tmp_path):
    def train():
        return current_run_dir()

    run, run_dir = ipy.run(train)
    assert run_dir == run.dir
    cb = RunCallback(run_dir=run.dir, first_step=0)  # after the run: a file of its own
    cb.on_epoch_end(0, {"late": 1.0})
    cb.close()
    api.rebuild_index(ipy.get_home())
    assert summaries(ipy.runs())["late"]["last_step"] == 0


def test_outside_a_run(monkeypatch):
    monkeypatch.delenv("RUNDB_RUN_DIR", raising=False)
    assert current_run_dir() is None
    cb = RunCallback()
    with pytest.raises(RuntimeError, match="RunCallback is not in a run"):
        cb.on_train_begin()


def test_without_keras_the_callback_has_the_whole_interface():
    if "keras" in sys.modules:
        pytest.skip("keras is loaded in this process")
    cb = RunCallback()
    assert isinstance(cb, RunCallback)
    for hook in ("on_epoch_begin", "on_train_batch_end", "on_test_batch_end",
                 "on_predict_begin", "on_predict_batch_end", "set_model", "set_params"):
        assert callable(getattr(cb, hook))


SCRIPT = """
from rundb.keras import RunCallback

epochs = 4
cb = RunCallback()
cb.on_train_begin()
for epoch in range(epochs):
    cb.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "accuracy": epoch / epochs})
cb.on_train_end()
print("done")
"""


@pytest.mark.slow
def test_inside_rundb_run(cli, home, project):
    write(project / "train.py", SCRIPT)
    result = cli("run", "train.py", "-y")
    assert result.exit_code == 0, result.output
    [run] = api.runs(home)
    assert run.status == "completed"
    found = {s["tag"]: s for s in api.scalar_summaries(home, [run.id])[run.id]}
    assert sorted(found) == ["accuracy", "loss"]
    assert (found["loss"]["count"], found["loss"]["last_step"]) == (4, 4)
    assert found["loss"]["prefix"] == ".rundb"
    assert api.check_index(home) == []


KERAS_TRAIN = """
import os
os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np
import keras
from rundb import ipy
from rundb.keras import RunCallback

def train(epochs=3, units=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    cb = RunCallback()
    assert isinstance(cb, keras.callbacks.Callback)
    model.fit(x, y, epochs=epochs, validation_split=0.25, verbose=0, callbacks=[cb])

with ipy.use_home(os.environ["HOME_UNDER_TEST"]):
    ipy.run(train)
    s = ipy.runs().scalars()
    print(sorted(s["tag"]), sorted(set(s["count"])), sorted(set(s["last_step"])))
"""


def _has_keras():
    probe = "import keras"
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "torch"))
    return subprocess.run([sys.executable, "-c", probe], env=env,
                          capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _has_keras(), reason="keras with a backend is not installed")
def test_real_keras_fit(home, tmp_path):
    script = write(tmp_path / "keras_train.py", KERAS_TRAIN)
    env = dict(os.environ, HOME_UNDER_TEST=home.path)
    out = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == (
        "['accuracy', 'loss', 'val_accuracy', 'val_loss'] [3] [3]")
