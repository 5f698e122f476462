"""TensorBoard over the index: a log directory mirroring runs, with HParams summaries.

The log directory holds one subdirectory per selected run, named
``<short id> <op> <YYYY-MM-DD HH:MM:SS> <label>`` (see :func:`run_dir_name`)::

    <name>/events.out.tfevents.0000000000.hparams   HParams experiment, session start and end
    <name>/<subdir>/events.out.tfevents.*            links to the run's own event files
    <name>/.rundb/events.out.tfevents.*              output scalars, written from the index

Output scalars (parsed from a run's stdout) exist only in the index, so they are written to
an event file of their own; tags the run already logs to ``.rundb`` event files are left out
of it, so nothing shows twice. The HParams session of a run is its directory, so every
subdirectory's scalars are metrics of the run (TensorBoard names them by ``group``, the
subdirectory, and ``tag``).

A manifest (``.rundb-tensorboard.json``) records which directory belongs to which run and
what was written for it, so a refresh renames (label changes), removes (deleted or
deselected runs) and appends (running runs) only what it made. A directory that is not
empty and has no manifest is refused: nothing in it is ever removed.

The tensorboard package is imported inside the functions that need it.
"""

import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field

from ..errors import LogdirError, RundbError
from ..catalog import OUTPUT_PREFIX, scalar_key_name

log = logging.getLogger("rundb")

__all__ = ["LogdirError", "LogdirMirror", "SyncResult", "hparam_status", "run_dir_name",
           "serve", "start_tensorboard", "sync_logdir"]

#: Longest run directory name, in characters (longer names end with "...").
MAX_RUN_NAME_LEN = 120
#: Filesystems allow 255 bytes a name; keep well clear of it for multi-byte labels.
_MAX_NAME_BYTES = 240

#: The per-run HParams event file (sorts before any other event file of the run).
HPARAMS_FILE = "events.out.tfevents.0000000000.hparams"
MANIFEST = ".rundb-tensorboard.json"
_MANIFEST_VERSION = 1

#: Run status -> HParams plugin session status (api_pb2.Status: 0 unknown, 1 success,
#: 2 failure, 3 running).
HPARAM_STATUS = {"completed": 1, "terminated": 1, "pruned": 1, "error": 2, "running": 3,
                 "pending": 0}

_UNSAFE_NAME_CHARS = re.compile(r"[/\\\x00-\x1f\x7f]")


def hparam_status(status):
    """The HParams plugin's session status for a run status.

    >>> [hparam_status(s) for s in ("completed", "terminated", "error", "running", "pending")]
    [1, 1, 2, 3, 0]
    >>> hparam_status("some-other-thing")
    0
    """
    return HPARAM_STATUS.get(status, 0)


def run_dir_name(run, max_len=MAX_RUN_NAME_LEN):
    """The log directory name of a run: ``<short id> <op> <started> <label>``.

    Started is local time (the creation time for a run that never started). Path
    separators and control characters become ``_``; a name longer than ``max_len``
    characters is cut and ends with ``...``.
    """
    when = run.started or run.created
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when / 1e6)) if when else ""
    name = " ".join(part for part in (run.short_id, run.op, stamp, run.label) if part)
    name = " ".join(_UNSAFE_NAME_CHARS.sub("_", name).split())
    if len(name) > max_len:
        name = name[: max_len - 3].rstrip() + "..."
    while len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        name = name[:-4].rstrip() + "..."
    return name


@dataclass
class SyncResult:
    """What one refresh of a log directory did."""

    logdir: str
    runs: dict = field(default_factory=dict)  # run id -> directory name, newest run first
    added: list = field(default_factory=list)  # directory names
    renamed: list = field(default_factory=list)  # (old name, new name)
    removed: list = field(default_factory=list)  # directory names


def sync_logdir(home, logdir, specs=(), flt=None):
    """Make ``logdir`` mirror the selected runs once; see :class:`LogdirMirror`.

    :raises LogdirError: ``logdir`` is not empty and was not made by this function.
    :raises RunNotFound: a spec matches no run.
    :raises QueryError: the filter expression is malformed.
    """
    return LogdirMirror(home, logdir, specs, flt).sync()


