"""Reading the index: compare, select, query, runs filters, labels, marks, trash."""

import csv
import io
import json
import os
import shutil

import pytest

from rundb import api
from rundb.index import store, writer
from rundb.ops.runner import new_run
from rundb.api.selection import RunFilter

pytestmark = pytest.mark.backends  # every test on SQLite and on PostgreSQL


def make_run(home, index, op="op1.py", flags=None, scalars=None, status="completed",
             label=None, started=None, compare=None, prefix=".rundb"):
    """A finished run written through the real writer: scalars = {tag: [(step, value)]}."""
    attrs = {"compare": compare} if compare else {}
    run = new_run(home, index, op, flags or {}, label=label or "", attrs=attrs)
    points = [(prefix, tag, step, float(v), 0.0)
              for tag, series in (scalars or {}).items() for step, v in series]
    writer.add_scalars(index, run.rid, points)
    started = started if started is not None else run.started
    return store.save_run(index, run, status=status, started=started,
                          stopped=started + 2_000_000, exit_status=0 if status == "completed" else 1)


def csv_rows(text):
    return list(csv.reader(io.StringIO(text)))


# --- compare -------------------------------------------------------------------------


def test_default_columns_and_step_rule(cli, home, index):
    # seed: op1.py a=1 b=2 printing x: 2, y: 4, z/ab: 3, sys/x: 123
    make_run(home, index, flags={"a": 1, "b": 2},
             scalars={"x": [(0, 2)], "y": [(0, 4)], "z/ab": [(0, 3)], "sys/x": [(0, 123)]},
             label="a=1 b=2")
    table = api.compare(home)
    assert table.headers == ["run", "operation", "started", "time", "status", "label",
                             "a", "b", "step", "x", "y", "z/ab"]
    assert table.rows[0][1:] == ["op1.py", table.rows[0][2], "0:00:02", "completed", "a=1 b=2",
                                 1, 2, 0, 2.0, 4.0, 3.0]
    all_ = api.compare(home, all_scalars=True)
    assert all_.headers[8:] == ["step", "sys/x", "x", "y", "z/ab"]
    assert all_.rows[0][9] == 123.0


def test_step_column_follows_loss_when_present(home, index):
    make_run(home, index, scalars={"x": [(1, 1), (2, 2), (3, 3)]})
    assert api.compare(home).rows[0][6] == 3
    make_run(home, index, scalars={"acc": [(9, 1)], "loss": [(1, 0.5), (4, 0.2)]})
    table = api.compare(home, ["1"])
    assert table.headers[6:] == ["step", "acc", "loss"]
    assert table.rows[0][6] == 4


def test_explicit_compare_columns_merge_with_defaults(home, index):
    # seed: an op's compare list, merged header with a default run, blanks for missing cells
    make_run(home, index, flags={"a": 1, "b": 2}, scalars={"x": [(0, 2)], "z/ab": [(0, 3)]})
    make_run(home, index, flags={"a": 1, "b": 2}, scalars={"x": [(0, 2)], "y": [(0, 4)], "z/ab": [(0, 3)]},
             compare=["=a as A", "=b as B", "x step as x_step", "x", "y", "z/ab as ab"])
    table = api.compare(home, extra_cols=True)
    assert table.headers == ["run", "operation", "started", "time", "status", "label", "sourcecode",
                             "A", "B", "x_step", "x", "y", "ab", "a", "b", "step", "z/ab"]
    newest, older = table.rows
    assert newest[7:13] == [1, 2, 0, 2.0, 4.0, 3.0] and newest[13:] == [None] * 4
    # the default run shares the "x" header, so its x lands there
    assert older[7:13] == [None, None, None, 2.0, None, None] and older[13:] == [1, 2, 0, 3.0]


