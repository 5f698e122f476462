"""`index rebuild` and `index check` of many run directories: the directories are read in a
pool of processes (``jobs``) and the rows written in batches, and the result is the
index that indexing each directory in turn gives, row for row; `index check` reports every
difference it reported when it compared a whole rebuilt index."""

import json
import os
import shutil
import sqlite3
from itertools import repeat

import pytest
from conftest import PPID, live_pids

from rundb.errors import RundbError
from rundb.index import reader, writer
from rundb.index.db import open_index
from rundb.index.rebuild import build_index, check, index_run_dir, rebuild, run_dirs
from rundb.ops.runner import new_run
from rundb.output import OutputWriter
from rundb.outputscalars import OutputScalarParser
from rundb.run import meta_path, write_meta
from rundb.tfevents import ScalarEventWriter

#: Every table, each row in storage order (rowid, or the primary key)
TABLES = {
    "run": "rid", "flag_name": "id", "run_flag": "rid, name", "run_tag": "rid, tag",
    "run_attr": "rid, name", "scalar_key": "id", "scalar_point": "rowid",
    "scalar_stat": "rid, key", "package_set": "digest",
}


def all_rows(path):
    conn = sqlite3.connect(path)
    try:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
                for table, order in TABLES.items()}
    finally:
        conn.close()


def varied_home(home, index, n=5):
    """Runs with output scalars written as a live run writes them (two flushes, so the
    index's totals are summed in two parts), event-file scalars, typed flags, tags,
    attributes, a package set, a deleted run, and a NaN in a series."""
    config = OutputScalarParser(None).patterns_config
    digest = "d" * 64
    runs = []
    for i in range(n):
        attrs = {"packages": digest, "note": {"i": i, "x": [1, 2.5]}} if i < 2 else {}
        run = new_run(home, index, f"op{i % 2}", {"lr": 0.1 * (i + 1), "name": f"r{i}",
                      "ok": i % 2 == 0, "layers": [i, 2], "opt": None},
                      label=f"run {i}", tags=["t", f"g{i % 2}"], attrs=attrs,
                      output_scalars=config, status="completed")
        if i < 2:
            with open(os.path.join(run.dir, ".rundb", "packages.json"), "w") as f:
                json.dump({"numpy": "1.26.0", "rundb": str(i)}, f)
        out = OutputWriter(run.dir)
        parser = OutputScalarParser.from_config(config)
        for t, lines in enumerate((["loss: 0.1 (step 1)", "acc: 0.5"],
                                   ["loss: 0.2 (step 2)", "loss: 0.3 (step 3)",
                                    f"acc: {'nan' if i == 3 else 0.7}", f"extra{i}: {i}"])):
            time_ms = 1_700_000_000_000 + 1000 * (t + 1)
            for line in lines:
                out.write(line, 0, time_ms)
            found = parser.feed_text("\n".join(lines) + "\n")
            writer.add_series(index, run.rid, {(".rundb", k): (s, v, time_ms / 1000)
                                               for k, (s, v) in found.items()})
        out.close()
        with ScalarEventWriter(os.path.join(run.dir, "logs")) as w:
            for step in range(3):
                w.add_scalar("val_acc", 0.25 * step + i, step)
        writer.add_series(index, run.rid, {("logs", "val_acc"): (
            [0, 1, 2], [0.0 + i, 0.25 + i, 0.5 + i], [0.0, 0.0, 0.0])})
        runs.append(run)
    # a deleted run: in the trash, its row says so
    gone = runs[-1]
    os.makedirs(home.trash_dir, exist_ok=True)
    trashed = os.path.join(home.trash_dir, gone.id)
    os.rename(gone.dir, trashed)
    gone.dir = trashed
    index.conn.execute("UPDATE run SET deleted = 1 WHERE rid = ?", (gone.rid,))
    return runs


def one_by_one(home, path):
    """The index of indexing each run directory in turn (what a rebuild wrote before)."""
    index = open_index(path)
    try:
        for run_dir, deleted in run_dirs(home):
            try:
                index_run_dir(index, run_dir, deleted)
            except RundbError:
                pass
    finally:
        index.close()


@pytest.mark.parametrize("jobs", [1, 2])
def test_batched_build_writes_the_rows_indexing_one_by_one_writes(home, index, tmp_path, jobs):
    runs = varied_home(home, index)
    # one run id in two directories (the trash copy is read last and kept), and one run
    # whose meta.json cannot be read
    shutil.copytree(runs[0].dir, os.path.join(home.trash_dir, runs[0].id))
    with open(meta_path(runs[1].dir), "w") as f:
        f.write("{not json")
    one_by_one(home, str(tmp_path / "reference.db"))
    result = build_index(home, str(tmp_path / "built.db"), jobs=jobs)
    assert result.indexed == len(runs) and len(result.errors) == 1
    assert runs[1].dir in result.errors[0]
    expected = all_rows(str(tmp_path / "reference.db"))
    assert len(expected["scalar_point"]) > 20 and len(expected["package_set"]) == 1
    assert all_rows(str(tmp_path / "built.db")) == expected


