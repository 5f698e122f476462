"""A deterministic corpus of training runs, written into rundb, Guild AI and MLflow stores.

The same corpus in three stores lets ``bench/peers.py`` time the three tools on equal data::

    runs = corpus.generate(1000, steps=100, seed=0)
    corpus.write_rundb("/tmp/b/rundb", runs)
    corpus.write_guild("/tmp/b/guild", corpus.generate(1000, steps=100, seed=0))
    # MLflow: bench/peers/mlflow_load.py, run with the MLflow virtualenv's python

Every run is op ``train`` with the 8 flags in :data:`FLAGS` and the 5 scalars in :data:`TAGS`,
one value per step ``0 .. steps-1``: loss falling with noise toward a floor the flags decide,
accuracies rising as loss falls, val_loss drifting up when a run overfits, lr_sched a cosine
schedule from ``lr``. Run ``i`` of a seed is the same whatever ``n_runs`` is, on any Python
3 (``random.Random`` with a string seed is stable across versions).

Scalar values are float32 numbers (exactly representable in 32 bits) so that TF event files,
which store float32, and SQLite and MLflow, which store float64, hold the very same values.

This module imports nothing from rundb at module level: the peer virtualenvs import
:func:`generate` from it without rundb installed.
"""

import math
import os
import random
import struct
import uuid
from dataclasses import dataclass

__all__ = [
    "cached_home",
    "FLAGS",
    "TAGS",
    "RunSpec",
    "generate",
    "write_rundb",
    "write_guild",
]

#: Flag names, in the order they are written.
FLAGS = ("lr", "batch_size", "dropout", "optimizer", "layers", "seed", "momentum", "activation")

#: Scalar tags, in the order they are logged at each step.
TAGS = ("loss", "acc", "val_loss", "val_acc", "lr_sched")

#: 2023-11-14T22:13:20Z: the first run's start; runs start about 10 minutes apart, in order.
EPOCH_US = 1_700_000_000_000_000
RUN_SPACING_US = 600_000_000

_OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
_ACTIVATIONS = ("relu", "gelu", "tanh", "silu")
_BATCH_SIZES = (16, 32, 64, 128, 256)
_F32 = struct.Struct("<f")


@dataclass(frozen=True)
class RunSpec:
    """One generated run.

    :param index: its position in the corpus (0 for the first)
    :param id: 32 lowercase hex characters (a uuid4 drawn from the seed)
    :param started: start time, integer microseconds since the epoch
    :param stopped: stop time, integer microseconds since the epoch
    :param flags: flag name -> value (float, int or str), in :data:`FLAGS` order
    :param scalars: tag -> list of values, the value at step ``i`` at index ``i``
    :param step_ms: milliseconds between steps; step ``i`` is logged at :meth:`wall_ms`
    """

    index: int
    id: str
    started: int
    stopped: int
    flags: dict
    scalars: dict
    step_ms: int

    @property
    def steps(self):
        return len(self.scalars[TAGS[0]])

    def wall_ms(self, step):
        """Wall time of ``step`` in integer milliseconds since the epoch."""
        return self.started // 1000 + (step + 1) * self.step_ms

    def points(self):
        """Yield ``(tag, step, value, wall_ms)`` for every scalar, step by step, tags in order."""
        for step in range(self.steps):
            wall = self.wall_ms(step)
            for tag in TAGS:
                yield tag, step, self.scalars[tag][step], wall

    def last(self, tag):
        return self.scalars[tag][-1]

    def label(self):
        """Guild's default label for these flags: ``name=value`` pairs sorted by name."""
        return " ".join(f"{name}={_label_value(self.flags[name])}" for name in sorted(self.flags))


