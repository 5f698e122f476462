"""Reads from the index. Every reader in rundb comes through SQL here; no run
directory is walked to answer a question."""

import os

from ..catalog import Catalog, ScalarKey
from ..run import RUN_COLUMNS, Run, process_gone
from ..validate import run_path_or_none
from . import writer
from ..catalog import decode_scalar
from .writer import decode_flag

_RUN_FIELDS = ", ".join(("rid", *RUN_COLUMNS))  # rundb.run.RUN_COLUMNS, after the key
_HOME = 1 + list(RUN_COLUMNS).index("home")

#: Newest first; rid breaks ties between runs created in the same microsecond.
NEWEST_FIRST = "r.created DESC, r.rid DESC"


def home_path(index):
    """The home whose run directories this index's runs live in, on this machine."""
    return index.home_dir or os.path.dirname(os.path.abspath(index.path))


def run_rids(index, where="1", params=(), order=NEWEST_FIRST, limit=None):
    """rids of runs matching an SQL condition on ``run r``, newest first."""
    sql = f"SELECT r.rid FROM run r WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ?"
        params = [*params, int(limit)]
    return [row[0] for row in index.conn.execute(sql, list(params))]


def iter_run_rids(index, where="1", params=(), order=NEWEST_FIRST):
    """:func:`run_rids`, read as they are consumed (stop early to read less)."""
    sql = f"SELECT r.rid FROM run r WHERE {where} ORDER BY {order}"
    for chunk in iter_chunks(index.conn, sql, list(params), 200):
        for row in chunk:
            yield row[0]


def iter_chunks(conn, sql, params=(), size=2000):
    """The rows of one SELECT in lists of up to ``size``, read as they are consumed: on
    SQLite the cursor steps through the result, on PostgreSQL the server streams it (see
    ``PgCursor.stream``); neither holds the whole result in memory."""
    cur = conn.cursor()
    if hasattr(cur, "stream"):
        yield from cur.stream(sql, params, size)
        return
    cur.row_factory = None
    cur.execute(sql, params)
    while True:
        chunk = cur.fetchmany(size)
        if not chunk:
            return
        yield chunk


def load_runs(index, rids, details=True):
    """Run records for ``rids``, in the given order.

    :param details: also load flags, tags and attributes (two extra queries in all).
    """
    if not rids:
        return []
    conn = index.conn
    home = home_path(index)
    # A shared index names each run's own home; a local one is read where it lies now
    # (an SQLite index may have been copied or moved with its home).
    shared = getattr(index, "backend", "sqlite") == "postgresql"
    by_rid = {}
    for chunk in batches(rids):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {_RUN_FIELDS} FROM run WHERE rid IN ({marks})", chunk):
            by_rid[row[0]] = _run_from_row(row, (shared and row[_HOME]) or home)
    if details:
        for rid, flags in load_flags(index, rids).items():
            by_rid[rid].flags = flags
        for chunk in batches(rids):
            marks = ",".join("?" * len(chunk))
            for rid, tag in conn.execute(
                f"SELECT rid, tag FROM run_tag WHERE rid IN ({marks}) ORDER BY rid, tag", chunk
            ):
                by_rid[rid].tags.append(tag)
            for rid, name, value in conn.execute(
                f"SELECT rid, name, value FROM run_attr WHERE rid IN ({marks})", chunk
            ):
                if value is not None:
                    import json

                    value = json.loads(value)
                by_rid[rid].attrs[name] = value
    return [by_rid[rid] for rid in rids if rid in by_rid]


def _run_from_row(row, home):
    rid, *values = row
    fields = dict(zip(RUN_COLUMNS, values))
    del fields["home"]
    deleted = bool(fields.pop("deleted"))
    fields["marked"] = bool(fields["marked"])
    # dir is None for an id rundb cannot have made (a hostile index): no path is built from it.
    run = Run(**fields, dir=run_path_or_none(home, fields["id"], deleted), deleted=deleted)
    run.rid = rid
    return run


