"""Project files a run needs: ``requires:`` in rundb.yml (parsed by rundb.config).

A run works in its own directory, so a script that opens ``data.csv`` would not find the
project's copy. Each entry of an operation's ``requires`` names a project file or
directory that is linked (a symlink; ``copy: yes`` copies it) into the run directory
before the process starts::

    train:
      main: train
      requires:
        - data.csv                  # linked as data.csv
        - file: images/             # a directory, linked
        - file: vocab.txt
          copy: yes                 # copied: later edits to the project do not change it
          target: inputs/vocab.txt  # where it goes in the run (default: the same path)

What was provided is recorded in the run's ``requires`` attribute (meta.json).
"""

import os
import shutil

from ..errors import OpError


def check_requires(requires, project_dir):
    """Raise unless every required file exists and every target stays in the run dir.

    :raises OpError: ``requires: data.csv: no such file or directory in PROJECT``.
    """
    for req in requires:
        if not os.path.exists(os.path.join(project_dir, req.file)):
            raise OpError(f"requires: {req.file}: no such file or directory in {project_dir}")
        target = os.path.normpath(req.target)
        if os.path.isabs(target) or target == os.curdir or target.startswith(os.pardir):
            raise OpError(f"requires: {req.file}: target {req.target} is outside the run "
                          "directory")


def provide(requires, project_dir, run_dir):
    """Link (or copy) each required file into ``run_dir``; return the ``requires`` attr.

    :raises OpError: a file vanished since it was checked, or cannot be linked.
    """
    done = []
    for req in requires:
        src = os.path.abspath(os.path.join(project_dir, req.file))
        dest = os.path.join(run_dir, req.target)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            if req.copy:
                if os.path.isdir(src):
                    shutil.copytree(src, dest, symlinks=True)
                else:
                    shutil.copy2(src, dest)
            else:
                os.symlink(src, dest)
        except OSError as e:
            raise OpError(f"requires: {req.file}: {e.strerror or e}") from None
        done.append(req.to_attr())
    return done
