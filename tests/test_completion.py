"""Shell completion of run ids and positions and of a script's flag names, as bash and zsh
ask for it (click's completion protocol, through the installed CLI)."""

import pytest

from rundb import api

from conftest import rundb_proc, write

TRAIN = """
import argparse
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1, help="learning rate")
p.add_argument("--epochs", type=int, default=2)
p.parse_args()
print("loss: 1")
"""


def complete(home, cwd, words, shell="bash"):
    parts = words.split()
    cword = len(parts) if words.endswith(" ") else len(parts) - 1
    env = {"_RUNDB_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(cword)}
    result = rundb_proc(home=home, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def two_runs(cli, home, project):
    write(project / "train.py", TRAIN)
    for lr in ("0.1", "0.2"):
        assert cli("run", "train.py", f"lr={lr}", "-y", "--no-sys-metrics").exit_code == 0
    return api.runs(home)


def test_run_positions_and_ids_complete(home, project, two_runs):
    newest, older = two_runs
    for command in ("cat", "ls", "watch", "diff 1", "runs info", "runs delete", "label",
                    "compare", "select"):
        assert complete(home, project, f"rundb {command} ") == "plain,1\nplain,2\n", command
    prefix = older.id[:3]
    out = complete(home, project, f"rundb cat {prefix}").splitlines()
    assert f"plain,{older.short_id}" in out


def test_zsh_gets_the_operation_and_label_as_help(home, project, two_runs):
    newest = two_runs[0]
    out = complete(home, project, "rundb cat ", shell="zsh").splitlines()
    assert out[:3] == ["plain", "1", f"{newest.short_id} train.py {newest.label}"]


def test_script_flag_names_complete(home, project, two_runs):
    assert complete(home, project, "rundb run ") == "plain,train.py\n"
    assert complete(home, project, "rundb run train.py ") == "plain,epochs=\nplain,lr=\n"
    assert complete(home, project, "rundb run train.py lr=0.3 ") == "plain,epochs=\n"
    assert complete(home, project, "rundb run train.py e") == "plain,epochs=\n"


def test_operations_complete_and_errors_complete_nothing(home, project):
    write(project / "rundb.yml", "train:\n  main: train\n  flags:\n    lr: 0.1\n")
    write(project / "train.py", "print(1)\n")
    assert complete(home, project, "rundb run ") == "plain,train\nplain,train.py\n"
    assert complete(home, project, "rundb run train ") == "plain,lr=\n"
    assert complete(home, project, "rundb run nosuchop ").strip() == ""
    assert complete(home, project, "rundb cat ").strip() == ""  # no runs, no index yet
