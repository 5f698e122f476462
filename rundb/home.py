"""Where things live: the rundb home and its layout.

::

    index.db            the index (SQLite, WAL)
    runs/<id>/          run directories (the process's cwd); metadata in runs/<id>/.rundb/
    trash/<id>/         deleted runs, until purged
"""

import os
import uuid

DEFAULT_HOME = "~/.rundb"
META_DIR = ".rundb"


class Home:
    """A rundb home directory. Cheap to create; directories are made on first write."""

    def __init__(self, path):
        self.path = os.path.abspath(os.path.expanduser(path))

    @classmethod
    def resolve(cls, path=None):
        """The home named by ``path``, else ``$RUNDB_HOME``, else ``~/.rundb``."""
        return cls(path or os.environ.get("RUNDB_HOME") or DEFAULT_HOME)

    def __repr__(self):
        return f"Home({self.path!r})"

    def __eq__(self, other):
        return isinstance(other, Home) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    @property
    def runs_dir(self):
        return os.path.join(self.path, "runs")

    @property
    def trash_dir(self):
        return os.path.join(self.path, "trash")

    @property
    def index_path(self):
        return os.path.join(self.path, "index.db")

    def run_dir(self, run_id, deleted=False):
        return os.path.join(self.trash_dir if deleted else self.runs_dir, run_id)

    def ensure(self):
        """Create the home's directories if missing."""
        os.makedirs(self.runs_dir, exist_ok=True)
        os.makedirs(self.trash_dir, exist_ok=True)
        return self


def new_run_id():
    """A new run id: 32 lowercase hex characters (uuid4)."""
    return uuid.uuid4().hex


def meta_dir(run_dir):
    return os.path.join(run_dir, META_DIR)
