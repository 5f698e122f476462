"""Writes to the index: every run attribute, flag and scalar goes through here.

Scalar summaries (first/last/min/max value and step, count, total) are kept current on
every write: each batch is reduced in Python per key, then merged into ``scalar_stat``
with one upsert per key, so readers never aggregate points.
"""

import os
from itertools import chain, repeat

from ..run import RUN_COLUMNS, Run

#: The ``run`` table's columns (rundb.run.RUN_COLUMNS), written in this order.
_RUN_COLUMNS = tuple(RUN_COLUMNS)

#: Run fields that live in the ``run`` table and may be updated.
UPDATABLE = frozenset(_RUN_COLUMNS) - {"id", "created", "home"}

_INSERT_RUN = "INSERT INTO run ({}) VALUES ({})".format(
    ", ".join(_RUN_COLUMNS), ", ".join("?" for _ in _RUN_COLUMNS)
)

_INSERT_FLAG = "INSERT INTO run_flag (rid, name, value, type) VALUES (?, ?, ?, ?)"
_INSERT_TAG = "INSERT OR IGNORE INTO run_tag (rid, tag) VALUES (?, ?)"
_INSERT_ATTR = "INSERT OR REPLACE INTO run_attr (rid, name, value) VALUES (?, ?, ?)"

_INSERT_POINT = "INSERT INTO scalar_point (rid, key, step, value, time) VALUES (?, ?, ?, ?, ?)"

# All SET expressions read the row as it was before the update, so min/max and their
# steps are decided together. Strict < and > keep the first occurrence on ties.
_MERGE_STAT = """
INSERT INTO scalar_stat (
    rid, key, first_val, first_step, last_val, last_step,
    min_val, min_step, max_val, max_step, count, total
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (rid, key) DO UPDATE SET
    last_val = excluded.last_val,
    last_step = excluded.last_step,
    min_step = CASE WHEN min_val IS NULL OR excluded.min_val < min_val
                    THEN excluded.min_step ELSE min_step END,
    min_val = CASE WHEN min_val IS NULL OR excluded.min_val < min_val
                   THEN excluded.min_val ELSE min_val END,
    max_step = CASE WHEN max_val IS NULL OR excluded.max_val > max_val
                    THEN excluded.max_step ELSE max_step END,
    max_val = CASE WHEN max_val IS NULL OR excluded.max_val > max_val
                   THEN excluded.max_val ELSE max_val END,
    count = count + excluded.count,
    total = total + excluded.total
"""


_encode = None


def _to_json(value):
    """``json.dumps(value, sort_keys=True)``, with one encoder (dumps makes one a call)."""
    global _encode
    if _encode is None:
        import json  # here, not at the top: readers import this module (start-up time)

        _encode = json.JSONEncoder(sort_keys=True).encode
    return _encode(value)


def encode_flag(value):
    """(stored value, type name) for a flag value; bool as 0/1, list/dict as JSON."""
    if value is None:
        return None, "null"
    if isinstance(value, bool):
        return int(value), "bool"
    if isinstance(value, int):
        return value, "int"
    if isinstance(value, float):
        return value, "float"
    if isinstance(value, str):
        return value, "str"
    if isinstance(value, (list, tuple)):
        import json  # here, not at the top: readers import this module (start-up time)

        return json.dumps(list(value)), "list"
    if isinstance(value, dict):
        return _to_json(value), "dict"
    return str(value), "str"


def decode_flag(value, type_):
    """Inverse of :func:`encode_flag`."""
    if type_ == "bool":
        return bool(value)
    if type_ == "null":
        return None
    if type_ in ("list", "dict"):
        import json

        return json.loads(value)
    if type_ == "float":
        # NULL is a NaN: SQLite holds none (the rule of schema.py, as for scalars)
        return float("nan") if value is None else float(value)
    return value


def insert_run(index, run: Run):
    """Insert ``run`` with its flags, tags and attributes; return its rid."""
    with index.atomic() as conn:
        cur = conn.execute(_INSERT_RUN, _run_values(run))
        rid = cur.lastrowid
        _write_flags(index, rid, run.flags)
        _write_tags(conn, rid, run.tags)
        _write_attrs(conn, rid, run.attrs)
    return rid


def run_rows(run: Run):
    """The rows :func:`insert_run` writes for ``run``, before it has a rid: ``(run table
    values, [(flag name, stored value, type)], [tag], [(attribute name, JSON text)])``.
    Plain tuples and lists, so a process reading run directories can hand them over."""
    flags = [(name, *encode_flag(value)) for name, value in run.flags.items()]
    attrs = [(name, _to_json(value)) for name, value in run.attrs.items()]
    return _run_values(run), flags, list(run.tags), attrs


