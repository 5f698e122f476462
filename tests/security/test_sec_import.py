"""Finding 1 (critical) and 5 (medium): `rundb import` of a hostile archive.

Each test holds the input that reproduced the finding on the code before the fix.
"""

import os

import pytest
from hostile import archive_run, archive_with, good_meta, read_bytes, tree

from rundb import api
from rundb.home import Home

# --- finding 1: the id in meta.json became the target directory ------------------------------


@pytest.mark.parametrize("make_id", [
    lambda tmp: "../../OUTSIDE",
    lambda tmp: "../../../OUTSIDE",
    lambda tmp: str(tmp / "OUTSIDE"),  # absolute
    lambda tmp: "..",
    lambda tmp: "nothex",
    lambda tmp: "ABCDEF" + "0" * 26,  # upper case: not a form rundb makes
], ids=["dotdot", "dotdotdot", "absolute", "parent", "not-hex", "upper-case"])
def test_import_never_writes_outside_the_home(cli, home, tmp_path, make_id):
    archive = tmp_path / "archive"
    bad = archive_run(archive, good_meta(make_id(tmp_path)))
    archive_run(archive, good_meta())
    before = tree(tmp_path)
    result = cli("import", str(archive), "-y")
    assert result.exit_code == 1
    assert "Imported 1 run(s)" in result.stderr
    assert f"rundb: cannot import {bad}: {bad}: invalid meta.json: field 'id':" in result.stderr
    assert "is not a run id (32 lowercase hex characters)" in result.stderr
    assert not os.path.exists(tmp_path / "OUTSIDE")
    new = set(tree(tmp_path)) - set(before)
    assert all(p.startswith("home" + os.sep) for p in new), new
    assert cli("index", "check").exit_code == 0


def test_import_cannot_plant_sitecustomize_in_a_venv(cli, home, tmp_path):
    # The reproduction: the id named <venv>/lib/python3.11/site-packages/sitecustomize and
    # the run held an __init__.py, which the venv's next Python start executed.
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    bad = archive_run(tmp_path / "archive", good_meta(str(site / "sitecustomize")))
    with open(os.path.join(bad, "__init__.py"), "w") as f:
        f.write("open(__file__ + '.pwned', 'w')\n")
    result = cli("import", str(tmp_path / "archive"), "-y")
    assert result.exit_code == 1
    assert os.listdir(site) == []


def test_import_refuses_a_symlinked_rundb_dir(cli, home, tmp_path):
    outside = tmp_path / "outside"
    archive_run(outside, good_meta(), name="victim")
    victim_meta = outside / "runs" / "victim" / ".rundb"
    run_dir = tmp_path / "archive" / "runs" / "evil"
    run_dir.mkdir(parents=True)
    os.symlink(victim_meta, run_dir / ".rundb")
    result = cli("import", str(tmp_path / "archive"), "-y")
    assert result.exit_code == 1
    assert f"{run_dir}: .rundb is a symlink" in result.stderr
    assert api.runs(home) == []
    assert os.listdir(home.runs_dir) == []


def test_import_refuses_a_symlinked_meta_json(cli, home, tmp_path):
    # meta.json pointing at a file outside the archive: never read, never imported.
    secret = tmp_path / "secret.json"
    secret.write_text('{"id": "%s"}' % ("a" * 32))
    run_dir = tmp_path / "archive" / "runs" / "evil"
    (run_dir / ".rundb").mkdir(parents=True)
    os.symlink(secret, run_dir / ".rundb" / "meta.json")
    result = cli("import", str(tmp_path / "archive"), "-y")
    assert result.exit_code == 1
    assert "meta.json is a symlink" in result.stderr
    assert api.runs(home) == []


def test_import_copies_a_symlinked_run_dir_never(cli, home, tmp_path):
    # A run directory that is itself a link to a directory elsewhere: its target's files
    # (here a whole run outside the archive) are not copied into the home.
    outside = archive_run(tmp_path / "elsewhere", good_meta())
    (tmp_path / "archive" / "runs").mkdir(parents=True)
    os.symlink(outside, tmp_path / "archive" / "runs" / os.path.basename(outside))
    result = cli("import", str(tmp_path / "archive"), "-y")
    assert result.exit_code == 1
    assert "the run directory is a symlink" in result.stderr
    assert os.listdir(home.runs_dir) == []


