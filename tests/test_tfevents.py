import os
import struct
import subprocess
import sys

import google_crc32c
import pytest
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.compat.proto import types_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from rundb.errors import EventFileError
from rundb import tfevents
from rundb.tfevents import (
    EventFileReader,
    ScalarEventWriter,
    iter_event_files,
    read_scalars,
)


# --- helpers ---------------------------------------------------------------------------------


def masked_crc(data):
    # Written out from the TFRecord spec, independently of the module under test.
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) % 2**32


def frame(data):
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc(length))
        + data
        + struct.pack("<I", masked_crc(data))
    )


def record_starts(path):
    """Byte offset of every record in a well-formed file, plus the file size."""
    with open(path, "rb") as f:
        buf = f.read()
    starts, pos = [], 0
    while pos < len(buf):
        starts.append(pos)
        pos += 16 + struct.unpack_from("<Q", buf, pos)[0]
    assert pos == len(buf)
    return starts + [pos]


def write_tb(logdir, events):
    """Write events with tensorboard's own EventFileWriter; return the file path."""
    writer = EventFileWriter(str(logdir))
    for event in events:
        writer.add_event(event)
    writer.close()
    (name,) = [n for n in os.listdir(logdir) if ".tfevents." in n]
    return str(logdir / name)


def scalar_event(tag, value, step, wall_time=1000.0):
    value = summary_pb2.Summary.Value(tag=tag, simple_value=value)
    summary = summary_pb2.Summary(value=[value])
    return event_pb2.Event(step=step, wall_time=wall_time, summary=summary)


def tensor_event(tag, step, wall_time=1000.0, dims=(), **tensor):
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
    )
    value = summary_pb2.Summary.Value(
        tag=tag, tensor=tensor_pb2.TensorProto(tensor_shape=shape, **tensor)
    )
    summary = summary_pb2.Summary(value=[value])
    return event_pb2.Event(step=step, wall_time=wall_time, summary=summary)


# --- reading files written by tensorboard -----------------------------------------------------


def test_reads_simple_and_tensor_scalars_from_tensorboard_writer(tmp_path):
    half_bits = struct.unpack("<H", struct.pack("<e", 1.5))[0]
    path = write_tb(
        tmp_path,
        [
            scalar_event("loss", 0.25, 1, 1700000000.5),
            tensor_event("f", 2, 1700000001.25, dtype=types_pb2.DT_FLOAT, float_val=[0.75]),
            tensor_event("d", 3, 1700000002.0, dtype=types_pb2.DT_DOUBLE, double_val=[0.1]),
            tensor_event(
                "fc", 4, 1.5, dtype=types_pb2.DT_FLOAT, tensor_content=struct.pack("<f", -2.5)
            ),
            tensor_event(
                "dc", 5, 2.5, dtype=types_pb2.DT_DOUBLE, tensor_content=struct.pack("<d", 1 / 3)
            ),
            tensor_event("i64", 6, 3.5, dtype=types_pb2.DT_INT64, int64_val=[2**40 + 1]),
            tensor_event(
                "i64c", 7, 4.5, dtype=types_pb2.DT_INT64, tensor_content=struct.pack("<q", -7)
            ),
            tensor_event("i32", 8, 5.5, dtype=types_pb2.DT_INT32, int_val=[42]),
            tensor_event("h", 9, 6.5, dtype=types_pb2.DT_HALF, half_val=[half_bits]),
        ],
    )
    assert read_scalars(path) == [
        ("loss", 0.25, 1, 1700000000.5),
        ("f", 0.75, 2, 1700000001.25),
        ("d", 0.1, 3, 1700000002.0),
        ("fc", -2.5, 4, 1.5),
        ("dc", 1 / 3, 5, 2.5),
        ("i64", float(2**40 + 1), 6, 3.5),
        ("i64c", -7.0, 7, 4.5),
        ("i32", 42.0, 8, 5.5),
        ("h", 1.5, 9, 6.5),
    ]


def test_reads_several_values_in_one_event(tmp_path):
    event = scalar_event("a", 1.0, 10)
    event.summary.value.add(tag="b", simple_value=2.0)
    path = write_tb(tmp_path, [event])
    assert read_scalars(path) == [("a", 1.0, 10, 1000.0), ("b", 2.0, 10, 1000.0)]


