"""`rundb run`: real scripts in real processes, flags, output, scalars, status."""

import os
import signal
import subprocess
import sys
import time

import pytest

from rundb import api
from rundb.index.rebuild import rebuild
from rundb.output import read_output

from conftest import write

_SQLITE_FILE = pytest.mark.skipif(
    os.environ.get("RUNDB_TEST_BACKEND") == "postgresql",
    reason="removes and rebuilds the home's SQLite index.db")

TRAIN = """
import argparse
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.01, help="learning rate")
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
args = p.parse_args()
loss = 1.0
for epoch in range(1, args.epochs + 1):
    loss = loss * (1 - args.lr)
    print(f"loss: {loss:.4f} (step {epoch})")
    print(f"acc: {1 - loss:.4f}")
"""


def only_run(home):
    runs = api.runs(home)
    assert len(runs) == 1
    return runs[0]


def summaries(home, run):
    return {s["tag"]: s for s in api.run_info(home, run.id)[1]}


@pytest.mark.slow
def test_argparse_script_flags_output_and_scalars(cli, home, project):
    write(project / "train.py", TRAIN)
    result = cli("run", "train.py", "lr=0.1", "epochs=3", "-y")
    assert result.exit_code == 0, result.output
    assert "loss: 0.9000 (step 1)" in result.stdout
    run = only_run(home)
    assert run.op == "train.py" and run.status == "completed" and run.exit_status == 0
    assert run.flags == {"lr": 0.1, "epochs": 3, "optimizer": "adam"}
    assert run.label == "epochs=3 lr=0.1 optimizer=adam"
    lines = [line for _, _, line in read_output(run.dir)]
    assert lines[:2] == ["loss: 0.9000 (step 1)", "acc: 0.1000"]
    s = summaries(home, run)
    assert (s["loss"]["last_val"], s["loss"]["last_step"], s["loss"]["count"]) == (0.729, 3, 3)
    assert (s["acc"]["first_step"], s["acc"]["last_val"]) == (1, 0.271)
    info = cli("runs", "info").stdout
    assert "  lr: 0.1" in info and "  loss: 0.729000 (step 3)" in info
    assert run.sourcecode_digest and len(run.sourcecode_digest) == 32
    assert os.path.exists(os.path.join(run.dir, ".rundb", "sourcecode", "train.py"))


