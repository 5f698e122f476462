"""Records: ``@record`` does for a class what ``@dataclass`` does, without its import cost.

``import dataclasses`` imports ``inspect`` (and with it ast, dis, tokenize, enum, re):
about 15 ms, as long as a small ``rundb select`` takes beyond Python and sqlite3 together;
and each ``@dataclass`` compiles generated source. The records on every command's path
(the run, the catalog, the run filter, the query AST) use ``@record`` instead: the same
class body (annotated fields, defaults, :func:`field` with ``default_factory``,
``compare`` and ``repr``, ``__post_init__``), the same ``__init__``, ``repr``, ``==``,
``hash`` and ``frozen``, generated from one generic implementation rather than compiled.
:func:`replace`, :func:`fields` and :func:`asdict` take records and dataclasses alike.

>>> @record(frozen=True)
... class Point:
...     x: int
...     y: int = 0
...     tag: str = field(default="", compare=False, repr=False)
>>> p = Point(1, y=2)
>>> p, p == Point(1, 2, tag="b"), replace(p, y=5), asdict(p)
(Point(x=1, y=2), True, Point(x=1, y=5), {'x': 1, 'y': 2, 'tag': ''})
>>> p.x = 3
Traceback (most recent call last):
rundb.record.FrozenInstanceError: cannot assign to field 'x'
"""

MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (as ``dataclasses.FrozenInstanceError``)."""


class Field:
    """One field of a record: its name, default (or factory) and whether ``==`` and
    ``repr`` show it."""

    __slots__ = ("name", "default", "default_factory", "compare", "repr")

    def __init__(self, default=MISSING, default_factory=MISSING, compare=True, repr=True):
        self.name = None
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr

    def __repr__(self):
        return f"Field(name={self.name!r})"


def field(*, default=MISSING, default_factory=MISSING, compare=True, repr=True):
    """A field with options, as ``dataclasses.field`` takes them."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, compare, repr)


def record(cls=None, *, frozen=False):
    """Make ``cls`` a record (``@record`` or ``@record(frozen=True)``)."""

    def wrap(cls):
        return _process(cls, frozen)

    return wrap if cls is None else wrap(cls)


def _process(cls, frozen):
    fields = list(getattr(cls, "__record_fields__", ()))
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name = name
        if isinstance(value, Field):
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        fields = [old for old in fields if old.name != name] + [f]
    required_after_default = False
    for f in fields:
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if required_after_default and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        required_after_default = required_after_default or has_default
    fields = tuple(fields)
    cls.__record_fields__ = fields
    cls.__match_args__ = tuple(f.name for f in fields)
    methods = _methods(fields, frozen)
    own = cls.__dict__
    for name, method in methods.items():
        if name == "__hash__":
            explicit = own.get("__hash__", MISSING)
            if explicit is not MISSING and not (explicit is None and "__eq__" in own):
                continue  # a hash the class wrote itself stays
        elif name in own:
            continue
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, method)
    if not frozen:
        cls.__hash__ = None if own.get("__hash__", None) is None else own["__hash__"]
    return cls


def _methods(fields, frozen):
    names = frozenset(f.name for f in fields)
    compared = tuple(f.name for f in fields if f.compare)
    shown = tuple(f.name for f in fields if f.repr)
    count = len(fields)

    def __init__(self, *args, **kwargs):
        if len(args) > count:
            raise TypeError(f"{type(self).__name__}() takes {count} positional arguments "
                            f"but {len(args)} were given")
        for name in kwargs:
            if name not in names:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword "
                                f"argument {name!r}")
        values = self.__dict__
        for i, f in enumerate(fields):
            if i < len(args):
                if f.name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got multiple values for "
                                    f"argument {f.name!r}")
                values[f.name] = args[i]
            elif f.name in kwargs:
                values[f.name] = kwargs[f.name]
            elif f.default is not MISSING:
                values[f.name] = f.default
            elif f.default_factory is not MISSING:
                values[f.name] = f.default_factory()
            else:
                raise TypeError(f"{type(self).__name__}() missing required argument "
                                f"{f.name!r}")
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __repr__(self):
        return (f"{type(self).__qualname__}("
                + ", ".join(f"{name}={getattr(self, name)!r}" for name in shown) + ")")

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (tuple(getattr(self, n) for n in compared)
                    == tuple(getattr(other, n) for n in compared))
        return NotImplemented

    methods = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__}
    if frozen:
        def __hash__(self):
            return hash(tuple(getattr(self, n) for n in compared))

        def __setattr__(self, name, value):
            raise FrozenInstanceError(f"cannot assign to field {name!r}")

        def __delattr__(self, name):
            raise FrozenInstanceError(f"cannot delete field {name!r}")

        methods.update(__hash__=__hash__, __setattr__=__setattr__, __delattr__=__delattr__)
    return methods


def is_record(obj):
    "True for a record class or instance."
    return hasattr(obj, "__record_fields__")


def fields(obj):
    """The :class:`Field` s of a record (class or instance), or a dataclass's fields."""
    if is_record(obj):
        return obj.__record_fields__
    import dataclasses

    return dataclasses.fields(obj)


def replace(obj, **changes):
    """A copy of a record (or a dataclass instance) with ``changes``."""
    if not is_record(obj) or isinstance(obj, type):
        import dataclasses

        return dataclasses.replace(obj, **changes)
    for f in obj.__record_fields__:
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def asdict(obj):
    """A record's fields as a dict, nested records, lists and dicts copied as
    ``dataclasses.asdict`` copies them."""
    if not is_record(obj) or isinstance(obj, type):
        import dataclasses

        return dataclasses.asdict(obj)
    return {f.name: _copied(getattr(obj, f.name)) for f in obj.__record_fields__}


def _copied(value):
    if is_record(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_copied(v) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(_copied(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_copied(k), _copied(v)) for k, v in value.items())
    import copy

    return copy.deepcopy(value)
