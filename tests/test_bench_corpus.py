"""bench/corpus.py: the generated corpus, and the rundb and Guild stores written from it."""

import csv
import hashlib
import importlib.util
import io
import os
import re
import struct
import subprocess
import sys

import pytest
import yaml

from rundb import api
from rundb.index import reader
from rundb.index.db import open_index
from rundb.tfevents import iter_event_files, read_scalars

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUILD = os.path.join(REPO, "bench", ".peers", "guild", "bin", "guild")


def _load_corpus():
    name = "bench_corpus"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "bench", "corpus.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus()


def _runs(n=6, steps=12, seed=0):
    return list(corpus.generate(n, steps, seed=seed))


def test_same_seed_gives_same_runs():
    assert _runs(seed=3) == _runs(seed=3)
    other = _runs(seed=4)
    assert {r.id for r in _runs(seed=3)}.isdisjoint(r.id for r in other)


def test_run_i_does_not_depend_on_n_runs():
    assert _runs(n=3) == _runs(n=6)[:3]


def test_generated_runs_have_the_documented_shape():
    runs = _runs(n=20, steps=30)
    assert len({r.id for r in runs}) == 20
    for prev, run in zip(runs, runs[1:]):
        assert run.started > prev.started
    for run in runs:
        assert re.fullmatch(r"[0-9a-f]{32}", run.id)
        assert run.stopped > run.started
        assert tuple(run.flags) == corpus.FLAGS
        assert [type(run.flags[n]) for n in corpus.FLAGS] == [
            float, int, float, str, int, int, float, str
        ]
        assert tuple(run.scalars) == corpus.TAGS
        for values in run.scalars.values():
            assert len(values) == 30
            # float32 values: what TF event files store, so every store holds the same numbers
            assert all(struct.unpack("<f", struct.pack("<f", v))[0] == v for v in values)
        loss = run.scalars["loss"]
        assert sum(loss[-5:]) < sum(loss[:5])
        assert all(0.0 <= v <= 1.0 for v in run.scalars["acc"] + run.scalars["val_acc"])
        assert run.scalars["lr_sched"][0] == pytest.approx(run.flags["lr"], rel=1e-6)


def _summaries_by_id(home_path):
    with open_index(os.path.join(home_path, "index.db")) as index:
        rids = reader.run_rids(index)
        runs = {r.rid: r for r in reader.load_runs(index, rids)}
        summaries = reader.scalar_summaries(index, rids)
        return runs, {runs[rid].id: rows for rid, rows in summaries.items()}


def test_write_rundb_holds_every_run_flag_and_summary(home):
    runs = _runs()
    assert corpus.write_rundb(home.path, iter(runs), runs_per_transaction=4) == len(runs)
    loaded, summaries = _summaries_by_id(home.path)
    by_id = {r.id: r for r in loaded.values()}
    assert set(by_id) == {r.id for r in runs}
    for spec in runs:
        run = by_id[spec.id]
        assert (run.op, run.status, run.exit_status) == ("train", "completed", 0)
        assert (run.started, run.stopped) == (spec.started, spec.stopped)
        assert run.flags == spec.flags
        assert [type(v) for v in run.flags.values()] == [type(v) for v in spec.flags.values()]
        rows = summaries[spec.id]
        assert [(s["prefix"], s["tag"]) for s in rows] == [
            (".rundb", tag) for tag in sorted(corpus.TAGS)
        ]
        for s in rows:
            values = spec.scalars[s["tag"]]
            assert s["count"] == len(values)
            assert (s["first_val"], s["last_val"], s["last_step"]) == (
                values[0], values[-1], len(values) - 1
            )
            assert s["min_val"] == min(values)
            assert s["max_val"] == max(values)
    # newest first, as `rundb runs` lists them
    assert [r.id for r in loaded.values()] == [r.id for r in reversed(runs)]


def test_index_rebuild_restores_the_same_summaries(home, cli):
    corpus.write_rundb(home.path, corpus.generate(5, 10))
    _, before = _summaries_by_id(home.path)
    result = cli("index", "rebuild")
    assert result.exit_code == 0, result.output
    _, after = _summaries_by_id(home.path)
    assert after == before
    assert api.check_index(home) == []


def test_write_guild_layout(tmp_path):
    runs = _runs(n=3, steps=7)
    guild_home = tmp_path / "guild"
    assert corpus.write_guild(str(guild_home), runs) == 3
    guildfile = guild_home / "project" / "guild.yml"
    digest = hashlib.md5(guildfile.read_bytes()).hexdigest()
    assert sorted(os.listdir(guild_home / "runs")) == sorted(r.id for r in runs)
    for spec in runs:
        guild_dir = guild_home / "runs" / spec.id / ".guild"
        assert sorted(os.listdir(guild_dir / "attrs")) == sorted(corpus.GUILD_ATTRS)

        def attr(name):
            return yaml.safe_load((guild_dir / "attrs" / name).read_text())

        assert attr("id") == spec.id
        assert attr("flags") == spec.flags
        assert (attr("started"), attr("stopped"), attr("exit_status")) == (
            spec.started, spec.stopped, 0
        )
        assert attr("label") == spec.label()
        assert (guild_dir / "opref").read_text() == f"guildfile:{guildfile} {digest} '' train"
        [(prefix, path)] = iter_event_files(guild_dir)
        assert prefix == ""
        points = [(tag, step, value) for tag, value, step, _wall in read_scalars(path)]
        assert points == [(tag, step, value) for tag, step, value, _ in spec.points()]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(GUILD), reason="no Guild peer venv (make bench-peers)")
def test_real_guild_compare_sees_flags_and_last_values(tmp_path):
    runs = _runs(n=4, steps=9)
    guild_home = tmp_path / "guild"
    corpus.write_guild(str(guild_home), runs)
    env = {**os.environ, "GUILD_HOME": str(guild_home)}
    cwd = guild_home / "project"

    def guild(*args):
        proc = subprocess.run([GUILD, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    rows = list(csv.DictReader(io.StringIO(guild("compare", "--csv", "-"))))
    assert [r["run"] for r in rows] == [r.id[:8] for r in reversed(runs)]
    for spec, row in zip(reversed(runs), rows):
        assert (row["operation"], row["status"]) == ("train", "completed")
        for name, value in spec.flags.items():
            assert type(value)(row[name]) == value
        assert int(row["step"]) == spec.steps - 1
        for tag in corpus.TAGS:
            assert float(row[tag]) == spec.last(tag)
    best = min(runs, key=lambda r: r.last("loss"))
    assert guild("select", "--min", "loss").strip() == best.id


@pytest.mark.slow
def test_scale_write_bench_runs_at_a_tiny_size(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "scale_write.py"), "--runs", "50",
         "--writers", "2", "--writer-runs", "2", "--jobs", "1", "--cache", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| `rundb index rebuild`, 50 run dirs |" in proc.stdout
    assert "| 2 writer processes (add_series)" in proc.stdout
    assert len(os.listdir(tmp_path / "write-50-v1" / "runs")) == 50
