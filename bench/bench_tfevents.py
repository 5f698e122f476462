"""Scalars/s read from a TF event file: rundb's reader against tensorboard's EventFileLoader.

Run: ``.venv/bin/python bench/bench_tfevents.py [N]``. tensorboard's loader (without TensorFlow
installed) checks CRCs in pure Python, so it is timed on a smaller file of the same records;
rates are per scalar, so the two sizes compare directly.
"""

import os
import sys
import tempfile
import time

TAGS = ("loss", "acc", "val/loss", "val/acc")


def _write(logdir, n):
    from rundb.tfevents import ScalarEventWriter

    with ScalarEventWriter(logdir) as writer:
        for i in range(n):
            writer.add_scalar(TAGS[i % 4], i * 0.001, step=i // 4, wall_time=1.7e9 + i)
    return writer.path


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = fn()
        times.append(time.perf_counter() - t0)
    return count, min(times)


def run(n=500_000, tb_n=20_000, repeat=3):
    """Time both readers; return a dict of counts, seconds and scalars/s.

    :param n: scalars in the file rundb's reader reads (best of ``repeat`` runs)
    :param tb_n: scalars in the file tensorboard's loader reads (one run)
    """
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat import tf

    from rundb.tfevents import read_scalars

    with tempfile.TemporaryDirectory() as tmp:
        big = _write(os.path.join(tmp, "big"), n)
        small = _write(os.path.join(tmp, "small"), tb_n)
        ours_n, ours_s = _best(lambda: len(read_scalars(big)), repeat)

        def tensorboard():
            return sum(len(e.summary.value) for e in EventFileLoader(small).Load())

        tb_n_read, tb_s = _best(tensorboard, 1)
        file_mb = os.path.getsize(big) / 1e6
    assert ours_n == n and tb_n_read == tb_n, (ours_n, tb_n_read)
    ours_rate = ours_n / ours_s
    tb_rate = tb_n_read / tb_s
    return {
        "n": ours_n,
        "file_mb": round(file_mb, 1),
        "rundb_seconds": ours_s,
        "rundb_scalars_per_s": ours_rate,
        "tensorboard_n": tb_n_read,
        "tensorboard_seconds": tb_s,
        "tensorboard_scalars_per_s": tb_rate,
        "tensorboard_backend": tf.__name__,  # tensorboard's stub when TensorFlow is absent
        "ratio": ours_rate / tb_rate,
    }


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 500_000
    r = run(n)
    print(f"TF event file read: {r['n']:,} scalars ({r['file_mb']} MB)")
    print(f"{'reader':<34} {'scalars':>9} {'seconds':>8} {'scalars/s':>11}")
    print(
        f"{'rundb EventFileReader':<34} {r['n']:>9,} {r['rundb_seconds']:>8.3f}"
        f" {r['rundb_scalars_per_s']:>11,.0f}"
    )
    print(
        f"{'tensorboard EventFileLoader':<34} {r['tensorboard_n']:>9,}"
        f" {r['tensorboard_seconds']:>8.3f} {r['tensorboard_scalars_per_s']:>11,.0f}"
    )
    print(f"ratio: {r['ratio']:.1f}x  (tensorboard backend: {r['tensorboard_backend']})")


if __name__ == "__main__":
    main(sys.argv)
