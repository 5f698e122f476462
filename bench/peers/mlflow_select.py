"""MLflow's side of ``select --min loss``: the run with the lowest latest ``loss``.

Run with the MLflow virtualenv's python: ``python mlflow_select.py TRACKING_URI``. Prints
the run's ``corpus_id`` tag (its id in the rundb and Guild stores), so the answers of the
three tools can be checked against each other.
"""

import sys


def main(tracking_uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("bench")
    runs = client.search_runs([experiment.experiment_id], order_by=["metrics.loss ASC"],
                              max_results=1)
    print(runs[0].data.tags["corpus_id"])


if __name__ == "__main__":
    main(sys.argv[1])
