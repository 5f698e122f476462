"""SQL conditions on ``run r``: the WHERE clauses that select runs (filters, id prefixes).

The service layer decides what a filter means (Guild's operation matching, time ranges,
the query language's ``--filter``); the SQL for it is written here, with the dialect's
string search, and every value a parameter.
"""


def run_conditions(index, flt, op_names=None, started=None):
    """([SQL condition], [params]) for the fields of a RunFilter ``flt`` other than its
    query-language ``filter``.

    :param op_names: the operation names ``flt.operations`` selects (None: no such filter)
    :param started: (start, end) microseconds of ``flt.started`` (either may be None)
    """
    def contains(expr):  # case-sensitive, as these filters always were
        return index.dialect.contains(expr, ignore_case=False)

    conds, params = [], []
    if flt.deleted is not None:
        conds.append("r.deleted = ?")
        params.append(1 if flt.deleted else 0)
    if flt.ops:
        conds.append("(" + " OR ".join(contains("r.op") for _ in flt.ops) + ")")
        params.extend(flt.ops)
    if op_names is not None:
        conds.append(f"r.op IN ({_marks(op_names)})" if op_names else "1 = 0")
        params.extend(op_names)
    if flt.labels:
        conds.append("(" + " OR ".join(contains("r.label") for _ in flt.labels) + ")")
        params.extend(flt.labels)
    if flt.comments:
        conds.append("(" + " OR ".join(contains("r.comment") for _ in flt.comments) + ")")
        params.extend(flt.comments)
    if flt.unlabeled:
        conds.append("r.label = ''")
    if flt.tags:
        conds.append("EXISTS (SELECT 1 FROM run_tag t WHERE t.rid = r.rid AND t.tag IN "
                     f"({_marks(flt.tags)}))")
        params.extend(flt.tags)
    if flt.marked is not None:
        conds.append("r.marked = ?")
        params.append(1 if flt.marked else 0)
    if flt.statuses:
        conds.append(f"r.status IN ({_marks(flt.statuses)})")
        params.extend(flt.statuses)
    if started is not None:
        start, end = started
        if start is not None:
            conds.append("r.started >= ?")
            params.append(start)
        if end is not None:
            conds.append("r.started < ?")
            params.append(end)
    if flt.digest:
        conds.append("substr(r.sourcecode_digest, 1, ?) = ?")
        params.extend([len(flt.digest), flt.digest])
    if flt.parent:
        conds.append("r.parent = ?")
        params.append(flt.parent)
    if not flt.include_batch:
        conds.append(_NOT_BATCH)
    return conds, params


def all_of(conds):
    """One condition from a list of conditions (true when the list is empty)."""
    return " AND ".join(conds) or "1"


def ids_with_prefix(index, where, params, prefix, limit=21):
    """[(rid, id, op)] of the runs passing ``where`` whose id starts with ``prefix``
    (lower case), newest first."""
    return index.conn.execute(
        f"SELECT r.rid, r.id, r.op FROM run r WHERE {where} AND substr(r.id, 1, ?) = ? "
        "ORDER BY r.created DESC LIMIT ?",
        [*params, len(prefix), prefix.lower(), limit],
    ).fetchall()


def run_with_id(run_id):
    """(SQL condition, params): the run with the full id ``run_id``."""
    return "r.id = ?", [run_id]


def count_runs(index, where, params, at_most=None):
    """How many runs pass ``where``; with ``at_most``, counting stops after that many
    plus one (``at_most + 1`` means "more than ``at_most``")."""
    if at_most is None:
        return index.conn.execute(f"SELECT count(*) FROM run r WHERE {where}",
                                  params).fetchone()[0]
    return index.conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM run r WHERE {where} LIMIT ?) AS c",
        [*params, int(at_most) + 1]).fetchone()[0]


def rid_set(index, rids):
    """(SQL condition, params): ``r.rid`` is one of ``rids`` (one JSON parameter)."""
    import json

    return f"r.rid IN ({index.dialect.json_list()})", [json.dumps(list(rids))]


#: Not a batch run (a batch's op ends with ``+`` and its optimizer).
_NOT_BATCH = "r.op NOT LIKE '%+%'"


def not_batch():
    """The condition: the run is not a batch."""
    return _NOT_BATCH


def _marks(values):
    return ", ".join("?" for _ in values)


# --- compare: columns and groups of the selected runs -----------------------------------


#: Above this many runs, the names a selection uses are found name by name (see
#: :func:`flag_names_of`); at most this many are read run by run.
FEW_RUNS = 10_000


def _few_runs(index, where, params):
    return count_runs(index, where, params, at_most=FEW_RUNS) <= FEW_RUNS


def flag_names_of(index, where, params):
    """Names of the flags the runs passing ``where`` have.

    A few runs are read run by run. Many are probed name by name: each probe walks the
    flag's index until a run passes, which takes a few rows when most runs pass, and
    never more than the flag's rows (reading every run's flags cost seconds at a million
    runs)."""
    if _few_runs(index, where, params):
        return [row[0] for row in index.conn.execute(
            "SELECT DISTINCT n.name FROM run_flag f JOIN flag_name n ON n.id = f.name "
            f"WHERE f.rid IN (SELECT r.rid FROM run r WHERE {where})", params)]
    return [row[0] for row in index.conn.execute(
        "SELECT n.name FROM flag_name n WHERE EXISTS (SELECT 1 FROM run_flag f "
        f"CROSS JOIN run r WHERE f.name = n.id AND r.rid = f.rid AND {where})", params)]


