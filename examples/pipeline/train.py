"""Pipeline step 1: fit a line to noisy points and save the model as an artifact.

``yanex.save_artifact`` stores ``model.json`` with this experiment; ``evaluate.py`` loads it from
here through its dependency. Standalone (``python train.py``) the artifact goes to ``./artifacts/``.
"""

import random

import yanex


def main() -> None:
    learning_rate = yanex.get_param("learning_rate", 0.05)
    epochs = yanex.get_param("epochs", 200)
    rng = random.Random(yanex.get_param("seed", 0))
    points = [(x / 10, 2 * (x / 10) + 1 + rng.gauss(0, 0.1)) for x in range(-20, 21)]

    slope, intercept = 0.0, 0.0
    for epoch in range(epochs):
        grad_slope = sum(2 * (slope * x + intercept - y) * x for x, y in points) / len(points)
        grad_intercept = sum(2 * (slope * x + intercept - y) for x, y in points) / len(points)
        slope -= learning_rate * grad_slope
        intercept -= learning_rate * grad_intercept
        if epoch % 20 == 0 or epoch == epochs - 1:
            loss = sum((slope * x + intercept - y) ** 2 for x, y in points) / len(points)
            yanex.log_metrics({"loss": loss}, step=epoch)

    yanex.save_artifact({"slope": slope, "intercept": intercept}, "model.json")
    print(f"model: y = {slope:.3f} x + {intercept:.3f}")


if __name__ == "__main__":
    main()
