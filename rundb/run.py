"""The run record and its durable copy, ``<run>/.rundb/meta.json``.

meta.json is the source of truth for everything but scalars (which are re-derived from
the run's output and event files); the index is rebuilt from it. It is always written
atomically: a temporary file in the same directory, fsync, then ``os.replace``.
"""

import os
import time

from .errors import MetaError
from .home import META_DIR, meta_dir
from .record import asdict, field, fields, record
from .validate import MAX_META_BYTES, STATUSES, check_meta, check_no_symlinks

META_FILE = "meta.json"
OUTPUT_FILE = "output"

_NOT_IN_META = ("dir", "deleted", "rid")

#: The run record's columns in the index's ``run`` table (after its key ``rid``), in table
#: order, each with its kind (text, int, time in microseconds, bool as 0/1). The one
#: definition the index reader and writer, the query compiler's attributes and the
#: notebook's fields are derived from. ``home`` is no Run field: the home holding the run
#: directory (from ``Run.dir``), kept for a shared index.
RUN_COLUMNS = {
    "id": "text",
    "op": "text",
    "status": "text",
    "created": "time",
    "started": "time",
    "stopped": "time",
    "exit_status": "int",
    "label": "text",
    "comment": "text",
    "marked": "bool",
    "parent": "text",
    "sourcecode_digest": "text",
    "host": "text",
    "user": "text",
    "pid": "int",
    "deleted": "bool",
    "home": "text",
}

#: Attributes a query computes from those columns (and the run's tags).
DERIVED_ATTRS = ("short_id", "run", "operation", "time", "sourcecode", "tags")

#: Attributes every run has in queries: each column but ``home``, and the derived ones.
RUN_ATTRS = (*(name for name in RUN_COLUMNS if name != "home"), *DERIVED_ATTRS)


def now_us():
    """Current time as integer microseconds since the epoch."""
    return time.time_ns() // 1000


@record
class Run:
    """Everything rundb records about a run, apart from its scalars."""

    id: str
    op: str = ""
    status: str = "pending"
    created: int = 0
    started: int | None = None
    stopped: int | None = None
    exit_status: int | None = None
    label: str = ""
    comment: str = ""
    marked: bool = False
    parent: str | None = None
    sourcecode_digest: str | None = None
    host: str | None = None
    user: str | None = None
    pid: int | None = None
    flags: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    #: output-scalar patterns in force (OutputScalarParser config), None = no parsing
    output_scalars: object = None
    #: not stored in meta.json: where the run directory is now
    dir: str | None = field(default=None, compare=False)
    deleted: bool = field(default=False, compare=False)
    #: not stored in meta.json: the run's integer key in the index
    rid: int | None = field(default=None, compare=False, repr=False)

    @property
    def short_id(self):
        return self.id[:8]

    def to_meta(self):
        data = asdict(self)
        for name in _NOT_IN_META:
            data.pop(name)
        return data

    @classmethod
    def from_meta(cls, data, dir=None, deleted=False):
        names = {f.name for f in fields(cls)} - set(_NOT_IN_META)
        known = {k: v for k, v in data.items() if k in names}
        if "id" not in known:
            raise MetaError("missing 'id'")
        return cls(**known, dir=dir, deleted=deleted)


def meta_path(run_dir):
    return os.path.join(meta_dir(run_dir), META_FILE)


