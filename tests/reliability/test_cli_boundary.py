"""No traceback from any command on any input or environment: one `rundb:` line with
the path involved; tracebacks only with --debug or RUNDB_DEBUG=1 (issue 13, failure 10)."""

import os

import pytest

from faultlib import env_for, one_line_error, rundb

pytestmark = pytest.mark.slow


def test_home_that_is_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    for args in (["runs"], ["run", "-y", "--", "true"]):
        result = rundb("-H", str(path), *args, env=env_for(), cwd=str(tmp_path))
        assert result.returncode == 1
        assert one_line_error(result) == f"rundb: no rundb home at {path} (not a directory)"


def test_home_that_cannot_exist():
    result = rundb("-H", "/proc/nope", "runs", env=env_for())
    assert one_line_error(result) == "rundb: no rundb home at /proc/nope"
    result = rundb("-H", "/proc/nope", "label", "--set", "x", "1", "-y", env=env_for())
    assert result.returncode == 1
    assert "/proc/nope" in one_line_error(result)


def test_read_only_commands_never_create_a_home(tmp_path):
    typo = tmp_path / "archvie"
    for args in (["runs"], ["compare", "--csv", "-"], ["select"], ["index", "check"],
                 ["sql", "SELECT 1"], ["export", "--csv", "-"]):
        result = rundb("-H", str(typo), *args, env=env_for(), cwd=str(tmp_path))
        assert result.returncode == 1, args
        assert one_line_error(result) == f"rundb: no rundb home at {typo}", args
        assert not typo.exists(), args


def test_export_csv_into_a_missing_directory(home):
    result = rundb("export", "--csv", "/missing/dir/x.csv", home=home)
    assert result.returncode == 1
    assert one_line_error(result) == "rundb: No such file or directory: /missing/dir/x.csv"


def test_missing_working_directory():
    result = rundb("-C", "/missing", "operations", env=env_for())
    assert result.returncode == 1
    assert one_line_error(result) == "rundb: No such file or directory: /missing"


def test_debug_shows_the_traceback(tmp_path):
    for args, env in ((["--debug"], env_for()), ([], env_for(RUNDB_DEBUG="1"))):
        result = rundb(*args, "-C", "/missing", "operations", env=env)
        assert result.returncode == 1
        assert "Traceback" in result.stderr and "FileNotFoundError" in result.stderr
