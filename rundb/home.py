"""Where things live: the rundb home and its layout.

::

    index.db            the index (SQLite, WAL), unless the home names another one
    index.db.lock       the run lock: writers share it, `index rebuild` takes it alone
    config.yml          optional settings: ``index: postgresql://...`` (a shared index)
    runs/<id>/          run directories (the process's cwd); metadata in runs/<id>/.rundb/
    trash/<id>/         deleted runs, until purged
"""

import os

DEFAULT_HOME = "~/.rundb"
META_DIR = ".rundb"
CONFIG_NAME = "config.yml"


class Home:
    """A rundb home directory. Cheap to create; directories are made on first write.

    :param index: where its index lives (a ``postgresql://`` URL or a file path); None
        means ``index:`` in the home's config.yml, else the home's own ``index.db``.
    """

    def __init__(self, path, index=None):
        self.path = os.path.abspath(os.path.expanduser(path))
        self._index = index or None

    @classmethod
    def resolve(cls, path=None, index=None):
        """The home named by ``path``, else ``$RUNDB_HOME``, else ``~/.rundb``; its index
        is ``index``, else ``$RUNDB_INDEX``, else the home's config, else its index.db."""
        return cls(path or os.environ.get("RUNDB_HOME") or DEFAULT_HOME,
                   index=index or os.environ.get("RUNDB_INDEX"))

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
        """The home's own SQLite index file (used unless another index is configured)."""
        return os.path.join(self.path, "index.db")

    @property
    def config_path(self):
        return os.path.join(self.path, CONFIG_NAME)

    @property
    def index_url(self):
        """The configured index (``--index``, ``$RUNDB_INDEX`` or ``index:`` in config.yml),
        or None for the home's own index.db."""
        if self._index is None:
            self._index = _configured_index(self.config_path) or ""
        return self._index or None

    @property
    def index_location(self):
        """What :func:`rundb.index.db.open_index` opens: the configured URL or index.db."""
        return self.index_url or self.index_path

    def run_dir(self, run_id, deleted=False):
        return os.path.join(self.trash_dir if deleted else self.runs_dir, run_id)

    def ensure(self):
        """Create the home's directories if missing."""
        os.makedirs(self.runs_dir, exist_ok=True)
        os.makedirs(self.trash_dir, exist_ok=True)
        return self

    def exists(self):
        return os.path.isdir(self.path)

    def writable(self):
        """False on a read-only file system or without write access to the home."""
        return os.access(self.path, os.W_OK) and (
            not os.path.exists(self.index_path) or os.access(self.index_path, os.W_OK))

    def count_run_dirs(self):
        """How many run directories the home holds (runs and trash)."""
        n = 0
        for parent in (self.runs_dir, self.trash_dir):
            try:
                with os.scandir(parent) as entries:
                    n += sum(1 for e in entries if e.is_dir() and not e.name.startswith("."))
            except (FileNotFoundError, NotADirectoryError):
                pass
        return n


def _configured_index(config_path):
    if not os.path.exists(config_path):
        return None
    import yaml  # only homes with a config file pay for it

    from .errors import IndexSchemaError

    try:
        with open(config_path, encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise IndexSchemaError(f"cannot read {config_path}: {e}") from None
    value = config.get("index") if isinstance(config, dict) else None
    if value is not None and not isinstance(value, str):
        raise IndexSchemaError(f"{config_path}: 'index' must be a URL or a path")
    return value


def new_run_id():
    """A new run id: 32 lowercase hex characters (uuid4)."""
    import uuid

    return uuid.uuid4().hex


def meta_dir(run_dir):
    return os.path.join(run_dir, META_DIR)
