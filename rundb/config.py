"""Operations and flag definitions from a project's ``rundb.yml``.

Two forms are read. The simplified form is a mapping of operation names to
operation definitions, all belonging to the anonymous model ``''``::

    train:
      main: train --epochs 3
      flags:
        lr: 0.01
        layers: {default: 2, choices: [1, 2, 3]}

The full form is a list of typed entries: ``- model: NAME`` (with
``operations``, ``operation-defaults``, ``extends``, ``params``, ``default``),
``- config: NAME`` (data that models ``extends`` or ``$include``), and
``- package`` / ``- include``, which rundb ignores. An entry with
``operations`` but no type is the anonymous model.

``load_config(dir)`` returns a :class:`ProjectConfig`, whose ``ops`` are
:class:`OpDef` objects keyed ``op`` (anonymous model) or ``model:op``. Each op's
flags are :class:`FlagDef` objects; :meth:`OpDef.coerce_flags` merges a run's
flag values with the defaults and checks them.

YAML is imported only when a file is read, so importing this module is cheap.

>>> config = parse_config("train: {main: train, flags: {lr: {default: 0.1, type: float}}}")
>>> op = config.find_op("train")
>>> op.coerce_flags({"lr": "1"})
{'lr': 1.0}
>>> parse_opspec("mnist:train")
('mnist', 'train')
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field

from .errors import FlagError, OpError

__all__ = [
    "CONFIG_NAMES",
    "FlagDef",
    "ModelDef",
    "OpDef",
    "ProjectConfig",
    "Required",
    "coerce_flag_value",
    "load_config",
    "parse_config",
    "parse_opspec",
]

#: File names looked for in a project directory, in order.
CONFIG_NAMES = ("rundb.yml", "rundb.yaml")

_ITEM_TYPES = ("config", "include", "model", "package")

# rundb.yml flag attribute -> FlagDef field. Anything else goes to FlagDef.extra.
_FLAG_ATTRS = {
    "description": "description",
    "default": "default",
    "required": "required",
    "type": "type",
    "arg-name": "arg_name",
    "arg-skip": "arg_skip",
    "arg-switch": "arg_switch",
    "env-name": "env_name",
    "min": "min",
    "max": "max",
    "null-label": "null_label",
    "allow-other": "allow_other",
}

_OP_ATTRS = {
    "description", "main", "exec", "flags", "flags-import", "flags-import-skip",
    "flags-dest", "output-scalars", "compare", "objective", "optimizer",
    "optimizers", "label", "tags", "env", "env-secrets", "sourcecode", "default",
    "requires", "sys-metrics",
}  # fmt: skip

# Names of the entry itself are never inherited through `extends`.
_NOT_INHERITED = {"model", "config", "extends", "default"}

_NOT_FOUND_HINT = "Try 'rundb operations' for a list of available operations."

# A search-space value such as `[1:2]`, `uniform[0:1]` or `loguniform[1e-4:1e-1:1e-3]`.
_FUNCTION_RE = re.compile(r"^([A-Za-z0-9_.\-]*)\[(.*)\]$", re.S)

_PARAM_RE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")

_OPSPEC_RE = re.compile(r"^(?:([^/:]*)/)?(?:([^/:]*):)?([^/:]+)$")


class _DataError(Exception):
    """Bad rundb.yml content; turned into ``OpError("error in PATH: ...")``."""


# ---------------------------------------------------------------------------
# Flag definitions


@dataclass
class FlagDef:
    """A flag an operation accepts: its default, type, choices and checks."""

    name: str
    default: object = None
    description: str = ""
    #: choice values; a choice given as ``{value:, description:, flags:}`` adds
    #: its description to ``choice_descriptions`` and its flags to ``choice_flags``
    choices: list | None = None
    #: choice value -> ``{other flag: value}`` applied when the choice is selected
    choice_flags: dict = field(default_factory=dict)
    choice_descriptions: dict = field(default_factory=dict)
    required: bool = False
    #: float int number boolean string path existing-path (others: no coercion)
    type: str | None = None
    arg_name: str | None = None
    arg_skip: bool = False
    arg_switch: object = None
    env_name: str | None = None
    min: object = None
    max: object = None
    null_label: str | None = None
    #: accept values outside ``choices``
    allow_other: bool = False
    #: attributes rundb does not know (``distribution``, ...)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_data(cls, name, data):
        """A flag def from its rundb.yml value: a mapping of attributes, or a default.

        :raises OpError: for invalid ``choices`` data.
        """
        try:
            return _flagdef(name, data)
        except _DataError as e:
            raise OpError(str(e)) from None

    def flags_for_choice(self, value):
        """The other flag values that choosing ``value`` sets (empty if none)."""
        return self.choice_flags.get(_hashable(value), {})


def _flagdef(name, data):
    if not isinstance(data, dict):
        return FlagDef(name=name, default=data)
    fd = FlagDef(name=name)
    for key, value in data.items():
        attr = _FLAG_ATTRS.get(key)
        if attr:
            setattr(fd, attr, value)
        elif key != "choices":
            fd.extra[key] = value
    fd.description = _text(fd.description)
    fd.required = bool(fd.required)
    fd.arg_skip = bool(fd.arg_skip)
    fd.allow_other = bool(fd.allow_other)
    if fd.type is not None:
        fd.type = str(fd.type)
    if "choices" in data:
        _apply_choices(fd, data["choices"])
    return fd


def _apply_choices(fd, data):
    if data is None:
        return
    if not isinstance(data, list):
        raise _DataError(
            f"invalid flag choice data {data!r}: expected a list of values or mappings"
        )
    fd.choices = []
    for choice in data:
        if not isinstance(choice, dict):
            fd.choices.append(choice)
            continue
        if "value" not in choice:
            raise _DataError(f"invalid flag choice {choice!r}: missing 'value'")
        value = choice["value"]
        fd.choices.append(value)
        if choice.get("description"):
            fd.choice_descriptions[_hashable(value)] = _text(choice["description"])
        if choice.get("flags"):
            if not isinstance(choice["flags"], dict):
                raise _DataError(
                    f"invalid flags for choice {value!r} of flag '{fd.name}': "
                    "expected a mapping"
                )
            fd.choice_flags[_hashable(value)] = {str(k): v for k, v in choice["flags"].items()}


def _hashable(value):
    # Choice values key dicts; a list value is keyed by the equal tuple.
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


# ---------------------------------------------------------------------------
# Flag value coercion


def coerce_flag_value(value, flagdef):
    """Return ``value`` converted to ``flagdef.type``.

    ``float`` accepts ints and number strings (``"nan"`` too), ``int`` accepts
    ints and int strings (never floats, not even ``1.0``), ``number`` keeps ints and
    floats, ``boolean`` is Python truth (``0`` and ``""`` are false, any other
    string true), ``string`` and ``path`` give strings. Lists are batch values:
    each element is coerced. ``None`` and search-space strings (``[1:2]``,
    ``uniform[0:1]``) are returned unchanged, as is every value for a flag with
    no type or an unknown one.

    >>> coerce_flag_value("1.1", FlagDef("lr", type="float"))
    1.1
    >>> coerce_flag_value(1.0, FlagDef("n", type="int"))
    Traceback (most recent call last):
    rundb.errors.FlagError: invalid value for type 'int'

    :raises FlagError: ``invalid value for type 'TYPE'``.
    """
    try:
        return _coerce(value, flagdef.type)
    except _BadValue:
        raise FlagError(f"invalid value for type '{flagdef.type}'") from None


class _BadValue(Exception):
    "A value (or list element, in ``.value``) that cannot be coerced."

    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _coerce(value, flag_type):
    if isinstance(value, list):
        return [_coerce(v, flag_type) for v in value]
    if value is None or flag_type is None or _is_search_spec(value):
        return value
    coerce = _COERCERS.get(flag_type)
    if coerce is None:
        return value
    try:
        return coerce(value)
    except (TypeError, ValueError):
        raise _BadValue(value) from None


def _to_float(value):
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise TypeError(value)


def _to_int(value):
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value)
    raise TypeError(value)


def _to_number(value):
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return float(value)
    raise TypeError(value)


def _to_string(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TypeError(value)


def _to_path(value):
    return os.path.expanduser(_to_string(value))


def _to_existing_path(value):
    path = _to_path(value)
    if not os.path.exists(path):
        raise ValueError(path)
    return path


_COERCERS = {
    "float": _to_float,
    "int": _to_int,
    "number": _to_number,
    "boolean": bool,
    "string": _to_string,
    "path": _to_path,
    "existing-path": _to_existing_path,
}


def _is_search_spec(value):
    # Function-shaped strings are search spaces for a batch: neither their type
    # nor their choices can be checked here.
    if not isinstance(value, str):
        return False
    m = _FUNCTION_RE.match(value.strip())
    return bool(m) and (bool(m.group(1)) or ":" in m.group(2))


def _show(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "null"
    return str(value)


# ---------------------------------------------------------------------------
# Operations


@dataclass
class OpDef:
    """An operation: what it runs and the flags, scalars and optimizers it declares."""

    name: str
    model: str = ""
    description: str = ""
    #: Python module to run, optionally followed by arguments
    main: str | None = None
    #: any command line
    exec: str | None = None
    #: flag name -> FlagDef, sorted by name
    flags: dict = field(default_factory=dict)
    #: None (not set), True (all), False (none) or a list of flag names
    flags_import: object = None
    flags_import_skip: list = field(default_factory=list)
    #: "args", "globals" or "global:NAME"
    flags_dest: str | None = None
    #: the file's output-scalars config as written (None: the defaults)
    output_scalars: object = None
    #: compare column specs
    compare: list | None = None
    #: "loss", {"minimize": "loss"} or {"maximize": "acc"}
    objective: object = None
    #: optimizer name -> {"algorithm": ..., flag: value, ...}, sorted by name
    optimizers: dict = field(default_factory=dict)
    #: name of the optimizer marked ``default: yes`` (see default_optimizer_name)
    optimizer_default: str | None = None
    label: str | None = None
    tags: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    env_secrets: list = field(default_factory=list)
    sourcecode: object = None
    default: bool = False
    #: project files linked or copied into the run directory (rundb.ops.requires.Required)
    requires: list = field(default_factory=list)
    #: sample CPU, memory and GPU use into sys/* scalars while the run runs
    sys_metrics: bool = True
    #: op attributes rundb does not use (``steps``, ...)
    extra: dict = field(default_factory=dict)

    @property
    def fullname(self):
        """``model:op``, or just ``op`` in the anonymous model."""
        return f"{self.model}:{self.name}" if self.model else self.name

    def flag_values(self):
        """Each flag's default value."""
        return {name: fd.default for name, fd in self.flags.items()}

    def merge_flags(self, other):
        """Add the flags of ``other`` this op does not define (ours take precedence)."""
        for name, fd in other.flags.items():
            self.flags.setdefault(name, copy.deepcopy(fd))
        self.flags = dict(sorted(self.flags.items()))

    def default_optimizer_name(self):
        """The name of the optimizer ``--optimize`` uses, or None.

        A single optimizer is always the default; otherwise the one marked
        ``default: yes``; otherwise the lowest name.
        """
        if not self.optimizers:
            return None
        if len(self.optimizers) == 1:
            return next(iter(self.optimizers))
        if self.optimizer_default in self.optimizers:
            return self.optimizer_default
        return min(self.optimizers)

    def default_optimizer(self):
        """``{"algorithm": ..., flag: value, ...}`` of the default optimizer, or None."""
        name = self.default_optimizer_name()
        return dict(self.optimizers[name]) if name is not None else None

    def coerce_flags(self, values, force=False):
        """Return the op's flag values for a run: defaults updated with ``values``.

        Choosing a value whose choice sets other flags applies those flags
        (values the user gives win). Values are coerced to their flag's type and
        checked against choices, ``min``/``max`` and ``required``. With ``force``
        unknown flags pass, values that cannot be coerced stay as given and
        nothing is checked. An op that defines no flags takes any flags as given.
        The result is sorted by flag name.

        :raises FlagError: for an unknown flag, a value of the wrong type, outside
            the choices or the range, or a missing required flag.
        """
        if not self.flags:
            return dict(sorted(values.items()))
        if not force:
            unknown = sorted(name for name in values if name not in self.flags)
            if unknown:
                raise FlagError(self._unsupported_flag_msg(unknown[0]))
        merged = self.flag_values()
        for name, fd in self.flags.items():
            if fd.choice_flags:
                merged.update(fd.flags_for_choice(values.get(name, fd.default)))
        merged.update(values)
        for name, value in merged.items():
            fd = self.flags.get(name)
            if fd is not None:
                merged[name] = _checked_value(fd, value, force)
        if not force:
            missing = [n for n, fd in self.flags.items() if fd.required and merged[n] is None]
            if len(missing) == 1:
                raise FlagError(f"missing required flag '{missing[0]}'")
            if missing:
                names = ", ".join(f"'{n}'" for n in missing)
                raise FlagError(f"missing required flags {names}")
        return dict(sorted(merged.items()))

    def _unsupported_flag_msg(self, name):
        return (
            f"unsupported flag '{name}'\n"
            f"Try 'rundb run {self.fullname} --help-op' for a list of flags or use "
            "--force-flags to skip this check.\n"
            f"Valid flags: {', '.join(sorted(self.flags))}"
        )


