"""A run's files and captured output, read safely.

Every path a user names is resolved against the run directory and must stay inside it
(``..`` and symlinks pointing out are refused), so ``rundb cat RUN ../../etc/passwd``
reads nothing. ``.rundb/`` (meta.json, output, snapshots) is internal: listed only on
request.
"""

import fnmatch
import os
import time
from dataclasses import dataclass

from .errors import RunFileError
from .home import META_DIR, meta_dir
from .output import OUTPUT


@dataclass(frozen=True)
class RunFile:
    """One file of a run: its path relative to the run directory and its size in bytes."""

    path: str
    size: int
    is_dir: bool = False


def files_elsewhere(run):
    """A message naming the host holding ``run``'s files when they are not on this
    machine (a run recorded by another host in a shared index), else None."""
    from .run import this_host

    if os.path.isdir(run.dir or ""):
        return None
    if run.host and run.host != this_host():
        return (f"run {run.short_id} ran on host {run.host}: its files are there, "
                f"in {run.dir}")
    return f"run {run.short_id} has no directory at {run.dir}"


def run_file_path(run_dir, path):
    """The real path of ``path`` (relative to ``run_dir``), checked to lie inside it.

    :raises RunFileError: the path leaves the run directory, or names no file.
    """
    root = os.path.realpath(run_dir)
    if os.path.isabs(path):
        raise RunFileError(f"{path}: give a path relative to the run directory")
    full = os.path.realpath(os.path.join(root, path))
    _check_inside(root, path, full)
    if os.path.isdir(full):
        raise RunFileError(f"{path}: is a directory (try 'rundb ls')")
    if not os.path.isfile(full):
        raise RunFileError(f"{path}: no such file in run {os.path.basename(root)[:8]}")
    return full


def _check_inside(root, given, full):
    from .errors import UnsafePathError
    from .validate import check_inside

    try:
        check_inside(root, full)
    except UnsafePathError:
        raise RunFileError(f"{given}: outside the run directory") from None


def output_file(run_dir):
    """The path of a run's captured output (it may not exist yet)."""
    return os.path.join(meta_dir(run_dir), OUTPUT)


def list_files(run_dir, pattern=None, all_=False):
    """The files under ``run_dir`` (sorted RunFile list), ``.rundb/`` left out unless
    ``all_``. ``pattern`` is a directory of the run (its files are listed) or a glob
    matched against relative paths and base names (``*.csv``, ``checkpoints/*``).
    Symlinked directories are listed, not followed."""
    root = os.path.realpath(run_dir)
    start = root
    match = None
    if pattern:
        sub = os.path.realpath(os.path.join(root, pattern))
        if sub != root:
            _check_inside(root, pattern, sub)
        if os.path.isdir(sub):
            start = sub
        else:
            match = pattern
    out = []
    for dirpath, dirnames, filenames in os.walk(start):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            rel_dir = ""
            if not all_:
                dirnames[:] = [d for d in dirnames if d != META_DIR]
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames
                                         if os.path.islink(os.path.join(dirpath, d))]:
            rel = os.path.join(rel_dir, name) if rel_dir else name
            if match and not (fnmatch.fnmatch(rel, match) or fnmatch.fnmatch(name, match)):
                continue
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                st = None
            is_dir = bool(st) and os.path.isdir(full)
            out.append(RunFile(rel, st.st_size if st and not is_dir else 0, is_dir))
    out.sort(key=lambda f: f.path)
    return out


def read_tail(path, lines=None):
    """The bytes of ``path``; only its last ``lines`` lines when given."""
    with open(path, "rb") as f:
        if lines is None:
            return f.read()
        return _tail(f, lines)


def _tail(f, n):
    # Read backwards in blocks until n + 1 newlines are seen (the file may be large).
    f.seek(0, os.SEEK_END)
    end = f.tell()
    block = 1 << 16
    data = b""
    pos = end
    while pos > 0 and data.count(b"\n") <= n:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step) + data
    body = data[:-1] if data.endswith(b"\n") else data
    kept = body.split(b"\n")[-n:] if n > 0 else []
    out = b"\n".join(kept)
    return out + b"\n" if kept and data.endswith(b"\n") else out


def follow(path, running, tail=None, poll=0.25, idle=False):
    """Yield the bytes of ``path`` (its last ``tail`` lines when given), then whatever
    is appended to it, until ``running()`` is false (what was written up to then is
    yielded too). Whole lines only, but for a last unterminated line once the run ends.
    With ``idle``, ``b""`` is yielded after each poll that found nothing new."""
    pos = 0
    partial = b""
    first = True
    while True:
        alive = running()
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            data = b""
        if data:
            pos += len(data)
            data = partial + data
            cut = data.rfind(b"\n") + 1
            partial = data[cut:]
            whole = data[:cut]
            if first and tail is not None:
                whole = b"".join(whole.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
            if whole:
                yield whole
            elif idle:
                yield b""
        elif idle:
            yield b""
        first = False
        if not alive:
            if partial:
                yield partial
            return
        time.sleep(poll)


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
