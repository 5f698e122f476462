"""Read scalars from TF event files, and write them.

An event file is a sequence of TFRecords::

    uint64 length | uint32 masked_crc32c(length) | bytes data[length] | uint32 masked_crc32c(data)

each ``data`` being a serialized ``tensorflow.Event``. We parse the framing ourselves and check
CRCs with ``google_crc32c`` (C): the tensorboard package's loaders compute CRC32C in pure Python
(about 10,000 scalars/s here, against 250,000+ for this reader; see bench/bench_tfevents.py) and
its ``EventAccumulator`` samples, so neither suits indexing.

tensorboard's protos, google_crc32c and socket are imported on first use, so importing this
module (as ``rundb --help`` may) stays cheap.
"""

import itertools
import os
import struct
import time

from .errors import EventFileError

__all__ = ["EventFileReader", "EventFilesWatcher", "read_scalars", "iter_event_files", "ScalarEventWriter"]

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_HEADER = struct.Struct("<QI")  # length, masked crc of length
_CRC = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")
_CHUNK = 16 << 20  # bytes read at a time; a larger record is read whole

# Numeric tensor dtypes (tensorflow/core/framework/types.proto):
# dtype -> (repeated field holding the value, struct format of tensor_content).
_DT_HALF = 19
_TENSOR_DTYPES = {
    1: ("float_val", "<f"),  # DT_FLOAT
    2: ("double_val", "<d"),  # DT_DOUBLE
    3: ("int_val", "<i"),  # DT_INT32
    4: ("int_val", "<B"),  # DT_UINT8
    5: ("int_val", "<h"),  # DT_INT16
    6: ("int_val", "<b"),  # DT_INT8
    9: ("int64_val", "<q"),  # DT_INT64
    17: ("int_val", "<H"),  # DT_UINT16
    _DT_HALF: ("half_val", "<e"),  # bit patterns held in int32s
}

_event_pb2 = None


def _event_proto():
    global _event_pb2
    if _event_pb2 is None:
        from tensorboard.compat.proto import event_pb2

        _event_pb2 = event_pb2
    return _event_pb2


def _masked_crc(data):
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32  # the sum's low 32 bits suffice


def _tensor_scalar(tensor):
    """The value of a rank-0 numeric tensor, or None for anything else."""
    if tensor.tensor_shape.dim:
        return None
    spec = _TENSOR_DTYPES.get(tensor.dtype)
    if spec is None:
        return None
    field, fmt = spec
    if tensor.tensor_content:
        try:
            (value,) = struct.unpack(fmt, tensor.tensor_content)
        except struct.error:
            return None
        return float(value)
    values = getattr(tensor, field)
    if len(values) != 1:
        return None
    if tensor.dtype == _DT_HALF:
        return struct.unpack("<e", struct.pack("<H", values[0] & 0xFFFF))[0]
    return float(values[0])


