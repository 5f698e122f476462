"""Import runs from a Guild AI home (``rundb import --guild GUILD_HOME``).

A Guild run is ``runs/<id>/`` with its metadata in ``.guild/``: one YAML file per
attribute in ``.guild/attrs/`` (times are integer microseconds, as ours), the operation
in ``.guild/opref`` (``guildfile:/p/guild.yml <version> <model> <op>`` or
``script:/p <version> '' train.py``), captured output in ``.guild/output`` (with a
binary ``output.index``: per line a big-endian uint64 time in ms and a uint8 stream),
``PENDING``/``STAGED``/``LOCK`` markers, and TF event files anywhere in the run, those
in ``.guild/`` holding the output scalars Guild parsed.

Each run is copied into ``runs/<id>/`` of the rundb home and converted there; the Guild
home is only ever read:

* ``.guild/`` becomes ``.rundb/``, its files kept as they are (``attrs/``, ``opref``,
  ``output``, ``sourcecode/``, event files), except ``output.index``, rewritten in rundb's
  text format. Event files in ``.guild/`` so land in ``.rundb/``, the prefix of output
  scalars, and ``rundb index rebuild`` derives the same scalars the import indexed.
* ``.rundb/meta.json`` is written from the attributes: op from the opref (``model:op``
  when there is a model), status by Guild's rules (a live LOCK pid: still running, not
  imported; ``PENDING``/``STAGED`` markers; exit status 0 completed, -15 terminated, any
  other error; none at all error), flags with their YAML types, label, tags and marks,
  comments (their bodies, one per line), and the rest as attributes (``cmd``, ``env``,
  ``random_seed``, ... with ``op`` kept as ``guild_op``), plus ``guild_opref``.
* A batch run's links to its trials (``<guild home>/runs/<trial id>``) point to the
  imported trials instead, and each trial's ``parent`` is the batch.

Output scalars are not re-parsed from the output (``output_scalars`` is left unset):
Guild already wrote them to its event file.
"""

import os
import shlex
import shutil
import struct

from ..errors import ExportError, RundbError
from .export import TransferResult, _home_ids
from ..home import META_DIR
from ..record import replace
from ..run import Run, pid_alive, write_meta
from .. import validate
from ..validate import is_run_id

GUILD_DIR = ".guild"

#: Guild attributes that become Run fields (the rest become attrs).
_FIELDS = ("id", "initialized", "started", "stopped", "exit_status", "flags", "label",
           "tags", "marked", "comments", "host", "user", "sourcecode_digest", "opref")

_RUNS_PER_TRANSACTION = 100
_INDEX_ENTRY = struct.Struct("!QB")  # Guild's output.index: time_ms, stream


class GuildRunError(ExportError):
    "A Guild run directory cannot be converted (its message names the problem)."


def guild_run_dirs(guild_home):
    """Run directories of a Guild home (``runs/<id>/`` holding ``.guild/``).

    :raises ExportError: the path is missing, not a directory, or has no Guild runs.
    """
    guild_home = os.path.abspath(guild_home)
    if not os.path.exists(guild_home):
        raise ExportError(f"Guild home '{guild_home}' does not exist")
    if not os.path.isdir(guild_home):
        raise ExportError(f"invalid Guild home '{guild_home}' - expected a directory")
    runs_dir = os.path.join(guild_home, "runs")
    try:
        names = sorted(os.listdir(runs_dir))
    except (FileNotFoundError, NotADirectoryError):
        raise ExportError(f"invalid Guild home '{guild_home}' - no runs directory") from None
    dirs = [os.path.join(runs_dir, n) for n in names if not n.startswith(".")]
    dirs = [d for d in dirs if os.path.isdir(os.path.join(d, GUILD_DIR))]
    if not dirs:
        raise ExportError(f"invalid Guild home '{guild_home}' - no runs found")
    return dirs


