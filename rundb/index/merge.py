"""Merge the runs of one index into another, by run id: the index side of
``rundb index push/pull`` (a home's SQLite index and a shared PostgreSQL one), of
``rundb index rebuild`` on a shared index, and of ``export --sql`` from one.

Works over any two open indexes (either backend) through the reader and writer. A run
missing from the destination is added; a run present on both sides is replaced only if
it changed (its row, flags, tags, attributes or scalar summaries differ), so merging twice
changes nothing.
"""

from dataclasses import dataclass, field

from . import reader, writer

_STAT_COLUMNS = ("first_val", "first_step", "last_val", "last_step", "min_val", "min_step",
                 "max_val", "max_step", "count", "total")

#: Runs merged per destination transaction.
_RUNS_PER_TRANSACTION = 50


@dataclass
class MergeResult:
    added: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)

    def summary(self):
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged")


def merge_runs(src, dest, run_ids=None, undelete=False, progress=None):
    """Bring the runs of *src* (all, or those in *run_ids*) into *dest*.

    :param undelete: record the copies as not deleted.
    :param progress: called as ``progress(done, total)`` after each batch.
    :returns: :class:`MergeResult` with the run ids added, updated and left unchanged.
    """
    if run_ids is None:
        rids = reader.run_rids(src, order="r.rid")
    else:
        rids = [rid for rid in (reader.rid_of(src, i) for i in run_ids) if rid is not None]
    result = MergeResult()
    total = len(rids)
    for start in range(0, total, _RUNS_PER_TRANSACTION):
        chunk = rids[start : start + _RUNS_PER_TRANSACTION]
        runs = reader.load_runs(src, chunk)
        stats = _stats(src, chunk)
        with dest.atomic():
            for run in runs:
                if undelete:
                    run.deleted = False
                _merge_run(src, dest, run, stats.get(run.rid, []), result)
        if progress:
            progress(min(start + _RUNS_PER_TRANSACTION, total), total)
    if progress and not total:
        progress(0, 0)
    return result


def _merge_run(src, dest, run, stats, result):
    dest_rid = reader.rid_of(dest, run.id)
    if dest_rid is not None:
        [there] = reader.load_runs(dest, [dest_rid])
        if _same(run, there) and _stats(dest, [dest_rid]).get(dest_rid, []) == stats:
            result.unchanged.append(run.id)
            return
        writer.replace_run(dest, run)
        for table in ("scalar_point", "scalar_stat"):
            dest.conn.execute(f"DELETE FROM {table} WHERE rid = ?", (dest_rid,))
        result.updated.append(run.id)
    else:
        dest_rid = writer.insert_run(dest, run)
        result.added.append(run.id)
    _copy_scalars(src, dest, run.rid, dest_rid, stats)


def _same(a, b):
    return a.to_meta() == b.to_meta() and a.deleted == b.deleted


def _stats(index, rids):
    """{rid: [(prefix, tag, first_val, ..., total), ...]} sorted by key."""
    out = {}
    for chunk in reader.batches(rids):
        marks = ",".join("?" * len(chunk))
        sql = (f"SELECT s.rid, k.prefix, k.tag, {', '.join('s.' + c for c in _STAT_COLUMNS)} "
               "FROM scalar_stat s JOIN scalar_key k ON k.id = s.key "
               f"WHERE s.rid IN ({marks}) ORDER BY s.rid, k.prefix, k.tag")
        for row in index.conn.execute(sql, chunk):
            out.setdefault(row[0], []).append(tuple(row[1:]))
    return out


def _copy_scalars(src, dest, src_rid, dest_rid, stats):
    points = reader.scalar_points(src, src_rid)
    keys = {}
    rows = []
    for prefix, tag, step, value, time in points:
        kid = keys.get((prefix, tag))
        if kid is None:
            kid = keys[(prefix, tag)] = writer.key_id(dest, prefix, tag)
        rows.append((dest_rid, kid, step, value, time))
    writer.insert_points(dest, rows)
    stat_rows = []
    for prefix, tag, *values in stats:
        kid = keys.get((prefix, tag)) or writer.key_id(dest, prefix, tag)
        stat_rows.append((dest_rid, kid, *values))
    writer.insert_stats(dest, stat_rows)


def copy_runs_to_file(src, dest_path, run_ids, undelete=False, journal_mode=None):
    """Copy the rows of *run_ids* from the open index *src* (e.g. a shared PostgreSQL
    index) into the SQLite index file *dest_path* (created if missing); runs already there
    are left alone. Returns the ids added.

    :param journal_mode: the file's journal mode afterwards (``DELETE``: one standalone
        file, as ``export --sql`` writes).
    """
    from .db import open_index

    dest = open_index(dest_path)
    try:
        present = {row[0] for row in dest.conn.execute("SELECT id FROM run")}
        wanted = [i for i in run_ids if i not in present]
        added = merge_runs(src, dest, wanted, undelete=undelete).added if wanted else []
        if journal_mode:
            dest.conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        return added
    finally:
        dest.close()