class LogdirMirror:
    """Keeps a TensorBoard log directory in step with a selection of runs.

    Each :meth:`sync` selects the runs from the index (``specs`` and the RunFilter ``flt``)
    and brings ``logdir`` up to date. The object remembers finished runs it has mirrored,
    so repeated syncs (while TensorBoard is serving) skip re-reading their directories.

    :param home: the rundb Home
    :param logdir: the log directory (created if missing)
    """

    def __init__(self, home, logdir, specs=(), flt=None):
        self.home = home
        self.logdir = os.path.abspath(logdir)
        self.specs = tuple(specs)
        self.flt = flt
        self._settled = {}  # run id -> (status, stopped, name) of finished, mirrored runs
        self._tag_readers = {}  # event file path -> (EventFileReader, set of tags)

    def sync(self):
        """Bring the log directory up to date; return a :class:`SyncResult`."""
        from .. import api

        manifest = _load_manifest(self.logdir)
        result = SyncResult(self.logdir)
        runs = api.runs(self.home, self.specs, self.flt)
        summaries = api.scalar_summaries(self.home, [r.id for r in runs])
        names = _unique_names(runs)
        result.runs = {run.id: names[run.id] for run in runs}
        self._remove_unselected(manifest, result)
        experiment = _experiment(runs, summaries)
        for run in runs:
            state = self._place(run, names[run.id], manifest, result)
            self._mirror_links(run, state)
            self._write_output_scalars(run, summaries.get(run.id, []), state)
            self._write_hparams(run, experiment, state)
            self._settle(run, state)
        _save_manifest(self.logdir, manifest)
        return result

    # --- directories ----------------------------------------------------------------

    def _remove_unselected(self, manifest, result):
        for run_id in [i for i in manifest if i not in result.runs]:
            name = manifest.pop(run_id)["name"]
            _remove_tree(os.path.join(self.logdir, name))
            self._settled.pop(run_id, None)
            result.removed.append(name)

    def _place(self, run, name, manifest, result):
        """The manifest entry of ``run``, its directory created or renamed to ``name``."""
        path = os.path.join(self.logdir, name)
        state = manifest.get(run.id)
        if state is not None and state["name"] != name:
            old = os.path.join(self.logdir, state["name"])
            if os.path.isdir(old) and not os.path.lexists(path):
                os.rename(old, path)
                result.renamed.append((state["name"], name))
                state["name"] = name
            else:
                _remove_tree(old)
                state = None
        if state is None or not os.path.isdir(path):
            # A directory of that name not in the manifest (left from an interrupted sync,
            # or another run's) is rebuilt from nothing.
            _remove_tree(path)
            os.makedirs(path)
            state = manifest[run.id] = {"name": name}
            self._settled.pop(run.id, None)
            result.added.append(name)
        return state

    def _mirror_links(self, run, state):
        """Link each of the run's event files, keeping its subdirectory; drop stale links."""
        from ..tfevents import iter_event_files

        if self._is_settled(run, state):
            return
        root = os.path.join(self.logdir, state["name"])
        wanted = {}
        for prefix, path in iter_event_files(run.dir) if os.path.isdir(run.dir) else ():
            rel = os.path.join(*prefix.split("/"), os.path.basename(path)) if prefix else (
                os.path.basename(path))
            wanted[rel] = os.path.abspath(path)
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                link = os.path.join(dirpath, name)
                rel = os.path.relpath(link, root)
                if os.path.islink(link) and os.readlink(link) != wanted.get(rel):
                    os.unlink(link)
        for rel, target in wanted.items():
            link = os.path.join(root, rel)
            if os.path.islink(link):
                continue
            if os.path.lexists(link):  # a file of ours has the same name: theirs wins
                os.unlink(link)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(target, link)
        state["links"] = sorted(wanted)

    def _is_settled(self, run, state):
        return self._settled.get(run.id) == (run.status, run.stopped, state["name"])

    def _settle(self, run, state):
        if run.status != "running":
            self._settled[run.id] = (run.status, run.stopped, state["name"])

    # --- output scalars ---------------------------------------------------------------

    def _write_output_scalars(self, run, summaries, state):
        """Append the run's new ``.rundb`` points from the index to an event file of ours.

        ``state["points"]`` counts the points (NaN excluded, as in the summaries) already
        written; new points go to a new event file, so TensorBoard never sees a file change
        under it. If the index holds fewer points than were written (it was rebuilt), the
        files are written again from the start.
        """
        from .. import api
        from ..tfevents import ScalarEventWriter

        count = sum(s["count"] for s in summaries if s["prefix"] == OUTPUT_PREFIX)
        written = state.get("points", 0)
        outdir = os.path.join(self.logdir, state["name"], OUTPUT_PREFIX)
        if count < written:
            for path in state.get("files", ()):
                _unlink(os.path.join(self.logdir, state["name"], path))
            state["files"], written = [], 0
        if count == written:
            state["points"] = written
            return
        found = api.scalar_points(self.home, [run.id], prefix=OUTPUT_PREFIX)
        points = [p for p in found.get(run.id, ()) if p[3] is not None]
        logged = self._logged_tags(run, state)
        new = [p for p in points[written:] if p[1] not in logged]
        if new:
            with ScalarEventWriter(outdir) as w:
                for _prefix, tag, step, value, wall in new:
                    w.add_scalar(tag, value, step, wall_time=wall or None)
            rel = os.path.relpath(w.path, os.path.join(self.logdir, state["name"]))
            state.setdefault("files", []).append(rel)
        state["points"] = len(points)

    def _logged_tags(self, run, state):
        """Tags in the run's own ``.rundb`` event files (read incrementally, cached)."""
        from ..tfevents import EventFileReader

        tags = set()
        prefix = OUTPUT_PREFIX + os.sep
        for rel in state.get("links", ()):
            if not rel.startswith(prefix):
                continue
            path = os.path.join(run.dir, rel)
            cached = self._tag_readers.get(path)
            if cached is None:
                cached = self._tag_readers[path] = (EventFileReader(path), set())
            event_reader, seen = cached
            try:
                seen.update(tag for tag, _v, _s, _t in event_reader.read_scalars())
            except (OSError, RundbError) as e:
                log.warning(f"cannot read {path}: {e}")
            tags |= seen
        return tags

    # --- hparams ------------------------------------------------------------------------

    def _write_hparams(self, run, experiment, state):
        """Write the run's HParams file when its content (flags, status, experiment) changed."""
        values = _session_hparams(run.flags, experiment["types"])
        content = {"experiment": experiment["digest"], "hparams": values,
                   "status": hparam_status(run.status), "started": run.started,
                   "stopped": run.stopped}
        digest = _digest(content)
        path = os.path.join(self.logdir, state["name"], HPARAMS_FILE)
        if state.get("hparams") == digest and os.path.isfile(path):
            return
        write_hparams_file(path, run, values, experiment["pb"])
        state["hparams"] = digest


