"""`rundb import --guild`: runs of a Guild AI home, built here in Guild's on-disk layout."""

import hashlib
import json
import os
import struct

import pytest
import yaml

from rundb import api
from rundb.index import reader
from rundb.index.db import open_index
from rundb.tfevents import ScalarEventWriter
from rundb.output import read_output

T0 = 1_700_000_000_000_000  # microseconds, as Guild stores times

GUILDFILE_OPREF = "guildfile:/proj/guild.yml 'abc123' '' train"


def guild_run(guild_home, run_id, attrs, opref=GUILDFILE_OPREF, markers=(), scalars=None,
              logs=None, output=None):
    """Write one run as Guild AI does: .guild/attrs/<name> YAML files, .guild/opref,
    .guild/output (+ binary output.index), markers, and TF event files."""
    run_dir = os.path.join(guild_home, "runs", run_id)
    guild = os.path.join(run_dir, ".guild")
    os.makedirs(os.path.join(guild, "attrs"))
    for name, value in {"id": run_id, **attrs}.items():
        with open(os.path.join(guild, "attrs", name), "w") as f:
            f.write(value if isinstance(value, RawYAML) else yaml.safe_dump(value))
    if opref is not None:
        with open(os.path.join(guild, "opref"), "w") as f:
            f.write(opref + "\n")
    for marker in markers:
        with open(os.path.join(guild, marker), "w") as f:
            f.write(marker == "LOCK" and str(os.getpid()) or "")
    if scalars:  # Guild's output scalars live in .guild/
        with ScalarEventWriter(guild) as w:
            for tag, points in scalars.items():
                for step, value in points:
                    w.add_scalar(tag, value, step)
    if logs:  # a script's own event file elsewhere in the run
        with ScalarEventWriter(os.path.join(run_dir, "logs")) as w:
            for tag, points in logs.items():
                for step, value in points:
                    w.add_scalar(tag, value, step)
    if output:
        with open(os.path.join(guild, "output"), "wb") as f, \
                open(os.path.join(guild, "output.index"), "wb") as idx:
            for time_ms, stream, line in output:
                f.write(line.encode() + b"\n")
                idx.write(struct.pack("!QB", time_ms, stream))
    return run_dir


class RawYAML(str):
    """Attribute file text written as is (to write a broken one)."""


def times(i, exit_status=0):
    out = {"initialized": T0 + i * 60_000_000, "started": T0 + i * 60_000_000 + 1000,
           "stopped": T0 + i * 60_000_000 + 31_001_000}
    if exit_status is not None:
        out["exit_status"] = exit_status
    return out


def rid(n):
    return f"{n:032x}"


FLAGS = {"lr": 0.01, "epochs": 10, "model": "cnn", "verbose": True, "layers": [64, 32],
         "dropout": None, "ratio": 1.0}


@pytest.fixture
def guild_home(tmp_path):
    """A Guild home with runs of every status, a model op, a batch and a broken run."""
    g = str(tmp_path / "guild")
    guild_run(g, rid(1), {
        **times(1), "flags": FLAGS, "label": "lr=0.01 model=cnn", "marked": True,
        "cmd": ["python", "-um", "guild.op_main", "train", "--lr", "0.01"],
        "env": {"FLAG_LR": "0.01", "GUILD_OP": "train"}, "host": "gpu1", "user": "ann",
        "random_seed": 123, "sourcecode_digest": "d" * 32, "platform": {"cpus": 2},
        "op": {"op-cmd": {"cmd-args": ["${python_exe}"]}},
    }, scalars={"loss": [(1, 1.0), (2, 0.5), (3, 0.25)], "acc": [(1, 0.5), (3, 0.875)]},
        logs={"val_loss": [(1, 0.75), (2, 0.625)]},
        output=[(1_700_000_000_100, 0, "loss: 1.0"), (1_700_000_000_200, 1, "warning!")])
    guild_run(g, rid(2), {**times(2, -15), "flags": {"n": 3}},
              opref="script:/proj '' '' train.py")
    guild_run(g, rid(3), {**times(3, 1), "flags": {}},
              opref="guildfile:/proj/guild.yml abc mnist train")
    guild_run(g, rid(4), {**times(4, None), "flags": {}})  # no exit status, no process
    guild_run(g, rid(5), {**times(5), "flags": {}}, markers=["PENDING"])
    guild_run(g, rid(6), {**times(6, None), "flags": {}}, markers=["STAGED"])
    guild_run(g, rid(7), {**times(7), "flags": RawYAML("lr: [0.1\n  bad: : :\n")})
    # a batch and its two trials, linked from the batch run directory as Guild does
    batch = guild_run(g, rid(8), {**times(8), "flags": {}},
                      opref="guildfile:/proj/guild.yml abc '' train+")
    for n in (9, 10):
        guild_run(g, rid(n), {**times(n), "flags": {"lr": 0.1 * (n - 8)}},
                  scalars={"loss": [(0, 1.0 / n)]})
        os.symlink(os.path.join(g, "runs", rid(n)), os.path.join(batch, rid(n)))
    return g


