"""One line for any error that reaches the CLI's boundary (see RundbGroup.invoke)."""

import sqlite3


def one_line(error, home=None):
    """The text after ``rundb: `` for an error that is not a RundbError."""
    if isinstance(error, OSError):
        return _os_error(error, home)
    if isinstance(error, sqlite3.Error):
        return _db_error(error, home)
    return (f"internal error: {type(error).__name__}: {error} "
            f"(run with --debug or RUNDB_DEBUG=1 for the traceback)")


def _os_error(e, home):
    what = e.strerror or str(e) or type(e).__name__
    if e.filename is not None:
        where = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 is not None else "")
        return f"{what}: {where}"
    if home is not None:
        return f"{what} (rundb home {home.path})"
    return what


def _db_error(e, home):
    from rundb import api

    return str(api.index_error(home, e))
