"""Findings 2 (high) and 3 (medium): commands on an untrusted home (an index row with a
hostile id, a run whose `.rundb` or meta.json is a symlink) never touch anything outside
it, and fail with one `rundb:` line instead of a traceback."""

import json
import os

import pytest
from hostile import good_meta, home_run, read_bytes, set_index_id

from rundb import api

# --- finding 2: index rows with hostile ids --------------------------------------------------


@pytest.fixture
def victim(tmp_path):
    """A directory next to the home, where ``runs/../../VICTIM`` leads."""
    d = tmp_path / "VICTIM"
    d.mkdir()
    (d / "precious.txt").write_text("keep me")
    return d


def _assert_intact(victim):
    assert (victim / "precious.txt").read_text() == "keep me"


def test_purge_never_deletes_outside_the_home(cli, home, index, victim):
    run = home_run(home, index)
    set_index_id(home, run.id, "../../VICTIM", deleted=True)
    result = cli("runs", "purge", "-y")
    _assert_intact(victim)
    assert result.exit_code == 1
    assert result.stderr == (
        "rundb: run id '../../VICTIM' is not a rundb run id (32 lowercase hex characters)\n")


def test_delete_never_moves_or_deletes_outside_the_home(cli, home, index, victim):
    # Before the fix: `runs delete 1 -y` deleted VICTIM, then crashed (FileNotFoundError).
    run = home_run(home, index)
    set_index_id(home, run.id, "../../VICTIM")
    result = cli("runs", "delete", "1", "-y")
    _assert_intact(victim)
    assert result.exit_code == 1
    assert result.stderr.startswith("rundb: run id '../../VICTIM' is not a rundb run id")
    assert os.listdir(home.trash_dir) == []


@pytest.mark.parametrize("command", [
    ("runs", "restore", "-y"),
    ("runs", "delete", "--permanent", "-y"),
    ("label", "-s", "x", "-y"),
    ("tag", "t", "-y"),
    ("mark", "-y"),
    ("comment", "-m", "c", "-y"),
])
def test_every_change_refuses_a_hostile_index_id(cli, home, index, victim, tmp_path, command):
    run = home_run(home, index)
    # An absolute id: os.path.join(runs, "/abs") is "/abs".
    target = str(victim)
    set_index_id(home, run.id, target, deleted=command[1] == "restore")
    os.makedirs(os.path.join(target, ".rundb"))
    with open(os.path.join(target, ".rundb", "meta.json"), "w") as f:
        json.dump(good_meta(), f)
    before = read_bytes(os.path.join(target, ".rundb", "meta.json"))
    result = cli(*command)
    _assert_intact(victim)
    assert read_bytes(os.path.join(target, ".rundb", "meta.json")) == before
    assert result.exit_code == 1
    assert result.stderr == f"rundb: run id {target!r} is not a rundb run id (32 lowercase " \
        "hex characters)\n"


def test_a_run_dir_that_links_outside_the_home_is_refused(cli, home, index, victim):
    run = home_run(home, index)
    os.rename(run.dir, str(victim / "moved"))
    os.symlink(str(victim / "moved"), run.dir)
    result = cli("runs", "delete", "1", "-y")
    assert result.exit_code == 1
    assert result.stderr == f"rundb: {run.dir} leads outside {home.runs_dir} " \
        f"(to {victim / 'moved'})\n"
    assert os.path.isdir(victim / "moved" / ".rundb")
    _assert_intact(victim)


def test_run_dir_checks(tmp_path):
    from rundb.validate import check_inside, run_dir

    home = str(tmp_path / "home")
    assert run_dir(home, "a" * 32) == os.path.join(home, "runs", "a" * 32)
    assert run_dir(home, "a" * 32, deleted=True) == os.path.join(home, "trash", "a" * 32)
    for bad in ("../x", "/etc", "a" * 31, "a" * 33, "A" * 32, "a" * 31 + "/", "", None, 7):
        with pytest.raises(Exception, match="is not a rundb run id"):
            run_dir(home, bad)
    check_inside(home, os.path.join(home, "runs"))
    with pytest.raises(Exception, match="leads outside"):
        check_inside(home, os.path.join(home, "runs", "..", ".."))


