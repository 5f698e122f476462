"""`rundb export` (DIR, --sql, --csv) and `rundb import`, with the seed's messages."""

import csv
import io
import os
import sqlite3

import pytest
from test_sql import make_runs

from rundb import api
from rundb.home import Home
from rundb.index.db import open_index
from rundb.run import meta_path


def dump(path):
    """Every view row of the index at ``path``, sorted, so rowids do not matter."""
    conn = sqlite3.connect(path)
    q = lambda sql: sorted(tuple(r) for r in conn.execute(sql))  # noqa: E731
    try:
        return {
            "runs": q("SELECT id, operation, status, started, stopped, exit_status, label, tags, "
                      "marked, comment, parent, sourcecode_digest, host, user, dir, deleted "
                      "FROM runs"),
            "flags": q("SELECT run, name, value, type FROM flags"),
            "tags": q("SELECT run, tag FROM tags"),
            "attrs": q("SELECT run, name, value FROM attrs"),
            "summary": q("SELECT * FROM scalar_summary"),
            "points": q("SELECT run, prefix, tag, step, value, time FROM scalars"),
        }
    finally:
        conn.close()


def only(d, ids):
    """The rows of a dump that belong to runs ``ids``."""
    return {name: [r for r in rows if r[0] in ids] for name, rows in d.items()}


@pytest.fixture
def runs(home, index):
    return make_runs(home, index)


@pytest.fixture
def other(tmp_path):
    """A second, empty home, and the CLI pointed at it."""
    from click.testing import CliRunner

    from rundb_cli.main import cli as rundb_cli

    h = Home(str(tmp_path / "other")).ensure()

    def invoke(*args, input=None):
        return CliRunner().invoke(rundb_cli, ["-H", h.path, *args], input=input,
                                  catch_exceptions=False)

    invoke.home = h
    return invoke


def listing(cli_result):
    return [line.split()[0].split(":")[1].rstrip("]") for line in cli_result.stdout.splitlines()]


# --- export DIR ---------------------------------------------------------------------------


def test_export_copies_runs_into_a_home_layout(cli, home, runs, tmp_path):
    dest = tmp_path / "export"
    result = cli("export", str(dest), "-y")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == f"Exported {len(runs)} run(s)"
    assert sorted(lines[:-1]) == sorted(f"Copying {r.id}" for r in runs)
    assert os.path.isfile(dest / ".rundb-nocopy")
    assert sorted(os.listdir(dest / "runs")) == sorted(r.id for r in runs)
    assert os.path.isfile(dest / "runs" / runs[0].id / ".rundb" / "meta.json")
    # the export is a home: its index lists the runs, and matches the run directories
    assert cli("-H", str(dest), "runs", "--all").stdout == cli("runs", "--all").stdout
    assert cli("-H", str(dest), "index", "check").exit_code == 0
    assert dump(dest / "index.db") == dump(home.index_path)
    # copying is the default: the runs are still here
    assert len(listing(cli("runs", "--all"))) == len(runs)


def test_export_again_skips_existing_runs(cli, runs, tmp_path):
    dest = str(tmp_path / "export")
    cli("export", dest, "1", "2", "-y")
    exported_first = [r.id for r in api.runs(Home(dest))]
    assert len(exported_first) == 2
    result = cli("export", dest, "-y")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert sorted(warnings) == sorted(f"WARNING: {i} exists, skipping" for i in exported_first)
    assert result.stderr.splitlines()[-1] == f"Exported {len(runs) - 2} run(s)"
    result = cli("export", dest, "-y")
    assert result.stderr.splitlines()[-1] == "Exported 0 run(s)"
    assert result.stderr.count("exists, skipping") == len(runs)


def test_export_preview_and_decline(cli, runs, tmp_path):
    dest = tmp_path / "export"
    result = cli("export", str(dest), "1", "2", input="n\n")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"You are about to copy the following runs to '{dest}':"
    assert lines[1].lstrip().startswith("[1:") and lines[2].lstrip().startswith("[2:")
    assert lines[3].startswith("Continue?")
    assert not os.path.exists(dest / "runs")
    result = cli("export", str(dest), "--move", input="n\n")
    assert result.stderr.splitlines()[0] == \
        f"You are about to move the following runs to '{dest}':"


def test_export_with_filters(cli, runs, tmp_path):
    dest = tmp_path / "export"
    result = cli("export", str(dest), "-o", "eval", "-y")
    assert result.stderr.splitlines() == [f"Copying {runs[3].id}", "Exported 1 run(s)"]
    assert os.listdir(dest / "runs") == [runs[3].id]


def test_export_to_a_file_is_an_error(cli, runs, tmp_path):
    path = tmp_path / "a-file"
    path.write_text("")
    result = cli("export", str(path), "-y")
    assert result.exit_code == 1
    assert result.stderr == f"rundb: '{path}' is not a directory\n"
    assert path.read_text() == ""


