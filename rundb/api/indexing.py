"""The index as a whole: rebuild it from run directories, check it against them."""


def rebuild_index(home, progress=None):
    """Recreate the index from run directories; returns RebuildResult(indexed, errors)."""
    from ..index.rebuild import rebuild

    return rebuild(home, progress)


def check_index(home):
    """Differences between the index and the run directories (empty when they agree)."""
    from ..index.rebuild import check

    home.ensure()
    return check(home)
