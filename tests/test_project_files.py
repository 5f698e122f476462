"""A run's project files: `requires:` in rundb.yml, RUNDB_PROJECT_DIR, a relative executable
resolved against the project, and a start failure said on stderr."""

import json
import os
import stat

import pytest

from rundb import api

from conftest import rundb_proc, write


def executable(path, text):
    write(path, text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def test_readme_command_runs_from_the_project_directory(home, project):
    executable(project / "train.sh", """
        #!/bin/sh
        echo "args: $@"
        echo "project: $RUNDB_PROJECT_DIR"
        echo "loss: 0.5"
    """)
    # the README line as written (it asks first; the user answers y)
    result = rundb_proc("run", "--", "./train.sh", "--fast", home=home, cwd=project,
                        input="y\n")
    assert result.returncode == 0, result.stderr
    assert f"args: --fast\nproject: {project}\nloss: 0.5\n" in result.stdout
    run = api.runs(home)[0]
    assert run.status == "completed" and run.op == "train.sh"


def test_a_start_failure_is_said_on_stderr(home, project):
    write(project / "train.sh", "echo not executable\n")  # no x bit
    result = rundb_proc("run", "-y", "--", "./train.sh", home=home, cwd=project)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "rundb: cannot start ./train.sh: Permission denied"
    run = api.runs(home)[0]
    assert run.status == "error" and run.exit_status == 127
    result = rundb_proc("run", "-y", "--", "./nothing.sh", home=home, cwd=project)
    assert result.stderr.splitlines()[0] == (
        "rundb: cannot start ./nothing.sh: No such file or directory")


OPS = """
train:
  main: train
  requires:
    - data.csv
    - file: vocab.txt
      copy: yes
      target: inputs/vocab.txt
    - images/
"""

TRAIN = """
import os
with open("data.csv") as f:
    rows = f.read().splitlines()
print("rows:", len(rows))
print("vocab:", open(os.path.join("inputs", "vocab.txt")).read().strip())
print("images:", sorted(os.listdir("images")))
print("loss: 0.25")
"""


def test_requires_links_and_copies_project_files(home, project):
    write(project / "rundb.yml", OPS)
    write(project / "train.py", TRAIN)
    write(project / "data.csv", "a,b\n1,2\n")
    write(project / "vocab.txt", "hello\n")
    write(project / "images" / "1.png", "x")
    result = rundb_proc("run", "train", "-y", home=home, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "rows: 2\nvocab: hello\nimages: ['1.png']\nloss: 0.25\n" in result.stdout
    run = api.runs(home)[0]
    assert os.path.islink(os.path.join(run.dir, "data.csv"))
    copied = os.path.join(run.dir, "inputs", "vocab.txt")
    assert os.path.isfile(copied) and not os.path.islink(copied)
    assert run.attrs["requires"] == [
        {"file": "data.csv", "target": "data.csv", "copy": False},
        {"file": "vocab.txt", "target": "inputs/vocab.txt", "copy": True},
        {"file": "images/", "target": "images", "copy": False},
    ]
    with open(os.path.join(run.dir, ".rundb", "meta.json")) as f:
        assert json.load(f)["attrs"]["requires"] == run.attrs["requires"]


def test_requires_naming_a_missing_file_is_one_line_and_records_no_run(home, project):
    write(project / "rundb.yml", OPS)
    write(project / "train.py", TRAIN)
    write(project / "vocab.txt", "hello\n")
    os.mkdir(project / "images")
    result = rundb_proc("run", "train", "-y", home=home, cwd=project)
    assert result.returncode == 1
    assert result.stderr == f"rundb: requires: data.csv: no such file or directory in {project}\n"
    assert api.runs(home) == []


def test_requires_target_outside_the_run_is_refused(home, project):
    write(project / "rundb.yml", """
        train:
          main: train
          requires:
            - {file: data.csv, target: ../../elsewhere.csv}
    """)
    write(project / "train.py", "print(1)\n")
    write(project / "data.csv", "a\n")
    result = rundb_proc("run", "train", "-y", home=home, cwd=project)
    assert result.returncode == 1
    assert result.stderr == ("rundb: requires: data.csv: target ../../elsewhere.csv is outside "
                             "the run directory\n")


def test_invalid_requires_entry_is_one_line(home, project):
    write(project / "rundb.yml", """
        train:
          main: train
          requires:
            - {copy: yes}
    """)
    result = rundb_proc("run", "train", "-y", home=home, cwd=project)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "invalid requires entry {'copy': True}" in result.stderr


def test_requires_for_each_trial_of_a_batch(home, project):
    write(project / "rundb.yml", """
        train:
          main: train
          flags:
            n: 1
          requires: [data.csv]
    """)
    write(project / "train.py", "n = 1\nprint('data:', open('data.csv').read().strip(), n)\n")
    write(project / "data.csv", "42\n")
    result = rundb_proc("run", "train", "n=[1,2]", "-y", home=home, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "data: 42 1" in result.stdout and "data: 42 2" in result.stdout
