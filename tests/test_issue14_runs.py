"""Issue 14: run positions in the trash, digit id prefixes, mistakes named."""

import os
import re
import shlex

import pytest

from rundb import api
from rundb.api.selection import RunFilter

from conftest import rundb_proc
from test_compare import make_run

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def _readme_line(needle):
    with open(README, encoding="utf-8") as f:
        [line] = [line for line in f if needle in line]
    return line.split("#")[0].strip()


def test_readme_delete_restore_purge_works_as_written(home, index):
    runs = [make_run(home, index, op=f"op{i}.py") for i in range(3)]
    second = runs[1]  # position 2: the newest is 1
    line = _readme_line("runs delete 2 -y")
    assert line == "rundb runs delete 2 -y; rundb runs restore 2 -y; rundb runs purge -y"
    for command in line.split(";"):
        args = shlex.split(command)
        assert args[0] == "rundb"
        proc = rundb_proc(*args[1:], home=home, timeout=60)
        assert proc.returncode == 0, proc.stderr
    assert [r.id for r in api.runs(home)] == [r.id for r in reversed(runs)]
    assert os.path.isdir(second.dir)
    assert api.runs(home, flt=RunFilter(deleted=True)) == []


def test_trash_positions_are_those_list_deleted_shows(cli, home, index):
    runs = [make_run(home, index) for _ in range(4)]  # positions 4, 3, 2, 1
    assert cli("runs", "delete", "3", "1", "-y").exit_code == 0
    listed = cli("runs", "list", "--deleted").stdout
    assert re.findall(r"\[(\d+):(\w+)\]", listed) == [
        ("1", runs[3].short_id), ("3", runs[1].short_id)]
    # position 2 is a live run: named, not silently skipped
    result = cli("runs", "restore", "2", "-y")
    assert result.exit_code == 1 and "run 2 is not deleted" in result.stderr
    assert cli("runs", "restore", "3", "-y").stdout == "Restored 1 run(s)\n"
    assert not api.runs(home, [runs[1].id])[0].deleted


def test_purge_confirmation_defaults_to_no_and_lists_what_goes(cli, home, index):
    keep, gone = make_run(home, index), make_run(home, index)
    cli("runs", "delete", "1", "-y")
    result = cli("runs", "purge", input="\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "You are about to permanently remove (this cannot be undone) the following runs:",
        f"  [1:{gone.short_id}]  op1.py  " + result.stderr.splitlines()[1].split("op1.py  ")[1],
    ]
    assert "Continue? (y/N)" in result.stderr and keep.short_id not in result.stderr
    assert os.path.isdir(os.path.join(home.trash_dir, gone.id))
    assert cli("runs", "purge", input="y\n").stdout == "Purged 1 run(s)\n"
    assert not os.path.exists(os.path.join(home.trash_dir, gone.id))
    result = cli("runs", "delete", "-p", "1", input="\n")
    assert result.exit_code == 1 and "(y/N)" in result.stderr and os.path.isdir(keep.dir)


def test_digit_prefixes_positions_and_id_form(cli, home, index):
    runs = [make_run(home, index) for _ in range(3)]
    target = runs[0]
    index.conn.execute("UPDATE run SET id = '2650d911' || substr(id, 9) WHERE rid = ?",
                       (target.rid,))
    full = "2650d911" + target.id[8:]
    result = cli("runs", "info", "2650")
    assert result.exit_code == 1 and result.stderr == (
        "rundb: no run at position 2650 (3 runs); for an id starting with digits use 8 or "
        "more characters or id:2650\n")
    assert f"id: {full}\n" in cli("runs", "info", "id:2650").stdout
    assert f"id: {full}\n" in cli("runs", "info", "ID:2650d9").stdout
    assert f"id: {full}\n" in cli("runs", "info", "2650d911").stdout
    assert f"id: {runs[2].id}\n" in cli("runs", "info", "1").stdout
    assert cli("runs", "info", "id:").stderr == "rundb: 'id:' needs an id prefix\n"


# --- mistakes named -------------------------------------------------------------------


@pytest.fixture
def scored(home, index):
    make_run(home, index, flags={"lr": 0.1}, scalars={"val_loss": [(1, 0.5)], "loss": [(1, 0.4)]})
    return make_run(home, index, flags={"lr": 0.2}, scalars={"val_loss": [(1, 0.3)], "loss": [(1, 0.6)]})


