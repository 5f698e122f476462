"""System metrics while a run runs: CPU use and resident memory of the run's process tree,
and GPU utilisation and memory where an NVIDIA GPU is present (through ``nvidia-ml-py``;
skipped without one), sampled every 10 s into ``sys/*`` scalars.

The runner samples in a thread and appends the points to a TF event file in the run's
``.rundb/``, so the indexer takes them in as the run goes and ``index rebuild`` finds them
again. ``compare`` and ``runs info`` leave ``sys/*`` out unless asked (``--all-scalars``).
Turn sampling off with ``rundb run --no-sys-metrics`` or ``sys-metrics: no`` in rundb.yml.
"""

import logging
import os
import threading
import time

log = logging.getLogger("rundb")

#: Seconds between samples (RUNDB_SYS_METRICS_INTERVAL overrides it, for tests).
INTERVAL = 10.0


def interval():
    try:
        return float(os.environ.get("RUNDB_SYS_METRICS_INTERVAL", INTERVAL))
    except ValueError:
        return INTERVAL


class ProcessTree:
    """CPU % and RSS of a process and all its descendants (psutil)."""

    def __init__(self, pid):
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.procs = {}
        self.sample()  # cpu_percent() measures from the previous call: prime it

    def sample(self):
        """{"sys/cpu": percent of one core (may pass 100), "sys/rss_mb": MiB}, or {}
        when the process is gone."""
        psutil = self._psutil
        try:
            members = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return {}
        cpu = rss = 0.0
        alive = {}
        for p in members:
            known = self.procs.get(p.pid, p)
            try:
                cpu += known.cpu_percent(None)
                rss += known.memory_info().rss
            except psutil.Error:
                continue
            alive[p.pid] = known
        self.procs = alive
        if not alive:
            return {}
        return {"sys/cpu": cpu, "sys/rss_mb": rss / (1 << 20)}


class GPUs:
    """Utilisation and memory of each NVIDIA GPU, or nothing when there is none."""

    def __init__(self):
        self.handles = []
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                            for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # noqa: BLE001 - no package, no driver or no GPU: no GPU metrics
            self.handles = []

    def sample(self):
        out = {}
        for i, handle in enumerate(self.handles):
            try:
                util = self._nvml.nvmlDeviceGetUtilizationRates(handle)
                mem = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception:  # noqa: BLE001 - a device that stops answering is left out
                continue
            out[f"sys/gpu{i}/util"] = float(util.gpu)
            out[f"sys/gpu{i}/mem_mb"] = mem.used / (1 << 20)
        return out

    def close(self):
        if self.handles:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass


class Sampler:
    """Samples a process tree every ``every`` seconds in a daemon thread."""

    def __init__(self, pid, run_dir, every=None):
        self.pid = pid
        self.run_dir = run_dir
        self.every = interval() if every is None else every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rundb-sys-metrics",
                                        daemon=True)
        self.samples = 0

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        """Stop sampling; the points written so far are flushed."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self):
        try:
            tree = ProcessTree(self.pid)
        except Exception as e:  # noqa: BLE001 - no psutil or process already gone
            log.debug(f"no system metrics: {e}")
            return
        gpus = GPUs()
        writer = None
        start = time.monotonic()
        try:
            while not self._stop.wait(self.every):
                values = {**tree.sample(), **gpus.sample()}
                if not values:
                    continue
                if writer is None:
                    from ..home import meta_dir
                    from ..tfevents import ScalarEventWriter

                    writer = ScalarEventWriter(meta_dir(self.run_dir))
                step = int(round(time.monotonic() - start))
                for tag, value in values.items():
                    writer.add_scalar(tag, value, step)
                writer.flush()
                self.samples += 1
        except Exception as e:  # noqa: BLE001 - metrics must never fail a run
            log.warning(f"system metrics stopped: {e}")
        finally:
            if writer is not None:
                writer.close()
            gpus.close()


def start(pid, run_dir):
    """A started Sampler for ``pid`` (the run's child), or None when psutil is missing."""
    try:
        import psutil  # noqa: F401
    except ImportError:
        log.debug("no system metrics: psutil is not installed")
        return None
    return Sampler(pid, run_dir).start()