def _checked_value(fd, value, force):
    try:
        value = _coerce(value, fd.type)
    except _BadValue as e:
        if force:
            return value
        raise FlagError(
            f"invalid value for type '{fd.type}' in flag '{fd.name}': {e.value!r}"
        ) from None
    if not force:
        for v in value if isinstance(value, list) else [value]:
            if v is None or _is_search_spec(v):
                continue
            _check_choice(fd, v)
            _check_range(fd, v)
    return value


def _check_choice(fd, value):
    if not fd.choices or fd.allow_other or value in fd.choices:
        return
    lines = [f"Unsupported value for '{fd.name}' - supported values are:", ""]
    lines.extend(f"  {_show(choice)}" for choice in fd.choices)
    lines.extend(["", "Run the command again using one of these options."])
    raise FlagError("\n".join(lines))


def _check_range(fd, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    try:
        if fd.min is not None and value < fd.min:
            raise FlagError(
                f"value {_show(value)} for flag '{fd.name}' is out of range "
                f"(less than min {_show(fd.min)})"
            )
        if fd.max is not None and value > fd.max:
            raise FlagError(
                f"value {_show(value)} for flag '{fd.name}' is out of range "
                f"(greater than max {_show(fd.max)})"
            )
    except TypeError:
        # A min or max that is not a number cannot bound anything.
        pass


@dataclass
class ModelDef:
    """A model: a named group of operations (``''`` is the anonymous model)."""

    name: str
    description: str = ""
    default: bool = False
    #: op name -> OpDef, sorted by name
    operations: dict = field(default_factory=dict)

    def default_operation(self):
        """The op marked ``default: yes``, else the only op, else None."""
        for op in self.operations.values():
            if op.default:
                return op
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return None


class ProjectConfig:
    """The models and operations of one ``rundb.yml``."""

    def __init__(self, path, models):
        #: the file read (``<string>`` for text)
        self.path = path
        #: model name -> ModelDef, in file order
        self.models = models
        #: ``op`` (anonymous model) or ``model:op`` -> OpDef
        self.ops = {op.fullname: op for m in models.values() for op in m.operations.values()}

    def __repr__(self):
        return f"<ProjectConfig {self.path!r}>"

    def default_model(self):
        """The model marked ``default: yes``, else the only model, else None."""
        for model in self.models.values():
            if model.default:
                return model
        if len(self.models) == 1:
            return next(iter(self.models.values()))
        return None

    def _implied_model(self):
        # Ops named without a model come from the default model, or else from
        # the anonymous model when the file has one next to named models.
        return self.default_model() or self.models.get("")

    def find_op(self, spec):
        """The op named by ``spec``: ``train``, ``mnist:train`` or ``:train``.

        An empty spec is the default op.

        :raises OpError: ``cannot find operation SPEC`` (with a hint).
        """
        if not spec:
            return self.default_op()
        try:
            model_name, op_name = parse_opspec(spec)
        except OpError:
            model_name, op_name = None, None
        if model_name is None:
            model = self._implied_model()
        else:
            model = self.models.get(model_name)
        op = model.operations.get(op_name) if model else None
        if op is not None:
            return op
        if model_name is None:
            raise OpError(
                f"cannot find operation {spec}\n"
                "You may need to include a model in the form MODEL:OPERATION.\n"
                f"{_NOT_FOUND_HINT}"
            )
        raise OpError(f"cannot find operation {spec}\n{_NOT_FOUND_HINT}")

    def default_op(self):
        """The default op of the default model.

        :raises OpError: ``cannot find a default operation``.
        """
        model = self._implied_model()
        op = model.default_operation() if model else None
        if op is None:
            raise OpError("cannot find a default operation\nTry 'rundb operations' for a list.")
        return op


# ---------------------------------------------------------------------------
# Op specs


def parse_opspec(spec):
    """Split an op spec into ``(model, op)``.

    ``op`` -> ``(None, 'op')`` (model not given), ``:op`` -> ``('', 'op')``
    (the anonymous model), ``model:op``, ``package/op`` -> ``('package/', 'op')``,
    ``package/model:op`` -> ``('package/model', 'op')``. An empty spec is
    ``(None, None)``.

    >>> parse_opspec(":train")
    ('', 'train')

    :raises OpError: for more than one ``:`` or ``/``, or ``/`` after ``:``.
    """
    if not spec:
        return None, None
    m = _OPSPEC_RE.match(spec)
    if not m:
        raise OpError(f"invalid operation spec '{spec}'")
    package, model, op = m.groups()
    if package is not None:
        return f"{package}/{model or ''}", op
    return model, op


# ---------------------------------------------------------------------------
# Loading


def load_config(dir_or_path):
    """Read ``rundb.yml`` (or ``rundb.yaml``) in a directory, or the file given.

    Returns None when there is no such file.

    :raises OpError: when the file cannot be read, is not valid YAML or holds
        invalid definitions (``error in PATH: ...``).
    """
    path = _config_path(dir_or_path)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise OpError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise OpError(f"cannot read {path}: not UTF-8 text") from None
    return parse_config(text, path)


def _config_path(dir_or_path):
    path = os.fspath(dir_or_path)
    if os.path.isdir(path):
        for name in CONFIG_NAMES:
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        return None
    return path if os.path.isfile(path) else None


def parse_config(text, path="<string>"):
    """A :class:`ProjectConfig` from rundb.yml text; ``path`` names it in errors.

    :raises OpError: for invalid YAML or invalid definitions.
    """
    import yaml

    from .flagvals import load_yaml

    try:
        # The flag-value resolver: `lr: 1e-3` here is the float `lr=1e-3` is on the
        # command line.
        data = load_yaml(text)
    except yaml.YAMLError as e:
        raise OpError(_yaml_error(path, e)) from None
    try:
        return ProjectConfig(path, _Builder(data).models())
    except _DataError as e:
        raise OpError(f"error in {path}: {e}") from None


def _yaml_error(path, e):
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if mark is None:
        return f"error in {path}: invalid YAML: {problem}"
    return (
        f"error in {path}: invalid YAML at line {mark.line + 1}, "
        f"column {mark.column + 1}: {problem}"
    )


class _Builder:
    """Turns the YAML data of one file into ModelDefs.

    Entries are normalized first (an op given as a string is its ``main``; a
    flag given as a value is its ``default``) so that ``extends`` can merge them
    key by key. The data of an entry with its parents applied is kept in
    ``self._resolved``.
    """

    def __init__(self, data):
        self._models = []  # names, in file order
        self._entries = {}  # ("model" | "config", name) -> normalized data
        self._resolved = {}
        for item in _items(data):
            kind, name = _item_kind(item)
            if kind in ("package", "include"):
                continue
            if kind == "model":
                if name in self._models:
                    self._models.remove(name)
                self._models.append(name)
            self._entries[(kind, name)] = _normalize_entry(item)

    def models(self):
        return {name: self._model(name) for name in self._models}

    def _model(self, name):
        data = self._entry_data(("model", name))
        ops = self._expand_includes(data.get("operations") or {}, "operations")
        op_defaults = data.get("operation-defaults") or {}
        if "flags" in op_defaults:
            flags = self._expand_includes(op_defaults["flags"], "flags")
            op_defaults = {**op_defaults, "flags": flags}
        model = ModelDef(
            name=name,
            description=_text(data.get("description")),
            default=bool(data.get("default")),
        )
        for op_name in sorted(ops):
            op_data = _with_op_defaults(ops[op_name], op_defaults)
            if "flags" in op_data:
                op_data["flags"] = self._expand_includes(op_data["flags"], "flags")
            model.operations[op_name] = _opdef(name, op_name, op_data)
        return model

    def _entry_data(self, key):
        # The entry with its parents applied and its params substituted.
        data = self._resolve(key, ())
        return _substitute_params(data)

    def _lookup(self, name):
        for kind in ("config", "model"):
            if (kind, name) in self._entries:
                return kind, name
        return None

    def _resolve(self, key, stack):
        if key in self._resolved:
            return self._resolved[key]
        data = copy.deepcopy(self._entries[key])
        stack = (*stack, key)
        for parent in _names(data.pop("extends", None), "extends", key[1]):
            parent_key = self._lookup(parent)
            if parent_key is None:
                raise _DataError(
                    f"undefined model or config '{parent}' in 'extends' of '{key[1]}'"
                )
            if parent_key in stack:
                cycle = [key[1], *(k[1] for k in stack[stack.index(parent_key) : -1]), key[1]]
                raise _DataError(f"cycle in 'extends' ({' -> '.join(cycle)})")
            parent_data = self._resolve(parent_key, stack)
            _apply_parent(
                {k: v for k, v in parent_data.items() if k not in _NOT_INHERITED}, data
            )
        self._resolved[key] = data
        return data

    def _expand_includes(self, mapping, section, seen=()):
        # `$include: NAME` (or a list of names) in a `flags` or `operations`
        # mapping adds that section of config NAME under the local entries.
        if "$include" not in mapping:
            return mapping
        result = {k: v for k, v in mapping.items() if k != "$include"}
        for name in _names(mapping["$include"], "$include", section):
            key = self._lookup(name)
            if key is None:
                raise _DataError(f"undefined model or config '{name}' in '$include'")
            if key in seen:
                raise _DataError(f"cycle in '$include' of '{name}'")
            included = self._entry_data(key).get(section) or {}
            included = self._expand_includes(included, section, (*seen, key))
            _apply_parent(copy.deepcopy(included), result)
        return result


def _items(data):
    if data is None:
        return []
    if isinstance(data, dict):
        return [{"model": "", "operations": data}]
    if not isinstance(data, list):
        raise _DataError(f"invalid rundb.yml data {data!r}: expected a mapping")
    for item in data:
        if not isinstance(item, dict):
            raise _DataError(f"invalid rundb.yml data {item!r}: expected a mapping")
    return data


def _item_kind(item):
    for kind in ("model", "config", "package", "include"):
        if kind in item:
            return kind, _text(item[kind])
    if "operations" in item:
        return "model", ""
    types = ", ".join(_ITEM_TYPES)
    raise _DataError(f"missing required type (one of: {types}) in {item!r}")


def _normalize_entry(item):
    data = dict(item)
    if "operations" in data:
        ops = _mapping(data["operations"], "operations")
        data["operations"] = {
            str(name): value if name == "$include" else _normalize_op(str(name), value)
            for name, value in ops.items()
        }
    if "operation-defaults" in data:
        data["operation-defaults"] = _normalize_op(
            "operation-defaults", _mapping(data["operation-defaults"], "operation-defaults")
        )
    if "flags" in data:
        data["flags"] = _normalize_flags(data["flags"])
    if "params" in data:
        data["params"] = _mapping(data["params"], "params")
    return data


def _normalize_op(name, value):
    if value is None:
        return {}
    if isinstance(value, str):
        return {"main": value}
    if not isinstance(value, dict):
        raise _DataError(
            f"invalid operation data {value!r} for '{name}': expected a mapping or a string"
        )
    data = dict(value)
    if "flags" in data:
        data["flags"] = _normalize_flags(data["flags"])
    return data


def _normalize_flags(value):
    flags = _mapping(value, "flags")
    return {
        str(name): data if name == "$include" or isinstance(data, dict) else {"default": data}
        for name, data in flags.items()
    }


def _mapping(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _DataError(f"invalid {what} value {value!r}: expected a mapping")
    return value


def _names(value, attr, owner):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _DataError(
        f"invalid {attr} value {value!r} in '{owner}': expected a name or a list of names"
    )


def _apply_parent(parent, child):
    """Give ``child`` (a dict, changed in place) the values of ``parent`` it lacks.

    Mappings are merged key by key, recursively; any other value the child
    defines (lists included) is kept as is.
    """
    for key, value in parent.items():
        if key not in child:
            child[key] = copy.deepcopy(value)
        elif isinstance(child[key], dict) and isinstance(value, dict):
            _apply_parent(value, child[key])


def _with_op_defaults(op, defaults):
    # operation-defaults apply attribute by attribute: an op that defines
    # `flags` (even `flags: {}`) does not get the default flags.
    data = copy.deepcopy(op)
    defines_optimizer = "optimizer" in op or "optimizers" in op
    for key, value in defaults.items():
        if key in data or (defines_optimizer and key in ("optimizer", "optimizers")):
            continue
        data[key] = copy.deepcopy(value)
    return data


def _substitute_params(data):
    params = data.get("params") or {}
    if not params:
        return data
    resolved = {}
    for name in params:
        try:
            resolved[name] = _resolve_param(name, params, ())
        except _ParamCycle:
            # A param in a reference cycle keeps its text.
            resolved[name] = params[name]
    lookup = resolved.get
    return {
        key: value if key == "params" else _substitute(value, resolved, lookup)
        for key, value in data.items()
    }


class _ParamCycle(Exception):
    pass


def _resolve_param(name, params, stack):
    if name in stack:
        raise _ParamCycle()
    stack = (*stack, name)
    return _substitute(
        params[name], params, lambda ref: _resolve_param(ref, params, stack)
    )


def _substitute(value, params, lookup):
    if isinstance(value, dict):
        return {k: _substitute(v, params, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, params, lookup) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    whole = _PARAM_RE.fullmatch(value.strip())
    if whole and whole.group(1) in params:
        # `'{{n}}'` alone keeps the param's type: 10.0 stays a float.
        return lookup(whole.group(1))

    def repl(m):
        return str(lookup(m.group(1))) if m.group(1) in params else m.group(0)

    return _PARAM_RE.sub(repl, value)


def _opdef(model, name, data):
    op = OpDef(name=name, model=model)
    op.description = _text(data.get("description"))
    op.main = _opt_text(data.get("main"))
    op.exec = _exec(data.get("exec"))
    op.flags = {
        fname: _flagdef(fname, fdata)
        for fname, fdata in sorted(_normalize_flags(data.get("flags")).items())
    }
    op.flags_import = _flags_import(data.get("flags-import"))
    op.flags_import_skip = [str(n) for n in _list(data.get("flags-import-skip"))]
    op.flags_dest = _opt_text(data.get("flags-dest"))
    op.output_scalars = data.get("output-scalars")
    compare = data.get("compare")
    op.compare = None if compare is None else [str(c) for c in _list(compare)]
    op.objective = data.get("objective")
    op.optimizers, op.optimizer_default = _optimizers(op.fullname, data)
    op.label = _opt_text(data.get("label"))
    op.tags = [str(t) for t in _list(data.get("tags"))]
    op.env = dict(_mapping(data.get("env"), "env"))
    op.env_secrets = [str(s) for s in _list(data.get("env-secrets"))]
    op.sourcecode = data.get("sourcecode")
    op.default = bool(data.get("default"))
    op.requires = parse_requires(data.get("requires"), op.fullname)
    op.sys_metrics = data.get("sys-metrics", True) not in (False, "no", "off")
    op.extra = {k: v for k, v in data.items() if k not in _OP_ATTRS}
    return op


@dataclass(frozen=True)
class Required:
    """One project file or directory to put into the run directory."""

    file: str  # as written, relative to the project directory (or absolute)
    target: str  # path inside the run directory
    copy: bool = False

    def to_attr(self):
        return {"file": self.file, "target": self.target, "copy": self.copy}


def parse_requires(data, op_name="operation"):
    """[Required] from an operation's ``requires`` value (a list of paths or mappings).

    :raises _DataError: an entry is not a path or a mapping with ``file``.
    """
    if data is None:
        return []
    if not isinstance(data, list):
        data = [data]
    out = []
    for entry in data:
        if isinstance(entry, str):
            out.append(Required(entry, _default_target(entry)))
        elif isinstance(entry, dict) and isinstance(entry.get("file"), str):
            target = entry.get("target") or _default_target(entry["file"])
            out.append(Required(entry["file"], str(target), bool(entry.get("copy", False))))
        else:
            raise _DataError(f"{op_name}: invalid requires entry {entry!r}: expected a path "
                             "or a mapping with 'file' (and optionally 'copy', 'target')")
    return out


def _default_target(path):
    path = path.rstrip("/\\") or path
    if os.path.isabs(path) or path.startswith(".."):
        return os.path.basename(path)
    return os.path.normpath(path)


def _exec(value):
    if isinstance(value, list):
        import shlex

        return shlex.join(str(v) for v in value)
    return _opt_text(value)


def _flags_import(value):
    if value is None:
        return None
    if value is True or value == "all":
        return True
    if value is False or value == []:
        return False
    if isinstance(value, list):
        return [str(v) for v in value]
    raise _DataError(
        f"invalid flags-import value {value!r}: expected yes/all, no, or a list of flag names"
    )


def _optimizers(op_name, data):
    """``({name: {"algorithm": ..., flag: value}}, name marked default or None)``."""
    if "optimizer" in data and "optimizers" in data:
        raise _DataError(
            f"conflicting optimizer configuration in operation '{op_name}' - "
            "cannot define both 'optimizer' and 'optimizers'"
        )
    marked = []
    if data.get("optimizer") is not None:
        value = data["optimizer"]
        if isinstance(value, dict) and value.get("algorithm") is None:
            raise _DataError(f"missing required 'algorithm' attribute in {value!r}")
        name, opt = _optimizer(None, value, marked)
        return {name: opt}, (marked or [None])[0]
    optimizers = {}
    for name, value in sorted(_mapping(data.get("optimizers"), "optimizers").items()):
        name, opt = _optimizer(str(name), value, marked)
        optimizers[name] = opt
    return optimizers, (sorted(marked) or [None])[0]


def _optimizer(name, value, marked):
    # A string is the algorithm; in a mapping, the name is the default algorithm
    # and every key but `algorithm` and `default` is an optimizer flag.
    if value is None:
        value = {}
    if isinstance(value, str):
        return name or value, {"algorithm": value}
    if not isinstance(value, dict):
        raise _DataError(f"invalid optimizer {value!r}: expected a string or a mapping")
    algorithm = str(value.get("algorithm") or name)
    name = name or algorithm
    if value.get("default"):
        marked.append(name)
    flags = {str(k): v for k, v in value.items() if k not in ("algorithm", "default")}
    return name, {"algorithm": algorithm, **dict(sorted(flags.items()))}


def _list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value):
    return "" if value is None else str(value).strip()


def _opt_text(value):
    return None if value is None else str(value)
