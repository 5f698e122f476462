"""`rundb tensorboard`: a log directory mirroring runs, read back with TensorBoard's own code."""

import json
import os
import time

import pytest

from rundb import api
from rundb.tensorboard import mirror as tb
from rundb.index import store, writer
from rundb.tfevents import ScalarEventWriter
from rundb.ops.runner import new_run
from rundb.run import Run

HOUR_US = 3_600_000_000


def make_run(home, index, op="train.py", flags=None, scalars=None, status="completed",
             label="", prefix=".rundb"):
    """A run written through the real writer: scalars = {tag: [(step, value)]} under prefix."""
    run = new_run(home, index, op, flags or {}, label=label)
    add_points(index, run, prefix, scalars or {})
    if status == "running":
        return run
    return store.save_run(index, run, status=status, stopped=run.started + 2_000_000,
                          exit_status=0 if status == "completed" else 1)


def add_points(index, run, prefix, scalars):
    points = [(prefix, tag, step, float(v), 1_700_000_000.0 + step)
              for tag, series in scalars.items() for step, v in series]
    writer.add_scalars(index, run.rid, points)


def write_events(index, run, subdir, scalars):
    """The run's own event file in ``subdir``, indexed as the runner would index it."""
    with ScalarEventWriter(os.path.join(run.dir, subdir)) as w:
        for tag, series in scalars.items():
            for step, value in series:
                w.add_scalar(tag, value, step, wall_time=1_700_000_000.0 + step)
    add_points(index, run, subdir, scalars)
    return w.path


