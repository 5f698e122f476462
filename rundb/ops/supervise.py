"""Process supervision for a run: who dies with whom, and noticing a helper's death.

A ``rundb run`` process (the runner) starts two kinds of processes:

* the child (the training script), in the runner's own process group, so Ctrl-C in a
  terminal reaches it as it would without rundb. It is started with a parent-death
  signal (Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, set between fork and exec): if the
  runner is killed, the child gets SIGTERM instead of running on as an orphan whose
  output nobody records. Elsewhere there is no such signal and the child runs on.
* the indexer (rundb.ops.ingest), leader of a process group of its own that also holds
  the writer it forks. The runner owns that group: it watches the indexer without
  blocking (``waitid`` with ``WNOWAIT``), warns once if it dies, and kills whatever is
  left of the group when the run ends. The writer also dies with the indexer (the same
  parent-death signal, and end of file on its pipe).
"""

import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (OSError, AttributeError):
        return None


def set_parent_death_signal(sig=signal.SIGTERM, parent_pid=None, libc=None):
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux).

    :param parent_pid: the expected parent; if it died already (the signal would then
        never come), ``sig`` is sent at once.
    """
    libc = libc if libc is not None else _libc()
    if libc is None:
        return False
    libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
    return True


def child_preexec(sig=signal.SIGTERM):
    """A ``preexec_fn`` for subprocess.Popen that sets the parent-death signal; None
    where there is none. libc is loaded here, before the fork."""
    libc = _libc()
    if libc is None:
        return None
    parent = os.getpid()

    def preexec():
        set_parent_death_signal(sig, parent, libc)

    return preexec


def exit_status(pid):
    """The wait status text of ``pid`` if it has exited (left unreaped), else None."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return "gone"
    if info is None or info.si_pid == 0:
        return None
    return describe(info)


def describe(info):
    if info.si_code == os.CLD_EXITED:
        return f"exit status {info.si_status}"
    try:
        name = signal.Signals(info.si_status).name
    except ValueError:
        name = f"signal {info.si_status}"
    return f"killed by {name}"


def describe_returncode(returncode):
    """``"killed by SIGKILL"`` for a Popen returncode of -9; ``"exit status N"`` else."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def wait_unreaped(pid):
    """Wait for ``pid`` to exit without reaping it (its pid, and so its process group
    id, cannot be reused until it is reaped)."""
    while True:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return


def kill_group(pgid, sig=signal.SIGKILL):
    """Send ``sig`` to every process left in group ``pgid``."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
