"""Source code snapshots: text files of the project copied to ``.rundb/sourcecode``."""

import hashlib
import logging
import os
import shutil

log = logging.getLogger("rundb")

MAX_FILES = 100
MAX_FILE_SIZE = 1024 * 1024

_SKIP_DIRS = {"__pycache__", "node_modules", "venv", "env", "build", "dist", "runs", "logs"}
_TEXT_SNIFF = 1024

# Never opened, not even to sniff: closing any descriptor of an SQLite file releases this
# process's POSIX locks on it, including those of its open index connection (SQLite's
# documented pitfall), which then reads stale pages or fails with "disk I/O error".
_SQLITE_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite", ".sqlite3")


def _is_rundb_home(path):
    return os.path.isfile(os.path.join(path, "index.db")) and os.path.isdir(
        os.path.join(path, "runs"))


def source_files(root):
    """Relative paths of the text files under ``root`` a snapshot would copy, sorted.

    Hidden files and dirs, virtualenvs, rundb homes, SQLite files, caches and files over
    1 MiB are skipped; at most 100 files are taken (with a warning), as a safety measure
    against copying data.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and d not in _SKIP_DIRS
            and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
            and not _is_rundb_home(os.path.join(dirpath, d))
        )
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith(_SQLITE_SUFFIXES):
                continue
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not _is_small_text(path):
                continue
            found.append(os.path.relpath(path, root))
    found.sort()
    if len(found) > MAX_FILES:
        log.warning(
            f"Found more than {MAX_FILES} source code files but will only copy "
            f"{MAX_FILES} as a safety measure."
        )
        found = found[:MAX_FILES]
    return found


def _is_small_text(path):
    try:
        if os.path.getsize(path) > MAX_FILE_SIZE:
            return False
        with open(path, "rb") as f:
            head = f.read(_TEXT_SNIFF)
    except OSError:
        return False
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at the sniff boundary is still text.
        return e.start >= len(head) - 3
    return True


def snapshot(root, dest):
    """Copy the project's source files to ``dest``; return their digest (32 hex)."""
    digest = hashlib.md5()
    for rel in source_files(root):
        src = os.path.join(root, rel)
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        digest.update(rel.encode("utf-8") + b"\0")
        with open(src, "rb") as f:
            digest.update(f.read())
        digest.update(b"\0")
    return digest.hexdigest()
