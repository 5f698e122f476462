"""Columns checked against the index's catalog before a query runs: a typo is caught
(``unknown scalar 'val_los'; did you mean val_loss?``) rather than answered with blanks."""

from ..catalog import RUN_ATTRS, Catalog, ScalarKey  # noqa: F401 - Catalog, ScalarKey: doctests


def unknown_column(col, catalog):
    """Why ``col`` (an AST column) names nothing the index knows, or None if it is known.

    The message names the closest known names, so a typo is caught rather than answered
    with blanks: ``unknown scalar 'val_los'; did you mean val_loss?``.

    >>> from rundb.query.ast import Flag, Scalar
    >>> c = Catalog([ScalarKey(1, ".rundb", "val_loss")], {"lr": 1})
    >>> unknown_column(Scalar("val_los", "min"), c)
    "unknown scalar 'val_los'; did you mean val_loss?"
    >>> unknown_column(Flag("lr"), c) is None, unknown_column(Scalar("val_.+"), c) is None
    (True, True)
    """
    from . import ast

    scalars = sorted({k.name for k in catalog.scalar_keys})
    flags = sorted(catalog.flag_names)
    attrs = sorted({*RUN_ATTRS, *catalog.attr_names})
    from .compiler import is_glob

    if isinstance(col, ast.Scalar) and not catalog.keys_named(col.key) and is_glob(col.key):
        import fnmatch

        if any(fnmatch.fnmatchcase(n, col.key) for n in scalars):
            return None
        return f"no scalar matches the pattern '{col.key}'"
    if isinstance(col, ast.Flag) and col.name not in catalog.flag_names and is_glob(col.name):
        import fnmatch

        if any(fnmatch.fnmatchcase(n, col.name) for n in flags):
            return None
        return f"no flag matches the pattern '{col.name}'"
    if isinstance(col, ast.Scalar):
        if catalog.keys_named(col.key):
            return None
        if set(".^$*+?{}[]|()\\").intersection(col.key):
            import re

            try:
                pattern = re.compile(col.key)
            except re.error:
                pattern = None
            if pattern is not None and any(pattern.fullmatch(n) for n in scalars):
                return None
        kind, name, known = "scalar", col.key, scalars
    elif isinstance(col, ast.Flag):
        if col.name in catalog.flag_names:
            return None
        kind, name, known = "flag", col.name, flags
    elif isinstance(col, ast.Attr):
        if col.name in attrs:
            return None
        kind, name, known = "attribute", col.name, attrs
    elif isinstance(col, ast.Name):
        if col.name in attrs or col.name in catalog.flag_names or catalog.keys_named(col.name):
            return None
        kind, name, known = "column", col.name, scalars + flags
    else:
        return None
    return f"unknown {kind} '{name}'{_did_you_mean(name, known)}"


def _did_you_mean(name, known):
    import difflib

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close and name:
        low = name.lower()
        close = [k for k in known if low in k.lower() or k.lower() in low][:3]
    return f"; did you mean {' or '.join(close)}?" if close else ""


def columns_of(expr):
    """The columns an expression (a filter or WHERE) reads, in order."""
    from . import ast

    if isinstance(expr, (ast.And, ast.Or)):
        return columns_of(expr.left) + columns_of(expr.right)
    if isinstance(expr, ast.Not):
        return columns_of(expr.expr)
    col = getattr(expr, "col", None)
    return [col] if col is not None else []
