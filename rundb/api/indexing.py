"""The index as a whole: rebuild it from run directories, check it against them."""


def rebuild_index(home, progress=None, waiting=None):
    """Recreate the index from run directories; returns RebuildResult(indexed, errors).

    Live runs are waited for (``waiting()`` is called first if there are any).

    :raises HomeNotFound: there is no home at ``home.path``.
    :raises HomeReadOnly: the home cannot be written.
    """
    from ..errors import HomeNotFound, HomeReadOnly
    from ..index.rebuild import rebuild

    if not home.exists():
        raise HomeNotFound(f"no rundb home at {home.path}")
    if not home.writable():
        raise HomeReadOnly(f"rundb home {home.path} is read-only")
    return rebuild(home, progress, waiting)


def check_index(home):
    """Differences between the index and the run directories (empty when they agree)."""
    from ..index.db import open_home_index
    from ..index.rebuild import check

    with open_home_index(home) as index:
        return check(home, index)


def index_info(home):
    """Which index ``home`` uses: ``{"backend", "url", "schema_version", "counts"}``, the
    URL with any password masked.

    :raises IndexConnectionError: a PostgreSQL server cannot be reached or refuses us.
    :raises IndexSchemaError: the index has a newer schema, or an unknown URL scheme.
    """
    from ..index import reader
    from ..index.db import open_home_index, schema_version
    from ..index.url import mask

    with open_home_index(home) as index:
        return {
            "backend": index.backend,
            "url": mask(index.path),
            "schema_version": schema_version(index),
            "counts": reader.index_counts(index),
        }
