"""Curves: a scalar's points for several runs at once, as pruners and samplers read them
(the intermediate values of trials). One query for all the runs asked."""

from .reader import batches


def curves(index, rids, key_ids, after=None):
    """``{rid: {step: value}}`` of the scalar with ``key_ids`` (the ids of one name, most
    preferred first: a run's points come from the first of them it has).

    :param after: ``{rid: step}``: only points past that step (what is new since the
        last look); runs not in it get all their points.
    """
    out = {rid: {} for rid in rids}
    if not rids or not key_ids:
        return out
    rank = {key: i for i, key in enumerate(key_ids)}
    keys = ", ".join("?" * len(key_ids))
    best = {}
    for chunk in batches(rids, 500):
        marks = ", ".join("?" * len(chunk))
        least = min((after or {}).get(rid, -1) for rid in chunk) if after else -1
        rows = index.conn.execute(
            f"SELECT rid, key, step, value FROM scalar_point WHERE rid IN ({marks}) "
            f"AND key IN ({keys}) AND step > ? ORDER BY rid, step",
            [*chunk, *key_ids, least]).fetchall()
        for rid, key, step, value in rows:
            if after and step <= after.get(rid, -1):
                continue
            r = rank[key]
            if best.setdefault(rid, r) > r:
                best[rid] = r
                out[rid] = {}
            if best[rid] == r:
                out[rid][step] = float("nan") if value is None else value
    return out


def key_ids(index, name):
    """Ids of the scalar keys a written name refers to, most preferred first (as
    :meth:`rundb.catalog.Catalog.keys_named` orders them)."""
    from ..catalog import Catalog, ScalarKey, split_scalar_key

    _, tag = split_scalar_key(name)
    rows = index.conn.execute(
        "SELECT id, prefix, tag FROM scalar_key WHERE tag = ?", (tag,)).fetchall()
    catalog = Catalog([ScalarKey(*row) for row in rows])
    return [key.id for key in catalog.keys_named(name)]
