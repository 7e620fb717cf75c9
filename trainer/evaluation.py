"""Metrics of predicted probabilities against 0/1 labels, both shaped (n, 1) or (n,)."""

from __future__ import annotations

import numpy as np

_EPSILON = 1e-12


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose rounded probability equals the label (the reference's rule)."""
    return float(np.mean(np.round(probabilities) == labels))


def mean_absolute_deviation(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The reference's "deviation": ``sum(|y - h|) / n``."""
    return float(np.sum(np.abs(labels - probabilities)) / len(labels))


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy, with probabilities clipped away from 0 and 1."""
    p = np.clip(probabilities, _EPSILON, 1.0 - _EPSILON)
    return float(-np.mean(labels * np.log(p) + (1.0 - labels) * np.log(1.0 - p)))


def evaluate(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{"accuracy", "deviation", "log_loss"}`` for one set of rows."""
    return {
        "accuracy": accuracy(probabilities, labels),
        "deviation": mean_absolute_deviation(probabilities, labels),
        "log_loss": log_loss(probabilities, labels),
    }
