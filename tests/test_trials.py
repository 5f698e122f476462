"""Batch trials: grids, batch files, sampling, --print-trials, --save-trials (SPEC §14)."""

import pytest

from rundb.errors import BatchError
from rundb.flagvals import decode_flag_value, parse_flag_assigns
from rundb.ops.trials import (
    expand_grid,
    format_trials_table,
    is_batch_value,
    read_batch_files,
    sample_trials,
    split_batch_files,
    trials_for,
    write_trials_csv,
)

# The seed's batch project files.
BATCH_FILES = {
    "batch.csv": "msg,loud\nhello 1\nhello 2,yes\nhello 3\n",
    "batch.yaml": "- msg: hello 4\n- msg: hello 5\n- msg: hello 6\n  loud: yes\n",
    "batch.yml": "- msg: hello 77\n- msg: hello 88\n  loud: yes\n- msg: hello 99\n  loud: no\n",
    "batch.json": (
        "[\n"
        '  {"msg": "hello 7", "loud": false},\n'
        '  {"msg": "hello 8", "loud": true},\n'
        '  {"msg": "hello 9", "loud": true}\n'
        "]\n"
    ),
    "single-run.json": '[{"msg": "hello 10"}]\n',
    "single-run-2.json": '{"msg": "hello 11", "loud": true}\n',
    "single-run.csv": "msg,loud\nhello 3.1,yes\n",
    "batch.unknown": "msg\nhello\n",
    "invalid-data.json": "123\n",
    "invalid-item.json": "[123]\n",
    "invalid-item.yaml": "- [1, 2, 3]\n",
    "empty.yaml": "",
    "bad.json": "[{",
    "long-row.csv": "x\n1,2\n",
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name, text in BATCH_FILES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _table(*lines):
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Grids


@pytest.mark.parametrize(
    "val,expected",
    [([1, 2], True), ([], True), ("[1:2]", False), ("uniform[0:1]", False), (1, False),
     ((1, 2), False), ({"a": [1]}, False)],
)
def test_is_batch_value(val, expected):
    assert is_batch_value(val) is expected


def test_grid_order_first_name_slowest():
    trials = expand_grid(parse_flag_assigns(["x=[1,2]", "y=[3,4]", "z=[5,6]"]))
    assert [(t["x"], t["y"], t["z"]) for t in trials] == [
        (1, 3, 5), (1, 3, 6), (1, 4, 5), (1, 4, 6),
        (2, 3, 5), (2, 3, 6), (2, 4, 5), (2, 4, 6),
    ]


def test_grid_names_ascending_and_list_order_kept():
    trials = expand_grid(parse_flag_assigns(["msg=[b,a]", "loud=[no,yes]"]))
    assert trials == [
        {"loud": False, "msg": "b"},
        {"loud": False, "msg": "a"},
        {"loud": True, "msg": "b"},
        {"loud": True, "msg": "a"},
    ]


def test_grid_copies_non_list_flags():
    assert expand_grid({"msg": ["c", "a", "b"], "loud": False}) == [
        {"loud": False, "msg": "c"},
        {"loud": False, "msg": "a"},
        {"loud": False, "msg": "b"},
    ]


def test_grid_without_lists_is_one_trial():
    assert expand_grid({"x": 1, "y": "a"}) == [{"x": 1, "y": "a"}]
    assert expand_grid({}) == [{}]


def test_grid_with_empty_list_has_no_trials():
    assert expand_grid({"x": [], "y": [1, 2]}) == []


def test_grid_from_sequence_function():
    trials = expand_grid({"fold": decode_flag_value("range[1:5]")})
    assert [t["fold"] for t in trials] == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------
# Batch files


def test_split_batch_files():
    assert split_batch_files(["foo", "@file-1", "bar=123", "@file-2"]) == (
        ["file-1", "file-2"],
        ["foo", "bar=123"],
    )


@pytest.mark.parametrize(
    "files,expected",
    [
        (["batch.csv"],
         [{"msg": "hello 1"}, {"msg": "hello 2", "loud": True}, {"msg": "hello 3"}]),
        (["batch.yaml"],
         [{"msg": "hello 4"}, {"msg": "hello 5"}, {"msg": "hello 6", "loud": True}]),
        (["batch.yml"],
         [{"msg": "hello 77"}, {"msg": "hello 88", "loud": True},
          {"msg": "hello 99", "loud": False}]),
        (["batch.json"],
         [{"msg": "hello 7", "loud": False}, {"msg": "hello 8", "loud": True},
          {"msg": "hello 9", "loud": True}]),
        (["single-run.json"], [{"msg": "hello 10"}]),
        (["single-run-2.json"], [{"msg": "hello 11", "loud": True}]),
        (["single-run.csv"], [{"msg": "hello 3.1", "loud": True}]),
        (["empty.yaml"], []),
    ],
)
def test_read_batch_files(project, files, expected):
    assert read_batch_files(files) == expected


def test_batch_files_are_concatenated_in_order(project):
    trials = trials_for({"loud": False}, read_batch_files(["batch.csv", "batch.yaml", "batch.json"]))
    assert format_trials_table(trials) == _table(
        "#  loud  msg",
        "1  no    hello 1",
        "2  yes   hello 2",
        "3  no    hello 3",
        "4  no    hello 4",
        "5  no    hello 5",
        "6  yes   hello 6",
        "7  no    hello 7",
        "8  yes   hello 8",
        "9  yes   hello 9",
    )


def test_absolute_batch_file_path(project):
    assert read_batch_files([str(project / "batch.json")])[0] == {"msg": "hello 7", "loud": False}


@pytest.mark.parametrize(
    "path,message",
    [
        ("batch.unknown", "cannot read trials for ./batch.unknown: unsupported extension"),
        ("doesnt-exist", "batch file ./doesnt-exist does not exist"),
        ("./doesnt-exist.csv", "batch file ./doesnt-exist.csv does not exist"),
        ("invalid-data.json",
         "cannot read trials for ./invalid-data.json: "
         "invalid data type for trials: expected list or dict, got int"),
        ("invalid-item.json",
         "cannot read trials for ./invalid-item.json: "
         "invalid data type for trial 123: expected dict"),
        ("invalid-item.yaml",
         "cannot read trials for ./invalid-item.yaml: "
         "invalid data type for trial [1, 2, 3]: expected dict"),
        ("bad.json",
         "cannot read trials for ./bad.json: "
         "Expecting property name enclosed in double quotes: line 1 column 3 (char 2)"),
        ("long-row.csv",
         "cannot read trials for ./long-row.csv: line 2 has 2 values but the header names 1 flags"),
    ],
)
def test_batch_file_errors(project, path, message):
    with pytest.raises(BatchError) as e:
        read_batch_files([path])
    assert str(e.value) == message


def test_invalid_yaml_is_a_batch_error(project):
    (project / "bad.yaml").write_text("- a: [1\n")
    with pytest.raises(BatchError, match=r"^cannot read trials for \./bad\.yaml: "):
        read_batch_files(["bad.yaml"])


# ---------------------------------------------------------------------------
# Merging flags and file trials


def test_batch_file_values_beat_flags(project):
    trials = trials_for({"loud": True}, read_batch_files(["batch.csv"]))
    assert format_trials_table(trials) == _table(
        "#  loud  msg",
        "1  yes   hello 1",
        "2  yes   hello 2",
        "3  yes   hello 3",
    )


def test_flag_lists_expand_undefined_flags_only(project):
    flags = parse_flag_assigns(["loud=[yes,no]"])
    trials = trials_for(flags, read_batch_files(["batch.csv"]))
    assert trials == [
        {"loud": True, "msg": "hello 1"},
        {"loud": False, "msg": "hello 1"},
        {"loud": True, "msg": "hello 2"},
        {"loud": True, "msg": "hello 3"},
        {"loud": False, "msg": "hello 3"},
    ]
    assert format_trials_table(trials) == _table(
        "#  loud  msg",
        "1  yes   hello 1",
        "2  no    hello 1",
        "3  yes   hello 2",
        "4  yes   hello 3",
        "5  no    hello 3",
    )


def test_flag_list_defined_by_every_trial_is_unused(project):
    trials = trials_for({"msg": ["hello 4", "hello 5"], "loud": False},
                        read_batch_files(["batch.csv"]))
    assert format_trials_table(trials) == _table(
        "#  loud  msg",
        "1  no    hello 1",
        "2  yes   hello 2",
        "3  no    hello 3",
    )


def test_batch_file_with_flag_list_preview_count(project):
    (project / "trials-1.csv").write_text("x\n1\n2\n3\n")
    (project / "trials-2.csv").write_text("x,y\n4,5\n5,6\n")
    file_trials = read_batch_files(["trials-1.csv"])
    assert len(trials_for({"x": 1, "y": 2}, file_trials)) == 3
    assert len(trials_for({"x": 1, "y": [4, 5]}, file_trials)) == 6
    assert len(trials_for({"x": 1, "y": 2},
                          read_batch_files(["trials-1.csv", "trials-2.csv"]))) == 5


def test_trials_for_without_files_is_the_grid():
    flags = {"x": [1, 2], "y": 3}
    assert trials_for(flags, []) == expand_grid(flags)


# ---------------------------------------------------------------------------
# Sampling (--max-trials, --random-seed)


def test_sample_is_repeatable_and_keeps_grid_order():
    grid = expand_grid({"x": [1, 2], "y": [3, 4], "z": [5, 6]})
    first = sample_trials(grid, 2, random_seed=1)
    assert first == sample_trials(grid, 2, random_seed=1)
    assert len(first) == 2
    positions = [grid.index(t) for t in first]
    assert positions == sorted(positions)
    # the printed previews are identical too
    assert format_trials_table(first) == format_trials_table(sample_trials(grid, 2, 1))


def test_different_seeds_can_pick_different_trials():
    grid = expand_grid({"x": list(range(100))})
    picks = {tuple(t["x"] for t in sample_trials(grid, 5, seed)) for seed in range(5)}
    assert len(picks) > 1


@pytest.mark.parametrize("max_trials", [None, 8, 20])
def test_sample_not_needed(max_trials):
    grid = expand_grid({"x": [1, 2], "y": [3, 4], "z": [5, 6]})
    assert sample_trials(grid, max_trials, random_seed=1) == grid


def test_sample_zero():
    assert sample_trials(expand_grid({"x": [1, 2]}), 0, random_seed=1) == []


# ---------------------------------------------------------------------------
# --print-trials and --save-trials


def test_print_trials_grid():
    trials = expand_grid(parse_flag_assigns(["x=[1,2]", "y=[3,4]", "z=[5,6]"]))
    assert format_trials_table(trials) == _table(
        "#  x  y  z",
        "1  1  3  5",
        "2  1  3  6",
        "3  1  4  5",
        "4  1  4  6",
        "5  2  3  5",
        "6  2  3  6",
        "7  2  4  5",
        "8  2  4  6",
    )


def test_print_trials_single_list_value():
    assert format_trials_table(expand_grid({"msg": ["hi"], "loud": False})) == _table(
        "#  loud  msg",
        "1  no    hi",
    )


def test_print_trials_grid_names_ascending():
    trials = expand_grid(parse_flag_assigns(["msg=[b,a]", "loud=[no,yes]"]))
    assert format_trials_table(trials) == _table(
        "#  loud  msg",
        "1  no    b",
        "2  no    a",
        "3  yes   b",
        "4  yes   a",
    )


def test_print_trials_missing_values_and_wide_index():
    trials = [{"a": 1}] * 9 + [{"b": "x y", "a": ""}]
    table = format_trials_table(trials)
    assert table.splitlines()[0] == "#   a   b"
    assert table.splitlines()[1] == "1   1"
    assert table.splitlines()[-1] == "10  ''  x y"


def test_print_trials_values_encoded_like_flags():
    trials = [{"f": 0.1, "l": [1, "a"], "n": None, "s": "12"}]
    assert format_trials_table(trials) == _table(
        "#  f    l       n     s",
        "1  0.1  [1, a]  null  '12'",
    )


def test_save_trials(tmp_path):
    path = tmp_path / "trials.csv"
    trials = expand_grid(parse_flag_assigns(["x=[1,2]", "y=[3,4]", "z=[5]"]))
    write_trials_csv(trials, str(path))
    assert path.read_text() == "x,y,z\n1,3,5\n1,4,5\n2,3,5\n2,4,5\n"
    assert [p.name for p in tmp_path.iterdir()] == ["trials.csv"]
    assert read_batch_files([str(path)]) == trials


def test_save_trials_round_trips_awkward_values(tmp_path):
    path = tmp_path / "trials.csv"
    trials = [
        {"msg": "hello, world", "s": "", "n": None, "b": True, "f": 1e-06, "l": [1, "a b"]},
        {"msg": "'quoted'", "s": "12", "f": 0.5},
    ]
    write_trials_csv(trials, str(path))
    assert read_batch_files([str(path)]) == trials
