"""The run filters' names and how their values become a RunFilter, without click (the
fast path of cli/fast.py reads them too; cli/options.py makes the click options)."""

STATUS_FLAGS = ("running", "completed", "error", "terminated", "pending", "staged", "pruned")

#: Short options of the status filters (Guild's -Sr, -Sc ...); pruned has none (-Sp is
#: pending's).
STATUS_SHORT = {s: f"-S{s[0]}" for s in STATUS_FLAGS if s != "pruned"}


def run_filter(kw, **extra):
    """Pop the filter options out of a command's keyword args into a RunFilter."""
    from rundb.api.selection import RunFilter

    statuses = [s for s in STATUS_FLAGS if kw.pop(f"status_{s}", False)]
    return RunFilter(
        ops=list(kw.pop("ops", ())), operations=list(kw.pop("operations", ())),
        labels=list(kw.pop("labels", ())),
        tags=list(kw.pop("tags", ())), comments=list(kw.pop("comments", ())),
        unlabeled=kw.pop("unlabeled", False),
        marked=kw.pop("marked", None), statuses=statuses, started=kw.pop("started", None),
        digest=kw.pop("digest", None), filter=kw.pop("filter_", None), **extra,
    )