def test_import_copies_links_inside_a_run_as_links(cli, home, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy me")
    run_dir = archive_run(tmp_path / "archive", good_meta())
    os.symlink(secret, os.path.join(run_dir, "data"))
    assert cli("import", str(tmp_path / "archive"), "-y").exit_code == 0
    copied = os.path.join(home.runs_dir, os.path.basename(run_dir), "data")
    assert os.path.islink(copied) and os.readlink(copied) == str(secret)


# --- finding 5: hostile field types -------------------------------------------------------

HOSTILE_FIELDS = [
    ("created", 10**30, "out of range"),
    ("created", 10**400, "a 1329-bit number is out of range"),
    ("started", "yesterday", "expected a whole number"),
    ("exit_status", 2**40, "out of range"),
    ("pid", -1, "out of range"),
    ("label", ["a", "list"], "expected a string, not a list"),
    ("comment", {"an": "object"}, "expected a string"),
    ("op", None, "expected a string, not null"),
    ("id", 123, "is not a run id"),
    ("id", None, "is not a run id"),
    ("status", "bogus", "'bogus' is not a known status"),
    ("status", ["completed"], "is not a known status"),
    ("marked", "yes", "expected true or false"),
    ("flags", ["lr", 1], "expected an object"),
    ("flags", {"lr": 2**70}, "flag 'lr': 2**70"),
    ("tags", "a,b", "expected a list"),
    ("tags", [1, 2], "expected a list of strings"),
    ("attrs", [], "expected an object"),
    ("parent", "../../x", "is not a run id"),
    ("output_scalars", 7, "expected a list of patterns or null"),
    ("output_scalars", ["(unclosed"], "field 'output_scalars'"),
    ("host", "\ud800", "is not valid Unicode text"),
]


@pytest.mark.parametrize("field,value,problem", HOSTILE_FIELDS,
                         ids=[f"{f}-{i}" for i, (f, _v, _p) in enumerate(HOSTILE_FIELDS)])
def test_import_of_one_bad_and_nine_good_runs(cli, home, tmp_path, field, value, problem):
    archive = tmp_path / "archive"
    bad, good = archive_with(archive, good_meta(**{field: value}))
    result = cli("import", str(archive), "-y")
    assert result.exit_code == 1
    assert "Imported 9 run(s)" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rundb:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"rundb: cannot import {bad}: {bad}: ")
    if problem != "flag 'lr': 2**70":
        assert problem in errors[0]
    assert f"field '{field}'" in errors[0]
    # Nothing of the bad run is left behind: no directory, no staging area, no rows.
    assert sorted(os.listdir(home.runs_dir)) == sorted(good)
    assert [n for n in os.listdir(home.path) if n not in ("runs", "trash")
            and not n.startswith("index.db")] == []
    assert sorted(r.id for r in api.runs(home)) == sorted(good)
    check = cli("index", "check")
    assert check.exit_code == 0, check.output


def test_import_of_unparseable_documents(cli, home, tmp_path):
    archive = tmp_path / "archive"
    bads = [archive_run(archive, text) for text in (
        "[" * 100000 + "]" * 100000,  # nested too deeply for the decoder
        '"just a string"',
        "[]",
        "null",
        "\xff\xfe",
        '{"id": "%s", "created": 1%s}' % ("a" * 32, "0" * 5000),  # beyond int() of a str
    )]
    for _ in range(3):
        archive_run(archive, good_meta())
    result = cli("import", str(archive), "-y")
    assert result.exit_code == 1
    assert "Imported 3 run(s)" in result.stderr
    for bad in bads:
        assert f"rundb: cannot import {bad}: {bad}: " in result.stderr
    assert len(os.listdir(home.runs_dir)) == 3
    assert cli("index", "check").exit_code == 0


def test_import_move_of_a_bad_run_leaves_it_in_the_archive(cli, home, tmp_path):
    archive = tmp_path / "archive"
    bad, good = archive_with(archive, good_meta(status="bogus"), good=2)
    before = read_bytes(os.path.join(bad, ".rundb", "meta.json"))
    result = cli("import", str(archive), "--move", "-y")
    assert result.exit_code == 1
    assert os.listdir(archive / "runs") == [os.path.basename(bad)]
    assert read_bytes(os.path.join(bad, ".rundb", "meta.json")) == before
    assert sorted(os.listdir(home.runs_dir)) == sorted(good)


def test_failed_import_as_a_subprocess_prints_no_traceback(home, tmp_path):
    from conftest import rundb_proc

    archive = tmp_path / "archive"
    archive_with(archive, good_meta(created=10**30, label=["x"]), good=1)
    proc = rundb_proc("import", str(archive), "-y", home=home, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "field 'created'" in proc.stderr


def test_an_export_directory_with_hostile_runs_is_a_home_that_still_rebuilds(cli, tmp_path):
    # An export directory *is* a home: rebuild and check it directly.
    archive = tmp_path / "archive"
    bad, good = archive_with(archive, good_meta(status="bogus", created="x"), good=3)
    other = Home(str(archive))
    result = cli("-H", other.path, "index", "rebuild")
    assert result.exit_code == 1
    assert f"{bad}: invalid meta.json: field 'status'" in result.stderr
    assert sorted(r.id for r in api.runs(other)) == sorted(good)
    check = cli("-H", other.path, "index", "check")
    assert check.exit_code == 1
    assert f"cannot read run: {bad}: invalid meta.json: field 'status'" in check.stdout + \
        check.stderr


# --- the same for Guild AI homes (`rundb import --guild`) -------------------------------------


def test_guild_import_never_writes_through_a_symlinked_guild_dir(cli, home, tmp_path):
    # Converting a Guild run rewrites .guild/output.index (as .rundb/output.index); with
    # .guild a link to a directory elsewhere, that write landed there.
    import struct

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "output").write_bytes(b"loss: 1\n")
    (outside / "output.index").write_bytes(struct.pack("!QB", 1, 0))
    (outside / "opref").write_text("guildfile:'/p/guild.yml' 'abc' '' train\n")
    run_dir = tmp_path / "guild" / "runs" / ("e" * 32)
    run_dir.mkdir(parents=True)
    os.symlink(outside, run_dir / ".guild")
    before = tree(outside)
    result = cli("import", "--guild", str(tmp_path / "guild"), "-y")
    assert result.exit_code == 1
    assert ".guild is a symlink" in result.stderr
    assert tree(outside) == before
    assert read_bytes(outside / "output.index") == struct.pack("!QB", 1, 0)
    assert os.listdir(home.runs_dir) == []


def test_guild_import_refuses_run_names_that_are_not_ids(cli, home, tmp_path):
    run_dir = tmp_path / "guild" / "runs" / "not-an-id"
    (run_dir / ".guild" / "attrs").mkdir(parents=True)
    result = cli("import", "--guild", str(tmp_path / "guild"), "-y")
    assert result.exit_code == 1
    assert "'not-an-id' is not a run id" in result.stderr
    assert os.listdir(home.runs_dir) == []