def test_skips_non_scalar_summaries(tmp_path):
    image = summary_pb2.Summary.Value(
        tag="img", image=summary_pb2.Summary.Image(height=1, width=1, encoded_image_string=b"x")
    )
    histo = summary_pb2.Summary.Value(
        tag="hist", histo=summary_pb2.HistogramProto(min=0, max=1, num=2, bucket=[1, 1])
    )
    path = write_tb(
        tmp_path,
        [
            event_pb2.Event(step=1, summary=summary_pb2.Summary(value=[image, histo])),
            tensor_event("text", 2, dtype=types_pb2.DT_STRING, string_val=[b"hello"]),
            tensor_event("vec", 3, dims=(2,), dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0]),
            # hparams' placeholder: a float tensor of shape (0,)
            tensor_event("_hparams_/session_start_info", 4, dims=(0,), dtype=types_pb2.DT_FLOAT),
            tensor_event("bool", 5, dtype=types_pb2.DT_BOOL, bool_val=[True]),
            event_pb2.Event(step=6, graph_def=b"not really a graph"),
            scalar_event("kept", 0.5, 7),
        ],
    )
    assert read_scalars(path) == [("kept", 0.5, 7, 1000.0)]


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "events.out.tfevents.1"
    empty.write_bytes(b"")
    assert read_scalars(empty) == []
    path = write_tb(tmp_path / "tb", [])
    reader = EventFileReader(path)
    assert reader.read_scalars() == []
    assert reader.offset == os.path.getsize(path)


# --- our writer -------------------------------------------------------------------------------


def test_writer_output_read_by_tensorboard_loader_and_by_us(tmp_path):
    logdir = tmp_path / "new" / ".rundb"
    with ScalarEventWriter(logdir) as writer:
        writer.add_scalar("loss", 0.5, step=1, wall_time=1700000000.25)
        writer.add_scalar("val/acc", 0.75, step=2, wall_time=1700000001.5)
        writer.add_scalar("lr", 3, wall_time=5.0)
    name = os.path.basename(writer.path)
    assert os.path.dirname(writer.path) == str(logdir)
    assert name.startswith("events.out.tfevents.")
    _, stamp, host, pid, seq = name.rsplit(".", 4)
    assert stamp.isdigit() and pid == str(os.getpid()) and seq.isdigit() and host

    # RawEventFileLoader checks both CRCs of every record (pure Python).
    events = [event_pb2.Event.FromString(r) for r in RawEventFileLoader(writer.path).Load()]
    assert events[0].file_version == "brain.Event:2"
    assert [
        (v.tag, v.simple_value, e.step, e.wall_time) for e in events[1:] for v in e.summary.value
    ] == [
        ("loss", 0.5, 1, 1700000000.25),
        ("val/acc", 0.75, 2, 1700000001.5),
        ("lr", 3.0, 0, 5.0),
    ]
    assert read_scalars(writer.path) == [
        ("loss", 0.5, 1, 1700000000.25),
        ("val/acc", 0.75, 2, 1700000001.5),
        ("lr", 3.0, 0, 5.0),
    ]


def test_writer_values_are_float32(tmp_path):
    with ScalarEventWriter(tmp_path) as writer:
        writer.add_scalar("x", 0.1, step=1, wall_time=1.0)
    as_float32 = struct.unpack("<f", struct.pack("<f", 0.1))[0]
    assert read_scalars(writer.path) == [("x", as_float32, 1, 1.0)]


def test_writers_in_one_directory_get_distinct_files(tmp_path):
    with ScalarEventWriter(tmp_path) as a, ScalarEventWriter(tmp_path) as b:
        assert a.path != b.path
    assert len(os.listdir(tmp_path)) == 2


def test_writers_files_sort_in_the_order_they_were_made(tmp_path, monkeypatch):
    """TensorBoard reads event files in name order: .9 must sort before .10 (a mirror
    appending a running run's new points in a new file once read them out of order)."""
    import itertools

    monkeypatch.setattr(tfevents, "_writer_seq", itertools.count(8))
    made = []
    for _ in range(4):
        with ScalarEventWriter(tmp_path) as writer:
            made.append(os.path.basename(writer.path))
    assert sorted(made) == made


def test_reader_follows_a_file_being_written(tmp_path):
    writer = ScalarEventWriter(tmp_path)
    reader = EventFileReader(writer.path)
    assert reader.read_scalars() == []
    writer.add_scalar("loss", 1.0, step=1, wall_time=1.0)
    writer.add_scalar("loss", 2.0, step=2, wall_time=2.0)
    writer.flush()
    assert reader.read_scalars() == [("loss", 1.0, 1, 1.0), ("loss", 2.0, 2, 2.0)]
    assert reader.read_scalars() == []
    writer.add_scalar("loss", 3.0, step=3, wall_time=3.0)
    writer.close()
    assert reader.read_scalars() == [("loss", 3.0, 3, 3.0)]
    assert reader.offset == os.path.getsize(writer.path)
    # A new reader resumes from a saved offset.
    assert EventFileReader(writer.path, offset=reader.offset).read_scalars() == []


# --- partial tail records -------------------------------------------------------------------


@pytest.mark.parametrize(
    "cut", [1, 7, 8, 11, 12, 13, 20, -5, -4, -1], ids=lambda c: f"cut{c:+d}"
)
def test_partial_tail_record_is_left_for_the_next_read(tmp_path, cut):
    path = write_tb(tmp_path, [scalar_event("loss", float(i), i) for i in range(4)])
    starts = record_starts(path)
    last, size = starts[-2], starts[-1]
    cut_at = last + cut if cut > 0 else size + cut
    with open(path, "rb") as f:
        whole = f.read()
    with open(path, "wb") as f:
        f.write(whole[:cut_at])

    reader = EventFileReader(path)
    assert reader.read_scalars() == [("loss", float(i), i, 1000.0) for i in range(3)]
    assert reader.offset == last
    assert reader.read_scalars() == []
    assert reader.offset == last

    with open(path, "ab") as f:
        f.write(whole[cut_at:])
    assert reader.read_scalars() == [("loss", 3.0, 3, 1000.0)]
    assert reader.offset == size