# --- HParams summaries --------------------------------------------------------------


def _experiment(runs, summaries):
    """The HParams experiment of the whole selection: every flag and root-scalar metric.

    TensorBoard keeps one experiment (from whichever run it reads first), so each run's
    file carries the same one, covering all selected runs. Numbers and strings get no
    domain (an interval or a list of values): TensorBoard reads the experiment once, and a
    domain would hide the values of runs added while it serves. Booleans have only two.
    """
    from tensorboard.plugins.hparams import api_pb2

    values = {}
    for run in runs:
        for name, value in run.flags.items():
            if value is not None:
                values.setdefault(name, []).append(value)
    types = {name: _hparam_type(vals) for name, vals in values.items()}
    infos = []
    for name in sorted(values):
        info = api_pb2.HParamInfo(name=name)
        converted = [_hparam_value(v, types[name]) for v in values[name]]
        distinct = set(converted)
        if types[name] == "number":
            info.type = api_pb2.DATA_TYPE_FLOAT64
        elif types[name] == "bool":
            info.type = api_pb2.DATA_TYPE_BOOL
            info.domain_discrete.extend([False, True])
        else:
            info.type = api_pb2.DATA_TYPE_STRING
        info.differs = len(distinct) > 1
        infos.append(info)
    metrics = sorted({
        (s["prefix"], s["tag"]) for rows in summaries.values() for s in rows
        if "/" not in s["tag"]
    })
    metric_infos = [
        api_pb2.MetricInfo(name=api_pb2.MetricName(group=prefix, tag=tag),
                           display_name=scalar_key_name(prefix, tag))
        for prefix, tag in metrics
    ]
    created = min((r.created for r in runs if r.created), default=0) / 1e6
    pb = api_pb2.Experiment(hparam_infos=infos, metric_infos=metric_infos,
                            time_created_secs=created)
    digest = hashlib.sha256(pb.SerializeToString(deterministic=True)).hexdigest()[:16]
    return {"pb": pb, "types": types, "digest": digest}


def _hparam_type(values):
    """"bool", "number" or "string": the one type that holds every value."""
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(_is_number(v) for v in values):
        return "number"
    return "string"


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _hparam_value(value, type_):
    if type_ == "bool":
        return bool(value)
    if type_ == "number":
        return float(value) if isinstance(value, float) else int(value)
    if isinstance(value, str):
        return value
    from ..flagvals import encode_flag_value

    return encode_flag_value(value)


