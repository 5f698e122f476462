"""`make demo`: the main job end to end, in a temporary home.

Runs a small training script several times with different flags (single runs, then a
grid batch), and shows what rundb answers from its index.
"""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def rundb(*args, check=True):
    print(f"\n$ rundb {shlex.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "rundb_cli.main", *args])
    if check and proc.returncode != 0:
        sys.exit(f"demo: 'rundb {' '.join(args)}' failed with exit status {proc.returncode}")


def main():
    tmp = tempfile.mkdtemp(prefix="rundb-demo-")
    home = os.path.join(tmp, "home")
    project = os.path.join(tmp, "project")
    os.makedirs(project)
    shutil.copy(os.path.join(HERE, "train.py"), project)
    os.environ["RUNDB_HOME"] = home
    os.chdir(project)
    print(f"Demo home: {home}")
    for lr in ("0.1", "0.03", "0.01"):
        rundb("run", "train.py", f"lr={lr}", "epochs=4", "-y", "-q")
    rundb("run", "train.py", "lr=[0.05,0.005]", "dropout=[0.1,0.3]", "epochs=4", "-y", "-q")
    rundb("runs")
    rundb("runs", "info")
    rundb("compare", "--csv", "-")
    rundb("compare", "--min", "val_loss", "--top", "3", "-cc", "=lr, =dropout, min val_loss, min val_loss step")
    rundb("select", "--min", "min val_loss")
    rundb("query", "select .short_id, =lr, =dropout, min loss where =lr < 0.05 order by min loss limit 3")
    rundb("sql", "SELECT operation, count(*) AS runs FROM runs GROUP BY operation")
    print(f"\nDemo finished. Explore it with: RUNDB_HOME={home} .venv/bin/rundb runs")


if __name__ == "__main__":
    main()
