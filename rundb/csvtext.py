"""The one CSV writer: command tables (``--csv``), ``rundb sql``, export and batch files.

A row is written as given; ``None`` is an empty cell and a list or dict its JSON.
"""

import csv
import io
import json


def write_csv(f, headers, rows):
    """Write ``headers`` and ``rows`` to the text file ``f`` (opened with newline="").

    :returns: the number of rows written (not counting the headers).
    """
    out = csv.writer(f, lineterminator="\n")
    out.writerow(headers)
    write, plain, n = out.writerow, _JSON_TYPES.isdisjoint, 0
    for n, row in enumerate(rows, 1):
        if plain(map(type, row)):
            write(row)  # csv writes None as an empty cell (the common, fast case)
        else:
            write([_cell(v) for v in row])
    return n


def csv_text(headers, rows):
    """``headers`` and ``rows`` as CSV text.

    >>> print(csv_text(["a", "b"], [[1, None], ["x,y", [1, 2]]]), end="")
    a,b
    1,
    "x,y","[1, 2]"
    """
    buf = io.StringIO()
    write_csv(buf, headers, rows)
    return buf.getvalue()


_JSON_TYPES = frozenset((list, dict))


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return v
