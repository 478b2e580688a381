"""Grid search over learning rate and batch size with yanex.run_multiple().

Run it directly, from this folder: ``python grid_search.py`` (not through ``yanex run``).
"""

import shlex
import shutil
import sys
from pathlib import Path

import yanex

LEARNING_RATES = [0.001, 0.01, 0.1]
BATCH_SIZES = [16, 32]
EPOCHS = 10
PARALLEL = 3


def main() -> None:
    print("Grid Search Configuration")
    print(f"  Learning rates: {LEARNING_RATES}")
    print(f"  Batch sizes: {BATCH_SIZES}")
    print(f"  Epochs: {EPOCHS}")
    print(f"  Total experiments: {len(LEARNING_RATES) * len(BATCH_SIZES)}")
    print()

    experiments = [
        yanex.ExperimentSpec(
            script_path=Path(__file__).with_name("train.py"),
            config={"learning_rate": lr, "batch_size": bs, "epochs": EPOCHS},
            name=f"grid-lr{str(lr).replace('.', '_')}-bs{bs}",
            tags=["grid-search"],
            description=f"Grid search: learning_rate={lr}, batch_size={bs}",
        )
        for lr in LEARNING_RATES
        for bs in BATCH_SIZES
    ]
    print(f"Created {len(experiments)} experiment specifications")
    print()

    print(f"Running experiments with {PARALLEL} parallel workers...")
    print()
    results = yanex.run_multiple(experiments, parallel=PARALLEL)

    completed = [r for r in results if r.status == "completed"]
    failed = [r for r in results if r.status != "completed"]
    print("=" * 60)
    print("GRID SEARCH RESULTS")
    print("=" * 60)
    print()
    print(f"Total: {len(results)}")
    print(f"Completed: {len(completed)}")
    print(f"Failed: {len(failed)}")
    print()
    if completed:
        print("Completed experiments:")
        for result in completed:
            print(f"  ✓ {result.name}: {result.experiment_id[:8]} ({result.duration:.2f}s)")
        print()
    if failed:
        print("Failed experiments:")
        for result in failed:
            print(f"  ✗ {result.name}: {result.experiment_id[:8]} ({result.status}: {result.error_message})")
        print()
    yanex_cli = yanex_command()
    print("To view experiment details:")
    print(f"  {yanex_cli} show {results[0].experiment_id[:8]}")
    print(f"  {yanex_cli} list --tag grid-search")
    print(f"  {yanex_cli} compare --tag grid-search")
    print(f"  {yanex_cli} plot accuracy --tag grid-search")


def yanex_command() -> str:
    """How to call, from the shell, the yanex this Python runs: `make demo` does not activate its venv.

    Plain `yanex` when PATH finds this one, else its path (a `yanex` found elsewhere may be another
    install, or PyPI's unrelated project of that name).
    """
    ours = Path(sys.executable).parent / "yanex"
    found = shutil.which("yanex")
    if not ours.is_file() or (found is not None and Path(found).resolve() == ours.resolve()):
        return "yanex"
    return shlex.quote(str(ours))


if __name__ == "__main__":
    main()
