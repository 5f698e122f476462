"""The index schema: tables, public views and numbered migrations.

Tables are named in the singular (``run``, ``run_flag``, ``scalar_stat`` ...); the plural
names (``runs``, ``flags``, ``scalars``, ``scalar_summary``, ``tags``, ``attrs``) are the
documented, stable views people script against (docs/sql.md).

Times are integer microseconds since the epoch. Runs are keyed by an integer ``rid`` in
every child table (cheaper than repeating the 32-character id in millions of scalar rows).
Flag values keep their Python type: ``value`` has no declared type, so SQLite stores ints,
floats and strings as given; ``type`` records what the value was (bool is stored as 0/1,
list and dict as JSON text).

Scalar values that are not finite are stored faithfully in every backend, by one rule
(``rundb.catalog.decode_scalar`` reads it back): an infinity is an ordinary REAL (SQLite and
PostgreSQL both store IEEE infinities), and a NaN is a NULL value. SQLite has no NaN (it
turns a NaN REAL into NULL), and PostgreSQL's NaN would compare greater than every number;
NULL compares with nothing, sorts last in our ORDER BY, and is never written for anything
else, so ``scalar_point.value IS NULL`` means NaN. In ``scalar_stat`` a NULL
``first_val``/``last_val`` beside its non-NULL step is a NaN first/last value, while
``min``, ``max``, ``count`` and ``total`` (so ``avg``) leave NaN out: a run whose last
loss is NaN shows ``nan`` as its loss, and ``select --min loss`` never picks it. A flag
whose ``type`` is ``float`` and whose ``value`` is NULL is a NaN flag value, by the same rule.

Each migration is applied in its own transaction and bumps ``PRAGMA user_version``.
"""

from ..catalog import decode_scalar  # noqa: E402,F401 - the read side of the rule

#: Public view names; docs/sql.md must document each one (a test checks).
VIEWS = ("runs", "flags", "tags", "attrs", "scalars", "scalar_summary")

_V1 = """
CREATE TABLE run (
    rid               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    op                TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT 'pending',
    created           INTEGER NOT NULL,
    started           INTEGER,
    stopped           INTEGER,
    exit_status       INTEGER,
    label             TEXT NOT NULL DEFAULT '',
    comment           TEXT NOT NULL DEFAULT '',
    marked            INTEGER NOT NULL DEFAULT 0,
    parent            TEXT,
    sourcecode_digest TEXT,
    host              TEXT,
    user              TEXT,
    pid               INTEGER,
    deleted           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_created_idx ON run (deleted, created);
CREATE INDEX run_status_idx ON run (status);
CREATE INDEX run_parent_idx ON run (parent);
CREATE INDEX run_op_idx ON run (op);

CREATE TABLE flag_name (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE run_flag (
    rid   INTEGER NOT NULL REFERENCES run (rid) ON DELETE CASCADE,
    name  INTEGER NOT NULL REFERENCES flag_name (id),
    value,
    type  TEXT NOT NULL,
    PRIMARY KEY (rid, name)
) WITHOUT ROWID;
CREATE INDEX run_flag_name_idx ON run_flag (name, value);

CREATE TABLE run_tag (
    rid INTEGER NOT NULL REFERENCES run (rid) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (rid, tag)
) WITHOUT ROWID;

CREATE TABLE run_attr (
    rid   INTEGER NOT NULL REFERENCES run (rid) ON DELETE CASCADE,
    name  TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (rid, name)
) WITHOUT ROWID;

CREATE TABLE scalar_key (
    id     INTEGER PRIMARY KEY,
    prefix TEXT NOT NULL,
    tag    TEXT NOT NULL,
    UNIQUE (prefix, tag)
);

CREATE TABLE scalar_point (
    rid   INTEGER NOT NULL,
    key   INTEGER NOT NULL,
    step  INTEGER NOT NULL,
    value REAL,
    time  REAL
);
CREATE INDEX scalar_point_idx ON scalar_point (rid, key, step);

CREATE TABLE scalar_stat (
    rid        INTEGER NOT NULL,
    key        INTEGER NOT NULL,
    first_val  REAL,
    first_step INTEGER,
    last_val   REAL,
    last_step  INTEGER,
    min_val    REAL,
    min_step   INTEGER,
    max_val    REAL,
    max_step   INTEGER,
    count      INTEGER NOT NULL,
    total      REAL NOT NULL,
    PRIMARY KEY (rid, key)
) WITHOUT ROWID;

CREATE VIEW runs AS
SELECT
    r.id,
    substr(r.id, 1, 8) AS short_id,
    r.op AS operation,
    r.status,
    strftime('%Y-%m-%dT%H:%M:%f', r.started / 1e6, 'unixepoch') || 'Z' AS started,
    strftime('%Y-%m-%dT%H:%M:%f', r.stopped / 1e6, 'unixepoch') || 'Z' AS stopped,
    r.started / 1e6 AS started_epoch,
    r.stopped / 1e6 AS stopped_epoch,
    (r.stopped - r.started) / 1e6 AS time,
    r.exit_status,
    r.label,
    (SELECT group_concat(t.tag, ' ') FROM run_tag t WHERE t.rid = r.rid) AS tags,
    r.marked,
    r.comment,
    r.parent,
    r.sourcecode_digest,
    r.host,
    r.user,
    r.pid,
    (CASE WHEN r.deleted THEN 'trash/' ELSE 'runs/' END) || r.id AS dir,
    r.deleted
FROM run r;

CREATE VIEW flags AS
SELECT r.id AS run, n.name, f.value, f.type
FROM run_flag f
JOIN run r ON r.rid = f.rid
JOIN flag_name n ON n.id = f.name;

CREATE VIEW tags AS
SELECT r.id AS run, t.tag
FROM run_tag t JOIN run r ON r.rid = t.rid;

CREATE VIEW attrs AS
SELECT r.id AS run, a.name, a.value
FROM run_attr a JOIN run r ON r.rid = a.rid;

CREATE VIEW scalars AS
SELECT r.id AS run, k.prefix, k.tag, p.step, p.value, p.time
FROM scalar_point p
JOIN run r ON r.rid = p.rid
JOIN scalar_key k ON k.id = p.key;

CREATE VIEW scalar_summary AS
SELECT
    r.id AS run, k.prefix, k.tag,
    s.first_val, s.first_step, s.last_val, s.last_step,
    s.min_val, s.min_step, s.max_val, s.max_step,
    s.total / s.count AS avg_val, s.count, s.total
FROM scalar_stat s
JOIN run r ON r.rid = s.rid
JOIN scalar_key k ON k.id = s.key;
"""