@pytest.mark.parametrize("args,message", [
    (["select", "--min", "val_los"], "unknown scalar 'val_los'; did you mean val_loss? (in --min)"),
    (["select", "--max", "=lrr"], "unknown flag 'lrr'; did you mean lr? (in --max)"),
    (["compare", "--min", "min vall_loss"], "unknown scalar 'vall_loss'; did you mean val_loss or loss? (in --min)"),
    (["runs", "-F", "val_los < 1"], "unknown column 'val_los'; did you mean val_loss? (in the filter)"),
    (["compare", "-F", "=lrate > 0"], "unknown flag 'lrate'; did you mean lr? (in the filter)"),
    (["select", "--min", "nosuchscalar"], "unknown scalar 'nosuchscalar' (in --min)"),
])
def test_unknown_names_are_errors_with_closest_names(cli, scored, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"rundb: {message}\n"


def test_unknown_column_in_a_list_warns_and_keeps_the_blank(cli, scored, warnings_log):
    result = cli("compare", "-cc", "=lr, val_los")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == ["run", "lr", "val_los"]
    assert warnings_log() == ["WARNING: unknown scalar 'val_los'; did you mean val_loss?"]
    result = cli("query", "select =lr, =lrr")
    assert result.exit_code == 0
    assert warnings_log()[-1] == "WARNING: unknown flag 'lrr'; did you mean lr?"


def test_unknown_objective_named_once_trials_ran(home, index, scored):
    from rundb.errors import BatchError
    from rundb.ops import batch as batch_mod

    # history lookups with a known column are quiet; with an unknown one they name it
    with pytest.raises(BatchError, match=r"unknown scalar 'val_los'; did you mean val_loss\? \(in --minimize\)"):
        batch_mod.check_objective_known(index, batch_mod.parse_objective(minimize="val_los"),
                                        found=False, rows=1)
    batch_mod.check_objective_known(index, batch_mod.parse_objective(minimize="val_loss"),
                                    found=False, rows=1)
    # the default objective (loss) is not the user's mistake, and a name like nothing
    # known keeps the seed's random starts ("cannot find objective")
    batch_mod.check_objective_known(index, batch_mod.parse_objective(), found=False, rows=1)
    batch_mod.check_objective_known(index, batch_mod.parse_objective(minimize="no_such_scalar"),
                                    found=False, rows=1)


@pytest.mark.slow
def test_minimize_typo_stops_the_batch_naming_the_scalar(cli, home, project):
    from conftest import write

    write(project / "train.py", "x = 0.5\nprint(f'val_loss: {x * x}')\n")
    result = cli("run", "train.py", "x=[-1.0:1.0]", "--optimizer", "gp", "--max-trials", "3",
                 "--minimize", "val_los", "-y")
    assert result.exit_code != 0
    assert "unknown scalar 'val_los'; did you mean val_loss? (in --minimize)" in result.stderr


@pytest.mark.parametrize("args,pos", [
    (["compare", "-cc", "min"], 3),
    (["compare", "-c", "=lr, min"], 8),
])
def test_column_errors_point_into_what_was_typed(cli, scored, args, pos):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("rundb: ") and result.stderr.rstrip().endswith(f"pos {pos}")


@pytest.mark.parametrize("text", ["select .", "select attr:", "select flag:", "select scalar:",
                                  "select =", "select =lr, attr:"])
def test_empty_names_are_errors(cli, scored, text):
    result = cli("query", text)
    assert result.exit_code == 2 and result.stderr.startswith("rundb: "), result.output


# --- export --csv is compare's table ---------------------------------------------------


@pytest.fixture
def with_batch(home, index):
    make_run(home, index, flags={"lr": 0.1}, scalars={"loss": [(1, 0.4)]})
    make_run(home, index, op="op1.py+", flags={})  # a batch run
    make_run(home, index, flags={"lr": 0.2}, scalars={"loss": [(1, 0.6)]})


@pytest.mark.parametrize("options", [
    [], ["--include-batch"], ["-cc", "=lr, loss"], ["-c", "min loss", "--min", "loss"],
    ["--max", "=lr", "--top", "1", "--skip-unchanged"], ["--extra-cols", "--all-scalars"],
])
def test_export_csv_writes_compares_rows_and_columns(cli, with_batch, options):
    exported = cli("export", "--csv", "-", *options)
    compared = cli("compare", "--csv", "-", *options)
    assert exported.exit_code == compared.exit_code == 0, exported.output
    assert exported.stdout == compared.stdout
    rows = exported.stdout.splitlines()
    batch_rows = [r for r in rows if "op1.py+" in r]
    assert (len(batch_rows) == 1) == ("--include-batch" in options)


def test_export_compare_options_need_csv(cli, with_batch, tmp_path):
    result = cli("export", str(tmp_path / "d"), "-cc", "=lr", "-y")
    assert result.exit_code == 2 and "apply only to --csv" in result.stderr
