"""The promotion gate: whether a version's recorded accuracy is good enough to serve.

Pure functions over a model file's metadata, used by the trainer (which warns, or
refuses to write) and by the service (which rejects). The accuracy judged is the
validation accuracy when the version was trained with validation rows, else the
training accuracy; the reason says which.
"""

from __future__ import annotations

import math

DEFAULT_MIN_ACCURACY = 0.9


def recorded_accuracy(metadata: dict) -> tuple[str, float] | None:
    """``("validation" or "training", accuracy)`` as recorded, or None if it is not."""
    metrics = metadata.get("metrics")
    if not isinstance(metrics, dict):
        return None
    for key, label in (("validation", "validation"), ("train", "training")):
        section = metrics.get(key)
        accuracy = section.get("accuracy") if isinstance(section, dict) else None
        if isinstance(accuracy, (int, float)) and not isinstance(accuracy, bool) and math.isfinite(accuracy):
            return label, float(accuracy)
    return None


def gate_reason(metadata: dict, min_accuracy: float, threshold: str = "MIN_ACCURACY") -> str | None:
    """None when the version passes (or the gate is off: ``min_accuracy`` 0), else
    why not, naming the ``threshold`` (the setting or flag it came from)."""
    if min_accuracy <= 0:
        return None
    recorded = recorded_accuracy(metadata)
    if recorded is None:
        return f"no recorded accuracy ({threshold} {min_accuracy:.4f})"
    which, accuracy = recorded
    if accuracy < min_accuracy:
        return f"{which} accuracy {accuracy:.4f} < {threshold} {min_accuracy:.4f}"
    return None
