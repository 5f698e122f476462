"""What the index knows about: scalar keys and flag names, for resolving query columns.

The compiler expands regex keys and bare names against a ``Catalog``; the index reader
builds one from the ``scalar_key`` and ``flag_name`` tables (both small, interned), with
the index's SQL dialect. Also how users name scalars (``loss``, ``val#acc``).
"""

from .record import field, record

from .run import RUN_ATTRS  # noqa: F401 - defined with the run record

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


@record(frozen=True)
class ScalarKey:
    id: int
    prefix: str
    tag: str

    @property
    def name(self):
        return scalar_key_name(self.prefix, self.tag)




@record
class Catalog:
    """Known scalar keys and flag names (ids as stored in the index)."""

    scalar_keys: list = field(default_factory=list)  # [ScalarKey]
    flag_names: dict = field(default_factory=dict)  # name -> flag_name.id
    attr_names: set = field(default_factory=set)  # names in run_attr
    #: The SQL dialect of the index it was loaded from (rundb.query.dialect.Dialect).
    dialect: object = field(default=None, compare=False, repr=False)

    def keys_named(self, name):
        """Scalar keys a written name refers to: ``prefix#tag`` exactly, a bare tag in
        the output prefix first, then the root prefix."""
        prefix, tag = split_scalar_key(name)
        if prefix is not None:
            return [k for k in self.scalar_keys if k.prefix == prefix and k.tag == tag]
        found = [k for k in self.scalar_keys if k.tag == tag and k.prefix in BARE_PREFIXES]
        return sorted(found, key=lambda k: BARE_PREFIXES.index(k.prefix))


def decode_scalar(value, step=0):
    """A stored scalar value as Python reads it: NULL beside a step is NaN (the rule of
    rundb/index/schema.py; SQLite cannot hold a NaN REAL).

    >>> decode_scalar(None, 3), decode_scalar(None, None), decode_scalar(float("inf"), 3)
    (nan, None, inf)
    """
    if value is None and step is not None:
        return float("nan")
    return value
