"""Batch trials from flag values and batch files.

A list flag value makes a grid: the cartesian product over list-valued flags,
flag names ascending with the first name varying slowest and each list's order
kept. Batch files (``@trials.csv``, ``.yml``/``.yaml``, ``.json``) list trials
explicitly; their values beat command-line flags, and command-line lists only
expand flags a file trial leaves undefined.

>>> [sorted(t.items()) for t in expand_grid({"b": [1, 2], "a": ["x", "y"], "c": 0})][:2]
[[('a', 'x'), ('b', 1), ('c', 0)], [('a', 'x'), ('b', 2), ('c', 0)]]
"""

from __future__ import annotations

import itertools
import os

from rundb.errors import BatchError
from rundb.flagvals import decode_flag_value, encode_flag_value

__all__ = [
    "is_batch_value",
    "expand_grid",
    "split_batch_files",
    "read_batch_files",
    "trials_for",
    "sample_trials",
    "format_trials_table",
    "write_trials_csv",
]


def is_batch_value(val):
    """Return True if *val* makes a grid of trials (a list)."""
    return isinstance(val, list)


def expand_grid(flags):
    """Return one trial (a dict of flags) per combination of list values.

    Flags without a list value are copied into every trial. With no list
    values the result is one trial; an empty list gives no trials.
    """
    names = sorted(flags)
    grid_names = [name for name in names if is_batch_value(flags[name])]
    trials = []
    for combo in itertools.product(*(flags[name] for name in grid_names)):
        trial = {name: flags[name] for name in names}
        trial.update(zip(grid_names, combo))
        trials.append(trial)
    return trials


def split_batch_files(args):
    """Split ``@file`` args from the rest: ``(files, rest)``, each in order.

    >>> split_batch_files(["foo", "@file-1", "bar=123", "@file-2"])
    (['file-1', 'file-2'], ['foo', 'bar=123'])
    """
    files, rest = [], []
    for arg in args:
        if arg.startswith("@"):
            files.append(arg[1:])
        else:
            rest.append(arg)
    return files, rest


def read_batch_files(paths):
    """Read trials from batch files, concatenated in the order given.

    :raises BatchError: for a missing file, an unsupported extension, a file that
      cannot be parsed or data that is not a list of dicts (or one dict)
    """
    trials = []
    for path in paths:
        trials.extend(_read_batch_file(path))
    return trials


def _read_batch_file(path):
    shown = _display_path(path)
    if not os.path.exists(path):
        raise BatchError(f"batch file {shown} does not exist")
    ext = os.path.splitext(path)[1].lower()
    reader = _READERS.get(ext)
    if reader is None:
        raise BatchError(f"cannot read trials for {shown}: unsupported extension")
    try:
        with open(path, encoding="utf-8", newline="" if ext == ".csv" else None) as f:
            data = reader(f)
    except BatchError as e:
        raise BatchError(f"cannot read trials for {shown}: {e}") from None
    except (OSError, ValueError) as e:  # includes JSON, CSV, YAML and decoding errors
        raise BatchError(f"cannot read trials for {shown}: {_one_line(e)}") from None
    try:
        return _check_trials(data)
    except BatchError as e:
        raise BatchError(f"cannot read trials for {shown}: {e}") from None


def _read_csv(f):
    import csv

    try:
        rows = list(csv.reader(f))
    except csv.Error as e:
        raise ValueError(str(e)) from None
    if not rows:
        return []
    names = [name.strip() for name in rows[0]]
    trials = []
    for lineno, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            raise BatchError(
                f"line {lineno} has {len(row)} values but the header names {len(names)} flags"
            )
        # An empty cell leaves the flag undefined (write_trials_csv writes '' for
        # the empty string).
        trials.append(
            {name: decode_flag_value(cell) for name, cell in zip(names, row) if cell.strip()}
        )
    return trials


def _read_yaml(f):
    import yaml

    from ..flagvals import load_yaml

    try:
        data = load_yaml(f)
    except yaml.YAMLError as e:
        raise ValueError(str(e)) from None
    return [] if data is None else data


def _read_json(f):
    import json

    return json.load(f)


_READERS = {".csv": _read_csv, ".yml": _read_yaml, ".yaml": _read_yaml, ".json": _read_json}


def _check_trials(data):
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise BatchError(
            f"invalid data type for trials: expected list or dict, got {type(data).__name__}"
        )
    for item in data:
        if not isinstance(item, dict):
            raise BatchError(f"invalid data type for trial {item!r}: expected dict")
    return [dict(item) for item in data]


def _display_path(path):
    if os.path.isabs(path) or path.startswith(("./", "../", "~")) or path in (".", ".."):
        return path
    return "./" + path


def _one_line(e):
    return " ".join(str(e).split())


def trials_for(flags, file_trials):
    """Return the trials for *flags* and trials read from batch files.

    Without file trials this is `expand_grid`. Otherwise each file trial is
    combined with *flags*: its own values win, and list values in *flags* expand
    only the names the file trial does not define. Trials keep file order.
    """
    if not file_trials:
        return expand_grid(flags)
    trials = []
    for file_trial in file_trials:
        rest = {name: val for name, val in flags.items() if name not in file_trial}
        for trial in expand_grid(rest):
            trial.update(file_trial)
            trials.append({name: trial[name] for name in sorted(trial)})
    return trials


def sample_trials(trials, max_trials, random_seed=None):
    """Return at most *max_trials* trials, chosen at random but kept in order.

    The same *random_seed* always picks the same trials. A *max_trials* of None,
    or one not less than the number of trials, returns them all.
    """
    import random

    trials = list(trials)
    if max_trials is None or max_trials >= len(trials):
        return trials
    picked = random.Random(random_seed).sample(range(len(trials)), max(max_trials, 0))
    return [trials[i] for i in sorted(picked)]


def format_trials_table(trials):
    """Return the ``--print-trials`` table: a ``#`` column and one column per flag.

    Columns are the sorted union of flag names; a flag a trial lacks is blank.

    >>> print(format_trials_table([{"msg": "hello 1", "loud": False}, {"msg": "b", "loud": True}]))
    #  loud  msg
    1  no    hello 1
    2  yes   b
    """
    names = _flag_names(trials)
    rows = [["#"] + names]
    for i, trial in enumerate(trials, 1):
        rows.append([str(i)] + [_cell(trial, name) for name in names])
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def write_trials_csv(trials, path):
    """Write *trials* to a CSV file `read_batch_files` can read back.

    The header is the sorted flag names; values are encoded as on the command
    line, and a flag a trial lacks is an empty cell. Written atomically.
    """
    from ..csvtext import csv_text

    names = _flag_names(trials)
    text = csv_text(names, [[_cell(trial, name) for name in names] for trial in trials])
    dirname = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(dirname, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _flag_names(trials):
    return sorted({name for trial in trials for name in trial})


def _cell(trial, name):
    return encode_flag_value(trial[name]) if name in trial else ""