def load_flags(index, rids):
    """{rid: {flag name: value}} with values in their original types."""
    out = {rid: {} for rid in rids}
    for chunk in batches(rids):
        marks = ",".join("?" * len(chunk))
        sql = (
            "SELECT f.rid, n.name, f.value, f.type FROM run_flag f "
            f"JOIN flag_name n ON n.id = f.name WHERE f.rid IN ({marks})"
        )
        for rid, name, value, type_ in index.conn.execute(sql, chunk):
            out[rid][name] = decode_flag(value, type_)
    return out


def rid_of(index, run_id):
    row = index.conn.execute("SELECT rid FROM run WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def get_run(index, run_id):
    """The Run with this full id, or None."""
    rid = rid_of(index, run_id)
    return load_runs(index, [rid])[0] if rid is not None else None


def scalar_summaries(index, rids):
    """{rid: [summary dict, ...]} sorted by prefix, tag (the seed's ipy column names)."""
    out = {rid: [] for rid in rids}
    for chunk in batches(rids):
        marks = ",".join("?" * len(chunk))
        sql = (
            "SELECT s.rid, k.prefix, k.tag, s.first_val, s.first_step, s.last_val, "
            "s.last_step, s.min_val, s.min_step, s.max_val, s.max_step, s.count, s.total "
            "FROM scalar_stat s JOIN scalar_key k ON k.id = s.key "
            f"WHERE s.rid IN ({marks}) ORDER BY s.rid, k.prefix, k.tag"
        )
        for row in index.conn.execute(sql, chunk):
            (rid, prefix, tag, fv, fs, lv, ls, mnv, mns, mxv, mxs, count, total) = row
            out[rid].append({
                "prefix": prefix, "tag": tag,
                "first_val": decode_scalar(fv, fs), "first_step": fs,
                "last_val": decode_scalar(lv, ls), "last_step": ls,
                "min_val": mnv, "min_step": mns, "max_val": mxv, "max_step": mxs,
                "avg_val": total / count if count else None, "count": count, "total": total,
            })
    return out


def scalar_points(index, rid, prefix=None, tag=None):
    """[(prefix, tag, step, value, time)] of one run, in write order."""
    sql = (
        "SELECT k.prefix, k.tag, p.step, p.value, p.time FROM scalar_point p "
        "JOIN scalar_key k ON k.id = p.key WHERE p.rid = ?"
    )
    params = [rid]
    if prefix is not None:
        sql += " AND k.prefix = ?"
        params.append(prefix)
    if tag is not None:
        sql += " AND k.tag = ?"
        params.append(tag)
    rows = index.conn.execute(sql + " ORDER BY p.rowid", params).fetchall()
    return [row if row[3] is not None else (*row[:3], float("nan"), row[4]) for row in rows]


def catalog(index):
    """Known scalar keys, flag names and extra attribute names, with the index's dialect."""
    return load_catalog(index.conn, index.dialect)


def load_catalog(conn, dialect):
    """The :class:`~rundb.catalog.Catalog` of the index open on *conn* (three small
    SELECTs); the one catalog loader."""
    cur = conn.cursor()
    cur.row_factory = None
    keys = [ScalarKey(*row) for row in cur.execute("SELECT id, prefix, tag FROM scalar_key")]
    flags = dict((name, id_) for id_, name in cur.execute("SELECT id, name FROM flag_name"))
    attrs = {row[0] for row in cur.execute(_distinct("name", "run_attr"))}
    return Catalog(scalar_keys=keys, flag_names=flags, attr_names=attrs, dialect=dialect)


def _distinct(column, table):
    """SQL giving the distinct non-NULL values of an indexed ``column`` by one index seek
    per value (a loose index scan), where ``SELECT DISTINCT`` would read every row: a
    million runs hold a few hundred operation names and a dozen attribute names."""
    return (
        f"WITH RECURSIVE v(x) AS (SELECT min({column}) FROM {table} "
        f"UNION ALL SELECT (SELECT min({column}) FROM {table} WHERE {column} > v.x) "
        f"FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL"
    )


def compiled_rows(index, compiled, convert=True):
    """Run a compiled query (rundb.query.compile) and return its rows
    ``[(rid, v1, ..., vN)]``, values converted to Python (as stored, without ``convert``)."""
    return compiled_rows_on(index.conn, index.dialect, compiled, convert)


def compiled_rows_on(conn, dialect, compiled, convert=True):
    """:func:`compiled_rows` on a bare connection (tests, benchmarks)."""
    if compiled.uses_regexp:
        dialect.register_functions(conn)
    cur = conn.cursor()
    cur.row_factory = None  # plain tuples, whatever the connection's factory
    raw = cur.execute(compiled.sql, compiled.params).fetchall()
    return compiled.convert(raw) if convert else raw


def iter_compiled_rows(index, compiled, size=2000):
    """:func:`compiled_rows`, converted, read ``size`` rows at a time as they are
    consumed (:func:`iter_chunks`): memory stays constant at any number of runs."""
    conn = index.conn
    if compiled.uses_regexp:
        index.dialect.register_functions(conn)
    for chunk in iter_chunks(conn, compiled.sql, compiled.params, size):
        yield from compiled.convert(chunk)


def reap_gone_runs(index):
    """Record as ``error`` (attribute ``process_gone``) the runs marked running whose
    process has vanished: a SIGKILL or a crash leaves no exit status behind, and readers
    call this first so such runs never show as running forever.

    Only the index is changed, never meta.json: a run directory is written by its own
    runner alone (a rebuild reaps the same way). A run whose process is alive (same pid,
    started no later than the run) is left alone. A read-only index is not changed.
    """
    if index.readonly:
        return []
    rows = index.conn.execute(
        "SELECT rid, id, pid, host, started FROM run WHERE status = 'running'"
    ).fetchall()
    gone = [(rid, id_) for rid, id_, pid, host, started in rows
            if process_gone("running", pid, host, started)]
    if gone:
        with index.atomic():
            for rid, run_id in gone:
                writer.update_run(index, run_id, status="error")
                writer.set_attrs(index, rid, {"process_gone": True})
    return [run_id for _rid, run_id in gone]


def batches(items, size=900):
    """Lists of up to ``size`` of ``items`` (any iterable, read as it is consumed); 900
    keeps a batch of ``?`` parameters under SQLite's limit."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_state(index, run_id):
    """(status, pid, host) of one run, or None when it is not in the index."""
    return index.conn.execute(
        "SELECT status, pid, host FROM run WHERE id = ?", (run_id,)).fetchone()


def index_counts(index):
    """{what: rows} for ``rundb index info``: runs (and how many in the trash), scalar
    keys and points, flag names."""
    one = lambda sql: index.conn.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "runs": one("SELECT count(*) FROM run WHERE deleted = 0"),
        "deleted runs": one("SELECT count(*) FROM run WHERE deleted <> 0"),
        "flag names": one("SELECT count(*) FROM flag_name"),
        "scalar keys": one("SELECT count(*) FROM scalar_key"),
        "scalar points": one("SELECT count(*) FROM scalar_point"),
    }


def distinct_ops(index):
    """Every operation name in the index (each once)."""
    return [row[0] for row in index.conn.execute(_distinct("op", "run"))]


def run_times(index, run_ids):
    """{run id: (started, stopped)} for full run ids; ids not in the index are left out."""
    import json

    rows = index.conn.execute(
        f"SELECT id, started, stopped FROM run WHERE id IN ({index.dialect.json_list()})",
        [json.dumps(list(run_ids))])
    return {run_id: (started, stopped) for run_id, started, stopped in rows}


def ids_of(index, rids):
    """Full run ids of ``rids``, in the given order (without building run records)."""
    out = {}
    for chunk in batches(rids):
        marks = ",".join("?" * len(chunk))
        out.update(index.conn.execute(f"SELECT rid, id FROM run WHERE rid IN ({marks})", chunk))
    return [out[rid] for rid in rids if rid in out]


def all_ids(index):
    """Every run id in the index."""
    return [row[0] for row in index.conn.execute("SELECT id FROM run")]


def deleted_flags(index, run_ids):
    """[(run id, deleted)] for the ids the index knows (at most 900 at a time)."""
    marks = ",".join("?" * len(run_ids))
    return index.conn.execute(f"SELECT id, deleted FROM run WHERE id IN ({marks})",
                              list(run_ids)).fetchall()
