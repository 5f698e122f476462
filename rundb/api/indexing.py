"""The index as a whole: rebuild it from run directories, check it against them."""


def rebuild_index(home, progress=None, waiting=None, jobs=None):
    """Recreate the index from run directories; returns RebuildResult(indexed, errors).

    The directories are read by ``jobs`` processes (None: one per CPU for a home of
    thousands of runs, else this process alone); this process alone writes.

    Live runs are waited for (``waiting()`` is called first if there are any). On a
    shared (PostgreSQL) index, the runs whose directories this machine sees are
    re-indexed from them; other hosts' runs are left as they are.

    :raises HomeNotFound: there is no home at ``home.path``.
    :raises HomeReadOnly: the home cannot be written.
    """
    from ..errors import HomeNotFound, HomeReadOnly
    from ..index.rebuild import rebuild

    if not home.exists():
        raise HomeNotFound(f"no rundb home at {home.path}")
    if not home.writable():
        raise HomeReadOnly(f"rundb home {home.path} is read-only")
    return rebuild(home, progress, waiting, jobs)


def check_index(home, progress=None, jobs=None):
    """Differences between the index and the run directories (empty when they agree).

    :param progress: called as ``progress(done, total)`` while the run directories are read.
    :param jobs: processes reading them, as for :func:`rebuild_index`.
    """
    from ..index.db import open_home_index
    from ..index.rebuild import check

    with open_home_index(home) as index:
        return check(home, index, progress, jobs)


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


def push_index(home, url, progress=None):
    """Copy the runs of ``home``'s own SQLite index into the index at ``url`` (a shared
    PostgreSQL index), by run id: new runs are added, changed ones updated, the rest
    left alone. Returns a :class:`~rundb.index.merge.MergeResult`."""
    return _merge(home.index_path, url, home, progress)


def pull_index(home, url, progress=None):
    """Copy the runs of the index at ``url`` into ``home``'s own SQLite index, by run id
    (the reverse of :func:`push_index`; run directories stay where they are)."""
    return _merge(url, home.index_path, home, progress)


def _merge(src_location, dest_location, home, progress):
    from ..index.db import open_index
    from ..index.merge import merge_runs
    from ..index.url import check

    check(src_location), check(dest_location)
    home.ensure()
    src = open_index(src_location)
    try:
        dest = open_index(dest_location)
        try:
            src.home_dir = dest.home_dir = home.path
            return merge_runs(src, dest, progress=progress)
        finally:
            dest.close()
    finally:
        src.close()


def index_error(home, error):
    """The one-line :class:`~rundb.errors.RundbError` for a database error (an
    ``sqlite3.Error``) on the index of ``home`` (None: an unknown home)."""
    from ..index.db import damaged

    return damaged(home.index_path if home is not None else "index.db", error)


def masked_url(location):
    """An index location as messages show it (a URL's password hidden)."""
    from ..index.url import mask

    return mask(location)