def scalar_keys_of(index, where, params):
    """(prefix, tag) of the scalars the runs passing ``where`` have (found as
    :func:`flag_names_of` finds flags)."""
    if _few_runs(index, where, params):
        return index.conn.execute(
            "SELECT DISTINCT k.prefix, k.tag FROM scalar_stat s JOIN scalar_key k "
            f"ON k.id = s.key WHERE s.rid IN (SELECT r.rid FROM run r WHERE {where})",
            params).fetchall()
    return index.conn.execute(
        "SELECT k.prefix, k.tag FROM scalar_key k WHERE EXISTS (SELECT 1 FROM scalar_stat s "
        f"CROSS JOIN run r WHERE s.key = k.id AND r.rid = s.rid AND {where})",
        params).fetchall()


def nan_free_keys(index, key_ids):
    """The scalar keys among ``key_ids`` whose last value is NaN (stored as NULL beside
    its step) in no run: their last values need no NaN check. One index seek a key."""
    if not key_ids:
        return set()
    ids = list(key_ids)
    rows = index.conn.execute(
        f"SELECT k.id FROM scalar_key k WHERE k.id IN ({_marks(ids)}) AND NOT EXISTS "
        "(SELECT 1 FROM scalar_stat s WHERE s.key = k.id AND s.last_val IS NULL "
        "AND s.last_step IS NOT NULL)", ids)
    return {row[0] for row in rows}


def plain_flags(index, flag_ids):
    """The flags among ``flag_ids`` whose stored values read as they are in every run:
    none is NULL (a null or a NaN), 0 or 1 (maybe a bool), or text starting with ``[``
    or ``{`` (maybe a JSON list or dict); their values need no type to decode them
    (rundb.index.writer.encode_flag). Four index seeks a flag. SQLite only: PostgreSQL
    stores JSONB, and there none is called plain."""
    if not flag_ids or index.dialect.name != "sqlite":
        return set()
    ids = list(flag_ids)
    maybe = ("f.value IS NULL", "f.value IN (0, 1)", "f.value >= '[' AND f.value < '\\'",
             "f.value >= '{' AND f.value < '|'")
    probes = " ".join(f"AND NOT EXISTS (SELECT 1 FROM run_flag f WHERE f.name = n.id AND {m})"
                      for m in maybe)
    rows = index.conn.execute(f"SELECT n.id FROM flag_name n WHERE n.id IN ({_marks(ids)}) "
                              + probes, ids)
    return {row[0] for row in rows}


def compare_lists(index, where, params):
    """[compare: value (JSON text)] of the runs passing ``where``, newest group first.

    Read from the runs that have a list (the attribute's index), not from every run."""
    return [row[0] for row in index.conn.execute(
        "SELECT a.value, max(r.created) FROM run_attr a CROSS JOIN run r "
        f"WHERE r.rid = a.rid AND a.name = 'compare' AND {where} "
        "GROUP BY a.value ORDER BY max(r.created) DESC", params)]


def with_compare_list(where):
    """``where`` and: the run's ``compare:`` list is the one in one more parameter."""
    return (f"{where} AND EXISTS (SELECT 1 FROM run_attr a WHERE a.rid = r.rid "
            "AND a.name = 'compare' AND a.value = ?)")


def without_compare_list(where):
    """``where`` and: the run has no ``compare:`` list."""
    return (f"{where} AND NOT EXISTS (SELECT 1 FROM run_attr a WHERE a.rid = r.rid "
            "AND a.name = 'compare')")


def any_run(index, where, params):
    """True when some run passes ``where``."""
    return index.conn.execute(f"SELECT 1 FROM run r WHERE {where} LIMIT 1",
                              params).fetchone() is not None


# --- batches: earlier trials ---------------------------------------------------------------


def prior_trials(index, scope, batch_id, op_name, filter_sql=None, filter_params=(),
                 with_pruned=False):
    """(SQL condition, params) choosing the earlier trials an optimizer learns from.

    :param scope: ``batch`` (this batch's trials), ``operation`` (completed runs of the op),
        ``sourcecode`` (of the op with this batch's source code), else the runs passing
        ``filter_sql`` (a compiled ``--filter`` expression), batches left out
    :param with_pruned: pruned trials too (Optuna's samplers learn from them)
    """
    completed = ("r.status IN ('completed', 'pruned')" if with_pruned
                 else "r.status = 'completed'")
    if scope == "batch":
        return f"r.parent = ? AND {completed}", [batch_id]
    if scope == "operation":
        return f"r.op = ? AND {completed}", [op_name]
    if scope == "sourcecode":
        digest = index.conn.execute(
            "SELECT sourcecode_digest FROM run WHERE parent = ? ORDER BY created DESC LIMIT 1",
            (batch_id,)).fetchone()
        return (f"r.op = ? AND r.sourcecode_digest IS ? AND {completed}",
                [op_name, digest[0] if digest else None])
    return f"r.deleted = 0 AND {_NOT_BATCH} AND ({filter_sql})", list(filter_params)


def completed_runs_of(op):
    """(SQL condition, params): completed, not deleted runs of ``op``."""
    return "r.op = ? AND r.status = 'completed' AND r.deleted = 0", [op]
