"""The task a worker runs for one trial of a parallel batch: ``rundb run --trial`` for one
flag set, as a subprocess of the worker (a crashing trial never takes the worker down).

This module is what a Dask worker imports (by name, through pickle): it must need nothing
but the standard library and an installed rundb on the worker.
"""

import json
import os
import socket
import subprocess
import sys

#: ``rundb run --trial`` exit statuses the batch tells apart from a trial's own failure.
EXIT_ALREADY_RAN = 3  # the trial id is in the index already (a retried task)
EXIT_STOPPED_BEFORE_START = 4  # a stop was requested before the trial started

_TAIL = 2000


def worker_name():
    """The address of the Dask worker running this task, or ``host:pid`` of the batch
    process for trials run without Dask."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def run_trial(payload):
    """Run one trial to its end; return what the batch needs to know about it.

    :param payload: ``{"home", "index", "cluster", "trial"}``: the home and index URL
        the trial writes to, whether the worker belongs to an existing cluster, and the
        trial itself (see :func:`rundb.ops.parallel.trial_payload`).
    :returns: ``{"returncode", "worker", "host", "stderr"}`` (stderr's last lines).
    """
    from .supervise import child_preexec

    worker = worker_name()
    env = dict(os.environ)
    # Run files go to the batch's home, or on an existing cluster to the home the
    # worker was started with (RUNDB_HOME in its environment), when it has one.
    if not (payload.get("cluster") and env.get("RUNDB_HOME")):
        env["RUNDB_HOME"] = payload["home"]
    if payload.get("index"):
        env["RUNDB_INDEX"] = payload["index"]
    env["RUNDB_WORKER"] = worker
    argv = [sys.executable, "-m", "rundb_cli.main", "run", "--trial",
            json.dumps(payload["trial"])]
    cwd = payload["trial"].get("cwd")
    proc = subprocess.Popen(
        argv, cwd=cwd if cwd and os.path.isdir(cwd) else None, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        # The trial's runner dies with this worker: it then stops its child and records
        # the trial `terminated` rather than running on unseen.
        preexec_fn=child_preexec(),
    )
    _, err = proc.communicate()
    return {
        "returncode": proc.returncode,
        "worker": worker,
        "host": socket.gethostname(),
        "stderr": err.decode("utf-8", "replace")[-_TAIL:],
    }