def insert_runs(index, runs):
    """Insert whole runs in one transaction, each table's rows with one ``executemany``
    (a rebuild's writer: a call per run and table cost more than the rows).

    ``runs`` are ``(run_rows(run), series_rows(series))`` pairs; the rows are those
    :func:`insert_run` and :func:`add_series` write, flag names and scalar keys interned
    in the same order. Returns the new rids, in order.
    """
    conn = index.conn
    rids, flags, tags, attrs, points, stats = [], [], [], [], [], []
    flag_ids, key_ids = index.flag_ids, index.key_ids
    with index.atomic():
        for (values, flag_rows, tag_list, attr_rows), scalars in runs:
            rid = conn.execute(_INSERT_RUN, values).lastrowid
            rids.append(rid)
            for name, stored, type_ in flag_rows:
                fid = flag_ids.get(name) or _flag_id(index, name)
                flags.append((rid, fid, stored, type_))
            tags.extend((rid, tag) for tag in tag_list)
            attrs.extend((rid, name, value) for name, value in attr_rows)
            for prefix, tag, steps, stored, times, summary in scalars:
                kid = key_ids.get((prefix, tag)) or _key_id(index, prefix, tag)
                if steps is not None:
                    times = times if isinstance(times, list) else repeat(times)
                    points.append(zip(repeat(rid), repeat(kid), steps, stored, times))
                stats.append((rid, kid, *summary))
        conn.executemany(_INSERT_FLAG, flags)
        conn.executemany(_INSERT_TAG, tags)
        conn.executemany(_INSERT_ATTR, attrs)
        conn.executemany(_INSERT_POINT, chain.from_iterable(points))
        conn.executemany(_MERGE_STAT, stats)
    return rids


def _run_values(run):
    values = []
    for name in _RUN_COLUMNS:
        v = _home_of(run.dir) if name == "home" else getattr(run, name)
        values.append(int(v) if isinstance(v, bool) else v)
    return values


def _home_of(run_dir):
    # runs/<id> or trash/<id> inside the home
    return os.path.dirname(os.path.dirname(os.path.abspath(run_dir))) if run_dir else None


def update_run(index, run_id, **fields):
    """Set run-table fields (status, stopped, label, ...) of one run."""
    bad = set(fields) - UPDATABLE
    if bad:
        raise ValueError(f"cannot update run fields {sorted(bad)}")
    if not fields:
        return
    names = sorted(fields)
    sets = ", ".join(f"{name} = ?" for name in names)
    values = [int(fields[n]) if isinstance(fields[n], bool) else fields[n] for n in names]
    with index.atomic() as conn:
        conn.execute(f"UPDATE run SET {sets} WHERE id = ?", [*values, run_id])


def replace_run(index, run: Run):
    """Make the index rows of ``run`` equal to ``run`` (scalars untouched)."""
    with index.atomic() as conn:
        row = conn.execute("SELECT rid FROM run WHERE id = ?", (run.id,)).fetchone()
        if row is None:
            return insert_run(index, run)
        rid = row[0]
        names = [n for n in _RUN_COLUMNS if n != "id"]
        sets = ", ".join(f"{n} = ?" for n in names)
        values = _run_values(run)[1:]
        conn.execute(f"UPDATE run SET {sets} WHERE rid = ?", [*values, rid])
        conn.execute("DELETE FROM run_flag WHERE rid = ?", (rid,))
        conn.execute("DELETE FROM run_tag WHERE rid = ?", (rid,))
        conn.execute("DELETE FROM run_attr WHERE rid = ?", (rid,))
        _write_flags(index, rid, run.flags)
        _write_tags(conn, rid, run.tags)
        _write_attrs(conn, rid, run.attrs)
    return rid


def set_flags(index, rid, flags):
    with index.atomic() as conn:
        conn.execute("DELETE FROM run_flag WHERE rid = ?", (rid,))
        _write_flags(index, rid, flags)


def set_tags(index, rid, tags):
    with index.atomic() as conn:
        conn.execute("DELETE FROM run_tag WHERE rid = ?", (rid,))
        _write_tags(conn, rid, tags)


def set_attrs(index, rid, attrs):
    """Set (add or replace) some attributes of a run."""
    with index.atomic() as conn:
        _write_attrs(conn, rid, attrs)


def _write_flags(index, rid, flags):
    rows = []
    for name, value in flags.items():
        stored, type_ = encode_flag(value)
        rows.append((rid, _flag_id(index, name), stored, type_))
    index.conn.executemany(_INSERT_FLAG, rows)


def _write_tags(conn, rid, tags):
    conn.executemany(_INSERT_TAG, [(rid, t) for t in tags])


def _write_attrs(conn, rid, attrs):
    conn.executemany(
        _INSERT_ATTR,
        [(rid, name, _to_json(value)) for name, value in attrs.items()],
    )


def _flag_id(index, name):
    fid = index.flag_ids.get(name)
    if fid is None:
        conn = index.conn
        conn.execute("INSERT OR IGNORE INTO flag_name (name) VALUES (?)", (name,))
        fid = conn.execute("SELECT id FROM flag_name WHERE name = ?", (name,)).fetchone()[0]
        index.flag_ids[name] = fid
    return fid


