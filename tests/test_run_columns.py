"""The run record's columns are defined once (rundb.run.RUN_COLUMNS); the index schema,
its reader and writer, the query compiler and the notebook all agree with it."""

from rundb import record
from rundb import run as run_record
from rundb.catalog import RUN_ATTRS
from rundb.index import reader, writer
from rundb.index.db import open_index
from rundb.index.dialect import SQLITE
from rundb.ipy import frames
from rundb.query import compiler
from rundb.run import RUN_COLUMNS, Run


def test_index_table_has_the_record_columns_in_order(tmp_path):
    with open_index(str(tmp_path / "index.db")) as index:
        names = [row[1] for row in index.conn.execute("PRAGMA table_info(run)")]
    assert names == ["rid", *RUN_COLUMNS]


def test_reader_and_writer_use_the_one_definition():
    assert writer._RUN_COLUMNS == tuple(RUN_COLUMNS)
    assert reader._RUN_FIELDS.split(", ") == ["rid", *RUN_COLUMNS]
    fields = {f.name for f in record.fields(Run)}
    assert set(RUN_COLUMNS) - {"home"} <= fields


def test_query_attributes_are_the_columns_and_the_derived_ones():
    assert RUN_ATTRS is run_record.RUN_ATTRS
    assert set(compiler._run_columns(SQLITE)) == set(RUN_ATTRS)
    assert set(RUN_ATTRS) == (set(RUN_COLUMNS) - {"home"}) | set(run_record.DERIVED_ATTRS)
    times = {name for name, kind in RUN_COLUMNS.items() if kind == "time"}
    assert {n for n, s in compiler.RUN_COLUMNS.items() if s.kind == "time"} == times


def test_notebook_fields_come_from_the_record():
    assert set(frames.RUNS_COLUMNS) <= set(RUN_ATTRS)
    columns = set(RUN_COLUMNS) - {"home", "deleted"}
    assert columns <= set(frames.Run._FIELDS)
    fields = {f.name for f in record.fields(Run)}
    assert set(frames.Run._FIELDS.values()) <= fields