def snapshot(path):
    """Every file, directory and link under path with its content digest or target."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(root, name)
            if os.path.islink(p):
                out[p] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[p] = ("file", hashlib.md5(f.read()).hexdigest())
            else:
                out[p] = ("dir",)
    return out


@pytest.fixture
def imported(cli, home, guild_home):
    before = snapshot(guild_home)
    result = cli("import", "--guild", guild_home, "-y")
    assert snapshot(guild_home) == before, "the Guild home must not change"
    return result


def runs_by_id(home):
    return {r.id: r for r in api.runs(home, flt=_all())}


def _all():
    from rundb.api.selection import RunFilter

    return RunFilter()


def test_import_reports_the_broken_run_and_imports_the_rest(imported, guild_home):
    assert imported.exit_code == 1
    lines = imported.stderr.splitlines()
    broken = os.path.join(guild_home, "runs", rid(7))
    assert "Imported 9 run(s)" in lines
    [error] = [line for line in lines if line.startswith("rundb: ")]
    assert error.startswith(
        f"rundb: cannot import {broken}: invalid YAML in attribute 'flags': ")
    assert sorted(line for line in lines if line.startswith("Copying")) == sorted(
        f"Copying {rid(n)}" for n in (1, 2, 3, 4, 5, 6, 8, 9, 10))


def test_statuses_and_operations(imported, home):
    runs = runs_by_id(home)
    assert rid(7) not in runs
    got = {n: (runs[rid(n)].op, runs[rid(n)].status, runs[rid(n)].exit_status)
           for n in (1, 2, 3, 4, 5, 6, 8)}
    assert got == {
        1: ("train", "completed", 0),
        2: ("train.py", "terminated", -15),
        3: ("mnist:train", "error", 1),
        4: ("train", "error", None),
        5: ("train", "pending", 0),
        6: ("train", "staged", None),
        8: ("train+", "completed", 0),
    }


def test_flags_keep_their_types(imported, home):
    headers, rows = api.sql_query(home, "SELECT name, value, type FROM flags WHERE run = ? "
                                        "ORDER BY name", [rid(1)])
    assert rows == [("dropout", None, "null"), ("epochs", 10, "int"),
                    ("layers", "[64, 32]", "list"), ("lr", 0.01, "float"),
                    ("model", "cnn", "str"), ("ratio", 1.0, "float"), ("verbose", 1, "bool")]
    assert runs_by_id(home)[rid(1)].flags == FLAGS


def test_run_fields_and_attrs(imported, home):
    run = runs_by_id(home)[rid(1)]
    assert run.label == "lr=0.01 model=cnn"
    assert run.marked is True
    assert (run.created, run.started, run.stopped) == (T0 + 60_000_000, T0 + 60_001_000,
                                                       T0 + 91_001_000)
    assert (run.host, run.user, run.sourcecode_digest) == ("gpu1", "ann", "d" * 32)
    assert run.tags == [] and run.parent is None
    assert run.attrs["cmd"] == ["python", "-um", "guild.op_main", "train", "--lr", "0.01"]
    assert run.attrs["env"] == {"FLAG_LR": "0.01", "GUILD_OP": "train"}
    assert run.attrs["random_seed"] == 123
    assert run.attrs["guild_opref"] == GUILDFILE_OPREF
    assert run.attrs["guild_op"] == {"op-cmd": {"cmd-args": ["${python_exe}"]}}
    assert run.attrs["platform"] == {"cpus": 2}
    assert "id" not in run.attrs and "flags" not in run.attrs


def test_scalar_summaries(imported, home):
    summaries = api.scalar_summaries(home, [rid(1)])[rid(1)]
    got = {(s["prefix"], s["tag"]): (s["first_val"], s["last_val"], s["last_step"], s["min_val"],
                                     s["min_step"], s["count"]) for s in summaries}
    assert got == {
        (".rundb", "acc"): (0.5, 0.875, 3, 0.5, 1, 2),
        (".rundb", "loss"): (1.0, 0.25, 3, 0.25, 3, 3),
        ("logs", "val_loss"): (0.75, 0.625, 2, 0.625, 2, 2),
    }
    # compare names output scalars by their bare tag, as for rundb's own runs
    from rundb.api.comparison import compare_table

    with api.open_home_index(home) as ix:
        table = compare_table(ix, [rid(1)])
    row = dict(zip(table.headers, table.rows[0]))
    assert row["loss"] == 0.25 and row["logs#val_loss"] == 0.625


def test_run_directory_is_converted(imported, home):
    run_dir = home.run_dir(rid(1))
    assert not os.path.exists(os.path.join(run_dir, ".guild"))
    assert sorted(os.listdir(os.path.join(run_dir, ".rundb", "attrs")))[:3] == \
        ["cmd", "env", "exit_status"]
    with open(os.path.join(run_dir, ".rundb", "meta.json")) as f:
        meta = json.load(f)
    assert meta["id"] == rid(1) and meta["op"] == "train" and meta["output_scalars"] is None
    assert read_output(run_dir) == [(1_700_000_000_100, 0, "loss: 1.0"),
                                    (1_700_000_000_200, 1, "warning!")]


def test_batch_trials_get_their_parent(imported, home):
    runs = runs_by_id(home)
    assert runs[rid(9)].parent == rid(8) and runs[rid(10)].parent == rid(8)
    link = os.path.join(home.run_dir(rid(8)), rid(9))
    assert os.readlink(link) == os.path.join(os.pardir, rid(9))
    assert os.path.realpath(link) == os.path.realpath(home.run_dir(rid(9)))


def test_index_matches_the_converted_run_directories(imported, cli):
    result = cli("index", "check")
    assert result.exit_code == 0, result.stdout


def test_reimport_skips_every_run(imported, cli, home, guild_home):
    before = reader.run_rids(open_index(home.index_path))
    result = cli("import", "--guild", guild_home, "-y")
    assert result.exit_code == 1  # the broken run is still reported
    assert result.stderr.count("exists, skipping") == 9
    assert "Imported 0 run(s)" in result.stderr
    assert reader.run_rids(open_index(home.index_path)) == before


def test_import_preview(cli, guild_home):
    result = cli("import", "--guild", guild_home, input="n\n")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"You are about to import (copy) the following runs from '{guild_home}':"
    assert len([line for line in lines if line.startswith("  [")]) == 9
    assert cli("runs").stdout == ""


def test_a_running_run_is_left_alone(cli, home, tmp_path):
    g = str(tmp_path / "g")
    guild_run(g, rid(1), {**times(1, None), "flags": {}}, markers=["LOCK"])
    guild_run(g, rid(2), {**times(2), "flags": {}})
    result = cli("import", "--guild", g, "-y")
    assert result.exit_code == 0
    assert f"WARNING: {rid(1)} is still running, skipping" in result.stderr
    assert "Imported 1 run(s)" in result.stderr
    assert set(runs_by_id(home)) == {rid(2)}


@pytest.mark.parametrize("make,error", [
    (None, "rundb: Guild home '{path}' does not exist\n"),
    ("file", "rundb: invalid Guild home '{path}' - expected a directory\n"),
    ("dir", "rundb: invalid Guild home '{path}' - no runs directory\n"),
    ("runs", "rundb: invalid Guild home '{path}' - no runs found\n"),
])
def test_bad_guild_homes(cli, tmp_path, make, error):
    path = tmp_path / "g"
    if make == "file":
        path.write_text("")
    elif make == "dir":
        path.mkdir()
    elif make == "runs":
        (path / "runs" / "x").mkdir(parents=True)
    result = cli("import", "--guild", str(path), "-y")
    assert result.exit_code == 1
    assert result.stderr == error.format(path=path)


def test_guild_with_move_is_a_usage_error(cli, guild_home):
    result = cli("import", "--guild", guild_home, "--move", "-y")
    assert result.exit_code == 2
    assert "--move cannot be used with --guild" in result.stderr


def test_api_import_guild_returns_data(home, guild_home):
    result = api.import_guild(home, guild_home)
    assert sorted(result.done) == sorted(rid(n) for n in (1, 2, 3, 4, 5, 6, 8, 9, 10))
    assert [os.path.basename(d) for d, _msg in result.errors] == [rid(7)]
    result = api.import_guild(home, guild_home)
    assert result.done == [] and len(result.skipped) == 9