@pytest.mark.parametrize("jobs", [1, 2])
def test_rebuild_in_a_pool_restores_the_live_rows(home, index, jobs):
    from test_rebuild import dump

    varied_home(home, index)
    before = dump(index)
    index.close()
    result = rebuild(home, jobs=jobs)
    assert result.errors == []
    after = dump(open_index(home.index_path))
    # totals summed in two parts live and at once by a rebuild may differ in the last bits
    strip = lambda rows: [row[:-1] for row in rows]  # noqa: E731
    assert strip(after.pop("summary")) == strip(before.pop("summary"))
    assert after == before


def tamper(home, index, runs):
    """One difference of each kind `index check` reports; the lines it must print."""
    conn = index.conn
    a, b, c, d, e = runs
    conn.execute("UPDATE run_flag SET value = 9.9 WHERE rid = ? AND name = "
                 "(SELECT id FROM flag_name WHERE name = 'lr')", (a.rid,))
    conn.execute("UPDATE run SET label = 'tampered' WHERE rid = ?", (b.rid,))
    conn.execute("INSERT INTO run_tag (rid, tag) VALUES (?, 'extra')", (b.rid,))
    conn.execute("UPDATE run_attr SET value = '3' WHERE rid = ? AND name = 'note'", (a.rid,))
    conn.execute("UPDATE scalar_stat SET last_val = 42 WHERE rid = ? AND key = "
                 "(SELECT id FROM scalar_key WHERE tag = 'loss')", (c.rid,))
    conn.execute("DELETE FROM scalar_stat WHERE rid = ? AND key = "
                 "(SELECT id FROM scalar_key WHERE tag = 'val_acc')", (d.rid,))
    conn.execute("UPDATE run SET deleted = 0 WHERE rid = ?", (e.rid,))
    # a run in the index whose directory is gone; a directory the index lacks; a run
    # whose meta.json cannot be read
    orphan = new_run(home, index, "op", {}, status="completed")
    shutil.rmtree(orphan.dir)
    missing = new_run(home, index, "op", {}, status="completed")
    writer.delete_run_rows(index, missing.rid)
    broken = new_run(home, index, "op", {}, status="completed")
    with open(meta_path(broken.dir), "w") as f:
        f.write("{not json")
    expected_prefixes = [
        f"cannot read run: {broken.dir}",
        f"{a.short_id}: attrs differs",
        f"{a.short_id}: flags differs",
        f"{b.short_id}: label differs (index 'tampered', files 'run 1')",
        f"{b.short_id}: tags differs (index ['extra', 'g1', 't'], files ['g1', 't'])",
        f"{c.short_id}: scalar .rundb#loss differs",
        f"{d.short_id}: scalar logs#val_acc differs (index None",
        f"{e.short_id}: deleted differs (index False, files True)",
        f"{broken.short_id}: in the index but has no run directory",
        f"{missing.short_id}: missing from the index",
        f"{orphan.short_id}: in the index but has no run directory",
    ]
    return expected_prefixes


@pytest.mark.parametrize("jobs", [1, 2])
def test_check_reports_each_kind_of_difference(home, index, jobs):
    runs = varied_home(home, index)
    assert check(home, jobs=jobs) == []
    expected = tamper(home, index, runs)
    diffs = check(home, jobs=jobs)
    assert len(diffs) == len(expected), diffs
    assert diffs[0] == expected[0] + ": cannot read meta.json: " + diffs[0].split(": ", 3)[-1]
    by_run = sorted(expected[1:], key=lambda line: line.split(":")[0])
    for line, prefix in zip(diffs[1:], by_run):
        assert line.startswith(prefix), (line, prefix)


def test_check_in_a_pool_prints_what_it_prints_alone(home, index):
    runs = varied_home(home, index)
    tamper(home, index, runs)
    assert check(home, jobs=2) == check(home, jobs=1)


def test_check_compares_totals_with_their_tolerance(home, index):
    """A live total summed batch by batch differs in the last bits from the files' sum:
    not a difference; a total that really differs is one."""
    runs = varied_home(home, index, n=2)
    live = index.conn.execute("SELECT total FROM scalar_stat s JOIN scalar_key k "
                              "ON k.id = s.key WHERE k.tag = 'loss' AND rid = ?",
                              (runs[0].rid,)).fetchone()[0]
    assert live != 0.1 + 0.2 + 0.3  # 0.1 + (0.2 + 0.3): the case this test is about
    assert check(home, jobs=1) == []
    index.conn.execute("UPDATE scalar_stat SET total = total + 1e-6 WHERE rid = ?",
                       (runs[0].rid,))
    diffs = check(home, jobs=1)
    assert len(diffs) == 4 and all("differs" in line for line in diffs)  # its 4 keys