def read_guild_run(run_dir):
    """The rundb Run for one Guild run directory (``dir`` left as the Guild one).

    :raises GuildRunError: an attribute file cannot be read or has the wrong type.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    guild_dir = os.path.join(run_dir, GUILD_DIR)
    attrs = {}
    attrs_dir = os.path.join(guild_dir, "attrs")
    try:
        names = sorted(os.listdir(attrs_dir))
    except FileNotFoundError:
        names = []
    except OSError as e:
        raise GuildRunError(f"cannot list {attrs_dir}: {e.strerror}") from None
    for name in names:
        path = os.path.join(attrs_dir, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                attrs[name] = yaml.load(f, Loader=loader)
        except (OSError, UnicodeDecodeError) as e:
            raise GuildRunError(f"cannot read attribute '{name}': {e}") from None
        except yaml.YAMLError as e:
            detail = " ".join(str(e).split())
            raise GuildRunError(f"invalid YAML in attribute '{name}': {detail}") from None
    run_id = os.path.basename(os.path.normpath(run_dir))
    if not is_run_id(run_id):
        raise GuildRunError(f"{run_id!r} is not a run id (32 lowercase hex characters)")
    opref = _opref_line(guild_dir, attrs)
    run = Run(
        id=run_id,
        op=_op_name(opref),
        status=_status(guild_dir, attrs),
        created=_int(attrs, "initialized") or _int(attrs, "started") or _mtime_us(run_dir),
        started=_int(attrs, "started"),
        stopped=_int(attrs, "stopped"),
        exit_status=_int(attrs, "exit_status"),
        label=_str(attrs, "label"),
        comment=_comments(attrs.get("comments")),
        marked=bool(attrs.get("marked")),
        sourcecode_digest=_str(attrs, "sourcecode_digest") or None,
        host=_str(attrs, "host") or None,
        user=_str(attrs, "user") or None,
        flags=_flags(attrs.get("flags")),
        tags=_tags(attrs.get("tags")),
        attrs=_other_attrs(attrs, opref),
        output_scalars=None,
        dir=run_dir,
    )
    return run


def guild_runs(guild_home):
    """(runs, errors) of a Guild home, newest first; ``errors`` as (directory, message).

    Runs still running (a live process holds their LOCK) are left out.
    """
    runs, errors = [], []
    dirs = guild_run_dirs(guild_home)
    parents = _trial_parents(dirs)
    for run_dir in dirs:
        try:
            run = read_guild_run(run_dir)
        except GuildRunError as e:
            errors.append((run_dir, str(e)))
            continue
        if run.status == "running":
            continue
        run.parent = parents.get(run.id)
        runs.append(run)
    runs.sort(key=lambda r: r.created or 0, reverse=True)
    return runs, errors


def _import_guild(home, index, guild_home, progress=None):
    """Convert and index every run of a Guild home into ``home`` (see the module doc).

    Runs already in the home are skipped (so a second import changes nothing); a run
    that cannot be read is reported in ``errors`` and the others are still imported.

    :param progress: called as ``progress(action, run_id)``, action ``copy`` or ``skip``.
    :raises ExportError: ``guild_home`` is not a Guild home with runs.
    """
    from ..index.rebuild import index_run_dir

    guild_home = os.path.abspath(guild_home)
    home.ensure()
    result = TransferResult(dest=home.path)
    dirs = guild_run_dirs(guild_home)
    parents = _trial_parents(dirs)
    present = _home_ids(home, index)
    todo = []
    for run_dir in dirs:
        try:
            run = read_guild_run(run_dir)
        except GuildRunError as e:
            result.errors.append((run_dir, str(e)))
            continue
        if run.id in present:
            result.skipped.append(run.id)
            _call(progress, "skip", run.id)
            continue
        if run.status == "running":
            result.warnings.append(f"{run.id} is still running, skipping")
            continue
        present.add(run.id)
        run.parent = parents.get(run.id)
        todo.append(run)
    todo.sort(key=lambda r: r.created or 0)
    guild_runs_dir = os.path.join(guild_home, "runs")
    for start in range(0, len(todo), _RUNS_PER_TRANSACTION):
        placed = []
        for run in todo[start : start + _RUNS_PER_TRANSACTION]:
            _call(progress, "copy", run.id)
            try:
                placed.append((run, _convert(home, run, guild_runs_dir)))
            except (OSError, RundbError) as e:
                result.errors.append((run.dir, f"cannot copy: {e}"))
        with index.atomic():
            for run, target in placed:
                try:
                    index_run_dir(index, target)
                except (RundbError, OSError, ValueError) as e:
                    result.errors.append((run.dir, str(e)))
                    shutil.rmtree(target, ignore_errors=True)
                    continue
                result.done.append(run.id)
    return result


def _convert(home, run, guild_runs_dir):
    """Copy a Guild run into the home as a rundb run directory; return its path."""
    target = validate.run_dir(home, run.id)
    if os.path.islink(run.dir):
        raise GuildRunError("the run directory is a symlink")
    tmp = os.path.join(home.runs_dir, f".{run.id}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(run.dir, tmp, symlinks=True)
        meta = os.path.join(tmp, META_DIR)
        if os.path.lexists(meta):
            raise GuildRunError(f"it already has a {META_DIR} directory")
        if os.path.islink(os.path.join(tmp, GUILD_DIR)):
            # Converting it writes files inside: never where a link points.
            raise GuildRunError(f"{GUILD_DIR} is a symlink")
        os.rename(os.path.join(tmp, GUILD_DIR), meta)
        _convert_output_index(meta)
        _relink_trials(tmp, guild_runs_dir)
        write_meta(replace(run, dir=tmp))
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _convert_output_index(meta):
    path = os.path.join(meta, "output.index")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    size = _INDEX_ENTRY.size
    lines = [
        "%d %d\n" % _INDEX_ENTRY.unpack_from(data, pos)
        for pos in range(0, len(data) - len(data) % size, size)
    ]
    tmp = path + ".tmp"
    validate.check_no_symlinks(os.path.dirname(meta), tmp)
    with open(tmp, "w", encoding="ascii") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def _trial_parents(dirs):
    """{trial id: batch id} from the links a Guild batch run keeps to its trials."""
    parents = {}
    known = {os.path.basename(d): d for d in dirs}
    for run_dir in dirs:
        batch_id = os.path.basename(run_dir)
        try:
            entries = list(os.scandir(run_dir))
        except OSError:
            continue
        for entry in entries:
            if entry.name in known and entry.name != batch_id and entry.is_symlink():
                target = os.path.join(run_dir, os.readlink(entry.path))
                if os.path.realpath(target) == os.path.realpath(known[entry.name]):
                    parents[entry.name] = batch_id
    return parents


def _relink_trials(run_dir, guild_runs_dir):
    # A batch's link to a trial in the Guild home now points to the imported trial.
    for entry in os.scandir(run_dir):
        if not entry.is_symlink():
            continue
        target = os.path.join(guild_runs_dir, entry.name)
        if os.path.realpath(os.path.join(run_dir, os.readlink(entry.path))) == \
                os.path.realpath(target):
            os.remove(entry.path)
            os.symlink(os.path.join(os.pardir, entry.name), entry.path)


def _opref_line(guild_dir, attrs):
    try:
        with open(os.path.join(guild_dir, "opref"), encoding="utf-8") as f:
            line = f.read().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        line = ""
    if not line and isinstance(attrs.get("opref"), str):
        line = attrs["opref"].strip()
    return line


def _op_name(opref):
    """The op as Guild shows it: ``op`` or ``model:op``.

    >>> _op_name("guildfile:/p/guild.yml 'abc' '' train")
    'train'
    >>> _op_name("guildfile:/p/guild.yml abc mnist train"), _op_name("script:/p train.py")
    ('mnist:train', 'train.py')
    """
    if not opref:
        return ""
    try:
        parts = shlex.split(opref)
    except ValueError:
        parts = opref.split()
    if len(parts) >= 4:
        model, op = parts[2], parts[3]
        return f"{model}:{op}" if model else op
    return parts[-1] if len(parts) > 1 else ""


def _status(guild_dir, attrs):
    """Guild's status rules (see the module docstring)."""
    exit_status = attrs.get("exit_status")
    if exit_status is None and pid_alive(_lock_pid(guild_dir)):
        return "running"
    if os.path.exists(os.path.join(guild_dir, "PENDING")):
        return "pending"
    if os.path.exists(os.path.join(guild_dir, "STAGED")):
        return "staged"
    if exit_status == 0:
        return "completed"
    if exit_status == -15:
        return "terminated"
    return "error"


