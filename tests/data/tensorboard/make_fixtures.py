"""Write the TensorBoard logs under tests/data/tensorboard/logs with real writers.

Made with tensorboardX 2.6.5 (its SummaryWriter, the writer PyTorch's is a fork of) and
tensorboard 2.21.0 (protobuf 7.36.2), in a scratch venv, never in yanex's:

    python3 -m venv /tmp/tb-venv && /tmp/tb-venv/bin/pip install tensorboardX==2.6.5 tensorboard==2.21.0
    /tmp/tb-venv/bin/python tests/data/tensorboard/make_fixtures.py

Three runs of 200 steps, laid out as a sweep is (logs/lr0.1/seed0, logs/lr0.1/seed1,
logs/lr0.01/seed0):
- lr0.1/seed0 logs scalars the way ``add_scalar`` does (``simple_value``), a histogram every 50
  steps (not a scalar: not imported), and its hyperparameters as the HParams plugin's session
  start info, written by its own writer (as Keras' hparams callback does, not in a child folder
  as ``add_hparams`` does);
- lr0.1/seed1 logs scalars only;
- lr0.01/seed0 logs scalars as ``tf.summary.scalar`` does in TensorFlow 2: a float32 tensor under
  the scalars plugin (written from ``tensorboard.plugins.scalar.summary_v2.scalar_pb``).
Values are seeded; wall times are the real ones of the writing (the file's names carry them).
"""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboardX import SummaryWriter
from tensorboardX.proto.summary_pb2 import Summary
from tensorboardX.summary import hparams

LOGS = Path(__file__).parent / "logs"
STEPS = 200


def curves(lr: float, seed: int, step: int, rng: random.Random) -> dict[str, float]:
    loss = 2.3 * math.exp(-step * lr / 4) + 0.05 * rng.random()
    return {"train/loss": loss, "train/accuracy": 1 - loss / 2.4}


def main() -> None:
    shutil.rmtree(LOGS, ignore_errors=True)
    for lr, seed in ((0.1, 0), (0.1, 1), (0.01, 0)):
        rng = random.Random(seed)
        with SummaryWriter(str(LOGS / f"lr{lr}" / f"seed{seed}")) as writer:
            for step in range(STEPS):
                for tag, value in curves(lr, seed, step, rng).items():
                    if lr == 0.01:  # TensorFlow 2's encoding: a tensor, not simple_value
                        tensor = Summary.FromString(scalar_pb(tag, value).SerializeToString())
                        writer.file_writer.add_summary(tensor, step)
                    else:
                        writer.add_scalar(tag, value, step)
                if (lr, seed) == (0.1, 0) and step % 50 == 0:
                    writer.add_histogram("weights", [rng.gauss(0, 1) for _ in range(64)], step)
            if (lr, seed) == (0.1, 0):
                params = {"lr": lr, "seed": seed, "optimizer": "adam", "batch_size": 32, "augment": True}
                experiment, start, end = hparams(params, {"train/accuracy": 0.0})
                for summary in (experiment, start, end):
                    writer.file_writer.add_summary(summary)


if __name__ == "__main__":
    main()
