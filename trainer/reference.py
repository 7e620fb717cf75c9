"""The reference training loop exactly as ``REFERENCE.md`` states it.

Plain NumPy, temporaries and all. It is not used for training: it is the oracle the
tests hold ``training.train`` to, and the baseline ``bench/train_bench.py`` times.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def reference_train(x: np.ndarray, y: np.ndarray, iterations: int = 5000, learning_rate: float = 0.05):
    """Return ``([(w1, b1), (w2, b2)], log)``; ``log`` holds ``(iteration, deviation,
    accuracy)`` every 500 iterations, measured before that iteration's update."""
    np.random.seed(3)
    w1 = np.random.randn(2, 3)
    b1 = np.zeros((1, 3))
    w2 = np.random.randn(3, 1)
    b2 = np.zeros((1, 1))
    log = []
    for i in range(iterations):
        z1 = x @ w1 + b1
        h1 = _sigmoid(z1)
        z2 = h1 @ w2 + b2
        h2 = _sigmoid(z2)
        if i % 500 == 0:
            log.append((i + 1, np.sum(np.abs(y - h2)) / len(y), np.mean(np.round(h2) == y)))
        delta2 = (h2 - y) * h2 * (1 - h2)
        delta1 = (delta2 @ w2.T) * h1 * (1 - h1)
        dw2 = h1.T @ delta2
        db2 = np.sum(delta2, axis=0)
        dw1 = x.T @ delta1
        db1 = np.sum(delta1, axis=0)
        w1 -= learning_rate * dw1
        b1 -= learning_rate * db1
        w2 -= learning_rate * dw2
        b2 -= learning_rate * db2
    return [(w1, b1), (w2, b2)], log
