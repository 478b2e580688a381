"""Ensemble training: the same configuration with different random seeds (Pattern 2)."""

from pathlib import Path

import yanex

SEEDS = range(6)


def main() -> None:
    experiments = [
        yanex.ExperimentSpec(
            script_path=Path(__file__).with_name("train.py"),
            config={"learning_rate": 0.001, "random_seed": seed, "epochs": 5},
            name=f"ensemble-{seed}",
            tags=["ensemble"],
        )
        for seed in SEEDS
    ]
    results = yanex.run_multiple(experiments, parallel=0)  # 0: one worker per CPU
    members = [r for r in results if r.status == "completed"]
    print(f"Ensemble: {len(members)} of {len(results)} members trained")
    for result in results:
        print(f"  {result.name}: {result.experiment_id[:8]} {result.status}")
    print("Compare the members: yanex compare --tag ensemble")


if __name__ == "__main__":
    main()
