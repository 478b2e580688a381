"""Pipeline step 2: load the model its dependency saved and score it on held-out points.

``yanex.dependency()`` is the id of the experiment this one depends on (the ``train`` spec of
``pipeline.py``, or ``yanex run evaluate.py --depends-on ID``). Standalone it is None, and
``load_artifact`` reads what a standalone ``python train.py`` left in ``./artifacts/``.
"""

import random

import yanex


def main() -> None:
    model = yanex.load_artifact("model.json", experiment=yanex.dependency())
    rng = random.Random(1234)  # other points than training saw
    points = [(x, 2 * x + 1 + rng.gauss(0, 0.1)) for x in (rng.uniform(-2, 2) for _ in range(100))]
    mse = sum((model["slope"] * x + model["intercept"] - y) ** 2 for x, y in points) / len(points)
    yanex.log_metrics({"test_mse": mse})
    print(f"test MSE of {yanex.dependency() or 'the standalone model'}: {mse:.4f}")


if __name__ == "__main__":
    main()