def test_compare_csv_and_table_output(cli, home, index, tmp_path):
    make_run(home, index, flags={"b": False, "lr": 0.1}, scalars={"loss": [(1, 0.5)]})
    make_run(home, index, flags={"b": True, "lr": 0.01})
    rows = csv_rows(cli("compare", "--csv", "-").stdout)
    assert rows[0][6:] == ["b", "lr", "step", "loss"]
    assert rows[1][6:] == ["True", "0.01", "", ""]
    assert rows[2][6:] == ["False", "0.1", "1", "0.5"]
    path = tmp_path / "c.csv"
    result = cli("compare", "--csv", str(path))
    assert result.stderr == f"Wrote 3 row(s) to {path}\n"
    assert csv_rows(path.read_text()) == rows
    text = cli("compare").stdout.splitlines()
    assert text[0].split()[6:] == ["b", "lr", "step", "loss"]
    # floats in a table: 6 significant digits (CSV and JSON keep full precision)
    assert "no" in text[2].split() and text[2].split()[-1] == "0.5"
    data = json.loads(cli("compare", "--json").stdout)
    assert data[1]["loss"] == 0.5 and data[0]["loss"] is None and data[0]["b"] is True


def test_compare_min_top_and_strict_columns(cli, home, index):
    for loss in (0.3, 0.1, 0.4, 0.2):
        make_run(home, index, flags={"lr": loss * 10}, scalars={"loss": [(1, loss)]})
    make_run(home, index, flags={"lr": 9})  # no loss: never first
    result = cli("compare", "-t", "--min", "loss", "--top", "3", "-cc", ".label, loss")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "label", "loss"] and len(lines) == 4
    assert [line.split()[-1] for line in lines[1:]] == ["0.1", "0.2", "0.3"]
    table = api.compare(home, max_col="loss")
    assert [r[-1] for r in table.rows] == [0.4, 0.3, 0.2, 0.1, None]


def test_compare_columns_with_where_order_and_limit(home, index):
    for i in range(5):
        make_run(home, index, flags={"i": i}, scalars={"acc": [(1, i / 10)]})
    table = api.compare(home, strict_columns="select =i, acc where =i >= 2 order by acc desc limit 2")
    assert table.headers == ["run", "i", "acc"]
    assert [row[1] for row in table.rows] == [4, 3]


def test_compare_unknown_column_is_blank(home, index):
    make_run(home, index, flags={"a": 1})
    table = api.compare(home, columns="=nope, min nothing, .nothing")
    assert table.headers[-3:] == ["nope", "min nothing", "nothing"]
    assert table.rows[0][-3:] == [None, None, None]


def test_batch_runs_left_out_unless_asked(home, index):
    make_run(home, index, op="train.py+")
    make_run(home, index, op="train.py")
    assert [r[1] for r in api.compare(home).rows] == ["train.py"]
    flt = RunFilter(include_batch=True)
    assert [r[1] for r in api.compare(home, (), flt).rows] == ["train.py", "train.py+"]


def test_skip_unchanged(home, index):
    make_run(home, index, flags={"a": 1, "b": 1})
    make_run(home, index, flags={"a": 1, "b": 2})
    assert api.compare(home, skip_unchanged=True).headers[6:] == ["b"]


# --- select --------------------------------------------------------------------------


def test_select_min_max_and_missing(cli, home, index):
    # seed: three trials with loss 0, 1, 2
    runs = [make_run(home, index, op="echo2.py", flags={"f": float(i + 1)}, scalars={"loss": [(0, i)]})
            for i in range(3)]
    make_run(home, index, op="echo2.py")  # newest, no loss
    assert cli("select", "--min", "loss").stdout.strip() == runs[0].id
    assert cli("select", "--max", "loss").stdout.strip() == runs[2].id
    newest = api.runs(home)[0]
    result = cli("select", "--min", "nope")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "rundb: unknown scalar 'nope' (in --min)\n"
    assert cli("select").stdout.strip() == newest.id
    assert cli("select", "-s", "2").stdout.strip() == runs[2].short_id
    assert cli("select", "-p", "--min", "min loss").stdout.strip() == runs[0].dir
    assert cli("select", "-a", "=f", "--max", "loss").stdout.strip() == "3.0"


