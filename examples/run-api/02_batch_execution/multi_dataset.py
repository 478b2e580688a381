"""One model over several datasets, chosen through script_args (Pattern 3)."""

from pathlib import Path

import yanex

DATASETS = ["dataset_A", "dataset_B", "dataset_C"]


def main() -> None:
    experiments = [
        yanex.ExperimentSpec(
            script_path=Path(__file__).with_name("train.py"),
            config={"learning_rate": 0.001, "epochs": 5},
            script_args=["--dataset", dataset],  # the script sees them as sys.argv[1:]
            name=f"train-{dataset}",
            tags=["multi-dataset"],
        )
        for dataset in DATASETS
    ]
    results = yanex.run_multiple(experiments, parallel=3)
    for dataset, result in zip(DATASETS, results, strict=True):
        print(f"{dataset}: {result.experiment_id[:8]} {result.status}")
    print("Per-dataset accuracy: yanex compare --tag multi-dataset --metric accuracy")


if __name__ == "__main__":
    main()