class EventFileReader:
    """Incremental reader of the scalars in one event file.

    Each :meth:`read_scalars` call returns the scalars of the complete records past
    :attr:`offset` and moves :attr:`offset` after the last of them. A partial record at the end
    (the file is still being written) is left for the next call.

    :param path: the event file
    :param offset: byte offset to start from (a value of :attr:`offset` saved earlier)
    """

    def __init__(self, path, offset=0):
        self.path = os.fspath(path)
        self.offset = offset
        self._event = None
        self._good_heads = set()

    def read_scalars(self):
        """Scalars of the complete records after :attr:`offset`, advancing it.

        :returns: list of ``(tag, value, step, wall_time)``
        :raises EventFileError: a record fails its length or data CRC, or does not decode;
            :attr:`offset` is then left where it was, as no scalars are returned
        """
        if self._event is None:
            self._event = _event_proto().Event()
        out = []
        offset = self.offset
        with open(self.path, "rb") as f:
            f.seek(offset)
            buf = b""
            while True:
                chunk = f.read(max(_CHUNK, self._record_size(buf) - len(buf)))
                if not chunk:
                    break
                buf = buf + chunk if buf else chunk
                used = self._parse(buf, offset, out)
                offset += used
                buf = buf[used:]
        self.offset = offset
        return out

    @staticmethod
    def _record_size(buf):
        # Size of the whole record starting buf (0 if its header is not all there), so a record
        # larger than _CHUNK is read in one more read rather than many.
        if len(buf) < 12:
            return 0
        return _LENGTH.unpack_from(buf)[0] + 16

    def _parse(self, buf, base, out):
        """Append the scalars of buf's complete records to out; return bytes consumed.

        base is the file offset of buf[0], for error messages.
        """
        # One loop with locals, no per-record calls of our own: this is the hot path.
        import google_crc32c

        n = len(buf)
        pos = 0
        header = _HEADER.unpack_from
        crc_at = _CRC.unpack_from
        crc32c = google_crc32c.value
        event = self._event
        parse = event.ParseFromString
        append = out.append
        good_heads = self._good_heads
        while pos + 12 <= n:
            head = header(buf, pos)
            # The length crc depends only on the 8 length bytes, so check each distinct
            # (length, crc) pair once: in a typical file most records share a few lengths.
            if head not in good_heads:
                crc = crc32c(buf[pos : pos + 8])
                if head[1] != (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32:
                    raise self._corrupt(base + pos, "length crc mismatch")
                good_heads.add(head)
            start = pos + 12
            end = start + head[0]
            if end + 4 > n:
                break
            data = buf[start:end]
            crc = crc32c(data)
            if crc_at(buf, end)[0] != (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32:
                raise self._corrupt(base + pos, "data crc mismatch")
            try:
                parse(data)
            except Exception:  # google.protobuf.message.DecodeError
                raise self._corrupt(base + pos, "cannot decode event") from None
            # Events without a summary (file_version, graph, ...) give an empty list here.
            for v in event.summary.value:
                if v.HasField("simple_value"):
                    append((v.tag, v.simple_value, event.step, event.wall_time))
                elif v.HasField("tensor"):
                    value = _tensor_scalar(v.tensor)
                    if value is not None:
                        append((v.tag, value, event.step, event.wall_time))
            pos = end + 4
        return pos

    def _corrupt(self, offset, why):
        return EventFileError(f"corrupt record in {self.path} at offset {offset} ({why})")


def read_scalars(path):
    """All scalars in an event file, as ``(tag, value, step, wall_time)`` tuples.

    :raises EventFileError: the file holds a corrupt record
    """
    return EventFileReader(path).read_scalars()


def iter_event_files(run_dir):
    """Yield ``(prefix, path)`` for every TF event file under run_dir, sorted by (prefix, name).

    prefix is the file's directory relative to run_dir with ``/`` separators (``""`` for run_dir
    itself). Symlinked directories are not followed, so a link to another run is not read twice.
    """
    run_dir = os.fspath(run_dir)
    found = []
    for dirpath, _dirs, files in os.walk(run_dir):
        # os.walk yields run_dir itself, then os.path.join(run_dir, ...): no relpath needed
        # (a third of a rebuild's walk)
        rel = dirpath[len(run_dir):].lstrip(os.sep)
        prefix = rel.replace(os.sep, "/")
        for name in files:
            path = os.path.join(dirpath, name)
            if ".tfevents." in name and os.path.isfile(path):
                found.append((prefix, name, path))
    found.sort()
    for prefix, _name, path in found:
        yield prefix, path


_writer_seq = itertools.count()


class ScalarEventWriter:
    """Write scalars to a new event file in logdir (created if missing).

    Values are stored as ``simple_value``, a float32, as PyTorch's and tensorboardX's writers do.
    Records are buffered: call :meth:`flush` (or :meth:`close`, or leave the ``with`` block) to
    make them visible to readers.

    :param logdir: directory for the ``events.out.tfevents.<time>.<host>.<pid>.<n>`` file
    """

    def __init__(self, logdir):
        logdir = os.fspath(logdir)
        os.makedirs(logdir, exist_ok=True)
        import socket

        self._event_pb2 = _event_proto()
        stamp = f"{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        while True:
            # Zero-padded: TensorBoard (and the mirror) read a directory's event files in
            # name order, which must be the order they were made in (.9 before .10).
            self.path = os.path.join(logdir,
                                     f"events.out.tfevents.{stamp}.{next(_writer_seq):06d}")
            try:
                self._file = open(self.path, "xb")
                break
            except FileExistsError:
                continue
        self._write(self._event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def add_scalar(self, tag, value, step=0, wall_time=None):
        """Append one scalar; wall_time defaults to now."""
        event = self._event_pb2.Event(
            wall_time=time.time() if wall_time is None else wall_time, step=int(step)
        )
        event.summary.value.add(tag=tag, simple_value=float(value))
        self._write(event)

    def _write(self, event):
        data = event.SerializeToString()
        length = _LENGTH.pack(len(data))
        self._file.write(
            b"".join(
                (length, _CRC.pack(_masked_crc(length)), data, _CRC.pack(_masked_crc(data)))
            )
        )

    def flush(self):
        """Hand buffered records to the operating system."""
        self._file.flush()

    def close(self):
        """Flush and close the file; closing twice is harmless."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EventFilesWatcher:
    """Reads new records of the TF event files under a run directory."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.readers = {}

    def poll(self):
        """New scalars since the last poll, as ``{(prefix, tag): (steps, values, times)}``."""
        points = []
        for prefix, path in iter_event_files(self.run_dir):
            reader = self.readers.get(path)
            if reader is None:
                reader = self.readers[path] = EventFileReader(path)
            points.extend((prefix, tag, step, value, wall)
                          for tag, value, step, wall in reader.read_scalars())
        return series_from_points(points)


def series_from_points(points):
    """``{(prefix, tag): (steps, values, times)}`` from ``(prefix, tag, step, value, time)``."""
    series = {}
    for prefix, tag, step, value, wall in points:
        cols = series.get((prefix, tag))
        if cols is None:
            cols = series[(prefix, tag)] = ([], [], [])
        cols[0].append(step)
        cols[1].append(value)
        cols[2].append(wall)
    return series
