"""Aggregate functions SQLite lacks, registered on every SQLite index connection (the
dialect's ``register_functions``): ``rundb_std`` (sample standard deviation, n - 1),
``rundb_std_pop`` (population) and ``rundb_median``. PostgreSQL has its own
(``stddev_samp``, ``stddev_pop``, ``percentile_cont``).

NULLs and non-numbers are skipped, as SQL's own aggregates skip NULLs; a group with too
few values gives NULL (a sample std needs two).

>>> import sqlite3
>>> conn = sqlite3.connect(":memory:")
>>> register(conn)
>>> conn.execute("SELECT rundb_std(v), rundb_std_pop(v), rundb_median(v) FROM "
...              "(SELECT 1 AS v UNION ALL SELECT 2 UNION ALL SELECT 4 UNION ALL SELECT NULL)").fetchone()
(1.5275252316519468, 1.247219128924647, 2.0)
"""

import math


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Moments:
    """Welford's running mean and sum of squared deviations (stable for large values)."""

    ddof = 1

    def __init__(self):
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def step(self, value):
        if not _number(value):
            return
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)

    def finalize(self):
        if self.n <= self.ddof:
            return None
        return math.sqrt(self.m2 / (self.n - self.ddof))


class _PopulationMoments(_Moments):
    ddof = 0


class _Median:
    def __init__(self):
        self.values = []

    def step(self, value):
        if _number(value):
            self.values.append(value)

    def finalize(self):
        values = sorted(self.values)
        n = len(values)
        if not n:
            return None
        mid = n // 2
        return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2.0


def register(conn):
    """Register the aggregates on the sqlite3 connection *conn*."""
    conn.create_aggregate("rundb_std", 1, _Moments)
    conn.create_aggregate("rundb_std_pop", 1, _PopulationMoments)
    conn.create_aggregate("rundb_median", 1, _Median)