def test_small_reads_give_the_same_scalars(tmp_path, monkeypatch):
    # Records straddle every chunk boundary when chunks are a few bytes long.
    path = write_tb(tmp_path, [scalar_event(f"t{i}", float(i), i) for i in range(20)])
    expected = read_scalars(path)
    assert len(expected) == 20
    monkeypatch.setattr(tfevents, "_CHUNK", 5)
    reader = EventFileReader(path)
    assert reader.read_scalars() == expected
    assert reader.offset == os.path.getsize(path)


# --- corrupt records --------------------------------------------------------------------------


def corrupt(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        byte = f.read(1)
        f.seek(pos)
        f.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize(
    "where,why",
    [
        (0, "length crc mismatch"),  # length
        (9, "length crc mismatch"),  # length crc
        (14, "data crc mismatch"),  # payload
        (-1, "data crc mismatch"),  # data crc
    ],
)
def test_corrupt_record_raises_with_path_and_offset(tmp_path, where, why):
    path = write_tb(tmp_path, [scalar_event("loss", float(i), i) for i in range(3)])
    starts = record_starts(path)
    bad = starts[2]
    corrupt(path, bad + where if where >= 0 else starts[3] + where)
    with pytest.raises(EventFileError) as e:
        read_scalars(path)
    assert str(e.value) == f"corrupt record in {path} at offset {bad} ({why})"


def test_corrupt_record_offset_is_absolute_after_an_earlier_read(tmp_path):
    path = write_tb(tmp_path, [scalar_event("loss", float(i), i) for i in range(3)])
    starts = record_starts(path)
    reader = EventFileReader(path)
    assert len(reader.read_scalars()) == 3
    with open(path, "ab") as f:
        f.write(frame(scalar_event("loss", 3.0, 3).SerializeToString()))
    corrupt(path, starts[-1] + 20)
    with pytest.raises(EventFileError, match=f"at offset {starts[-1]} \\(data crc mismatch\\)"):
        reader.read_scalars()
    assert reader.offset == starts[-1]


def test_corrupt_record_leaves_offset_unchanged(tmp_path, monkeypatch):
    # With tiny reads, good records come in chunks before the bad one; none of them may be
    # counted as read, since the error means their scalars are not returned.
    monkeypatch.setattr(tfevents, "_CHUNK", 5)
    path = write_tb(tmp_path, [scalar_event("loss", float(i), i) for i in range(4)])
    starts = record_starts(path)
    corrupt(path, starts[3] + 20)
    reader = EventFileReader(path)
    for _ in range(2):
        with pytest.raises(EventFileError, match=f"at offset {starts[3]} "):
            reader.read_scalars()
        assert reader.offset == 0


def test_undecodable_payload_with_good_crcs(tmp_path):
    path = tmp_path / "events.out.tfevents.1"
    path.write_bytes(frame(scalar_event("a", 1.0, 1).SerializeToString()) + frame(b"\xff\xff\xff"))
    offset = record_starts(path)[1]
    with pytest.raises(EventFileError) as e:
        read_scalars(path)
    assert str(e.value) == f"corrupt record in {path} at offset {offset} (cannot decode event)"


# --- finding event files ----------------------------------------------------------------------


def test_iter_event_files(tmp_path):
    run = tmp_path / "run"
    other = tmp_path / "other"
    for rel in [
        "events.out.tfevents.2.host",
        "events.out.tfevents.1.host",
        "val/events.out.tfevents.1.host.v2",
        "logs/train/events.out.tfevents.3.host",
        "logs/notes.txt",
        "events.out.tfevents",  # no dot after the marker
        "model.ckpt",
    ]:
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_bytes(b"")
    other.mkdir()
    (other / "events.out.tfevents.9.host").write_bytes(b"")
    (run / "linked").symlink_to(other, target_is_directory=True)

    assert list(iter_event_files(run)) == [
        ("", str(run / "events.out.tfevents.1.host")),
        ("", str(run / "events.out.tfevents.2.host")),
        ("logs/train", str(run / "logs/train/events.out.tfevents.3.host")),
        ("val", str(run / "val/events.out.tfevents.1.host.v2")),
    ]


def test_iter_event_files_of_missing_dir_is_empty(tmp_path):
    assert list(iter_event_files(tmp_path / "nope")) == []


# --- imports ----------------------------------------------------------------------------------


def test_importing_the_module_does_not_import_tensorboard():
    code = "import sys, rundb.tfevents; print('tensorboard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
