"""Tables of runs as text, without click (the fast path of fast.py prints them too; the
click options live in output.py): an aligned table through tabulate, or for the usual plain
table of printable ASCII, laid out here as tabulate lays it out."""

import sys


#: Table formats ``--fmt`` accepts (tabulate's names); ``plain`` is the default.
TABLE_FORMATS = ("plain", "simple", "github", "grid", "simple_grid", "rounded_grid",
                 "fancy_grid", "pipe", "orgtbl", "rst", "psql", "presto", "pretty", "tsv",
                 "html", "latex", "mediawiki", "jira", "textile", "asciidoc")

#: Significant digits of a float in a table (CSV and JSON keep full precision).
FLOAT_DIGITS = 6


def table_text(headers, rows, kinds=None, fmt="plain", width=None):
    """The one way a table becomes text: through tabulate in format ``fmt``, numbers
    right-aligned, floats to 6 significant digits, booleans yes/no, None blank, and fitted
    to ``width`` columns when given (default: the terminal's, when there is one) by cutting
    the longest text cells with ``…``, never wrapping a row.

    Control characters in any cell or header are shown as escapes (rundb.text.printable):
    a label or flag from an imported run cannot drive the terminal.

    :param headers: column names, or None for a table without a header line
    """
    from rundb.text import printable

    ncols = len(headers) if headers is not None else max((len(r) for r in rows), default=0)
    kinds = kinds or [None] * ncols
    cells = [[printable(_cell(v, k)) for v, k in zip(row, kinds)] for row in rows]
    heads = [printable(h) for h in headers] if headers is not None else None
    numeric = [any(row[i] is not None for row in rows) and all(
        _is_number(row[i]) for row in rows if row[i] is not None) for i in range(ncols)]
    width = terminal_width() if width is None else width
    text = _tabulate(heads, cells, numeric, fmt)
    if width:
        text = _fit(heads, cells, numeric, fmt, width, text)
    return text


def terminal_width():
    """Columns of the terminal stdout is (``$COLUMNS`` first); None when stdout is not a
    terminal: output to a pipe or file is never cut."""
    if sys.stdout.isatty():
        import shutil  # (with bz2, lzma, zlib: only for a terminal)

        return shutil.get_terminal_size().columns
    return None


def _tabulate(heads, cells, numeric, fmt):
    if fmt == "plain":
        text = _plain_table(heads, cells, numeric)
        if text is not None:
            return text
    return _tabulated(heads, cells, numeric, fmt)


def _tabulated(heads, cells, numeric, fmt):
    import tabulate

    keep = tabulate.PRESERVE_WHITESPACE, tabulate.MIN_PADDING
    # Cells shown as they are; columns as wide as their widest cell or header.
    tabulate.PRESERVE_WHITESPACE, tabulate.MIN_PADDING = True, 0
    try:
        text = tabulate.tabulate(
            cells, headers=heads if heads is not None else (), tablefmt=fmt,
            disable_numparse=True, colalign=["right" if n else "left" for n in numeric] or None)
    finally:
        tabulate.PRESERVE_WHITESPACE, tabulate.MIN_PADDING = keep
    return "\n".join(line.rstrip() for line in text.splitlines())


def _plain_table(heads, cells, numeric):
    """What :func:`_tabulate` gives in the ``plain`` format, for cells and headers of
    printable ASCII (ids, names, numbers, times: the usual table), without importing
    tabulate, whose import alone (its version lookup loads importlib.metadata, email,
    zipfile ...) costs a page question more than the rest of its answer. None for any
    other text (wide, combining or escaped characters), which tabulate measures itself.
    """
    rows = cells if heads is None else [heads, *cells]
    if not cells or any(len(row) != len(numeric) for row in rows) or not all(
            isinstance(c, str) and c.isascii() and c.isprintable() for row in rows for c in row):
        return None
    # tabulate (0.10, as pinned) strips the cells' edges, not the headers'.
    rows = [[c.strip() for c in row] for row in cells]
    if heads is not None:
        rows.insert(0, heads)
    widths = [max(len(row[i]) for row in rows) for i in range(len(numeric))]
    # Each row right-stripped, then the whole as _tabulated leaves it (no blank last line).
    text = "\n".join("  ".join(c.rjust(w) if right else c.ljust(w)
                               for c, w, right in zip(row, widths, numeric)).rstrip()
                      for row in rows)
    return "\n".join(text.splitlines())


def _fit(heads, cells, numeric, fmt, width, text):
    """``text`` re-rendered with its widest text columns cut until no line is wider than
    ``width``; a table of numbers alone has each line cut at the edge instead."""
    def longest():
        return max((len(line) for line in text.splitlines()), default=0)

    for _ in range(50):
        over = longest() - width
        if over <= 0:
            return text
        widths = [max([len(heads[i]) if heads else 0] + [len(r[i]) for r in cells if i < len(r)])
                  for i in range(len(numeric))]
        text_cols = [i for i in range(len(numeric)) if not numeric[i] and widths[i] > 8]
        if not text_cols:
            break
        col = max(text_cols, key=lambda i: widths[i])
        target = max(8, widths[col] - over)
        for row in cells:
            if col < len(row) and len(row[col]) > target:
                row[col] = row[col][: target - 1] + "…"
        if heads and len(heads[col]) > target:
            heads[col] = heads[col][: target - 1] + "…"
        text = _tabulate(heads, cells, numeric, fmt)
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…"
                     for line in text.splitlines())


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cell(value, kind):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{FLOAT_DIGITS}g}"
    if isinstance(value, (list, dict)):
        from rundb.flagvals import encode_flag_value

        return encode_flag_value(value)
    return str(value)


def format_time(us):
    """Microseconds since the epoch as local 'YYYY-MM-DD HH:MM:SS' ('' for None)."""
    if us is None:
        return ""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6))
