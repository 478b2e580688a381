"""Train two models and evaluate each once it has trained, in one batch.

Each ``evaluate-*`` spec depends on its ``train-*`` spec by name: it starts only when that one has
completed, and is cancelled (``dependency 'train-lr0.5' failed``) if it fails. The two chains run
side by side on two workers, here or on a cluster (each evaluation reads the model its train step
saved, whichever worker ran that).

    python pipeline.py
    python pipeline.py dask://HOST:PORT     # on a Dask cluster (or slurm:partition=NAME)
    yanex show evaluate-lr0.05              # "depends on" names the train experiment
"""

import sys
from pathlib import Path

import yanex

HERE = Path(__file__).parent


def main(executor: str = "local") -> None:
    specs = []
    for lr in (0.05, 0.5):
        specs.append(
            yanex.ExperimentSpec(
                script_path=HERE / "train.py",
                config={"learning_rate": lr},
                name=f"train-lr{lr}",
                tags=["pipeline"],
            )
        )
        specs.append(
            yanex.ExperimentSpec(
                script_path=HERE / "evaluate.py",
                name=f"evaluate-lr{lr}",
                tags=["pipeline"],
                depends_on=[f"train-lr{lr}"],
            )
        )
    for result in yanex.run_multiple(specs, parallel=2, executor=executor):
        line = f"{result.name}: {result.experiment_id[:8]} {result.status} {result.error_message or ''}"
        print(line.rstrip())


if __name__ == "__main__":  # required for parallel runs where multiprocessing uses spawn
    main(*sys.argv[1:2])
