"""Putting generated tables into docs/performance.md, between marker comments."""

import os

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                   "performance.md")


def update_doc(block, text, doc=DOC):
    """Replace what stands between ``<!-- block:begin -->`` and ``<!-- block:end -->``."""
    begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
    with open(doc) as f:
        body = f.read()
    if begin not in body or end not in body:
        return False
    head, rest = body.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(doc, "w") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")
    return True