def _session_hparams(flags, types):
    return {name: _hparam_value(value, types[name])
            for name, value in sorted(flags.items()) if value is not None and name in types}


def write_hparams_file(path, run, hparams, experiment_pb):
    """Write the HParams event file of one run (experiment, session start, session end).

    The file is replaced atomically. Event times are the run's own (created, started,
    stopped), so writing the same run twice gives the same records.
    """
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2, summary_v2
    from tensorboard.summary.writer.record_writer import RecordWriter

    def summary(tag, plugin_data):
        s = summary_pb2.Summary()
        s.value.add(tag=tag, metadata=metadata.create_summary_metadata(plugin_data),
                    tensor=metadata.NULL_TENSOR)
        return s

    created = (run.created or 0) / 1e6
    started = (run.started or run.created or 0) / 1e6
    stopped = (run.stopped or 0) / 1e6
    summaries = [
        summary(metadata.EXPERIMENT_TAG,
                plugin_data_pb2.HParamsPluginData(experiment=experiment_pb)),
        summary_v2.hparams_pb(hparams, trial_id=run.id, start_time_secs=started),
        summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(
            session_end_info=plugin_data_pb2.SessionEndInfo(
                status=hparam_status(run.status), end_time_secs=stopped))),
    ]
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        records = RecordWriter(f)
        records.write(event_pb2.Event(wall_time=created, file_version="brain.Event:2")
                      .SerializeToString())
        for s in summaries:
            records.write(event_pb2.Event(wall_time=created, step=0, summary=s)
                          .SerializeToString())
    os.replace(tmp, path)


# --- manifest and files -------------------------------------------------------------


def _unique_names(runs):
    """{run id: directory name}; a clash (same short id, op, time, label) uses the full id."""
    names, used = {}, set()
    for run in runs:
        name = run_dir_name(run)
        if name in used:
            name = run.id + name[len(run.short_id):]
        used.add(name)
        names[run.id] = name
    return names


def _load_manifest(logdir):
    """{run id: state} from the manifest; {} for a new or empty directory.

    :raises LogdirError: ``logdir`` is a file, or is not empty and has no manifest.
    """
    if os.path.exists(logdir) and not os.path.isdir(logdir):
        raise LogdirError(f"{logdir} is not a directory")
    path = os.path.join(logdir, MANIFEST)
    if not os.path.exists(path):
        if os.path.isdir(logdir) and os.listdir(logdir):
            raise LogdirError(f"{logdir} is not empty and was not made by 'rundb tensorboard'; "
                              "choose another --logdir")
        os.makedirs(logdir, exist_ok=True)
        _save_manifest(logdir, {})  # ours from now on, even if this first sync is interrupted
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return dict(data["runs"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LogdirError(f"cannot read {path}: {e}") from None


def _save_manifest(logdir, manifest):
    from ..run import write_json_atomic

    write_json_atomic(os.path.join(logdir, MANIFEST),
                      {"version": _MANIFEST_VERSION, "runs": manifest})


def _remove_tree(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)  # links inside are removed, never followed


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _digest(data):
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- serving ------------------------------------------------------------------------


def temp_logdir():
    """A new temporary log directory (the caller removes it)."""
    return tempfile.mkdtemp(prefix="rundb-tensorboard-")


def start_tensorboard(logdir, host=None, port=None, extra_args=()):
    """Start TensorBoard in this process (a background thread) on ``logdir``; return its URL.

    ``host``/``port`` default to TensorBoard's own (localhost, 6006 or the next free port).
    """
    from tensorboard import program

    argv = [None, "--logdir", logdir]
    if host:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    tb = program.TensorBoard()
    tb.configure(argv=[*argv, *extra_args])
    return tb.launch()


def serve(mirror, host=None, port=None, refresh_interval=5.0, ready=None, stop=None):
    """Sync ``mirror``, start TensorBoard on it, then re-sync every ``refresh_interval``
    seconds until ``stop`` (a threading.Event) is set or the process is interrupted.

    :param ready: called with the URL once TensorBoard is serving
    """
    mirror.sync()
    url = start_tensorboard(mirror.logdir, host, port)
    if ready is not None:
        ready(url)
    stop = stop or threading.Event()
    while not stop.wait(refresh_interval if refresh_interval and refresh_interval > 0 else None):
        try:
            mirror.sync()
        except RundbError as e:
            log.warning(f"cannot refresh {mirror.logdir}: {e}")
    return url
