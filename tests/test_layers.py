"""The layout ARCHITECTURE.md draws: SQL text lives in rundb/index/ alone (plus the query
compiler, which writes its SQL through the dialect hook); the import contracts are checked
by `lint-imports` in `make test`."""

import io
import os
import re
import tokenize

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Where SQL may be written: the index layer, and the compiler with its dialect hook. The
#: query language's grammar (parser.py) names its own keywords, which SQL shares.
SQL_ALLOWED = ("rundb/index/", "rundb/query/compiler.py", "rundb/query/dialect.py",
               "rundb/query/parser.py")

#: SQL in a string literal: statements, clauses and the SQLite-only functions.
SQL = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"(CREATE|DROP|ALTER)\s+(TEMP\s+)?(TABLE|INDEX|VIEW|TRIGGER)|PRAGMA\s+\w+|"
    r"BEGIN\s+(IMMEDIATE|EXCLUSIVE|TRANSACTION)|\bCOMMIT\b|\bROLLBACK\b|SAVEPOINT|ATTACH\s+DATABASE|"
    r"json_each|json_extract|group_concat|instr\(|\bWHERE\b|\bEXISTS\s*\(|\bJOIN\b|"
    r"\w\.\w+\s*(=|<|>|IN|IS)\s*[?(']|\bAND\s+\w+\.\w+)", re.S)


def _python_files():
    for base in ("rundb", "cli"):
        for root, _dirs, files in os.walk(os.path.join(ROOT, base)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def _strings(path):
    """(line, text) of every string literal that is not a docstring (help texts and
    docstrings may show users SQL of their own)."""
    with open(path, encoding="utf-8") as f:
        tokens = list(tokenize.generate_tokens(io.StringIO(f.read()).readline))
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.STRING and tok.type != getattr(tokenize, "FSTRING_START", -1):
            continue
        prev = next((t for t in reversed(tokens[:i])
                     if t.type not in (tokenize.NL, tokenize.COMMENT)), None)
        if tok.type == tokenize.STRING and (prev is None or prev.type in (
                tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE)) and tok.string.endswith(
                ('"""', "'''")):
            continue  # a docstring
        yield tok.start[0], tok.line


def test_sql_lives_in_the_index_layer():
    found = []
    for rel, path in _python_files():
        if rel.startswith(SQL_ALLOWED) or rel == "rundb/query/_parsetab.py":
            continue  # (the parser's generated tables hold the grammar's keywords)
        for line, text in _strings(path):
            if SQL.search(text):
                found.append(f"{rel}:{line}: {text.strip()}")
    assert not found, "SQL outside rundb/index/:\n" + "\n".join(sorted(set(found)))


@pytest.mark.parametrize("text", [
    'conn.execute("SELECT id FROM run")',
    'f"r.rid IN (SELECT value FROM json_each(?))"',
    '"INSERT OR IGNORE INTO t (a) VALUES (?)"',
    '"PRAGMA user_version"',
    '"r.status = \'completed\'"',
    '"instr(r.op, ?) > 0"',
])
def test_the_sql_pattern_sees_sql(text):
    assert SQL.search(text)


@pytest.mark.parametrize("text", [
    '"no run matches \'abc\'"',
    '"select min loss where lr > 0.01"',
    '"rundb: unknown scalar \'los\'; did you mean loss?"',
])
def test_the_sql_pattern_leaves_messages_alone(text):
    assert not SQL.search(text)


def test_each_migration_commits_on_its_own(tmp_path):
    """A migration that fails leaves the index at the last one that succeeded."""
    import sqlite3

    from rundb.index import db, schema

    path = str(tmp_path / "index.db")
    conn = sqlite3.connect(path, isolation_level=None)
    broken = [*schema.MIGRATIONS, "CREATE TABLE extra (a);\nTHIS IS NOT SQL;"]
    with pytest.raises(sqlite3.OperationalError):
        db._migrate(conn, path, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "run" in tables and "extra" not in tables
    conn.close()
    db.open_index(path).close()  # the real schema opens it as it is


def test_one_csv_writer():
    """Every CSV rundb writes (command tables, `sql`, export, batch files) goes through
    rundb/csvtext.py."""
    import doctest

    from rundb import csvtext

    assert doctest.testmod(csvtext).failed == 0
    writers = []
    for rel, path in _python_files():
        with open(path, encoding="utf-8") as f:
            if re.search(r"\bcsv\.(writer|DictWriter)\(", f.read()):
                writers.append(rel)
    assert writers == ["rundb/csvtext.py"]
