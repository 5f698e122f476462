"""The one CSV writer: command tables (``--csv``), ``rundb sql``, export and batch files.

A row is written as given; ``None`` is an empty cell and a list or dict its JSON.
"""

import csv
import io
import json


def write_csv(f, headers, rows):
    """Write ``headers`` and ``rows`` to the text file ``f`` (opened with newline="")."""
    out = csv.writer(f, lineterminator="\n")
    out.writerow(headers)
    for row in rows:
        if _JSON_TYPES.isdisjoint(map(type, row)):
            out.writerow(row)  # csv writes None as an empty cell (the common, fast case)
        else:
            out.writerow(_cell(v) for v in row)


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