# Installed-package sets, stored once each and referred to by digest from the run
# attribute ``packages`` (so 10,000 runs with one environment hold one copy).
_V2_PACKAGE_SETS = """
CREATE TABLE package_set (
    digest   TEXT PRIMARY KEY,
    packages TEXT NOT NULL
) WITHOUT ROWID;
"""

# The absolute path of the home holding each run's directory, as its host sees it: on a
# shared index, runs of other hosts and homes are found (and named) where they are.
_V3_RUN_HOME = """
ALTER TABLE run ADD COLUMN home TEXT;
"""

# Requests to stop a running run (``rundb stop``, a batch's Ctrl-C, a pruner): the one
# channel that reaches a run's runner wherever it runs. The runner polls for its run's
# row about once a second and deletes it when the run ends.
_V4_STOP_REQUESTS = """
CREATE TABLE stop_request (
    run       TEXT PRIMARY KEY,
    requested INTEGER NOT NULL,
    reason    TEXT
) WITHOUT ROWID;
"""

# Indexes for page-sized questions at a million runs (issue 22): each lets a question
# that prints a page (the best run, the newest 20 of an operation, the top 10 by a
# metric) read its page in order from an index and stop, instead of reading every run.
# - scalar_stat by key and value: ``select --min/--max``, ``compare --min COL --top N``,
#   ``order by <scalar> limit N`` (the compiler drives those from scalar_stat);
# - run by operation then creation time (replaces ``run_op_idx``, its prefix):
#   ``runs -o OP -n 20``; run by start time: ``order by .started limit N``;
# - run_attr by name: the catalog's attribute names without reading every row.
# Flags by name and value were indexed from the start (``run_flag_name_idx``).
_V5_PAGE_INDEXES = """
CREATE INDEX scalar_stat_last_idx ON scalar_stat (key, last_val);
CREATE INDEX scalar_stat_min_idx ON scalar_stat (key, min_val);
CREATE INDEX scalar_stat_max_idx ON scalar_stat (key, max_val);
CREATE INDEX run_op_created_idx ON run (op, deleted, created);
CREATE INDEX run_started_idx ON run (deleted, started);
CREATE INDEX run_attr_name_idx ON run_attr (name);
DROP INDEX run_op_idx;
"""

#: Ordered migrations; migration N brings user_version from N-1 to N.
MIGRATIONS = [_V1, _V2_PACKAGE_SETS, _V3_RUN_HOME, _V4_STOP_REQUESTS, _V5_PAGE_INDEXES]


SCHEMA_VERSION = len(MIGRATIONS)
