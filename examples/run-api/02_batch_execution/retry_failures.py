"""Re-running failed experiments without recreating their specs (replaces the spec's Pattern 4).

yanex stores every spec, so ``yanex.rerun(failed)`` runs the failed experiments again with the same
script, config and arguments, each new run linked to the one it retries. For faults you expect,
``run_multiple(..., retries=N)`` retries automatically. The CLI equivalent of the re-run is
``yanex rerun --status failed --tag retry-demo``.
"""

import tempfile
from pathlib import Path

import yanex


def make_specs(learning_rates: list[float], marker_dir: str) -> list[yanex.ExperimentSpec]:
    return [
        yanex.ExperimentSpec(
            script_path=Path(__file__).with_name("flaky_train.py"),
            config={"learning_rate": lr, "flaky": lr >= 0.01, "marker_dir": marker_dir},
            name=f"retry-demo-lr{lr}",
            tags=["retry-demo"],
        )
        for lr in learning_rates
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as markers:
        results = yanex.run_multiple(make_specs([0.001, 0.01, 0.1], markers), parallel=3)
        failed = [r for r in results if r.status == "failed"]
        print(f"First run: {len(results) - len(failed)} completed, {len(failed)} failed")
        for result in failed:
            print(f"  ✗ {result.name}: {result.error_message}")

        retried = yanex.rerun(failed, parallel=3)
        print(f"Re-run: {sum(r.status == 'completed' for r in retried)}/{len(retried)} completed")
        for old, new in zip(failed, retried, strict=True):
            print(f"  {new.name}: {old.experiment_id[:8]} -> {new.experiment_id[:8]} {new.status}")

        # New configurations with the same transient fault, retried automatically as it happens.
        again = yanex.run_multiple(make_specs([0.02, 0.2], markers), parallel=2, retries=1)
        print(f"With retries=1: {sum(r.status == 'completed' for r in again)}/{len(again)} completed")


if __name__ == "__main__":
    main()