def generate(n_runs, steps, seed=0):
    """Yield ``n_runs`` :class:`RunSpec` with ``steps`` values per scalar, deterministically.

    :param seed: the same seed gives the same runs (ids, flags, values, times)
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    for i in range(n_runs):
        yield _run(i, steps, seed)


def _run(i, steps, seed):
    rng = random.Random(f"rundb-bench:{seed}:{i}")
    run_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
    flags = {
        "lr": _sig(10 ** rng.uniform(-4, -1), 3),
        "batch_size": rng.choice(_BATCH_SIZES),
        "dropout": round(rng.uniform(0.0, 0.5), 2),
        "optimizer": rng.choice(_OPTIMIZERS),
        "layers": rng.randint(1, 8),
        "seed": rng.randrange(2**31),
        "momentum": round(rng.uniform(0.5, 0.99), 3),
        "activation": rng.choice(_ACTIVATIONS),
    }
    scalars = _curves(rng, flags, steps)
    step_ms = rng.randint(200, 3000)
    started = EPOCH_US + i * RUN_SPACING_US + rng.randrange(60_000_000)
    stopped = started + (steps * step_ms + rng.randint(500, 5000)) * 1000
    return RunSpec(index=i, id=run_id, started=started, stopped=stopped, flags=flags,
                   scalars=scalars, step_ms=step_ms)


def _curves(rng, flags, steps):
    # A run's quality: lr near 3e-3 is best, too much dropout or too few layers hurt.
    lr_penalty = abs(math.log10(flags["lr"]) - math.log10(3e-3)) * 0.35
    quality = (lr_penalty + abs(flags["dropout"] - 0.2) * 0.6
               + (0.15 if flags["layers"] < 3 else 0.0)
               + (0.1 if flags["optimizer"] == "sgd" else 0.0))
    init = rng.uniform(2.0, 2.6)
    floor = 0.05 + quality + rng.uniform(0.0, 0.1)
    rate = rng.uniform(3.0, 8.0) * (0.5 + min(flags["lr"], 0.03) / 0.03)
    overfit = max(0.0, 0.35 - flags["dropout"]) * rng.uniform(0.2, 0.8)
    noise = rng.uniform(0.01, 0.05)
    loss, acc, val_loss, val_acc, lr_sched = [], [], [], [], []
    for step in range(steps):
        t = (step + 1) / steps
        clean = floor + (init - floor) * math.exp(-rate * t)
        train = max(0.001, clean * (1 + rng.gauss(0.0, noise)))
        val = max(0.001, (clean + overfit * t * t) * (1 + rng.gauss(0.0, noise * 1.5)))
        loss.append(_f32(train))
        acc.append(_f32(_clip(1.0 - train / (init + 0.2) * 0.9 + rng.gauss(0.0, 0.005))))
        val_loss.append(_f32(val))
        val_acc.append(_f32(_clip(1.0 - val / (init + 0.2) * 0.9 + rng.gauss(0.0, 0.008))))
        lr_sched.append(_f32(flags["lr"] * 0.5 * (1 + math.cos(math.pi * step / steps))))
    return {"loss": loss, "acc": acc, "val_loss": val_loss, "val_acc": val_acc,
            "lr_sched": lr_sched}


def _f32(x):
    return _F32.unpack(_F32.pack(x))[0]


def _clip(x):
    return min(1.0, max(0.0, x))


def _sig(x, digits):
    return float(f"{x:.{digits}g}")


def _label_value(v):
    return repr(v) if isinstance(v, float) else str(v)


# --- rundb ------------------------------------------------------------------------------------

#: Runs written per index transaction by write_rundb.
RUNS_PER_TRANSACTION = 100


def write_rundb(home_path, runs, runs_per_transaction=RUNS_PER_TRANSACTION):
    """Write ``runs`` into the rundb home at ``home_path`` through rundb's own writer.

    Each run takes the path ``rundb run`` takes: :func:`rundb.ops.runner.new_run` (run
    directory, meta.json, index row and flags), its output lines in ``.rundb/output`` with the
    default output-scalar patterns recorded, :func:`rundb.index.writer.add_scalars` with prefix
    ``.rundb``, then :func:`rundb.index.store.save_run` to mark it completed. So
    ``rundb index rebuild`` re-derives the same rows from the run directories.

    Run ids are the corpus ids (rundb's id source is swapped for the duration), so the three
    stores hold the same runs under the same ids. Many runs share one ``index.atomic()``
    transaction (each writer call inside it becomes a savepoint).

    :returns: the number of runs written
    """
    from rundb.home import Home
    from rundb.index.db import open_index
    from rundb.ops import runner
    from rundb.outputscalars import OutputScalarParser

    home = Home(home_path).ensure()
    patterns = OutputScalarParser().patterns_config
    ids = _IdSource()
    real_new_run_id = runner.new_run_id
    runner.new_run_id = ids
    index = open_index(home.index_path)
    count = 0
    try:
        batch = []
        for spec in runs:
            batch.append(spec)
            if len(batch) >= runs_per_transaction:
                count += _write_rundb_batch(home, index, batch, ids, patterns)
                batch = []
        if batch:
            count += _write_rundb_batch(home, index, batch, ids, patterns)
    finally:
        runner.new_run_id = real_new_run_id
        index.close()
    return count


def _write_rundb_batch(home, index, batch, ids, patterns):
    from rundb.index import store, writer
    from rundb.ops import runner
    from rundb.ops.labels import default_label
    from rundb.output import OutputWriter
    from rundb.catalog import OUTPUT_PREFIX as prefix

    with index.atomic():
        for spec in batch:
            ids.next = spec.id
            run = runner.new_run(home, index, "train", spec.flags,
                                 label=default_label(spec.flags), status="completed",
                                 output_scalars=patterns)
            points = []
            out = OutputWriter(run.dir)
            try:
                for step in range(spec.steps):
                    time_ms = spec.wall_ms(step)
                    # "step: N" sets the step for the lines after it (the default patterns).
                    out.write(f"step: {step}", 0, time_ms)
                    for tag in TAGS:
                        value = spec.scalars[tag][step]
                        out.write(f"{tag}: {value!r}", 0, time_ms)
                        points.append((prefix, tag, step, value, time_ms / 1000))
            finally:
                out.close()
            writer.add_scalars(index, run.rid, points)
            store.save_run(index, run, status="completed", started=spec.started,
                           stopped=spec.stopped, exit_status=0)
    return len(batch)


#: Where benchmarks keep generated corpora (ignored by git).
WORK = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".work")


def cached_home(n_runs, steps, seed=0):
    """A rundb home holding the corpus of this size, written once into bench/.work/."""
    import shutil
    import sys
    import time

    path = os.path.join(WORK, f"home-{n_runs}x{steps}-s{seed}")
    done = os.path.join(path, ".complete")
    if not os.path.exists(done):
        shutil.rmtree(path, ignore_errors=True)
        saved = os.environ.get("RUNDB_FSYNC")
        os.environ["RUNDB_FSYNC"] = "0"  # bulk corpus writes; regenerated if cut short
        try:
            start = time.perf_counter()
            print(f"generating {n_runs} runs x {steps} steps ...", file=sys.stderr, flush=True)
            write_rundb(path, generate(n_runs, steps, seed))
        finally:
            if saved is None:
                os.environ.pop("RUNDB_FSYNC")
            else:
                os.environ["RUNDB_FSYNC"] = saved
        with open(done, "w") as f:
            f.write(f"{time.perf_counter() - start:.1f}\n")
    return path


class _IdSource:
    """Stands in for rundb.home.new_run_id: returns the id set in ``next``, once."""

    def __init__(self):
        self.next = None

    def __call__(self):
        run_id, self.next = self.next, None
        if run_id is None:
            raise RuntimeError("corpus run id requested twice")
        return run_id


# --- Guild AI ---------------------------------------------------------------------------------

#: The guild.yml of the project the Guild runs point to (op ``train`` and its flags).
GUILDFILE = """\
train:
  main: train
  flags-import: no
  flags:
    lr: 0.001
    batch_size: 32
    dropout: 0.1
    optimizer: adam
    layers: 4
    seed: 0
    momentum: 0.9
    activation: relu
"""

#: What Guild 0.9 writes in ``.guild/attrs`` for a finished run of a guildfile op
#: (a real ``guild run`` minus ``env`` and ``pip_freeze``, which no command timed here reads).
GUILD_ATTRS = ("cmd", "deps", "exit_status", "flags", "host", "id", "initialized", "label",
               "op", "platform", "plugins", "random_seed", "run_params", "sourcecode_digest",
               "started", "stopped", "user", "user_flags")


def write_guild(guild_home, runs, project_dir=None):
    """Write ``runs`` into ``guild_home`` in Guild AI 0.9's on-disk layout.

    Each run is ``runs/<id>/`` with ``.guild/attrs/<name>`` YAML files (:data:`GUILD_ATTRS`),
    ``.guild/opref`` naming op ``train`` of ``<project_dir>/guild.yml``, and a TF event file
    in ``.guild/`` holding the scalars (where ``guild run`` puts the output scalars it
    parses), so ``guild runs``, ``compare`` and ``select`` treat them as real runs.

    :param project_dir: where the guild.yml lives (written if missing); default
        ``<guild_home>/project``
    :returns: the number of runs written
    """
    import hashlib

    import yaml

    from rundb.tfevents import ScalarEventWriter

    guild_home = os.path.abspath(guild_home)
    project_dir = os.path.abspath(project_dir or os.path.join(guild_home, "project"))
    os.makedirs(project_dir, exist_ok=True)
    guildfile = os.path.join(project_dir, "guild.yml")
    if not os.path.exists(guildfile):
        with open(guildfile, "w") as f:
            f.write(GUILDFILE)
    with open(guildfile, "rb") as f:
        digest = hashlib.md5(f.read()).hexdigest()
    opref = f"guildfile:{guildfile} {digest} '' train"
    runs_dir = os.path.join(guild_home, "runs")
    os.makedirs(runs_dir, exist_ok=True)

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    def dump(value):
        return yaml.dump(value, Dumper=dumper, default_flow_style=False, width=9999999)

    # Attributes that are the same for every run are dumped once.
    fixed = {
        "deps": dump({}),
        "exit_status": dump(0),
        "host": dump("bench"),
        "op": dump(_guild_op(project_dir)),
        "platform": dump({"architecture": "64bit ELF", "cpus": 2, "processor": "",
                          "python_version": "3.11", "uname": "Linux bench"}),
        "plugins": dump(["cpu", "disk", "memory", "perf", "python_script"]),
        "user": dump("bench"),
    }

    count = 0
    for spec in runs:
        run_dir = os.path.join(runs_dir, spec.id)
        guild_dir = os.path.join(run_dir, ".guild")
        attrs_dir = os.path.join(guild_dir, "attrs")
        os.makedirs(attrs_dir)
        flags = dict(spec.flags)
        attrs = {
            "cmd": dump(["python", "-um", "guild.op_main", "train", "--"]
                        + [a for name in sorted(flags) for a in (f"--{name}", str(flags[name]))]),
            "flags": dump(flags),
            "id": dump(spec.id),
            "initialized": dump(spec.started - 500_000),
            "label": dump(spec.label()),
            "random_seed": dump(flags["seed"]),
            "run_params": dump({"flags": [f"{k}={v}" for k, v in flags.items()],
                                "opspec": "train", "yes": True}),
            "sourcecode_digest": dump(hashlib.md5(spec.id.encode()).hexdigest()),
            "started": dump(spec.started),
            "stopped": dump(spec.stopped),
            "user_flags": dump(flags),
            **fixed,
        }
        for name in GUILD_ATTRS:
            with open(os.path.join(attrs_dir, name), "w") as f:
                f.write(attrs[name])
        with open(os.path.join(guild_dir, "opref"), "w") as f:
            f.write(opref)
        with ScalarEventWriter(guild_dir) as events:
            for tag, step, value, wall_ms in spec.points():
                events.add_scalar(tag, value, step=step, wall_time=wall_ms / 1000)
        count += 1
    return count


def _guild_op(project_dir):
    # The "op" attr of a guildfile op, as guild 0.9 writes it for `train: main: train`.
    return {
        "delete-on-success": False,
        "deps": [],
        "flag-null-labels": {},
        "flags-extra": {},
        "label-template": None,
        "op-cmd": {
            "cmd-args": ["${python_exe}", "-um", "guild.op_main", "train", "__flag_args__"],
            "cmd-env": {"FLAGS_DEST": "args", "GUILD_PLUGINS": "", "PROJECT_DIR": project_dir},
            "cmd-flags": {name: {} for name in FLAGS},
            "flags-dest": "args",
        },
        "output-scalars": None,
        "python-requires": None,
        "sourcecode": {"dest": "."},
    }