def _lock_pid(guild_dir):
    try:
        with open(os.path.join(guild_dir, "LOCK"), encoding="utf-8") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _int(attrs, name):
    value = attrs.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise GuildRunError(f"attribute '{name}' is not an integer: {value!r}")
    return value


def _str(attrs, name):
    value = attrs.get(name)
    return "" if value is None else str(value)


def _flags(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GuildRunError(f"attribute 'flags' is not a mapping: {value!r}")
    return {str(k): _plain(v) for k, v in value.items()}


def _tags(value):
    if isinstance(value, list):
        return [str(t) for t in value if t is not None]
    return []


def _comments(value):
    if isinstance(value, list):
        bodies = [c.get("body") if isinstance(c, dict) else c for c in value]
        return "\n".join(str(b) for b in bodies if b)
    return "" if value is None else str(value)


def _other_attrs(attrs, opref):
    out = {}
    for name, value in attrs.items():
        if name in _FIELDS:
            continue
        out["guild_op" if name == "op" else name] = _plain(value)
    if opref:
        out["guild_opref"] = opref
    return out


def _plain(value):
    """A YAML value as JSON can hold it (dates and other scalars become text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _mtime_us(path):
    return int(os.stat(path).st_mtime * 1_000_000)


def _call(progress, action, run_id):
    if progress is not None:
        progress(action, run_id)


def import_guild(home, guild_home, progress=None):
    """Convert and index the runs of a Guild AI home (never modified) into ``home``.

    :returns: :class:`~rundb.api.export.TransferResult` (done, skipped, errors, warnings).
    """
    from ..index.db import open_home_index

    with open_home_index(home, write=True) as index:
        return _import_guild(home, index, guild_home, progress=progress)


__all__ = ["GuildRunError", "guild_run_dirs", "guild_runs", "import_guild", "read_guild_run"]