def write_meta(run):
    """Write ``run`` to its meta.json atomically, never through a symlink.

    :raises UnsafePathError: ``.rundb`` or meta.json in the run directory is a symlink.
    """
    path = meta_path(run.dir)
    check_no_symlinks(run.dir, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    check_no_symlinks(run.dir, path)
    write_json_atomic(path, run.to_meta())


def write_json_atomic(path, data):
    """Write JSON to ``path`` through a temporary file and ``os.replace``.

    The file is fsynced first unless ``RUNDB_FSYNC=0`` (for bulk imports and benchmark
    corpora, where a crash means starting over anyway): a replaced file is then never
    seen half-written, but a power cut may lose the newest version.
    """
    import json

    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.remove(tmp)  # a leftover (or a planted symlink) is replaced, never followed
    except FileNotFoundError:
        pass
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        with open(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            if os.environ.get("RUNDB_FSYNC", "1") != "0":
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        # A full disk: the old file stays whole, and no temporary file is left behind.
        try:
            os.remove(tmp)
        except OSError:
            pass
        if e.filename is None:
            raise OSError(e.errno, e.strerror, path) from None
        raise


def read_meta(run_dir, deleted=False):
    """Read the Run stored in ``run_dir``, checked against the schema (rundb.validate).

    ``.rundb`` and meta.json are never followed when they are symlinks: a run directory
    from elsewhere cannot make rundb read, or later rewrite, a file outside it.

    :raises MetaError: meta.json is missing, a symlink, or not a valid run record (the
        message names the run directory and the field).
    """
    import json

    path = meta_path(run_dir)
    if os.path.islink(meta_dir(run_dir)):
        raise MetaError(f"{run_dir}: {META_DIR} is a symlink")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise MetaError(f"{run_dir}: missing {os.path.join(META_DIR, META_FILE)}") from None
    except OSError as e:
        if os.path.islink(path):
            raise MetaError(f"{run_dir}: {os.path.join(META_DIR, META_FILE)} is a symlink"
                            ) from None
        raise MetaError(f"{run_dir}: cannot read meta.json: {e.strerror or e}") from None
    try:
        with open(fd, "rb") as f:
            raw = f.read(MAX_META_BYTES + 1)
        if len(raw) > MAX_META_BYTES:
            raise MetaError(f"{run_dir}: cannot read meta.json: larger than "
                            f"{MAX_META_BYTES // 2**20} MiB")
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        detail = "nested too deeply" if isinstance(e, RecursionError) else e
        raise MetaError(f"{run_dir}: cannot read meta.json: {detail}") from None
    check_meta(data, run_dir)
    try:
        return Run.from_meta(data, dir=run_dir, deleted=deleted)
    except (MetaError, TypeError) as e:
        raise MetaError(f"{run_dir}: invalid meta.json: {e}") from None


def this_host():
    import socket

    return socket.gethostname()


def pid_alive(pid):
    """True if a process with ``pid`` exists on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: Slack when comparing a process's start time with a run's: /proc gives the boot time
#: in whole seconds and process start times in clock ticks.
START_SLACK_US = 2_000_000


def process_started_us(pid):
    """When process ``pid`` started, in microseconds since the epoch; None if unknown
    (no such process, or no /proc)."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read()
        with open("/proc/stat", "rb") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
    except (OSError, ValueError, StopIteration):
        return None
    # Field 22 (starttime, in clock ticks after boot); the command name before it may
    # hold spaces and parentheses, so count from its closing parenthesis.
    ticks = int(stat[stat.rindex(b")") + 2:].split()[19])
    return btime * 1_000_000 + ticks * 1_000_000 // os.sysconf("SC_CLK_TCK")


def process_alive(pid, started_us=None):
    """True if the process ``pid`` that started a run at ``started_us`` still runs.

    A pid alone can be reused: a process with that pid that started after the run did
    is another process.
    """
    if not pid_alive(pid):
        return False
    if started_us is None:
        return True
    begun = process_started_us(pid)
    return begun is None or begun <= started_us + START_SLACK_US


def process_gone(status, pid, host, started_us=None):
    """True for a run recorded as running whose process no longer exists.

    Only runs started on this host can be checked; others are trusted.
    """
    return status == "running" and host == this_host() and not process_alive(pid, started_us)


#: Attributes recording what produced a run (rundb.ops.provenance), in its JSON form.
PROVENANCE = ("vcs_commit", "python_version", "python_exe", "platform", "command_line",
              "packages")


def format_time(us):
    """Microseconds since the epoch as local ``YYYY-MM-DD HH:MM:SS`` (None for None)."""
    if us is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6))


def run_json(run):
    """The one JSON form of a run record: ``runs info --json``, ``runs --json``, the web
    view's API and the notebook's ``Run.json()`` all give these keys with these types
    (times as local ``YYYY-MM-DD HH:MM:SS`` or null, ``marked`` a boolean)."""
    return {
        "id": run.id, "short_id": run.short_id, "operation": run.op, "status": run.status,
        "started": format_time(run.started), "stopped": format_time(run.stopped),
        "marked": bool(run.marked), "label": run.label, "tags": list(run.tags),
        "comment": run.comment, "parent": run.parent,
        "sourcecode_digest": run.sourcecode_digest, "run_dir": run.dir,
        "exit_status": run.exit_status, "flags": dict(run.flags),
        "host": run.host, "user": run.user,
        **{name: run.attrs.get(name) for name in PROVENANCE},
    }