def _key_id(index, prefix, tag):
    kid = index.key_ids.get((prefix, tag))
    if kid is None:
        conn = index.conn
        conn.execute(
            "INSERT OR IGNORE INTO scalar_key (prefix, tag) VALUES (?, ?)", (prefix, tag)
        )
        kid = conn.execute(
            "SELECT id FROM scalar_key WHERE prefix = ? AND tag = ?", (prefix, tag)
        ).fetchone()[0]
        index.key_ids[(prefix, tag)] = kid
    return kid


def key_id(index, prefix, tag):
    """The id of scalar key (prefix, tag), added if new."""
    return index.key_ids.get((prefix, tag)) or _key_id(index, prefix, tag)


def insert_points(index, rows):
    """Insert scalar points ``(rid, key id, step, value, time)`` as they are (a merge:
    the run's summaries are copied with :func:`insert_stats`)."""
    with index.atomic() as conn:
        conn.executemany(_INSERT_POINT, rows)


def insert_stats(index, rows):
    """Insert scalar summaries ``(rid, key id, first_val, first_step, last_val, last_step,
    min_val, min_step, max_val, max_step, count, total)`` as they are."""
    with index.atomic() as conn:
        conn.executemany(
            "INSERT INTO scalar_stat (rid, key, first_val, first_step, last_val, last_step, "
            "min_val, min_step, max_val, max_step, count, total) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def add_scalars(index, rid, points):
    """Record scalar points ``(prefix, tag, step, value, wall_time)`` for a run."""
    if points:
        from ..tfevents import series_from_points  # not on the read path

        add_series(index, rid, series_from_points(points))


def add_series(index, rid, series):
    """Record scalar series ``{(prefix, tag): (steps, values, times)}`` for a run.

    One transaction: the points go to ``scalar_point`` and each key's summary in
    ``scalar_stat`` is merged with the batch's, computed with C builtins over whole
    lists (this is the hot path of a running script). A ``times`` entry may be a single
    number for all the points. NaN is stored as schema.py says: a NULL value; it can be
    a first or last value, and min, max, count and total leave it out.
    """
    if not series:
        return
    with index.atomic() as conn:
        stats, points = [], []
        for prefix, tag, steps, stored, times, summary in series_rows(series):
            kid = index.key_ids.get((prefix, tag)) or _key_id(index, prefix, tag)
            times = repeat(times) if not isinstance(times, list) else times
            points.append(zip(repeat(rid), repeat(kid), steps, stored, times))
            stats.append((rid, kid, *summary))
        # One executemany for every key's points: a call per key costs more than its rows
        conn.executemany(_INSERT_POINT, chain.from_iterable(points))
        conn.executemany(_MERGE_STAT, stats)


def series_rows(series, points=True):
    """What :func:`add_series` writes for ``series``, before the run and its keys have
    ids: ``[(prefix, tag, steps, stored values, times, summary)]``, the summary being
    ``scalar_stat``'s ``(first_val, first_step, last_val, last_step, min_val, min_step,
    max_val, max_step, count, total)`` of the batch. A NaN is stored as None (schema.py).

    :param points: False: the summaries only (steps, values and times are None).
    """
    out = []
    for (prefix, tag), (steps, values, times) in series.items():
        if not steps:
            continue
        first_step, last_step = steps[0], steps[-1]
        stored = values
        total = sum(values)
        if total != total:  # a NaN (or inf - inf)
            stored = [None if v != v else v for v in values]
        first, last = stored[0], stored[-1]
        if stored is not values:
            pairs = [(s, v) for s, v in zip(steps, stored) if v is not None]
            steps_, values = [p[0] for p in pairs], [p[1] for p in pairs]
            total = sum(values)
            if total != total:  # inf - inf: no sum to give
                total = 0.0
        else:
            steps_ = steps
        if values:
            low, high = min(values), max(values)
            low_step, high_step = steps_[values.index(low)], steps_[values.index(high)]
        else:
            low = high = low_step = high_step = None
        summary = (first, first_step, last, last_step, low, low_step, high, high_step,
                   len(values), total)
        if points:
            out.append((prefix, tag, steps, stored, times, summary))
        else:
            out.append((prefix, tag, None, None, None, summary))
    return out


def merge_series(into, more):
    """Append the series of ``more`` to ``into`` (both ``{key: (steps, values, times)}``)."""
    for key, (steps, values, times) in more.items():
        cols = into.get(key)
        if cols is None:
            into[key] = (list(steps), list(values), list(times))
        else:
            cols[0].extend(steps)
            cols[1].extend(values)
            cols[2].extend(times)


def delete_run_rows(index, rid):
    """Remove every index row of one run (purge)."""
    with index.atomic() as conn:
        for table in ("scalar_point", "scalar_stat", "run_flag", "run_tag", "run_attr", "run"):
            conn.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))