def test_check_of_one_id_in_two_directories_compares_the_last(home, index):
    run = new_run(home, index, "op", {"a": 1}, status="completed")
    os.makedirs(home.trash_dir, exist_ok=True)
    shutil.copytree(run.dir, os.path.join(home.trash_dir, run.id))
    assert check(home) == [f"{run.short_id}: deleted differs (index False, files True)"]
    index.conn.execute("UPDATE run SET deleted = 1 WHERE rid = ?", (run.rid,))
    assert check(home) == []


def test_check_finds_a_run_whose_meta_changed_after_indexing(home, index):
    run = new_run(home, index, "op", {"a": 1}, status="completed")
    run.flags = {"a": 2}
    write_meta(run)
    assert check(home, jobs=2) == [f"{run.short_id}: flags differs (index {{'a': 1}}, "
                                   f"files {{'a': 2}})"]


def test_parser_from_config_is_fresh_each_time():
    """Compiled once, but each parser keeps its own step."""
    config = OutputScalarParser(None).patterns_config
    a = OutputScalarParser.from_config(config)
    a.feed("loss: 1 (step 5)")
    b = OutputScalarParser.from_config(config)
    assert b.step == 0 and a.step == 5
    assert b.feed("loss: 2") == [("loss", 2.0, 0)]
    assert a._entries is b._entries


def _children():
    """{pid: (command line, {descriptor targets})} of this process's child processes (a
    descriptor closed while they are listed is left out, not its whole process)."""
    out = {}
    for pid in live_pids(PPID, os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode()
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone meanwhile
        fds = set()
        for fd in names:
            try:
                fds.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass  # closed meanwhile
        out[pid] = (cmd, fds)
    return out


def test_pool_processes_hold_no_descriptor_of_the_index(home, index):
    """The pool's processes are new Python processes, not forks of this one: while they
    work, none holds a descriptor of the index this process has open (touching it through
    a copied SQLite connection, or closing a copy, could corrupt it or drop its locks),
    and none runs this process's __main__ again."""
    from rundb.index.rebuild import derive_all

    run = new_run(home, index, "op", {}, status="completed")
    derived = derive_all([(run.dir, False)] * 64 * 20, jobs=2)
    assert next(derived).run_id == run.id  # the pool is up; its answers wait in pipes
    workers = {pid: fds for pid, (cmd, fds) in _children().items() if "_serve()" in cmd}
    assert len(workers) == 2
    for fds in workers.values():
        assert not any(target.startswith(home.index_path) for target in fds), fds
    assert sum(1 for _ in derived) == 64 * 20 - 1
    assert not any("_serve()" in cmd for cmd, _fds in _children().values())


def test_pool_reports_a_process_that_died(home, index):
    from rundb.index.rebuild import derive_all

    run = new_run(home, index, "op", {}, status="completed")
    derived = derive_all([(run.dir, False)] * 64 * 20, jobs=2)
    next(derived)
    for pid, (cmd, _fds) in _children().items():
        if "_serve()" in cmd:
            os.kill(pid, 9)
    with pytest.raises(RundbError, match="ended early"):
        list(derived)


def test_cli_jobs_option(cli, home, index):
    runs = varied_home(home, index, n=2)
    assert cli("index", "check", "--jobs", "2").exit_code == 0
    index.conn.execute("UPDATE run SET label = 'x' WHERE rid = ?", (runs[0].rid,))
    result = cli("index", "check", "-j", "2")
    assert result.exit_code == 1 and "label differs (index 'x', files 'run 0')" in result.stdout
    index.close()
    result = cli("index", "rebuild", "-j", "2")
    assert result.exit_code == 0 and "Indexed 2 run(s)" in result.stderr
    assert cli("index", "check", "-j", "1").exit_code == 0
    assert cli("index", "check", "-j", "0").exit_code == 2


def test_check_takes_a_nan_flag_or_attribute_as_itself(home, index):
    """NaN != NaN: a run with a NaN flag was reported as differing from its own files."""
    run = new_run(home, index, "op", {"lr": float("nan"), "big": float("inf")},
                  attrs={"score": [1.0, float("nan")]}, status="completed")
    assert check(home) == []
    index.conn.execute("UPDATE run_flag SET value = 1.5 WHERE rid = ? AND type = 'float' "
                       "AND value IS NULL", (run.rid,))
    [line] = check(home)
    assert line.startswith(f"{run.short_id}: flags differs (index ") and "'lr': 1.5" in line
