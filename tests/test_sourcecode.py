"""Source code snapshots: text files copied with safety limits, and their digest."""

import os

from rundb.ops.sourcecode import MAX_FILES, snapshot, source_files

from conftest import write


def test_snapshot_copies_text_files_only(tmp_path):
    root = tmp_path / "project"
    write(root / "train.py", "print(1)\n")
    write(root / "lib" / "model.py", "x = 1\n")
    write(root / ".hidden" / "secret.py", "no\n")
    write(root / "__pycache__" / "c.py", "no\n")
    (root / "data.bin").write_bytes(b"\0\1\2" * 100)
    (root / "big.txt").write_text("x" * (1024 * 1024 + 1))
    assert source_files(str(root)) == ["lib/model.py", "train.py"]
    digest = snapshot(str(root), str(tmp_path / "copy"))
    assert len(digest) == 32
    assert sorted(os.listdir(tmp_path / "copy")) == ["lib", "train.py"]
    assert snapshot(str(root), str(tmp_path / "copy2")) == digest
    write(root / "train.py", "print(2)\n")
    assert snapshot(str(root), str(tmp_path / "copy3")) != digest


def test_snapshot_limits_file_count_with_warning(tmp_path, warnings_log):
    root = tmp_path / "project"
    for i in range(MAX_FILES + 5):
        write(root / f"m{i:03d}.py", f"x = {i}\n")
    files = source_files(str(root))
    assert len(files) == MAX_FILES
    assert warnings_log() == ["WARNING: Found more than 100 source code files but will only "
                              "copy 100 as a safety measure."]


def test_snapshot_never_opens_a_home_or_sqlite_files(tmp_path):
    root = tmp_path / "project"
    write(root / "train.py", "print(1)\n")
    write(root / "myhome" / "index.db", "x")  # a rundb home inside the project
    (root / "myhome" / "runs").mkdir()
    write(root / "myhome" / "notes.txt", "x")
    write(root / "results.db-wal", "x")
    assert source_files(str(root)) == ["train.py"]
