"""Write the MLflow stores tests/test_import_mlflow.py imports, with MLflow's own API.

Made with MLflow 3.17.2 (Python 3.11), in a scratch venv:

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow==3.17.2
    /tmp/mlflow-venv/bin/python "$PWD/tests/data/mlflow/make_stores.py"  # absolute: MLflow finds
    # the script's git commit (mlflow.source.git.commit) from its path, and the runs log in a temporary folder

It logs the same runs into two stores, each written in a temporary folder first and then moved
here, so the absolute artifact paths MLflow records point nowhere (as on any machine a store was
copied to) and the importer has to find the artifacts beside the store:

- ``mlruns/``: the file store (``file:`` tracking URI; MLflow 3 refuses it unless
  MLFLOW_ALLOW_FILE_STORE=true), artifacts in ``mlruns/<experiment>/<run>/artifacts``;
- ``sqlite/mlflow.db``: the SQLite store, its artifacts in ``sqlite/mlruns/`` beside it (MLflow's
  default artifact root for a database URI). MLflow 3's schema has 65 tables, almost all empty;
  the file is rewritten with 512-byte pages (``PRAGMA page_size; VACUUM``, content unchanged) to
  keep it near 200 KB instead of 950 KB.

The runs: experiment "mnist-sweep" holds a finished run (numeric and text params, user tags, a
note, ``loss`` at 500 steps, ``accuracy`` every 50 steps, a NaN and an infinity in ``grad_norm``,
a file and a folder of artifacts), a failed run (an exception inside ``start_run``) and a killed
one; experiment "baseline" a run still running (never terminated) and a deleted run (which the
import skips), and a nested child of the finished run.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import mlflow  # type: ignore[import-not-found]  # in the scratch venv only
from mlflow.entities import Metric, Param, RunTag  # type: ignore[import-not-found]
from mlflow.tracking import MlflowClient  # type: ignore[import-not-found]

HERE = Path(__file__).resolve().parent


def log_runs() -> None:
    client = MlflowClient()
    sweep = mlflow.create_experiment("mnist-sweep", tags={"project": "digits"})
    baseline = mlflow.create_experiment("baseline")

    with mlflow.start_run(experiment_id=sweep, run_name="lr-0.01", description="first try, adam") as run:
        mlflow.log_params({"lr": "0.01", "batch_size": 32, "optimizer": "adam", "layers": "[64, 32]"})
        mlflow.log_param("model.dropout", 0.25)
        mlflow.set_tags({"team": "vision", "reviewed": ""})
        start = int(time.time() * 1000)
        run_id = run.info.run_id
        losses = [Metric("loss", 2.5 / (1 + step / 20), start + step, step) for step in range(500)]
        for first in range(0, 500, 200):
            client.log_batch(run_id, metrics=losses[first : first + 200])
        for step in range(0, 500, 50):
            mlflow.log_metric("accuracy", 0.5 + step / 1100, step=step, timestamp=start + step)
        for step, value in enumerate([1.5, float("nan"), float("inf"), 0.75]):
            mlflow.log_metric("grad_norm", value, step=step)
        mlflow.log_dict({"lr": 0.01, "layers": [64, 32]}, "config.json")
        with tempfile.TemporaryDirectory() as folder:
            plots = Path(folder) / "plots"
            (plots / "curves").mkdir(parents=True)
            (plots / "loss.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n')
            (plots / "curves" / "accuracy.csv").write_text("step,accuracy\n0,0.5\n450,0.909\n")
            mlflow.log_artifacts(str(plots), artifact_path="plots")
        with mlflow.start_run(experiment_id=sweep, run_name="eval", nested=True):
            mlflow.log_param("split", "test")
            mlflow.log_metric("test_accuracy", 0.91)
        time.sleep(max(0.0, (start + 500) / 1000 - time.time()))  # its points lie within its time

    try:
        with mlflow.start_run(experiment_id=sweep, run_name="lr-0.1"):
            mlflow.log_params({"lr": 0.1, "batch_size": 32, "optimizer": "adam"})
            for step in range(5):
                mlflow.log_metric("loss", 2.5 * (step + 1), step=step)
            raise FloatingPointError("loss diverged")
    except FloatingPointError:
        pass

    mlflow.start_run(experiment_id=sweep, run_name="lr-1.0")
    mlflow.log_params({"lr": 1.0, "batch_size": 64, "optimizer": "sgd"})
    mlflow.log_metric("loss", 9.5, step=0)
    mlflow.end_run(status="KILLED")

    running = client.create_run(baseline, run_name="still-running", tags={"mlflow.source.name": "train.py"})
    client.log_param(running.info.run_id, "epochs", "100")
    client.log_batch(
        running.info.run_id,
        metrics=[Metric("loss", 1.0 / (step + 1), int(time.time() * 1000), step) for step in range(3)],
        params=[Param("seed", "7")],
        tags=[RunTag("stage", "warmup")],
    )

    deleted = client.create_run(baseline, run_name="deleted")
    client.log_metric(deleted.info.run_id, "loss", 3.0)
    client.set_terminated(deleted.info.run_id)
    client.delete_run(deleted.info.run_id)


def make(target: Path, tracking_uri: str, database: str | None) -> None:
    """Log the runs in a temporary folder (the working directory, so MLflow's default artifact
    root lands there), then move what MLflow wrote to ``target``."""
    with tempfile.TemporaryDirectory(prefix="mlflow-fixture-") as scratch:
        os.chdir(scratch)
        mlflow.set_tracking_uri(tracking_uri)
        log_runs()
        if database is not None:
            with sqlite3.connect(database) as conn:
                conn.execute("PRAGMA page_size = 512")
                conn.execute("VACUUM")
        os.chdir(HERE)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(scratch, target)


if __name__ == "__main__":
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    make(HERE / "mlruns", "file:./mlruns", None)
    (HERE / "mlruns" / "mlruns").rename(HERE / "mlruns.tmp")
    shutil.rmtree(HERE / "mlruns")
    (HERE / "mlruns.tmp").rename(HERE / "mlruns")
    make(HERE / "sqlite", "sqlite:///mlflow.db", "mlflow.db")
