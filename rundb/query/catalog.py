"""What the index knows about: scalar keys and flag names, for resolving query columns.

The compiler expands regex keys and bare names against a ``Catalog``; the index reader
builds one from the ``scalar_key`` and ``flag_name`` tables (both small, interned).
"""

from dataclasses import dataclass, field

#: Prefix of scalars parsed from a run's output or logged through the Python API.
OUTPUT_PREFIX = ".rundb"

#: Prefixes whose scalars are named by their bare tag (``loss``, not ``.rundb#loss``).
BARE_PREFIXES = (OUTPUT_PREFIX, "")


def scalar_key_name(prefix, tag):
    """The name users write for a scalar: ``tag`` or ``prefix#tag``.

    >>> scalar_key_name(".rundb", "loss"), scalar_key_name("val", "acc")
    ('loss', 'val#acc')
    """
    return tag if prefix in BARE_PREFIXES else f"{prefix}#{tag}"


def split_scalar_key(name):
    """Split ``prefix#tag`` into (prefix, tag); a bare tag gives (None, tag).

    >>> split_scalar_key("val#acc"), split_scalar_key("loss")
    (('val', 'acc'), (None, 'loss'))
    """
    if "#" in name:
        prefix, tag = name.split("#", 1)
        return prefix, tag
    return None, name


@dataclass(frozen=True)
class ScalarKey:
    id: int
    prefix: str
    tag: str

    @property
    def name(self):
        return scalar_key_name(self.prefix, self.tag)


#: Attributes every run has as a column of the ``run`` table (plus derived ones).
RUN_ATTRS = (
    "id",
    "short_id",
    "run",
    "op",
    "operation",
    "status",
    "created",
    "started",
    "stopped",
    "time",
    "exit_status",
    "label",
    "comment",
    "marked",
    "parent",
    "sourcecode",
    "sourcecode_digest",
    "host",
    "user",
    "pid",
    "tags",
    "deleted",
)


@dataclass
class Catalog:
    """Known scalar keys and flag names (ids as stored in the index)."""

    scalar_keys: list = field(default_factory=list)  # [ScalarKey]
    flag_names: dict = field(default_factory=dict)  # name -> flag_name.id
    attr_names: set = field(default_factory=set)  # names in run_attr

    def keys_named(self, name):
        """Scalar keys a written name refers to: ``prefix#tag`` exactly, a bare tag in
        the output prefix first, then the root prefix."""
        prefix, tag = split_scalar_key(name)
        if prefix is not None:
            return [k for k in self.scalar_keys if k.prefix == prefix and k.tag == tag]
        found = [k for k in self.scalar_keys if k.tag == tag and k.prefix in BARE_PREFIXES]
        return sorted(found, key=lambda k: BARE_PREFIXES.index(k.prefix))

    @classmethod
    def from_connection(cls, conn):
        """Read the catalog from an index connection (three small SELECTs)."""
        cur = conn.cursor()
        cur.row_factory = None
        keys = [ScalarKey(*row) for row in cur.execute("SELECT id, prefix, tag FROM scalar_key")]
        flags = dict(cur.execute("SELECT name, id FROM flag_name").fetchall())
        attrs = {row[0] for row in cur.execute("SELECT DISTINCT name FROM run_attr")}
        return cls(keys, flags, attrs)


def unknown_column(col, catalog):
    """Why ``col`` (an AST column) names nothing the index knows, or None if it is known.

    The message names the closest known names, so a typo is caught rather than answered
    with blanks: ``unknown scalar 'val_los'; did you mean val_loss?``.

    >>> from .ast import Flag, Scalar
    >>> c = Catalog([ScalarKey(1, ".rundb", "val_loss")], {"lr": 1})
    >>> unknown_column(Scalar("val_los", "min"), c)
    "unknown scalar 'val_los'; did you mean val_loss?"
    >>> unknown_column(Flag("lr"), c) is None, unknown_column(Scalar("val_.+"), c) is None
    (True, True)
    """
    import re

    from . import ast

    scalars = sorted({k.name for k in catalog.scalar_keys})
    flags = sorted(catalog.flag_names)
    attrs = sorted({*RUN_ATTRS, *catalog.attr_names})
    if isinstance(col, ast.Scalar):
        if catalog.keys_named(col.key):
            return None
        if set(".^$*+?{}[]|()\\").intersection(col.key):
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
