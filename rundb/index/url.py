"""Where an index lives: a file path (SQLite, the default) or a ``postgresql://`` URL.

Pure string work, imported by every command that opens an index: no driver here.

>>> is_postgres("postgresql://ann:secret@db.lab:5432/runs")
True
>>> mask("postgresql://ann:secret@db.lab:5432/runs")
'postgresql://ann:***@db.lab:5432/runs'
>>> mask("/home/ann/.rundb/index.db")
'/home/ann/.rundb/index.db'
"""

from ..errors import IndexSchemaError

#: URL schemes naming a PostgreSQL server (libpq accepts both).
POSTGRES_SCHEMES = ("postgresql", "postgres")

_SCHEME = r"^([A-Za-z][A-Za-z0-9+.-]*)://"
_PASSWORD = r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):([^@/]*)@"


def scheme(location):
    """The URL scheme of *location* (lower case), or None for a plain path."""
    if "://" not in (location or ""):
        return None  # a path: no regex needed (opening a file index never imports re)
    import re

    m = re.match(_SCHEME, location)
    return m.group(1).lower() if m else None


def is_postgres(location):
    return scheme(location) in POSTGRES_SCHEMES


def check(location):
    """*location* unchanged if rundb can open it; a SQLite path may be ``sqlite:///PATH``.

    :raises IndexSchemaError: an unknown URL scheme.
    """
    name = scheme(location)
    if name is None or name in POSTGRES_SCHEMES:
        return location
    if name == "sqlite":
        return location[len("sqlite://"):]
    raise IndexSchemaError(
        f"unknown index URL scheme '{name}' in {mask(location)}: "
        "use postgresql://USER@HOST:PORT/DATABASE or a path to an SQLite file"
    )


def sqlite_path(location):
    """The file path of an SQLite *location* (``sqlite:///x.db`` or ``x.db``)."""
    return check(location)


def mask(location):
    """*location* with any password replaced by ``***`` (for messages and ``index info``)."""
    if location is None:
        return location
    import re

    return re.sub(_PASSWORD, lambda m: f"{m.group(1)}:***@", location)
