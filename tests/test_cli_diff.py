"""`rundb diff`: real runs of a real script, compared."""

import json

import pytest

from rundb import api

from conftest import rundb_proc, write

TRAIN = """
import argparse
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--epochs", type=int, default=2)
args = p.parse_args()
loss = 1.0
for epoch in range(1, args.epochs + 1):
    loss = loss * (1 - args.lr)
    print(f"loss: {loss:.4f} (step {epoch})")
print("acc: 0.5")
"""


@pytest.fixture
def two(cli, home, project):
    write(project / "train.py", TRAIN)
    assert cli("run", "train.py", "lr=0.1", "-y").exit_code == 0
    write(project / "train.py", TRAIN.replace('print("acc: 0.5")', 'print("acc: 0.75")'))
    assert cli("run", "train.py", "lr=0.5", "-y").exit_code == 0
    newest, older = api.runs(home)
    return older, newest


def test_diff_defaults_to_the_two_newest_and_shows_differences(cli, two):
    older, newest = two
    out = cli("diff").stdout.splitlines()
    assert out[0].split() == ["kind", "name", older.short_id, newest.short_id]
    rows = [line.split() for line in out[1:]]
    assert ["flag", "lr", "0.1", "0.5"] in rows
    assert ["scalar", "loss", "0.81", "0.25"] in rows
    assert ["scalar", "acc", "0.5", "0.75"] in rows
    assert ["attr", "label", "epochs=2", "lr=0.1", "epochs=2", "lr=0.5"] in rows
    names = [r[1] for r in rows]
    assert "epochs" not in names and "op" not in names  # equal: left out
    assert "sourcecode_digest" in names


def test_diff_all_json_and_explicit_order(cli, two):
    older, newest = two
    rows = json.loads(cli("diff", newest.short_id, older.short_id, "--all", "--json").stdout)
    by_name = {(r["kind"], r["name"]): r for r in rows}
    assert by_name[("flag", "epochs")][newest.short_id] == 2
    assert by_name[("flag", "lr")] == {"kind": "flag", "name": "lr",
                                       newest.short_id: 0.5, older.short_id: 0.1}
    assert by_name[("attr", "operation")][older.short_id] == "train.py"


def test_diff_source_is_a_unified_diff(cli, two):
    older, newest = two
    out = cli("diff", "--source").stdout
    assert out.startswith(f"--- {older.short_id}/train.py\n+++ {newest.short_id}/train.py\n")
    assert '-print("acc: 0.5")\n+print("acc: 0.75")\n' in out


def test_diff_output(cli, two):
    out = cli("diff", "--output").stdout
    assert out.endswith("@@ -1,3 +1,3 @@\n-loss: 0.9000 (step 1)\n-loss: 0.8100 (step 2)\n"
                        "-acc: 0.5\n+loss: 0.5000 (step 1)\n+loss: 0.2500 (step 2)\n+acc: 0.75\n")


def test_diff_source_lists_files_when_many_changed(cli, home, project):
    for i in range(12):
        write(project / f"m{i}.py", f"x = {i}\n")
    write(project / "train.py", TRAIN)
    assert cli("run", "train.py", "-y").exit_code == 0
    for i in range(12):
        write(project / f"m{i}.py", f"x = {i + 1}\n")
    assert cli("run", "train.py", "-y").exit_code == 0
    out = cli("diff", "--source").stdout.splitlines()
    assert out == [f"M m{i}.py" for i in sorted(range(12), key=str)]


def test_diff_of_one_run_is_one_clear_line(home, two):
    older, newest = two
    result = rundb_proc("diff", "1", home=home)
    assert result.returncode == 1
    assert result.stderr == "rundb: diff needs two runs, got one ('1'): give RUN1 RUN2\n"
    result = rundb_proc("diff", "-l", "lr=0.5", home=home)
    assert result.returncode == 1
    assert result.stderr == "rundb: diff needs two runs, 1 run is selected\n"
    assert len(api.runs(home)) == 2


def test_diff_of_identical_runs_says_so(cli, home, project):
    write(project / "train.py", TRAIN)
    for _ in range(2):
        assert cli("run", "train.py", "-y", "--random-seed", "1").exit_code == 0
    result = cli("diff")
    assert result.stdout == ""
    a, b = api.runs(home)
    assert result.stderr == f"Runs {b.short_id} and {a.short_id} do not differ\n"
