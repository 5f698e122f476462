"""Finding 6 (low): control characters in labels, flags, tags, comments and keys reached the
terminal raw from `runs`, `compare`, `runs info` and `sql`. Tables now show them as escapes;
CSV and JSON carry them unchanged."""

import csv
import io
import json

import pytest
from hostile import home_run

# Retitle the window, ring the bell, clear the screen; a C1 CSI; a bidi override.
HOSTILE = "x\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil"
SHOWN = "x\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eevil"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.fixture
def hostile_run(home, index):
    return home_run(home, index, label=HOSTILE, comment=HOSTILE, tags=[HOSTILE],
                    flags={"opt": HOSTILE, HOSTILE: 1})


def _clean(text):
    return not any(c in text for c in RAW)


def test_runs_escapes_control_characters(cli, hostile_run):
    out = cli("runs").stdout
    assert _clean(out)
    assert SHOWN in out


def test_runs_info_escapes_control_characters(cli, hostile_run):
    out = cli("runs", "info").stdout
    assert _clean(out)
    assert f"label: {SHOWN}" in out
    assert f"comment: {SHOWN}" in out
    # a flag value is shown encoded (rundb.flagvals): unprintable text in YAML's double
    # quotes, its escapes spelt as the table escaping spells them
    assert f'  opt: "{SHOWN}"' in out
    assert f"  {SHOWN}: 1" in out


def test_compare_table_escapes_control_characters(cli, hostile_run):
    out = cli("compare", "-c", "=opt").stdout
    assert _clean(out)
    assert SHOWN in out


def test_compare_csv_and_json_carry_them_faithfully(cli, hostile_run):
    rows = list(csv.reader(io.StringIO(cli("compare", "-c", "=opt", "--csv", "-").stdout)))
    assert HOSTILE in rows[1]
    data = json.loads(cli("compare", "-c", "=opt", "--json").stdout)
    assert HOSTILE in data[0].values()
    assert json.loads(cli("runs", "--json").stdout)[0]["label"] == HOSTILE


def test_sql_table_escapes_and_csv_json_do_not(cli, hostile_run):
    stmt = "SELECT label FROM runs"
    assert _clean(cli("sql", stmt).stdout)
    assert SHOWN in cli("sql", stmt).stdout
    assert HOSTILE in cli("sql", stmt, "--csv", "-").stdout
    assert json.loads(cli("sql", stmt, "--json").stdout) == [{"label": HOSTILE}]


def test_error_lines_escape_control_characters(cli, tmp_path):
    # A directory named by a hostile archive appears in the one-line error.
    path = tmp_path / "arch\x1b[2Jive"
    result = cli("import", str(path), "-y")
    assert result.exit_code == 1
    assert _clean(result.stderr)
    assert "arch\\x1b[2Jive" in result.stderr


def test_printable_doctests():
    import doctest

    import rundb.text

    assert doctest.testmod(rundb.text).failed == 0
