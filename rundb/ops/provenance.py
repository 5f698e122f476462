"""What produced a run: the project's git commit, Python, platform, user, the command
line, and the installed packages.

The packages (``pip freeze``'s information, read through ``importlib.metadata``) are
stored once per distinct set, as ``<home>/packages/<digest>.json``, and each run
refers to its set by digest (attribute ``packages``); the run directory gets a hard
link to that file, so it stays self-describing at no extra space. Reading every
distribution's metadata costs tens of milliseconds, so the set found is cached under a
key made of the ``sys.path`` directories and their modification times (installing or
removing a distribution changes its directory's mtime).
"""

import hashlib
import json
import os
import subprocess
import sys

PACKAGES_DIR = "packages"
PACKAGES_FILE = "packages.json"
_CACHE_FILE = "cache.json"


def basic_attrs(argv=None):
    """Attributes cheap to gather (no subprocess, no file reads): Python, platform,
    command line."""
    import platform

    uname = os.uname()
    return {
        "python_version": platform.python_version(),
        "python_exe": sys.executable,
        "platform": f"{uname.sysname} {uname.release} {uname.machine}",
        "command_line": list(sys.argv if argv is None else argv),
    }


def vcs_commit(project_dir):
    """``git:<sha>`` of the repository holding ``project_dir``, with ``*`` appended when
    tracked files have uncommitted changes (as Guild writes it); None outside a git
    repository, without git, or before the first commit. One ``git`` process."""
    try:
        out = subprocess.run(
            ["git", "-C", project_dir, "status", "--porcelain=v2", "--branch",
             "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    sha = None
    dirty = False
    for line in out.stdout.splitlines():
        if line.startswith("# branch.oid "):
            sha = line.split()[2]
        elif line and not line.startswith("#"):
            dirty = True
    if not sha or sha == "(initial)":
        return None
    return f"git:{sha}" + ("*" if dirty else "")


def installed_packages():
    """{distribution name: version} of this interpreter's installed distributions."""
    from importlib import metadata

    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name not in found:
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def packages_digest(packages):
    """The digest naming a package set (sha256 of its canonical JSON, 32 hex digits)."""
    text = json.dumps(packages, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _path_key():
    parts = []
    for entry in sys.path:
        try:
            parts.append(f"{entry}\0{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            continue
    return hashlib.sha256("\n".join([sys.executable, *parts]).encode()).hexdigest()[:32]


def package_set_path(home, digest):
    return os.path.join(home.path, PACKAGES_DIR, f"{digest}.json")


def record_packages(home):
    """(digest, packages or None) of this interpreter's package set, its file written
    under the home once. ``packages`` is None when the digest came from the cache (the
    set is stored already)."""
    from ..run import write_json_atomic

    d = os.path.join(home.path, PACKAGES_DIR)
    cache_path = os.path.join(d, _CACHE_FILE)
    key = _path_key()
    try:
        with open(cache_path, encoding="utf-8") as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    digest = cache.get(key) if isinstance(cache, dict) else None
    if digest and os.path.isfile(package_set_path(home, digest)):
        return digest, None
    packages = installed_packages()
    digest = packages_digest(packages)
    os.makedirs(d, exist_ok=True)
    path = package_set_path(home, digest)
    if not os.path.isfile(path):
        write_json_atomic(path, packages)
    cache = cache if isinstance(cache, dict) else {}
    cache[key] = digest
    if len(cache) > 100:  # keep the newest keys only
        cache = dict(list(cache.items())[-100:])
    write_json_atomic(cache_path, cache)
    return digest, packages


def link_packages(home, digest, run_dir):
    """Hard-link the package set into the run's ``.rundb/`` (a copy where linking fails)."""
    import shutil

    from ..home import meta_dir

    src = package_set_path(home, digest)
    dest = os.path.join(meta_dir(run_dir), PACKAGES_FILE)
    try:
        os.link(src, dest)
    except FileExistsError:
        pass
    except OSError:
        try:
            shutil.copyfile(src, dest)
        except OSError:
            pass


def read_package_set(home, digest, run_dir=None):
    """{name: version} of a stored package set (from the home, else the run's link)."""
    paths = [package_set_path(home, digest)]
    if run_dir:
        from ..home import meta_dir

        paths.append(os.path.join(meta_dir(run_dir), PACKAGES_FILE))
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if isinstance(data, dict):
                return data
        except (OSError, ValueError):
            continue
    return None


def run_provenance(home, project_dir, run_dir):
    """Attributes recording what produced a run (git commit, packages digest), gathered
    once the run's process is started; the index gets the package set too (caller)."""
    attrs = {}
    commit = vcs_commit(project_dir) if project_dir else None
    if commit:
        attrs["vcs_commit"] = commit
    try:
        digest, packages = record_packages(home)
    except OSError:
        return attrs, None
    link_packages(home, digest, run_dir)
    attrs["packages"] = digest
    return attrs, packages