@pytest.mark.slow
@_SQLITE_FILE
def test_scalars_indexed_while_running_and_again_after_rebuild(home, project):
    write(project / "slow.py", """
        import os, time
        print("loss: 0.5 (step 1)")
        while not os.path.exists("go"):
            time.sleep(0.05)
        print("loss: 0.25 (step 2)")
    """)
    proc = subprocess.Popen([sys.executable, "-m", "rundb_cli.main", "-H", home.path, "run", "slow.py", "-y"],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            runs = api.runs(home) if home.index_url or os.path.exists(home.index_path) else []
            if runs and summaries(home, runs[0]).get("loss"):
                break
            time.sleep(0.1)
        run = only_run(home)
        assert run.status == "running" and run.stopped is None
        assert summaries(home, run)["loss"]["last_val"] == 0.5
        open(os.path.join(run.dir, "go"), "w").close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    run = only_run(home)
    before = summaries(home, run)
    assert before["loss"]["last_val"] == 0.25 and run.status == "completed"
    os.remove(home.index_path)
    rebuild(home)
    assert summaries(home, only_run(home)) == before


@pytest.mark.slow
def test_globals_script_sees_its_flags(cli, home, project):
    write(project / "g.py", """
        import os
        batch_size = 32
        dropout = 0.2
        name = "base"
        print("flags:", batch_size, dropout, name, os.environ["FLAG_BATCH_SIZE"])
        print("run:", os.environ["RUNDB_RUN_ID"] == os.path.basename(os.getcwd()))
    """)
    result = cli("run", "g.py", "batch_size=64", "name=big", "-y")
    assert result.exit_code == 0, result.output
    assert "flags: 64 0.2 big 64" in result.stdout
    assert "run: True" in result.stdout
    assert only_run(home).flags == {"batch_size": 64, "dropout": 0.2, "name": "big"}


@pytest.mark.slow
def test_keras_progress_lines_give_per_epoch_scalars(cli, home, project):
    write(project / "k.py", """
        try:
            import keras
        except ImportError:
            pass
        epochs = 2
        for e in range(1, epochs + 1):
            print(f"Epoch {e}/{epochs}")
            print(f"60000/60000 [==============================] - 3s 50us/step - loss: {0.5 / e:.4f} - acc: {0.8 + e / 100:.4f}")
        print("Test loss: 0.31")
        print("Test accuracy: 0.88")
    """)
    assert cli("run", "k.py", "-y").exit_code == 0
    s = summaries(home, only_run(home))
    assert (s["loss"]["first_val"], s["loss"]["first_step"]) == (0.5, 1)
    assert (s["loss"]["last_val"], s["loss"]["last_step"]) == (0.25, 2)
    assert (s["acc"]["last_val"], s["test_loss"]["last_val"], s["test_accuracy"]["last_step"]) == (0.82, 0.31, 2)


@pytest.mark.slow
def test_script_tf_events_indexed_with_prefix(cli, home, project):
    write(project / "tb.py", """
        import time
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        for logdir, base in (("logs/train", 1.0), ("logs/val", 2.0)):
            w = EventFileWriter(logdir)
            for step in range(5):
                s = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="epoch_loss", simple_value=base / (step + 1))])
                w.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=s))
            w.close()
    """)
    assert cli("run", "tb.py", "-y").exit_code == 0
    run = only_run(home)
    rows = {(s["prefix"], s["tag"]): s for s in api.run_info(home, run.id)[1]}
    assert rows[("logs/train", "epoch_loss")]["count"] == 5
    assert rows[("logs/val", "epoch_loss")]["min_val"] == pytest.approx(0.4)  # float32 in the file


@pytest.mark.slow
@pytest.mark.parametrize("code,status,exit_status", [("0", "completed", 0), ("3", "error", 3)])
def test_exit_status(cli, home, project, code, status, exit_status):
    write(project / "x.py", f"import sys\nsys.exit({code})\n")
    result = cli("run", "x.py", "-y")
    assert result.exit_code == (0 if code == "0" else 1)
    run = only_run(home)
    assert (run.status, run.exit_status) == (status, exit_status)
    if status == "error":
        assert f"rundb: run {run.short_id} exited with an error (exit status 3)" in result.stderr


def _start(home, project, script):
    write(project / "s.py", script)
    proc = subprocess.Popen([sys.executable, "-m", "rundb_cli.main", "-H", home.path, "run", "s.py", "-y"],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while time.time() < deadline:
        if home.index_url or os.path.exists(home.index_path):
            runs = api.runs(home)
            if runs and runs[0].attrs.get("child_pid") and summaries(home, runs[0]):
                return proc, runs[0]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("run did not start")


LOOP = """
import time
print("loss: 1.0 (step 1)")
while True:
    time.sleep(0.05)
"""


@pytest.mark.slow
def test_sigterm_terminates_and_keeps_logged_scalars(home, project):
    proc, run = _start(home, project, LOOP)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 1
    run = only_run(home)
    assert (run.status, run.exit_status) == ("terminated", -15)
    assert summaries(home, run)["loss"]["last_val"] == 1.0


@pytest.mark.slow
def test_sigkill_of_child_is_an_error(home, project):
    proc, run = _start(home, project, LOOP)
    os.kill(run.attrs["child_pid"], signal.SIGKILL)
    proc.wait(timeout=30)
    run = only_run(home)
    assert (run.status, run.exit_status) == ("error", -9)


@pytest.mark.slow
def test_sigkill_of_rundb_reads_as_error_with_process_gone(cli, home, project):
    proc, run = _start(home, project, LOOP)
    proc.kill()
    proc.wait()
    os.kill(run.attrs["child_pid"], signal.SIGKILL)
    run = only_run(home)
    assert run.status == "error" and run.exit_status is None
    assert "status: error (process gone)" in cli("runs", "info").stdout


def test_unknown_flag_lists_valid_ones_and_creates_nothing(cli, home, project):
    write(project / "train.py", TRAIN)
    result = cli("run", "train.py", "lr=0.1", "momentum=0.9", "-y")
    assert result.exit_code == 1
    assert "rundb: unsupported flag 'momentum'" in result.stderr
    assert "epochs, lr, optimizer" in result.stderr
    assert not os.path.exists(home.index_path) or api.runs(home) == []
    assert os.listdir(home.runs_dir) == []


def test_value_outside_choices(cli, home, project):
    write(project / "train.py", TRAIN)
    result = cli("run", "train.py", "optimizer=rmsprop", "-y")
    assert result.exit_code == 1
    assert result.stderr == (
        "rundb: Unsupported value for 'optimizer' - supported values are:\n\n"
        "  adam\n  sgd\n\nRun the command again using one of these options.\n")
    assert os.listdir(home.runs_dir) == []


def test_missing_script(cli, home, project):
    result = cli("run", "nope.py", "-y")
    assert result.exit_code == 1 and result.stderr == "rundb: cannot find script nope.py\n"


def test_print_cmd_and_help_op(cli, project):
    write(project / "train.py", TRAIN)
    out = cli("run", "train.py", "lr=0.5", "--print-cmd").stdout
    assert out.strip().endswith("train.py --epochs 2 --lr 0.5 --optimizer adam")
    help_ = cli("run", "train.py", "--help-op").stdout
    assert "lr" in help_ and "learning rate (default is 0.01)" in help_
    assert "Choices: adam, sgd" in help_
    flags = help_.split("Flags:\n", 1)[1].splitlines()
    assert all(line.startswith("  ") for line in flags)
    assert len({line.index("Choices") if "Choices" in line else line.index("(default")
                for line in flags if "(" in line or "Choices" in line}) <= 2


def test_test_output_scalars_from_stdin(cli, project):
    write(project / "train.py", TRAIN)
    result = cli("run", "train.py", "--test-output-scalars", "-", input="loss: 0.5\nbar\n")
    assert result.exit_code == 0
    assert "loss: 0.5\n" in result.stdout and "(loss=0.5)" in result.stdout
    assert "bar\n" in result.stdout and "<no matches>" in result.stdout


@pytest.mark.slow
def test_label_template_and_tag(cli, home, project):
    write(project / "train.py", TRAIN)
    assert cli("run", "train.py", "lr=0.123456", "--label", "lr is ${lr}", "--tag", "green", "-y").exit_code == 0
    run = only_run(home)
    assert run.label == "green lr is 0.12345"
    assert run.tags == ["green"]


@pytest.mark.slow
def test_rundb_yml_exec_op_with_custom_patterns(cli, home, project):
    write(project / "rundb.yml", """
        train:
          exec: python -u fit.py ${flag_args}
          flags:
            x:
              default: 2
              description: the x
          output-scalars:
            - step: 'iter (\\d+)'
            - 'score=(?P<score>\\value)'
    """)
    write(project / "fit.py", """
        import sys
        x = int(sys.argv[sys.argv.index("--x") + 1])
        for i in range(3):
            print(f"iter {i}")
            print(f"score={x * i}")
    """)
    result = cli("run", "train", "x=5", "-y")
    assert result.exit_code == 0, result.output
    run = only_run(home)
    assert run.op == "train" and run.flags == {"x": 5}
    s = summaries(home, run)
    assert (s["score"]["last_val"], s["score"]["last_step"], s["score"]["count"]) == (10.0, 2, 3)


def test_confirmation_declined_creates_nothing(cli, home, project):
    write(project / "train.py", TRAIN)
    result = cli("run", "train.py", input="n\n")
    assert result.exit_code == 1
    assert "You are about to run train.py\n  epochs: 2\n  lr: 0.01\n  optimizer: adam" in result.stderr
    assert os.listdir(home.runs_dir) == []


@pytest.mark.slow
def test_exec_any_command(cli, home, project):
    result = cli("run", "-y", "--", sys.executable, "-c", "print('acc: 0.75')")
    assert result.exit_code == 0, result.output
    run = only_run(home)
    assert summaries(home, run)["acc"]["last_val"] == 0.75


def test_indexer_failure_is_reported(tmp_path):
    from rundb.ops import ingest

    run_dir = tmp_path / "run"
    (run_dir / ".rundb").mkdir(parents=True)
    (run_dir / ".rundb" / "output").write_text("loss: 1\n")
    bad_index = str(tmp_path / "not-a-dir")
    open(bad_index, "w").close()  # a file where the index's directory should be
    error = ingest.finish(ingest.start(os.path.join(bad_index, "index.db"), str(run_dir), 1, None))
    assert error and "Error" in error


@pytest.mark.slow
@_SQLITE_FILE
def test_scalars_lost_by_the_indexer_come_back_with_rebuild(cli, home, project, monkeypatch):
    """If the indexer cannot write, the run is still recorded, the user is told, and
    `index rebuild` restores the scalars from the output file."""
    from rundb.ops import ingest

    real_start = ingest.start
    monkeypatch.setattr(ingest, "start", lambda index_path, *a: real_start("/dev/null/index.db", *a))
    write(project / "train.py", TRAIN)
    result = cli("run", "train.py", "epochs=2", "-y")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and f"index rebuild'" in warnings[0]
    run = only_run(home)
    assert run.status == "completed" and summaries(home, run) == {}
    os.remove(home.index_path)
    rebuild(home)
    assert summaries(home, only_run(home))["loss"]["last_step"] == 2
