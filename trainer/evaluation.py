"""Metrics of predicted probabilities against 0/1 labels, both shaped (n, 1) or (n,)."""

from __future__ import annotations

import numpy as np

from trainer.network import LOSSES


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose rounded probability equals the label (the reference's rule)."""
    return float(np.mean(np.round(probabilities) == labels))


def mean_absolute_deviation(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The reference's "deviation": ``sum(|y - h|) / n``."""
    return float(np.sum(np.abs(labels - probabilities)) / len(labels))


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy, with probabilities clipped away from 0 and 1."""
    return LOSSES["cross_entropy"].total(probabilities, labels) / len(labels)


def evaluate(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{"accuracy", "deviation", "log_loss"}`` for one set of rows."""
    return {
        "accuracy": accuracy(probabilities, labels),
        "deviation": mean_absolute_deviation(probabilities, labels),
        "log_loss": log_loss(probabilities, labels),
    }
