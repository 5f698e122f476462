"""The home's run lock: processes that write runs share it, ``index rebuild`` takes it alone.

Every writer of a home (a runner and its indexer, label, delete, import, ...) holds a
shared ``flock`` on ``HOME/index.db.lock`` while it works; ``rundb index rebuild`` takes it
exclusively before it reads the run directories, so it waits for live runs to end and
new runs wait for the rebuild. Without it, a rebuild swapped the index file under a live
run, whose later writes then went to the replaced file and were lost. The kernel drops
the lock of a process that dies, so a killed runner never leaves a stale lock behind.
"""

import contextlib
import fcntl
import os
import threading

LOCK_FILE = "index.db.lock"

_held = {}  # lock path -> [fd, count] held shared by this process
_held_lock = threading.Lock()


def lock_path(home_path):
    return os.path.join(home_path, LOCK_FILE)


def _open(path):
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@contextlib.contextmanager
def shared(home_path):
    """Hold the home's run lock shared for a ``with`` block (re-entrant in a process)."""
    path = lock_path(home_path)
    with _held_lock:
        entry = _held.get(path)
        if entry is None:
            fd = _open(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
            except BaseException:
                os.close(fd)
                raise
            entry = _held[path] = [fd, 0]
        entry[1] += 1
    try:
        yield
    finally:
        with _held_lock:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[path]
                os.close(entry[0])  # drops the lock


def hold_shared_forever(home_path):
    """Take the lock shared until this process exits (the indexer of a run)."""
    fd = _open(lock_path(home_path))
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


@contextlib.contextmanager
def exclusive(home_path, waiting=None):
    """Hold the home's run lock alone; ``waiting()`` is called once if others hold it."""
    from .errors import RundbError

    path = lock_path(home_path)
    if path in _held:
        raise RundbError("this process has a run in progress in this home: "
                         "rebuild the index once it has ended")
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
