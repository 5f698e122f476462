"""MLflow's side of ``compare --csv -``: every run's params and latest metrics as CSV.

Run with the MLflow virtualenv's python: ``python mlflow_compare.py TRACKING_URI``.
``mlflow.search_runs`` returns a pandas DataFrame with one row a run (``params.*`` and the
latest value of each metric in ``metrics.*``), which is written to stdout.
"""

import sys


def main(tracking_uri):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    df = mlflow.search_runs(experiment_names=["bench"])
    df.to_csv(sys.stdout, index=False)


if __name__ == "__main__":
    main(sys.argv[1])
