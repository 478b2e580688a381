"""Random search: sample configurations instead of walking a grid (Pattern 1)."""

import random
from pathlib import Path

import yanex

SAMPLES = 8


def main() -> None:
    rng = random.Random(42)  # a fixed seed makes the sweep reproducible
    experiments = []
    for i in range(SAMPLES):
        config = {
            "learning_rate": round(10 ** rng.uniform(-4, -1), 6),  # log scale
            "batch_size": rng.choice([16, 32, 64, 128]),
            "dropout": round(rng.uniform(0.1, 0.5), 3),
            "epochs": 5,
        }
        experiments.append(
            yanex.ExperimentSpec(
                script_path=Path(__file__).with_name("train.py"),
                config=config,
                name=f"random-{i}",
                tags=["random-search"],
            )
        )

    results = yanex.run_multiple(experiments, parallel=4)
    completed = sum(r.status == "completed" for r in results)
    print(f"Random search: {completed}/{len(results)} completed")
    for spec, result in zip(experiments, results, strict=True):
        print(f"  {result.name}: {result.experiment_id[:8]} {result.status} {spec.config}")
    print("Best run: yanex list --tag random-search --sort metrics.accuracy --desc --limit 1")


if __name__ == "__main__":
    main()
