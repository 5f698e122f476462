"""Installed-package sets in the index: one row per distinct set, keyed by its digest."""

import json


def store_package_set(index, digest, packages):
    """Record a package set ``{name: version}`` under ``digest`` unless already there."""
    with index.atomic() as conn:
        conn.execute("INSERT OR IGNORE INTO package_set (digest, packages) VALUES (?, ?)",
                     (digest, json.dumps(packages, sort_keys=True)))


def has_package_set(index, digest):
    return index.conn.execute(
        "SELECT 1 FROM package_set WHERE digest = ?", (digest,)).fetchone() is not None


def package_set(index, digest):
    """{name: version} stored under ``digest``, or None."""
    row = index.conn.execute(
        "SELECT packages FROM package_set WHERE digest = ?", (digest,)).fetchone()
    return json.loads(row[0]) if row else None
