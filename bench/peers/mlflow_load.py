"""Load the bench corpus into an MLflow tracking store through MLflow's own client.

Run with the MLflow virtualenv's python (``bench/.peers/mlflow``)::

    python bench/peers/mlflow_load.py sqlite:////tmp/b/mlflow.db 1000 100 0

The corpus is regenerated from the seed by ``bench/corpus.py`` (which imports nothing from
rundb), so the runs are the same as in the rundb and Guild stores. Each run is one
``create_run`` (start time, tag ``corpus_id`` = the corpus id), ``log_batch`` calls with its 8
params and every metric point (at most 1,000 metrics a call, MLflow's limit), and
``set_terminated`` with its end time. Prints the number of runs loaded.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import corpus  # noqa: E402

EXPERIMENT = "bench"
MAX_METRICS_PER_BATCH = 1000


def load(tracking_uri, n_runs, steps, seed=0):
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    exp_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    count = 0
    for spec in corpus.generate(n_runs, steps, seed):
        run = client.create_run(exp_id, start_time=spec.started // 1000,
                                tags={"corpus_id": spec.id}, run_name=spec.id[:8])
        run_id = run.info.run_id
        params = [Param(name, str(value)) for name, value in spec.flags.items()]
        metrics = [Metric(tag, value, wall_ms, step) for tag, step, value, wall_ms in spec.points()]
        client.log_batch(run_id, metrics=metrics[:MAX_METRICS_PER_BATCH], params=params)
        for i in range(MAX_METRICS_PER_BATCH, len(metrics), MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])
        client.set_terminated(run_id, "FINISHED", end_time=spec.stopped // 1000)
        count += 1
    return count


if __name__ == "__main__":
    uri, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    print(load(uri, n, s, seed))