def test_export_move_removes_runs_after_copying(cli, home, runs, tmp_path):
    before = dump(home.index_path)
    moved = [r for r in runs if r.op == "train" and r.parent is None]
    dest = tmp_path / "export"
    result = cli("export", str(dest), "-o", "train", "--move", "-y")
    assert result.exit_code == 0
    ids = {r.id for r in api.runs(Home(str(dest)))}
    assert sorted(result.stderr.splitlines()[:-1]) == sorted(f"Moving {i}" for i in ids)
    assert result.stderr.splitlines()[-1] == f"Exported {len(ids)} run(s)"
    assert {r.id for r in moved} <= ids and len(ids) == 8  # train runs, trials, train+ batch
    for run_id in ids:
        assert not os.path.exists(home.run_dir(run_id))
    assert {r.id for r in api.runs(home)} == {r.id for r in runs} - ids
    assert cli("index", "check").exit_code == 0
    assert dump(dest / "index.db") == only(before, ids)


# --- export --sql -------------------------------------------------------------------------


def test_export_sql_writes_a_standalone_file(cli, home, runs, tmp_path):
    path = tmp_path / "runs.db"
    result = cli("export", "--sql", str(path), "-o", "train")
    assert result.exit_code == 0, result.stderr
    train = {r.id for r in runs if "train" in r.op}
    assert result.stderr == f"Exported {len(train)} run(s) to {path}\n"
    assert dump(path) == only(dump(home.index_path), train)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not os.path.exists(f"{path}-wal")
    # every table holds only the selected runs' rows
    for table in ("run_flag", "run_tag", "run_attr", "scalar_point", "scalar_stat"):
        rids = {r[0] for r in conn.execute(f"SELECT DISTINCT rid FROM {table}")}
        assert rids <= {r[0] for r in conn.execute("SELECT rid FROM run")}
    assert conn.execute("SELECT count(*) FROM flag_name WHERE name = 'split'").fetchone() == (0,)
    (best,) = conn.execute("SELECT short_id FROM runs r JOIN scalar_summary s ON s.run = r.id "
                           "WHERE s.tag = 'loss' ORDER BY s.last_val LIMIT 1").fetchone()
    assert best in {r.short_id for r in runs}


def test_export_sql_adds_to_an_existing_export(cli, home, runs, tmp_path):
    path = tmp_path / "runs.db"
    cli("export", "--sql", str(path), "1")
    result = cli("export", "--sql", str(path))
    newest = api.runs(home, ["1"])[0].id
    assert result.stderr == (f"WARNING: {newest} exists, skipping\n"
                             f"Exported {len(runs) - 1} run(s) to {path}\n")
    assert dump(path) == dump(home.index_path)


def test_export_sql_refuses_a_file_that_is_not_an_index(cli, runs, tmp_path):
    path = tmp_path / "notes.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (text)")
    conn.commit()
    conn.close()
    result = cli("export", "--sql", str(path))
    assert result.exit_code == 1
    assert result.stderr == f"rundb: '{path}' exists and is not a rundb index\n"
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]


# --- export --csv -------------------------------------------------------------------------


def test_export_csv_to_stdout(cli, runs):
    result = cli("export", "--csv", "-", "-o", "eval")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:6] == ["run", "operation", "started", "time", "status", "label"]
    assert "split" in rows[0] and "loss" in rows[0]
    assert len(rows) == 2 and rows[1][0] == runs[3].short_id
    assert rows[1][rows[0].index("split")] == "test"
    assert rows[1][rows[0].index("loss")] == "0.375"
    assert result.stderr == "Exported 1 run(s) to stdout\n"


def test_export_csv_to_a_file_with_columns(cli, runs, tmp_path):
    path = tmp_path / "runs.csv"
    result = cli("export", "--csv", str(path), "--columns", "min loss, max acc step")
    assert result.exit_code == 0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # compare's rows: batch runs only with --include-batch (issue 14)
    plain = [r for r in runs if "+" not in r.op]
    assert len(rows) == len(plain) < len(runs)
    by_run = {r["run"]: r for r in rows}
    assert by_run[runs[0].short_id]["min loss"] == "0.5"
    assert by_run[runs[0].short_id]["max acc step"] == "3"
    assert result.stderr == f"Exported {len(plain)} run(s) to {path}\n"
    result = cli("export", "--csv", str(path), "--include-batch")
    assert result.stderr == f"Exported {len(runs)} run(s) to {path}\n"


def test_export_usage_errors(cli, runs, tmp_path):
    result = cli("export", "-y")
    assert result.exit_code == 2 and "missing DIR" in result.stderr
    result = cli("export", "--sql", "a.db", "--csv", "-")
    assert result.exit_code == 2
    result = cli("export", "--sql", str(tmp_path / "a.db"), "--move")
    assert result.exit_code == 2 and "--move applies only to a DIR export" in result.stderr


# --- import ----------------------------------------------------------------------------


def test_export_then_import_gives_identical_rows(cli, home, runs, other, tmp_path):
    dest = str(tmp_path / "export")
    cli("export", dest, "-y")
    result = other("import", dest, "-y")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == f"Imported {len(runs)} run(s)"
    assert sorted(lines[:-1]) == sorted(f"Copying {r.id}" for r in runs)
    assert dump(other.home.index_path) == dump(home.index_path)
    assert other("index", "check").exit_code == 0
    assert other("runs", "--all").stdout == cli("runs", "--all").stdout
    # the archive is untouched
    assert dump(os.path.join(dest, "index.db")) == dump(home.index_path)
    assert sorted(os.listdir(os.path.join(dest, "runs"))) == sorted(r.id for r in runs)