def test_listing_a_hostile_index_still_works(cli, home, index):
    run = home_run(home, index, label="fine")
    set_index_id(home, run.id, "../../VICTIM")
    result = cli("runs")
    assert result.exit_code == 0
    assert "fine" in result.stdout
    assert api.runs(home)[0].dir is None  # no path is built from the hostile id


# --- finding 3: writes through a symlinked .rundb or meta.json --------------------------------


@pytest.fixture
def linked_run(home, index, tmp_path):
    """A run whose .rundb is a symlink to a directory outside the home (as an rsynced or
    imported home can hold), and the outside meta.json's original bytes."""
    run = home_run(home, index, label="before")
    outside = tmp_path / "outside"
    os.rename(os.path.join(run.dir, ".rundb"), str(outside))
    os.symlink(str(outside), os.path.join(run.dir, ".rundb"))
    return run, outside / "meta.json", read_bytes(outside / "meta.json")


def test_label_never_writes_through_a_symlinked_rundb_dir(cli, linked_run):
    run, outside_meta, before = linked_run
    result = cli("label", "-s", "pwned", "-y")
    assert read_bytes(outside_meta) == before
    assert result.exit_code == 1
    assert result.stderr == f"rundb: {run.dir}: .rundb is a symlink\n"


@pytest.mark.parametrize("command", [("tag", "t", "-y"), ("mark", "-y"),
                                     ("comment", "-m", "c", "-y")])
def test_other_changes_never_write_through_a_symlinked_rundb_dir(cli, linked_run, command):
    run, outside_meta, before = linked_run
    result = cli(*command)
    assert read_bytes(outside_meta) == before
    assert result.exit_code == 1


def test_the_process_gone_reaper_never_writes_through_a_symlinked_rundb_dir(
        cli, home, index, tmp_path):
    # A run recorded as running on this host whose process is gone: `rundb runs` marks it
    # as an error. The symlinked meta.json outside the home must stay as it was.
    from rundb.run import this_host

    run = home_run(home, index, status="running", host=this_host(), pid=2**22 + 12345)
    outside = tmp_path / "outside"
    os.rename(os.path.join(run.dir, ".rundb"), str(outside))
    os.symlink(str(outside), os.path.join(run.dir, ".rundb"))
    before = read_bytes(outside / "meta.json")
    assert cli("runs").exit_code == 0
    assert read_bytes(outside / "meta.json") == before


def test_label_never_writes_through_a_symlinked_meta_json(cli, home, index, tmp_path):
    run = home_run(home, index, label="before")
    outside = tmp_path / "outside.json"
    meta = os.path.join(run.dir, ".rundb", "meta.json")
    os.rename(meta, str(outside))
    os.symlink(str(outside), meta)
    before = read_bytes(outside)
    result = cli("label", "-s", "pwned", "-y")
    assert read_bytes(outside) == before
    assert result.exit_code == 1
    assert result.stderr == f"rundb: {run.dir}: .rundb/meta.json is a symlink\n"


def test_meta_json_is_never_written_through_a_planted_temporary_link(
        cli, home, index, tmp_path):
    # meta.json is written to meta.json.<pid>.tmp, then renamed. A link planted under that
    # name (pids are guessable) was followed: the write landed in the link's target.
    run = home_run(home, index, label="before")
    target = tmp_path / "outside.txt"
    target.write_text("keep me")
    os.symlink(str(target), os.path.join(run.dir, ".rundb", f"meta.json.{os.getpid()}.tmp"))
    result = cli("label", "-s", "after", "-y")
    assert result.exit_code == 0
    assert target.read_text() == "keep me"
    assert api.runs(home)[0].label == "after"
