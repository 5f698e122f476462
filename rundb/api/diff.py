"""Two runs side by side: ``rundb diff``."""

from ..errors import DiffError
from ..index import reader
from ..index.db import open_home_index
from ..index.packages import package_set
from ..catalog import scalar_key_name
from ..rundiff import diff_outputs, diff_runs as _diff_runs, diff_sources
from .selection import select_one, select_runs


def diff_pair(home, specs=(), flt=None):
    """The two runs ``rundb diff`` compares: RUN1 and RUN2 as given, or the two newest
    runs the filters select (the older one first).

    :raises DiffError: not exactly two runs.
    """
    specs = list(specs)
    if len(specs) == 1:
        raise DiffError(f"diff needs two runs, got one ('{specs[0]}'): give RUN1 RUN2")
    if len(specs) > 2:
        raise DiffError(f"diff compares two runs, got {len(specs)}")
    with open_home_index(home) as index:
        if specs:
            return select_one(index, specs[0], flt), select_one(index, specs[1], flt)
        found = select_runs(index, (), flt, limit=2)
    if len(found) < 2:
        raise DiffError(f"diff needs two runs, {len(found) or 'no'} run"
                        f"{' is' if len(found) == 1 else 's are'} selected")
    return found[1], found[0]


def diff_runs(home, specs=(), flt=None, all_=False):
    """A rundb.rundiff.RunDiff of two runs (see :func:`diff_pair`): flags, attributes,
    final scalars and installed packages; only differences unless ``all_``."""
    a, b = diff_pair(home, specs, flt)
    with open_home_index(home) as index:
        found = reader.scalar_summaries(index, [a.rid, b.rid])
        packages = [_packages_of(index, run) for run in (a, b)]
    last = [{scalar_key_name(s["prefix"], s["tag"]): s["last_val"] for s in found[r.rid]}
            for r in (a, b)]
    return _diff_runs(a, b, last[0], last[1], packages[0], packages[1], all_=all_)


def _packages_of(index, run):
    digest = run.attrs.get("packages")
    return package_set(index, digest) if isinstance(digest, str) else None


def diff_run_sources(home, a, b):
    """(changes, unified diff text) of two runs' source snapshots; see
    rundb.rundiff.diff_sources."""
    return diff_sources(a, b)


def diff_run_outputs(home, a, b):
    """The unified diff of two runs' captured output."""
    return diff_outputs(a, b)


def run_packages(home, spec=None, flt=None):
    """{distribution: version} recorded with one run (None when not recorded)."""
    with open_home_index(home) as index:
        return _packages_of(index, select_one(index, spec, flt))
