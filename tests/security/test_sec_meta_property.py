"""Property (finding 5 generalised): an arbitrary meta.json document never makes import,
rebuild or check raise anything but a rundb error, and never creates a path outside the home.

Documents are drawn from any JSON value, biased towards objects with the run record's field
names (so most examples reach the schema check field by field) and towards hostile ids.
"""

import json
import os
import tempfile
import uuid

import pytest
from hostile import archive_run, good_meta, tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rundb import api
from rundb.errors import RundbError
from rundb.home import Home

FIELDS = ["id", "op", "status", "created", "started", "stopped", "exit_status", "label",
          "comment", "marked", "parent", "sourcecode_digest", "host", "user", "pid", "flags",
          "tags", "attrs", "output_scalars"]

HOSTILE_IDS = st.sampled_from([
    "../../OUTSIDE", "@ROOT@/OUTSIDE-abs", "..", ".", "", "a" * 31, "A" * 32, "a" * 32 + "/x",
    "a" * 32 + "\x00", "\ud800" * 32, "../" * 20 + "etc",
])

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "\x1b[2J", "completed", "running", "bogus", "(unclosed"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
ids = st.one_of(st.just(None), HOSTILE_IDS, st.uuids().map(lambda u: u.hex), json_values)

meta_like = st.builds(
    lambda base, changes, drop, run_id: _meta(base, changes, drop, run_id),
    st.booleans(),
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=5),
    st.lists(st.sampled_from(FIELDS), max_size=3),
    ids,
)
documents = st.one_of(meta_like, json_values)


def _meta(base, changes, drop, run_id):
    doc = good_meta() if base else {}
    doc.update(changes)
    for name in drop:
        doc.pop(name, None)
    if run_id is not None:
        doc["id"] = run_id
    return doc


# Each example imports, rebuilds and checks real homes (~0.4 s of fsyncs on a slow disk).
@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents)
def test_arbitrary_meta_json_never_escapes_or_crashes(doc):
    with tempfile.TemporaryDirectory() as root:
        work = os.path.join(root, "work")  # everything rundb may touch is in here
        archive = os.path.join(work, "archive")
        home = Home(os.path.join(work, "home")).ensure()
        good = archive_run(archive, good_meta())
        # An absolute id names a place in this example's own directory.
        text = json.dumps(doc).replace("@ROOT@", root)
        archive_run(archive, text, name=uuid.uuid4().hex)
        before = tree(root)
        try:
            result = api.import_runs(home, archive)
        except RundbError:
            result = None
        if result is not None:
            assert os.path.basename(good) in result.done
        for target in (home, Home(archive)):  # an export directory is a home too
            try:
                api.rebuild_index(target)
            except RundbError:
                pass
            try:
                api.check_index(target)
            except RundbError:
                pass
        new = set(tree(root)) - set(before)
        # The two homes: the target, and the archive (rebuilt as a home of its own).
        inside = (os.path.join("work", "home", ""), os.path.join("work", "archive", ""))
        assert all(p.startswith(inside) for p in new), sorted(new)
        assert not os.path.exists(os.path.join(root, "OUTSIDE-abs"))
        # The home agrees with its run directories after the import.
        assert api.check_index(home) == []
