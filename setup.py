from setuptools import setup

setup(
    name="rundb",
    version="0.1.0",
    description="A run database for machine-learning experiments, indexed in SQLite",
    python_requires=">=3.11",
    packages=[
        "rundb",
        "rundb.index",
        "rundb.query",
        "rundb.ops",
        "rundb.api",
        "rundb.web",
        "rundb.tensorboard",
        "rundb.ipy",
        "rundb.keras",
        "rundb_cli",
    ],
    package_dir={"rundb_cli": "cli"},
    # The web view's page template, script and styles are read as package resources.
    package_data={"rundb.web": ["templates/*.html", "static/*.js", "static/*.css",
                               "static/vendor/*"]},
    install_requires=[
        "click>=8.2",
        "pyyaml>=6",
        "ply==3.11",
        "sqlite-utils>=4.0",
        "tabulate>=0.9",
        "google-crc32c>=1.5",
        "tensorboard>=2.15",
        "scikit-optimize>=0.10",
        # Optuna's samplers (tpe, cmaes) and pruners (--prune); imported only when used
        "optuna>=4.0",
        "cmaes>=0.10",
        "jinja2>=3.1",
        "psutil>=5.9",
    ],
    extras_require={
        "notebook": ["pandas>=2.0"],
        "postgres": ["psycopg[binary]>=3.1"],
        "gpu": ["nvidia-ml-py>=12"],
        # --parallel on a Dask LocalCluster, --cluster (without it, --parallel N starts
        # trial subprocesses directly; --cluster needs it)
        "dask": ["dask>=2024.1", "distributed>=2024.1"],
    },
    # The command is a plain script rather than a console_scripts entry point, whose
    # generated wrapper imports `re` before rundb_cli.main:main (start-up time).
    scripts=["bin/rundb"],
)
