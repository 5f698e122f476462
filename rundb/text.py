"""Text that is safe to print on a terminal.

Labels, flags, comments, tags, scalar keys and directory names may come from elsewhere
(an imported run, a shared home). Printed raw, an ESC sequence in one can clear the screen,
retitle the window, hide text or (on some terminals) write to the clipboard, and BEL rings
the bell. Tables for people show such characters as visible escapes; CSV and JSON carry the
text unchanged, for programs.
"""

__all__ = ["printable"]


def _escape_table():
    table = {}
    # C0 controls, DEL and C1 controls (0x9b is a one-byte CSI on some terminals).
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]:
        table[code] = f"\\x{code:02x}"
    table.update({ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"})
    # Bidirectional overrides and isolates reorder what follows them ("Trojan Source"),
    # and the Unicode line and paragraph separators break a row in two.
    for code in [0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028,
                 0x2029]:
        table[code] = f"\\u{code:04x}"
    return table


_ESCAPES = _escape_table()
_ESCAPES_BUT_LINES = {k: v for k, v in _ESCAPES.items() if k not in (ord("\n"), ord("\t"))}


def printable(text, lines=False):
    """``text`` with control characters shown as escapes, for a terminal.

    :param lines: keep newlines and tabs (a message of several lines, not a table cell).

    >>> printable("lr=0.1")
    'lr=0.1'
    >>> print(printable("ok\\x1b]0;pwned\\x07\\x1b[2J"))
    ok\\x1b]0;pwned\\x07\\x1b[2J
    >>> print(printable("two\\nlines\\ttab"))
    two\\nlines\\ttab
    >>> print(printable("two\\nlines\\x07", lines=True))
    two
    lines\\x07
    """
    if not isinstance(text, str):
        text = str(text)
    if text.isascii() and text.isprintable():  # the common case, checked in C
        return text
    return text.translate(_ESCAPES_BUT_LINES if lines else _ESCAPES)
