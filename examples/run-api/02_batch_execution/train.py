"""Simple training script executed by the batch examples.

Reads its hyperparameters with ``yanex.get_param`` and logs loss and accuracy once per epoch. Run it
on its own (``python train.py``) and it uses the defaults; run by ``yanex.run_multiple`` it gets
each experiment's config. ``--dataset NAME`` selects a (simulated) dataset.
"""

import argparse
import math
import os
import random
import time

import yanex

# Seconds per simulated epoch: 10 epochs take about 2 s, as in the README's expected output.
EPOCH_SECONDS = float(os.environ.get("EXAMPLE_EPOCH_SECONDS", "0.2"))
DATASET_DIFFICULTY = {"dataset_A": 0.0, "dataset_B": 0.05, "dataset_C": 0.1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="dataset_A", choices=sorted(DATASET_DIFFICULTY))
    args = parser.parse_args()

    learning_rate = yanex.get_param("learning_rate", 0.01)
    batch_size = yanex.get_param("batch_size", 32)
    epochs = yanex.get_param("epochs", 10)
    dropout = yanex.get_param("dropout", 0.0)
    random.seed(yanex.get_param("random_seed", 0))

    # A made-up learning curve in which every parameter shows: a small learning rate learns
    # slowly, a large one quickly but to a worse plateau (best near lr=0.01); smaller batches take
    # more steps per epoch and generalise a little better; the seed sets the noise. The loss is
    # the accuracy's cross-entropy.
    rate = 3.0 * math.sqrt(learning_rate / 0.01) * math.sqrt(32 / batch_size)
    ceiling = 0.97 - 0.12 * max(0.0, math.log10(learning_rate / 0.01)) - dropout * 0.1
    ceiling -= 0.04 * max(0.0, math.log2(batch_size / 16))
    ceiling -= DATASET_DIFFICULTY[args.dataset]
    for epoch in range(epochs):
        progress = (epoch + 1) / epochs
        accuracy = 0.1 + (ceiling - 0.1) * (1 - math.exp(-rate * progress)) + random.uniform(-0.01, 0.01)
        accuracy = min(max(accuracy, 0.01), 0.999)
        loss = -math.log(accuracy)
        yanex.log_metrics({"epoch": epoch, "loss": round(loss, 4), "accuracy": round(accuracy, 4)})
        time.sleep(EPOCH_SECONDS)
    print(f"{args.dataset}: lr={learning_rate} batch_size={batch_size} accuracy={accuracy:.3f}")


if __name__ == "__main__":
    main()
