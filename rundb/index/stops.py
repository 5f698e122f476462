"""Stop requests: how ``rundb stop`` (and a batch's Ctrl-C, or a pruner) reaches a run's
runner wherever it runs. A request is one row of ``stop_request``; the runner polls for
its run's row about once a second, terminates its child as Ctrl-C would, and deletes the
row when the run ends. Works the same on SQLite and PostgreSQL.
"""

from ..run import now_us

_REQUEST = ("INSERT INTO stop_request (run, requested, reason) VALUES (?, ?, ?) "
            "ON CONFLICT (run) DO UPDATE SET requested = excluded.requested, "
            "reason = excluded.reason")


def request_stop(index, run_ids, reason=None):
    """Record a stop request for each of ``run_ids`` (full ids)."""
    at = now_us()
    with index.atomic():
        for run_id in run_ids:
            index.conn.execute(_REQUEST, (run_id, at, reason))


def stop_requested(index, run_id):
    """``(requested time, reason)`` when a stop of ``run_id`` was requested, else None."""
    row = index.conn.execute(
        "SELECT requested, reason FROM stop_request WHERE run = ?", (run_id,)).fetchone()
    return tuple(row) if row else None


def clear_stop(index, run_id):
    """Forget the stop request of a run that has ended."""
    index.conn.execute("DELETE FROM stop_request WHERE run = ?", (run_id,))
