"""Search spaces: which flag values are search dimensions, as skopt dims.

A flag value is a search dimension when it is

* a list: a categorical dimension over its values (``[1, 2, 3]``);
* a flag function ``NAME?[LOW:HIGH]`` or ``NAME?[LOW:HIGH:INITIAL]`` where NAME
  is ``uniform`` (the default) or ``loguniform``. Two int bounds give an Integer
  dimension, otherwise a Real one; ``loguniform`` is always Real with a
  log-uniform prior. The optional third argument is the first trial's value.

Plain numbers, strings, booleans and None are fixed values, never dimensions.
skopt is imported only by :func:`flag_dims`.

>>> search_flags({"lr": "loguniform[1e-4:1e-1]", "layers": [1, 2], "epochs": 10})
['layers', 'lr']
"""

import numbers

from rundb.errors import BatchError
from rundb.flagvals import decode_flag_function, format_flag_assigns, is_search_text

__all__ = ["flag_dims", "is_search_spec", "no_dims_error", "search_flags"]

_FUNCTIONS = ("uniform", "loguniform")


def is_search_spec(value):
    """Return True if a flag value asks for a search (a list or a flag function).

    Cheap: does not import skopt or check the function's name or arguments
    (:func:`flag_dims` does, and reports what is wrong).

    >>> is_search_spec([1, 2]), is_search_spec("[0.1:0.9]"), is_search_spec("a")
    (True, True, False)
    """
    if isinstance(value, list):
        return True
    # [NUM:NUM], [NUM:NUM:NUM] or a named function; other bracketed text is not a search
    return is_search_text(value)


def search_flags(flags):
    """Return the sorted names of the flags whose values are search specs."""
    return sorted(name for name, value in flags.items() if is_search_spec(value))


def flag_dims(flags):
    """Return ``(names, dims, initials)`` for the search flags in ``flags``.

    ``names`` are sorted; ``dims`` are the matching skopt dimensions
    (``Categorical``, ``Integer`` or ``Real``); ``initials`` hold each
    dimension's initial value, or None.

    :raises BatchError: for an unknown function, a wrong number of arguments,
        or bounds skopt cannot search (not numbers, low not below high, ...).
    """
    names, dims, initials = [], [], []
    for name in search_flags(flags):
        dim, initial = _flag_dim(name, flags[name])
        names.append(name)
        dims.append(dim)
        initials.append(initial)
    return names, dims, initials


def _flag_dim(name, value):
    if isinstance(value, list):
        return _categorical(name, value), None
    func_name, args = decode_flag_function(value)
    func_name = func_name or "uniform"
    if func_name not in _FUNCTIONS:
        raise BatchError(f"unknown function '{func_name}' used for flag {name}")
    if len(args) not in (2, 3):
        raise BatchError(
            f"{func_name} requires 2 or 3 args, got {args!r} for flag {name}"
        )
    low, high = args[:2]
    initial = args[2] if len(args) == 3 else None
    if not (_is_number(low) and _is_number(high)):
        raise BatchError(
            f"{func_name} requires numbers for its bounds, got {args!r} for flag {name}"
        )
    if initial is not None and not _is_number(initial):
        raise BatchError(
            f"invalid initial value {initial!r} for flag {name}: expected a number"
        )
    if not low < high:
        raise BatchError(
            f"invalid range for flag {name}: low ({low}) must be less than high ({high})"
        )
    return _numeric_dim(name, func_name, low, high), initial


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _categorical(name, values):
    from skopt.space import Categorical

    if not values:
        raise BatchError(f"no values to search for flag {name} (empty list)")
    for value in values:
        try:
            hash(value)
        except TypeError:
            raise BatchError(
                f"cannot search flag {name}: list item {value!r} is not a single value"
            ) from None
    return Categorical(values)


def _numeric_dim(name, func_name, low, high):
    from skopt.space import Integer, Real

    if func_name == "loguniform":
        if low <= 0:
            raise BatchError(
                f"loguniform requires bounds above 0, got [{low}:{high}] for flag {name}"
            )
        # Ints stay as given (Real(low=1, high=100, ...)), as skopt shows them.
        return Real(low, high, prior="log-uniform")
    if isinstance(low, int) and isinstance(high, int):
        return Integer(low, high)
    return Real(low, high)


def no_dims_error(flags):
    """The error for an optimizer batch whose flags have no search dimension.

    >>> print(no_dims_error({"x": 1.0, "y": 2, "z": "a"}))
    flags for batch (x=1.0, y=2, z=a) do not contain any search dimensions
    Try specifying a range for one or more flags as NAME=[MIN:MAX].
    """
    assigns = ", ".join(format_flag_assigns(flags))
    return BatchError(
        f"flags for batch ({assigns}) do not contain any search dimensions\n"
        "Try specifying a range for one or more flags as NAME=[MIN:MAX]."
    )