def test_select_no_matching_runs(cli, home, index):
    make_run(home, index, op="train")
    result = cli("select", "-o", "nothing")
    assert result.exit_code == 1 and result.stderr == "rundb: no matching runs\n"
    result = cli("select", "--terminated")
    assert result.exit_code == 1


# --- query ---------------------------------------------------------------------------


def test_query_command(cli, home, index):
    for lr in (0.1, 0.01, 0.001):
        make_run(home, index, flags={"lr": lr, "opt": "adam" if lr < 0.05 else "sgd"},
                 scalars={"loss": [(1, 1.0), (2, lr * 3)]})
    result = cli("query", "select =lr, min loss, min loss step where =opt = adam order by min loss limit 1", "--csv", "-")
    assert csv_rows(result.stdout) == [["lr", "min loss", "min loss step"], ["0.001", "0.003", "2"]]
    x = json.loads(cli("query", "select x", "--json").stdout)
    assert x == [{"x": None}] * 3


def test_seed_summary_columns_through_query(home, index):
    make_run(home, index, scalars={"x": [(1, 1), (2, 2), (3, 3), (3, 4)]})
    table = api.query(home, "select min x, min x step, max x, max x step, first x step, "
                            "last x, last x step, avg x, count x, total x")
    assert table.rows == [[1.0, 1, 4.0, 3, 1, 4.0, 3, 2.5, 4, 10.0]]
    assert api.query(home, "select x, x step").rows == [[4.0, 3]]


def test_bad_query_text_is_usage_error(cli, home, index):
    make_run(home, index)
    result = cli("query", "insert into flags")
    assert result.exit_code == 2
    assert result.stderr == "rundb: unexpected token 'insert', line 1, pos 0\n"
    result = cli("runs", "-F", "=lr >")
    assert result.exit_code == 2 and "rundb: " in result.stderr and "pos" in result.stderr
    assert len(api.runs(home)) == 1


# --- runs and filters ----------------------------------------------------------------


def test_runs_list_format_and_filters(cli, home, index):
    a = make_run(home, index, op="hello", flags={"msg": "hola"}, label="msg=hola")
    b = make_run(home, index, op="mnist:train", status="error")
    c = make_run(home, index, op="hello", status="pending")
    lines = cli("runs").stdout.splitlines()
    assert lines[0].startswith(f"[1:{c.short_id}]  hello ")
    assert lines[2].split()[0] == f"[3:{a.short_id}]" and lines[2].endswith("completed  msg=hola")
    ids = lambda *args: [line.split()[0].split(":")[1][:-1] for line in cli("runs", *args).stdout.splitlines()]
    assert ids("-o", "train") == [b.short_id]
    assert ids("--pending", "--error") == [c.short_id, b.short_id]
    assert ids("-l", "hola") == [a.short_id]
    assert ids("-F", "=msg = hola") == [a.short_id]
    assert ids("-F", ".status = error or .status = pending") == [c.short_id, b.short_id]
    assert ids("2:3") == [b.short_id, a.short_id]


def test_started_ranges(cli, home, index):
    make_run(home, index)
    assert len(api.runs(home, flt=RunFilter(started="last 5 minutes"))) == 1
    assert api.runs(home, flt=RunFilter(started="before 5 minutes ago")) == []
    result = cli("runs", "--started", "last 2 weeks")
    assert result.exit_code == 2 and result.stderr == "rundb: unexpected 'weeks' at pos 7\n"


def test_run_specs_errors(cli, home, index):
    a = make_run(home, index)
    make_run(home, index)
    result = cli("runs", "info", "abc123")
    assert result.exit_code == 1 and result.stderr == "rundb: no run matches 'abc123'\n"
    assert cli("runs", "info", "9").stderr == (
        "rundb: no run at position 9 (2 runs); for an id starting with digits use 8 or more "
        "characters or id:9\n")
    # id: always reads a prefix, whatever its characters (random ids may start with digits)
    assert a.id in cli("runs", "info", "id:" + a.short_id[:6]).stdout
    # a 6-character prefix, unless it is all digits (then it is a list position)
    prefix = a.id[:6] if not a.id[:6].isdigit() else a.id[:8]
    assert a.id in cli("runs", "info", prefix).stdout
    # an ambiguous prefix names the candidates
    from rundb.errors import AmbiguousRun
    from rundb.api.selection import select_rids
    index.conn.execute("UPDATE run SET id = 'ab' || substr(id, 3)")
    with pytest.raises(AmbiguousRun, match="'ab' matches 2 runs"):
        select_rids(index, ["ab"])


