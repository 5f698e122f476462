"""Where the trials of a parallel batch run: a Dask cluster (a LocalCluster started for the
batch, or an existing scheduler), or, when Dask is not installed, trial subprocesses
started directly by this process.

Each pool runs :func:`rundb.ops.trialtask.run_trial` for a trial payload and hands back
futures; the batch waits for the first to finish. dask and distributed are imported only
here, when a batch runs in parallel.
"""

import ipaddress
import logging
from urllib.parse import urlsplit

from ..errors import BatchError

log = logging.getLogger("rundb")

#: Seconds to wait for an existing scheduler to answer.
CONNECT_TIMEOUT = 30


def open_pool(n, cluster=None, shared_index=False):
    """A pool running up to ``n`` trials at once (on an existing cluster, None: as many
    as its workers have threads).

    :param cluster: the address of an existing Dask scheduler (``tcp://host:8786``), or
        None for a cluster of ``n`` local worker processes started for the batch.
    :param shared_index: the batch's index can be reached from other machines
        (PostgreSQL); an SQLite index is refused for a remote cluster.
    :raises BatchError: a remote cluster with an SQLite index; dask not installed for
        ``--cluster``; a scheduler that cannot be reached.
    """
    if cluster:
        if not shared_index and not _loopback(cluster):
            raise BatchError(_SQLITE_REMOTE.format(where=f"cluster {cluster}"))
        return DaskPool.connect(n, cluster, shared_index)
    try:
        import distributed  # noqa: F401
    except ImportError:
        log.debug("dask is not installed: trials run as subprocesses of this process")
        return ProcessPool(n or 1)
    return DaskPool.local(n or 1)


_SQLITE_REMOTE = ("{where} runs trials on other machines, which cannot write this home's "
                  "SQLite index: use a shared PostgreSQL index (RUNDB_INDEX=postgresql://...,"
                  " see docs/parallel.md)")


def _loopback(address):
    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DaskPool:
    """Trials as Dask tasks, one per flag set, each on one worker thread."""

    def __init__(self, client, cluster=None, slots=1):
        self.client = client
        self.cluster = cluster
        self.slots = slots
        self.remote = cluster is None

    @classmethod
    def local(cls, n):
        import dask
        from distributed import Client, LocalCluster

        # A trial whose worker dies is an error of that trial, never re-run elsewhere
        # (allowed-failures 0); one trial per worker process; no dashboard.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        return cls(client, cluster, n)

    @classmethod
    def connect(cls, n, address, shared_index):
        try:
            from distributed import Client
        except ImportError:
            raise BatchError("--cluster needs dask: pip install 'rundb[dask]'") from None
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise BatchError(f"cannot reach the Dask scheduler at {address}: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") \
                from None
        workers = client.scheduler_info().get("workers", {})
        if not shared_index and not all(_loopback(addr) for addr in workers):
            client.close()
            raise BatchError(_SQLITE_REMOTE.format(where=f"cluster {address}"))
        threads = sum(w.get("nthreads", 1) for w in workers.values()) or 1
        return cls(client, None, n or threads)

    def submit(self, payload):
        from .trialtask import run_trial

        return self.client.submit(run_trial, payload, key=f"rundb-trial-{payload['trial']['id']}",
                                  pure=False, retries=0)

    def wait_any(self, futures, timeout):
        """The futures among ``futures`` that are done, waiting at most ``timeout`` s."""
        from distributed import wait

        try:
            done, _ = wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        return list(done)

    def outcome(self, future):
        """The task's result dict, or ``{"lost": reason}`` when its worker died."""
        if future.status == "finished":
            return future.result()
        if future.status == "cancelled":
            return {"lost": "cancelled"}
        error = future.exception()
        return {"lost": _describe(error)}

    def cancel(self, futures):
        if futures:
            self.client.cancel(list(futures))

    def close(self):
        try:
            self.client.close(timeout=10)
        finally:
            if self.cluster is not None:
                self.cluster.close(timeout=10)


def _describe(error):
    name = type(error).__name__
    if name == "KilledWorker":
        return "its worker died during the trial (process killed or node lost)"
    text = str(error).strip().splitlines()
    return f"{name}: {text[0]}" if text else name


class ProcessPool:
    """Without Dask: trial subprocesses started by this process, ``n`` at a time."""

    remote = False

    def __init__(self, n):
        from concurrent.futures import ThreadPoolExecutor

        self.slots = n
        self.executor = ThreadPoolExecutor(max_workers=n, thread_name_prefix="rundb-trial")

    def submit(self, payload):
        from .trialtask import run_trial

        return self.executor.submit(run_trial, payload)

    def wait_any(self, futures, timeout):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def outcome(self, future):
        if future.cancelled():
            return {"lost": "cancelled"}
        error = future.exception()
        return future.result() if error is None else {"lost": _describe(error)}

    def cancel(self, futures):
        for future in futures:
            future.cancel()

    def close(self):
        self.executor.shutdown(wait=True, cancel_futures=True)
