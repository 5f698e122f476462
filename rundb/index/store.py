"""Changes to a run that must reach both its meta.json and the index, in one step.

meta.json is written first (it is the source of truth); the index row follows. If the
process dies in between, `rundb index check` reports the difference and `rundb index
rebuild` repairs it.
"""

from ..run import write_meta
from . import writer


def create_run(index, run):
    """Write a new run's meta.json and its index rows; set ``run.rid``."""
    write_meta(run)
    run.rid = writer.insert_run(index, run)
    return run


def save_run(index, run, **changes):
    """Apply ``changes`` (Run field names) to ``run``, then write meta.json and the index.

    Fields that live in the ``run`` table are updated in place; flags, tags and attrs
    replace the stored ones.
    """
    for name, value in changes.items():
        setattr(run, name, value)
    write_meta(run)
    row_fields = {k: v for k, v in changes.items() if k in writer.UPDATABLE}
    rid = getattr(run, "rid", None)
    if rid is None:
        rid = run.rid = writer.replace_run(index, run)
        return run
    with index.atomic():
        if row_fields:
            writer.update_run(index, run.id, **row_fields)
        if "flags" in changes:
            writer.set_flags(index, rid, run.flags)
        if "tags" in changes:
            writer.set_tags(index, rid, run.tags)
        if "attrs" in changes:
            index.conn.execute("DELETE FROM run_attr WHERE rid = ?", (rid,))
            writer.set_attrs(index, rid, run.attrs)
    return run