def test_import_twice_skips_every_run(cli, runs, other, tmp_path):
    dest = str(tmp_path / "export")
    cli("export", dest, "-y")
    other("import", dest, "-y")
    before = dump(other.home.index_path)
    result = other("import", dest, "-y")
    assert result.exit_code == 0
    assert result.stderr.count("exists, skipping") == len(runs)
    assert result.stderr.splitlines()[-1] == "Imported 0 run(s)"
    assert dump(other.home.index_path) == before


def test_import_preview(cli, runs, other, tmp_path):
    dest = str(tmp_path / "export")
    cli("export", dest, "1", "2", "-y")
    result = other("import", dest, input="n\n")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"You are about to import (copy) the following runs from '{dest}':"
    assert len([line for line in lines if line.startswith("  [")]) == 2
    assert other("runs").stdout == ""
    result = other("import", dest, "--move", input="n\n")
    assert result.stderr.splitlines()[0] == \
        f"You are about to import (move) the following runs from '{dest}':"


def test_import_from_a_home(cli, home, runs, other):
    result = other("import", home.path, "-y")
    assert result.stderr.splitlines()[-1] == f"Imported {len(runs)} run(s)"
    assert dump(other.home.index_path) == dump(home.index_path)


def test_import_move_empties_the_archive(cli, home, runs, other, tmp_path):
    dest = str(tmp_path / "export")
    cli("export", dest, "-y")
    result = other("import", dest, "--move", "-y")
    assert result.exit_code == 0
    assert sorted(result.stderr.splitlines()[:-1]) == sorted(f"Moving {r.id}" for r in runs)
    assert os.listdir(os.path.join(dest, "runs")) == []
    assert cli("-H", dest, "runs").stdout == ""
    assert dump(other.home.index_path) == dump(home.index_path)


def test_import_reports_a_broken_run_and_imports_the_rest(cli, home, runs, other, tmp_path):
    dest = str(tmp_path / "export")
    cli("export", dest, "-y")
    bad = os.path.join(dest, "runs", runs[0].id)
    with open(meta_path(bad), "w") as f:
        f.write("{not json")
    result = other("import", dest, "-y")
    assert result.exit_code == 1
    assert f"Imported {len(runs) - 1} run(s)" in result.stderr
    assert f"rundb: cannot import {bad}: {bad}: cannot read meta.json" in result.stderr
    assert runs[0].id not in {r.id for r in api.runs(other.home)}


@pytest.mark.parametrize("name,make,error", [
    ("missing-dir", None, "rundb: archive '{path}' does not exist\n"),
    ("a-file", "file", "rundb: invalid archive '{path}' - expected a directory\n"),
    ("empty", "dir", "rundb: invalid archive '{path}' - no runs found\n"),
    ("guild", "guild", "rundb: '{path}' holds Guild AI runs: use 'rundb import --guild {path}'\n"),
])
def test_import_bad_archives(other, tmp_path, name, make, error):
    path = tmp_path / name
    if make == "file":
        path.write_text("")
    elif make == "dir":
        (path / "runs" / "notarun").mkdir(parents=True)
    elif make == "guild":
        (path / "runs" / ("a" * 32) / ".guild" / "attrs").mkdir(parents=True)
    result = other("import", str(path), "-y")
    assert result.exit_code == 1
    assert result.stderr == error.format(path=path)
    assert other("runs").stdout == ""


def test_import_from_a_flat_directory_of_runs(cli, home, runs, other, tmp_path):
    import shutil

    flat = tmp_path / "flat"
    flat.mkdir()
    for run in runs[:2]:
        shutil.copytree(run.dir, flat / run.id)
    result = other("import", str(flat), "-y")
    assert result.stderr.splitlines()[-1] == "Imported 2 run(s)"
    assert dump(other.home.index_path) == only(dump(home.index_path), {r.id for r in runs[:2]})


def test_api_returns_data(home, runs, tmp_path):
    result = api.export_runs(home, str(tmp_path / "e"), [runs[0].id, "f" * 32])
    assert result.done == [runs[0].id]
    assert result.errors == [("f" * 32, "not in the index")]
    result = api.export_sql(home, str(tmp_path / "e.db"), [runs[0].id])
    assert (result.copied, result.skipped) == (1, 0)
    result = api.export_sql(home, str(tmp_path / "e.db"), specs=[runs[0].id[:8], "1"])
    assert (result.copied, result.skipped) == (1, 1)
    assert api.export_csv(home, io.StringIO(), ["1", "2"]) == 2
    fresh = Home(str(tmp_path / "fresh"))
    result = api.import_runs(fresh, str(tmp_path / "e"))
    assert (result.done, result.skipped, result.errors) == ([runs[0].id], [], [])
    ix = open_index(fresh.index_path)
    assert ix.conn.execute("SELECT count(*) FROM run").fetchone() == (1,)
    ix.close()