def test_runs_info_fields_and_json(cli, home, index):
    run = make_run(home, index, flags={"lr": 0.1}, scalars={"accuracy": [(1, 0.2), (2, 0.456)], "sys/cpu": [(1, 5)]},
                   label="lr=0.1")
    out = cli("runs", "info").stdout
    assert f"id: {run.id}\n" in out and "status: completed\n" in out and "marked: no\n" in out
    assert "flags:\n  lr: 0.1\n" in out
    assert "  accuracy: 0.456000 (step 2)\n" in out and "sys/cpu" not in out
    assert "sys/cpu" in cli("runs", "info", "-s").stdout
    data = json.loads(cli("runs", "info", "--json").stdout)
    assert data["scalars"] == {"accuracy": [0.456, 2]} and data["flags"] == {"lr": 0.1}


# --- labels, tags, marks, comments ---------------------------------------------------


def test_label_operations(cli, home, index):
    make_run(home, index, flags={"msg": "Hello Guild!"}, label="msg='Hello Guild!'")
    label = lambda: api.runs(home)[0].label
    assert cli("label", "1", "-p", "foo", "-y").stdout == "Labeled 1 run(s)\n"
    assert label() == "foo msg='Hello Guild!'"
    cli("label", "1", "-a", "bar baz", "-y")
    assert label() == "foo msg='Hello Guild!' bar baz"
    cli("label", "1", "-rm", "a", "-y")
    assert label() == "foo msg='Hello Guild!' bar baz"
    cli("label", "1", "--remove", "bar baz", "-y")
    assert label() == "foo msg='Hello Guild!'"
    cli("label", "1", "--remove", "msg='Hello Guild!'", "-y")
    assert label() == "foo"
    assert cli("label", "1", "-c", "-y").stdout == "Cleared label for 1 run(s)\n"
    assert label() == ""
    with open(os.path.join(api.runs(home)[0].dir, ".rundb", "meta.json")) as f:
        assert json.load(f)["label"] == ""


def test_marks_tags_comments(cli, home, index):
    make_run(home, index, op="train")
    assert cli("mark", "1", "-y").stdout == "Marked 1 run(s)\n"
    assert "train [marked]" in cli("runs").stdout
    assert "marked: yes" in cli("runs", "info").stdout
    assert len(api.runs(home, flt=RunFilter(marked=True))) == 1
    assert cli("mark", "--clear", "1", "-y").stdout == "Unmarked 1 run(s)\n"
    assert api.runs(home, flt=RunFilter(marked=True)) == []
    cli("tag", "baseline", "1", "-y")
    assert api.runs(home, flt=RunFilter(tags=["baseline"]))[0].tags == ["baseline"]
    cli("untag", "baseline", "1", "-y")
    assert api.runs(home)[0].tags == []
    cli("comment", "1", "-m", "looks good", "-y")
    assert "comment: looks good" in cli("runs", "info").stdout


# --- delete, restore, purge ----------------------------------------------------------


def test_delete_restore_purge(cli, home, index):
    run = make_run(home, index)
    assert cli("runs", "rm", "1", "-y").stdout == "Deleted 1 run(s)\n"
    assert not os.path.exists(run.dir) and os.path.exists(home.run_dir(run.id, deleted=True))
    assert api.runs(home) == []
    assert cli("runs", "restore", run.short_id, "-y").stdout == "Restored 1 run(s)\n"
    assert os.path.exists(run.dir)
    cli("runs", "delete", "-y")
    assert cli("runs", "purge", "-y").stdout == "Purged 1 run(s)\n"
    assert not os.path.exists(home.run_dir(run.id, deleted=True))
    assert index.conn.execute("SELECT count(*) FROM run").fetchone()[0] == 0