def tb_events(path):
    """Events of one file, as TensorBoard's own loader reads them."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return list(EventFileLoader(str(path)).Load())


def tb_scalars(path):
    """{tag: [(step, value)]} of the scalar values in one event file."""
    from tensorboard.util import tensor_util

    out = {}
    for event in tb_events(path):
        for v in event.summary.value:
            if v.HasField("tensor") and v.metadata.plugin_data.plugin_name == "scalars":
                value = float(tensor_util.make_ndarray(v.tensor))
            elif v.HasField("simple_value"):
                value = v.simple_value
            else:
                continue
            out.setdefault(v.tag, []).append((event.step, pytest.approx(value, rel=1e-6)))
    return out


def files(root):
    """Paths under root (relative), with "@" marking links, sorted."""
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            found.append(os.path.relpath(path, root) + ("@" if os.path.islink(path) else ""))
    return sorted(found)


@pytest.fixture
def two_runs(home, index):
    """An older run with its own event file in a subdir, a newer one with output scalars only."""
    own = make_run(home, index, flags={"lr": 0.1, "epochs": 3, "optimizer": "adam", "fast": True},
                   label="lr=0.1")
    own_file = write_events(index, own, "logs/train", {"epoch_loss": [(0, 1.0), (1, 0.5)],
                                                       "sub/acc": [(1, 0.7)]})
    out = make_run(home, index, flags={"lr": 0.01, "epochs": 2, "optimizer": "sgd", "fast": False},
                   scalars={"loss": [(1, 0.9), (2, 0.4)], "acc": [(2, 0.8)]}, label="lr=0.01")
    return own, own_file, out


def sync(cli, logdir, *args):
    result = cli("tensorboard", "--no-server", "--logdir", str(logdir), *args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{logdir}\n"
    return result


# --- the log directory ----------------------------------------------------------------


def test_logdir_mirrors_runs(cli, two_runs, tmp_path):
    own, own_file, out = two_runs
    logdir = tmp_path / "tb"
    result = sync(cli, logdir)
    assert result.stderr == "Prepared 2 run(s) for TensorBoard\n"
    own_name, out_name = tb.run_dir_name(own), tb.run_dir_name(out)
    assert sorted(os.listdir(logdir)) == sorted([own_name, out_name, tb.MANIFEST])
    assert own_name.startswith(f"{own.short_id} train.py ") and own_name.endswith(" lr=0.1")

    own_files = files(logdir / own_name)
    assert own_files == [tb.HPARAMS_FILE, f"logs/train/{os.path.basename(own_file)}@"]
    assert os.readlink(logdir / own_name / "logs/train" / os.path.basename(own_file)) == own_file

    out_files = files(logdir / out_name)
    assert out_files[1] == tb.HPARAMS_FILE and len(out_files) == 2
    assert out_files[0].startswith(".rundb/events.out.tfevents.") and "@" not in out_files[0]


def test_event_files_read_by_tensorboard(cli, two_runs, tmp_path):
    own, own_file, out = two_runs
    logdir = tmp_path / "tb"
    sync(cli, logdir)
    own_dir = logdir / tb.run_dir_name(own) / "logs/train"
    assert tb_scalars(own_dir / os.listdir(own_dir)[0]) == {
        "epoch_loss": [(0, 1.0), (1, 0.5)], "sub/acc": [(1, 0.7)]}
    out_dir = logdir / tb.run_dir_name(out) / ".rundb"
    (name,) = os.listdir(out_dir)
    assert tb_scalars(out_dir / name) == {"loss": [(1, 0.9), (2, 0.4)], "acc": [(2, 0.8)]}
    assert [e.wall_time for e in tb_events(out_dir / name)][1:] == [1_700_000_001.0] + [
        1_700_000_002.0] * 2


def hparams(path):
    """(experiment, session start, session end) decoded from an hparams event file."""
    from tensorboard.plugins.hparams import metadata

    found = {}
    for event in tb_events(path):
        for v in event.summary.value:
            assert v.metadata.plugin_data.plugin_name == "hparams"
            found[v.tag] = v.metadata.plugin_data.content
    return (metadata.parse_experiment_plugin_data(found[metadata.EXPERIMENT_TAG]),
            metadata.parse_session_start_info_plugin_data(found[metadata.SESSION_START_INFO_TAG]),
            metadata.parse_session_end_info_plugin_data(found[metadata.SESSION_END_INFO_TAG]))


def test_hparams_hold_flags_metrics_and_status(cli, two_runs, tmp_path):
    from tensorboard.plugins.hparams import api_pb2

    own, _own_file, out = two_runs
    logdir = tmp_path / "tb"
    sync(cli, logdir)
    experiment, start, end = hparams(logdir / tb.run_dir_name(out) / tb.HPARAMS_FILE)

    assert start.group_name == out.id
    assert {k: v.WhichOneof("kind") for k, v in start.hparams.items()} == {
        "epochs": "number_value", "fast": "bool_value", "lr": "number_value",
        "optimizer": "string_value"}
    assert (start.hparams["lr"].number_value, start.hparams["epochs"].number_value,
            start.hparams["optimizer"].string_value, start.hparams["fast"].bool_value) == (
        0.01, 2, "sgd", False)
    assert start.start_time_secs == pytest.approx(out.started / 1e6)
    assert end.status == api_pb2.STATUS_SUCCESS
    assert end.end_time_secs == pytest.approx(out.stopped / 1e6)

    # One experiment for the whole selection: every flag, every root scalar of every run.
    infos = {i.name: i for i in experiment.hparam_infos}
    assert sorted(infos) == ["epochs", "fast", "lr", "optimizer"]
    assert [infos[n].type for n in ("epochs", "fast", "lr", "optimizer")] == [
        api_pb2.DATA_TYPE_FLOAT64, api_pb2.DATA_TYPE_BOOL, api_pb2.DATA_TYPE_FLOAT64,
        api_pb2.DATA_TYPE_STRING]
    # no domain that would hide the values of runs added while TensorBoard serves
    assert not infos["lr"].HasField("domain_interval")
    assert not infos["optimizer"].HasField("domain_discrete")
    assert [v.bool_value for v in infos["fast"].domain_discrete.values] == [False, True]
    assert infos["lr"].differs
    metrics = sorted((m.name.group, m.name.tag) for m in experiment.metric_infos)
    assert metrics == [(".rundb", "acc"), (".rundb", "loss"), ("logs/train", "epoch_loss")]

    own_experiment, own_start, _ = hparams(logdir / tb.run_dir_name(own) / tb.HPARAMS_FILE)
    assert own_experiment == experiment
    assert own_start.hparams["optimizer"].string_value == "adam"


@pytest.mark.parametrize("status,expected", [
    ("completed", 1), ("terminated", 1), ("error", 2), ("running", 3), ("pending", 0),
    ("staged", 0), ("some-other-thing", 0),
])
def test_hparam_status(status, expected):
    assert tb.hparam_status(status) == expected


def test_session_status_of_failed_run(cli, home, index, tmp_path):
    from tensorboard.plugins.hparams import api_pb2

    run = make_run(home, index, status="error", flags={"x": 1})
    sync(cli, tmp_path / "tb")
    _exp, _start, end = hparams(tmp_path / "tb" / tb.run_dir_name(run) / tb.HPARAMS_FILE)
    assert end.status == api_pb2.STATUS_FAILURE


# --- refreshing -----------------------------------------------------------------------


def test_rerun_removes_deleted_runs_and_renames_relabelled_ones(cli, home, two_runs, tmp_path):
    own, own_file, out = two_runs
    logdir = tmp_path / "tb"
    sync(cli, logdir)
    old_name = tb.run_dir_name(out)
    output_file = files(logdir / old_name)[0]

    api.delete_runs(home, [own.id])
    api.label_runs(home, [out.id], set="best")
    sync(cli, logdir)
    out = api.runs(home, [out.id])[0]
    new_name = tb.run_dir_name(out)
    assert new_name.endswith(" best") and new_name != old_name
    assert sorted(os.listdir(logdir)) == sorted([new_name, tb.MANIFEST])
    # renamed, not rewritten: the same output scalars file, no second copy
    assert files(logdir / new_name) == [output_file, tb.HPARAMS_FILE]

    manifest = json.loads((logdir / tb.MANIFEST).read_text())
    assert list(manifest["runs"]) == [out.id]


def test_sync_result_names_changes(home, index, two_runs, tmp_path):
    own, _own_file, out = two_runs
    first = tb.sync_logdir(home, tmp_path / "tb")
    assert sorted(first.added) == sorted([tb.run_dir_name(own), tb.run_dir_name(out)])
    assert list(first.runs) == [out.id, own.id]
    again = tb.sync_logdir(home, tmp_path / "tb")
    assert (again.added, again.renamed, again.removed) == ([], [], [])
    api.label_runs(home, [own.id], set="x")
    api.delete_runs(home, [out.id])
    third = tb.sync_logdir(home, tmp_path / "tb")
    relabelled = api.runs(home, [own.id])[0]
    assert third.renamed == [(tb.run_dir_name(own), tb.run_dir_name(relabelled))]
    assert third.removed == [tb.run_dir_name(out)]


def test_running_run_gets_new_points_appended(home, index, tmp_path):
    run = make_run(home, index, status="running", scalars={"loss": [(1, 1.0)]})
    mirror = tb.LogdirMirror(home, tmp_path / "tb")
    mirror.sync()
    outdir = tmp_path / "tb" / tb.run_dir_name(run) / ".rundb"
    assert len(os.listdir(outdir)) == 1
    _exp, _start, end = hparams(tmp_path / "tb" / tb.run_dir_name(run) / tb.HPARAMS_FILE)
    assert end.status == 3  # STATUS_RUNNING

    add_points(index, run, ".rundb", {"loss": [(2, 0.5), (3, 0.25)]})
    time.sleep(0.01)
    mirror.sync()
    mirror.sync()  # nothing new: no new file
    names = sorted(os.listdir(outdir))
    assert len(names) == 2
    assert [tb_scalars(outdir / n) for n in names] == [
        {"loss": [(1, 1.0)]}, {"loss": [(2, 0.5), (3, 0.25)]}]

    store.save_run(index, run, status="completed", stopped=run.started + 1, exit_status=0)
    mirror.sync()
    _exp, _start, end = hparams(tmp_path / "tb" / tb.run_dir_name(run) / tb.HPARAMS_FILE)
    assert end.status == 1


def test_scalars_the_run_logs_to_rundb_events_are_not_written_twice(home, index, tmp_path):
    run = make_run(home, index, scalars={"acc": [(1, 0.5)]})  # from the output
    logged = write_events(index, run, ".rundb", {"loss": [(1, 2.0), (2, 1.0)]})  # from the API
    tb.sync_logdir(home, tmp_path / "tb")
    outdir = tmp_path / "tb" / tb.run_dir_name(run) / ".rundb"
    ours = [n for n in os.listdir(outdir) if not os.path.islink(outdir / n)]
    assert os.path.islink(outdir / os.path.basename(logged))
    assert len(ours) == 1 and tb_scalars(outdir / ours[0]) == {"acc": [(1, 0.5)]}


# --- selection ------------------------------------------------------------------------


def test_filters_and_run_specs_select_runs(cli, two_runs, tmp_path):
    own, _own_file, out = two_runs
    sync(cli, tmp_path / "a", "-F", "=lr > 0.05")
    assert sorted(os.listdir(tmp_path / "a")) == sorted([tb.MANIFEST, tb.run_dir_name(own)])
    sync(cli, tmp_path / "b", "1")
    assert sorted(os.listdir(tmp_path / "b")) == sorted([tb.MANIFEST, tb.run_dir_name(out)])


def test_batch_runs_only_with_include_batch(cli, home, index, tmp_path):
    trial = make_run(home, index, flags={"x": 1})
    batch = make_run(home, index, op="train.py+gp")
    sync(cli, tmp_path / "a")
    assert sorted(os.listdir(tmp_path / "a")) == sorted([tb.MANIFEST, tb.run_dir_name(trial)])
    sync(cli, tmp_path / "b", "--include-batch")
    assert tb.run_dir_name(batch) in os.listdir(tmp_path / "b")


def test_bad_filter_is_a_usage_error(cli, two_runs, tmp_path):
    result = cli("tensorboard", "--no-server", "--logdir", str(tmp_path / "tb"), "-F", "=lr >")
    assert result.exit_code == 2
    assert result.stderr.startswith("rundb: ")


def test_foreign_directory_is_refused_and_left_alone(cli, two_runs, tmp_path):
    logdir = tmp_path / "mine"
    logdir.mkdir()
    (logdir / "notes.txt").write_text("keep me")
    result = cli("tensorboard", "--no-server", "--logdir", str(logdir))
    assert result.exit_code == 1
    assert result.stderr == (f"rundb: {logdir} is not empty and was not made by "
                             "'rundb tensorboard'; choose another --logdir\n")
    assert os.listdir(logdir) == ["notes.txt"]


def test_default_logdir_is_a_new_temporary_directory(cli, two_runs):
    import shutil

    result = cli("tensorboard", "--no-server")
    assert result.exit_code == 0
    logdir = result.stdout.strip()
    try:
        assert os.path.basename(logdir).startswith("rundb-tensorboard-")
        assert len(os.listdir(logdir)) == 3
    finally:
        shutil.rmtree(logdir)


# --- names ------------------------------------------------------------------------------


def named_run(op="train.py", label="", started=1_700_000_000_000_000):
    return Run(id="0123456789abcdef0123456789abcdef", op=op, label=label, started=started,
               created=started)


def test_run_dir_name():
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000))
    assert tb.run_dir_name(named_run(label="lr=0.1")) == f"01234567 train.py {stamp} lr=0.1"
    assert tb.run_dir_name(named_run()) == f"01234567 train.py {stamp}"
    assert tb.run_dir_name(named_run(label="data=a/b\\c\tx")) == (
        f"01234567 train.py {stamp} data=a_b_c_x")


def test_run_dir_name_is_truncated():
    name = tb.run_dir_name(named_run(label="x" * 500))
    assert len(name) == tb.MAX_RUN_NAME_LEN and name.endswith("...")
    wide = tb.run_dir_name(named_run(label="\u6f22" * 200), max_len=1000)
    assert len(wide.encode("utf-8")) <= 240 and wide.endswith("...")


@pytest.mark.slow
def test_a_real_run_end_to_end(cli, home, project, tmp_path):
    from conftest import write

    write(project / "train.py", """
        import time
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        lr = 0.5
        w = EventFileWriter("logs/train")
        for step in range(1, 4):
            print(f"loss: {lr / step} (step {step})")
            s = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="acc", simple_value=step / 4)])
            w.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=s))
        w.close()
    """)
    assert cli("run", "train.py", "lr=0.25", "-y").exit_code == 0
    sync(cli, tmp_path / "tb")
    (run,) = api.runs(home)
    root = tmp_path / "tb" / tb.run_dir_name(run)
    (own,) = os.listdir(root / "logs/train")
    assert tb_scalars(root / "logs/train" / own) == {"acc": [(1, 0.25), (2, 0.5), (3, 0.75)]}
    (ours,) = os.listdir(root / ".rundb")
    assert tb_scalars(root / ".rundb" / ours) == {"loss": [(1, 0.25), (2, 0.125), (3, 0.25 / 3)]}
    _exp, start, end = hparams(root / tb.HPARAMS_FILE)
    assert start.hparams["lr"].number_value == 0.25 and end.status == 1
