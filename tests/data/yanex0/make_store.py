"""Make the fixture store of the file-based yanex (the unrelated ``yanex`` 0.6.1 on the package
index) that tests/test_import_yanex_files.py imports, with that yanex itself:

    python3 -m venv /tmp/yanex0-venv && /tmp/yanex0-venv/bin/pip install 'yanex==0.6.1'
    /tmp/yanex0-venv/bin/python tests/data/yanex0/make_store.py            # -> tests/data/yanex0/store
    /tmp/yanex0-venv/bin/python tests/data/yanex0/make_store.py --large DIR   # 200 x 1,000 points

The default writes ``store/experiments/<8 hex>/`` (its layout under ``~/.yanex``) by running
four scripts with its CLI, ``yanex run``, from a folder outside any git repository (so no git
capture or patch of this checkout lands in the fixture): a training run that completes with
metrics over steps and artifacts, one that fails, one with tags and a description that depends
on the first, and one that prints to stdout and stderr. The failed one is then archived (``yanex
archive``: its folder moves to ``experiments/archived/``). ``--large`` writes a
larger store in the same format, through its own storage classes, for timing the import.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

TRAIN = """
import yanex
lr = yanex.get_param("lr")
layers = yanex.get_param("model.layers")
for step in range(5):
    yanex.log_metrics({"loss": round(1.0 / (step + 1) + lr, 6), "acc": step / 10}, step=step)
yanex.log_metrics({"acc": 0.45, "note": "best"}, step=4)  # the same step again: merged
yanex.save_artifact({"layers": layers, "lr": lr}, "model.json")
yanex.save_artifact("weights " * 20, "weights/final.txt")
print("trained", len(layers), "layers")
"""

FAIL = """
import yanex
yanex.log_metrics({"loss": 2.5})
yanex.log_metrics({"loss": float("nan")})
raise ValueError("loss diverged")
"""

EVALUATE = """
import yanex
yanex.log_metrics({"score": 0.91, "per_class": [0.9, 0.92]})
"""

PRINTS = """
import sys
import yanex
print("hello from stdout")
print("line two")
print("a warning on stderr", file=sys.stderr)
yanex.log_metrics({"x": 1}, step=0)
yanex.log_metrics({"x": 2}, step=3)
"""


def _run(yanex: Path, folder: Path, env: dict[str, str], script: str, *args: str) -> str:
    """One ``yanex run`` of ``script``; returns the new experiment's id."""
    (folder / script).write_text(textwrap.dedent(globals()[script.removesuffix(".py").upper()]))
    experiments = Path(env["YANEX_EXPERIMENTS_DIR"])
    before = set(os.listdir(experiments)) if experiments.exists() else set()
    subprocess.run([str(yanex), "run", script, *args], cwd=folder, env=env, check=False)
    (new,) = set(os.listdir(experiments)) - before
    return new


def make_fixture(store: Path) -> None:
    if store.exists():
        shutil.rmtree(store)
    yanex = Path(sys.executable).parent / "yanex"
    env = {**os.environ, "YANEX_EXPERIMENTS_DIR": str(store / "experiments")}
    env.pop("YANEX_EXPERIMENT_ID", None)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "config.yaml").write_text("lr: 0.01\nmodel:\n  layers: [64, 32]\n  act: relu\n")
        train = _run(yanex, folder, env, "train.py", "--config", "config.yaml", "--name", "train-small")
        fail = _run(yanex, folder, env, "fail.py", "--param", "lr=0.5", "--name", "diverges")
        _run(
            yanex,
            folder,
            env,
            "evaluate.py",
            "--name",
            "evaluate",
            "--tag",
            "eval",
            "--tag",
            "v1",
            "--description",
            "scores the small model",
            "-D",
            train,
        )
        _run(yanex, folder, env, "prints.py")
        subprocess.run([str(yanex), "archive", fail, "--force"], cwd=folder, env=env, check=True)


def make_large(store: Path, experiments: int = 200, points: int = 1000) -> None:
    """``experiments`` completed runs of ``points`` steps of two metrics each, in its format."""
    from yanex.core.manager import ExperimentManager  # type: ignore[import-not-found]  # theirs

    manager = ExperimentManager(store / "experiments")
    for index in range(experiments):
        experiment_id = manager.create_experiment(
            Path("train.py"),
            name=f"large-{index}",
            config={"lr": 0.001 * index, "seed": index},
            tags=["large"],
        )
        manager.start_experiment(experiment_id)
        rows = [
            {
                "loss": 1.0 / (step + 1),
                "acc": step / points,
                "step": step,
                "timestamp": f"2026-01-01T00:00:{step % 60:02d}.{step:06d}",
            }
            for step in range(points)
        ]
        manager.storage.save_results(experiment_id, rows)
        manager.complete_experiment(experiment_id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", type=Path, help="write the larger store here instead")
    options = parser.parse_args()
    if options.large:
        make_large(options.large)
    else:
        make_fixture(HERE / "store")