def test_delete_without_yes_and_no_terminal_deletes_nothing(cli, home, index):
    run = make_run(home, index)
    result = cli("runs", "delete", "1")
    assert result.exit_code == 1
    assert "You are about to delete the following runs:" in result.stderr
    assert "Continue? (Y/n)" in result.stderr
    assert os.path.exists(run.dir) and len(api.runs(home)) == 1
    assert cli("runs", "delete", "1", input="n\n").exit_code == 1
    assert len(api.runs(home)) == 1
    assert cli("runs", "delete", "1", input="\n").stdout == "Deleted 1 run(s)\n"
    assert api.runs(home) == []


# --- answered from the index alone ---------------------------------------------------


def test_reads_answer_with_run_directories_moved_aside(cli, home, index, tmp_path):
    for i in range(3):
        make_run(home, index, flags={"i": i}, scalars={"loss": [(1, 1.0 - i / 10)]}, label=f"i={i}")
    before = [cli(*args).stdout for args in (
        ("runs",), ("compare", "--csv", "-"), ("select", "--min", "loss"),
        ("query", "select =i, loss order by loss"), ("runs", "info", "2"))]
    shutil.move(home.runs_dir, tmp_path / "aside")
    os.makedirs(home.runs_dir)
    after = [cli(*args).stdout for args in (
        ("runs",), ("compare", "--csv", "-"), ("select", "--min", "loss"),
        ("query", "select =i, loss order by loss"), ("runs", "info", "2"))]
    assert after == before


def test_table_floats_have_six_significant_digits_and_csv_full_precision(cli, home, index):
    make_run(home, index, flags={"lr": 0.000123456789}, scalars={"loss": [(1, 1234.56789012)]})
    row = cli("compare").stdout.splitlines()[1].split()
    assert row[-3:] == ["0.000123457", "1", "1234.57"]
    assert csv_rows(cli("compare", "--csv", "-").stdout)[1][-3:] == ["0.000123456789", "1",
                                                                    "1234.56789012"]
    assert json.loads(cli("compare", "--json").stdout)[0]["loss"] == 1234.56789012


@pytest.mark.parametrize("fmt", ["plain", "simple", "github", "grid"])
def test_table_commands_take_fmt(cli, home, index, fmt):
    import tabulate

    make_run(home, index, flags={"lr": 0.1}, scalars={"loss": [(1, 0.5)]})
    for args in (["compare"], ["runs"], ["sql", "SELECT operation FROM runs"],
                 ["diff", "--help"]):
        result = cli(*args, "--fmt", fmt)
        assert result.exit_code == 0, (args, result.output)
    out = cli("compare", "--fmt", "github", "-cc", ".label").stdout
    assert out.splitlines()[1].startswith("|---")  # github's rule under the header
    assert "+" in cli("runs", "--fmt", "grid").stdout.splitlines()[0]
    assert tabulate.MIN_PADDING == 2  # the module's settings are restored


def test_runs_at_80_columns_fit_the_terminal(home, index, tmp_path):
    """In a real terminal 80 columns wide, `rundb runs` prints no line wider than 80
    (a long label is cut with …), and the same command into a pipe is not cut."""
    import os
    import pty
    import subprocess
    import sys

    make_run(home, index, flags={"lr": 0.1}, label="x" * 200)
    env = {**os.environ, "RUNDB_HOME": home.path, "COLUMNS": "80", "LINES": "24"}
    if home.index_url:
        env["RUNDB_INDEX"] = home.index_url
    main, secondary = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "rundb_cli.main", "runs"], env=env,
                          stdin=secondary, stdout=secondary, stderr=subprocess.PIPE, timeout=60)
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in out.decode().splitlines() if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), lines
    assert lines[0].rstrip().endswith("…")
    piped = subprocess.run([sys.executable, "-m", "rundb_cli.main", "runs"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert "x" * 200 in piped.stdout
