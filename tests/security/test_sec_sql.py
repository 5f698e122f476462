"""Finding 6 (low): `rundb sql` had no time limit (an endless recursive CTE ran until
killed), allowed randomblob(1e9) and fts3_tokenizer (which returns a pointer)."""

import time

import pytest
from conftest import rundb_proc
from hostile import home_run

from rundb import api
from rundb.errors import SQLError

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture
def indexed(home, index):
    home_run(home, index, label="one")
    return home


def test_an_endless_query_stops_at_the_timeout(cli, indexed):
    start = time.monotonic()
    result = cli("sql", ENDLESS, "--timeout", "0.5")
    assert time.monotonic() - start < 10
    assert result.exit_code == 1
    assert result.stderr == ("rundb: the statement ran longer than 0.5 s and was stopped "
                             "(--timeout SECONDS, 0 for no limit)\n")


@pytest.mark.slow
def test_an_endless_query_as_a_subprocess(indexed):
    proc = rundb_proc("sql", ENDLESS, "--timeout", "1", home=indexed, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("rundb: the statement ran longer than 1 s")


def test_the_api_takes_a_timeout(indexed):
    with pytest.raises(SQLError, match="ran longer than 0.2 s"):
        api.sql_query(indexed, ENDLESS, timeout=0.2)


@pytest.mark.parametrize("stmt", [
    "SELECT length(randomblob(1000000000))",
    "SELECT length(zeroblob(1000000000))",
])
def test_a_value_cannot_allocate_without_bound(cli, indexed, stmt):
    result = cli("sql", stmt, "--timeout", "30")
    assert result.exit_code == 1
    assert result.stderr.startswith("rundb: a value would be larger than 32 MiB")


@pytest.mark.parametrize("stmt,name", [
    ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
    ("SELECT hex(FTS3_TOKENIZER('porter'))", "fts3_tokenizer"),
    ("SELECT load_extension('/tmp/x.so')", "load_extension"),
])
def test_functions_that_expose_memory_or_load_code_are_refused(cli, indexed, stmt, name):
    result = cli("sql", stmt)
    assert result.exit_code == 1
    assert result.stderr == f"rundb: function {name}() is not allowed in rundb sql\n"


def test_the_result_size_is_capped(cli, indexed):
    stmt = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200) "
            "SELECT x, randomblob(20000) FROM c")
    result = cli("sql", stmt, "--max-result-mb", "1", "--timeout", "30")
    assert result.exit_code == 1
    assert result.stderr.startswith("rundb: the result is larger than 1 MiB: add a LIMIT")
    ok = cli("sql", stmt + " LIMIT 10", "--max-result-mb", "1", "--csv", "-")
    assert ok.exit_code == 0
    assert len(ok.stdout.splitlines()) == 11


def test_ordinary_queries_still_work_with_the_limits(cli, indexed):
    result = cli("sql", "SELECT label, randomblob(4) IS NOT NULL AS b FROM runs",
                 "--timeout", "5")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].split() == ["one", "1"]
