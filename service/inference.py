"""What ``POST /predict`` does behind the HTTP layer: choose a model, run it, shape the answer."""

from __future__ import annotations

import numpy as np
import orjson

from service.errors import NoModel, VersionNotFound
from service.registry import LoadedModel, Snapshot


def choose_model(snapshot: Snapshot, requested: int | None) -> LoadedModel:
    """The served model, or the loaded version asked for; 503 or 404 otherwise."""
    if snapshot.served is None:
        raise NoModel(snapshot.reason)
    if requested is None:
        return snapshot.served
    model = snapshot.models.get(requested)
    if model is None:
        loaded = ", ".join(str(v) for v in sorted(snapshot.models))
        raise VersionNotFound(f"version {requested} is not loaded (loaded: {loaded})")
    return model


def predict(model: LoadedModel, rows) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, labels)`` for validated rows of ``[x1, x2]`` (a list or an
    (n, 2) array), in their order."""
    probabilities = model.predict(np.asarray(rows, dtype=np.float64).reshape(-1, 2))
    return probabilities, (probabilities >= 0.5).astype(np.int8)


def prediction_body(model: LoadedModel, probabilities: np.ndarray, labels: np.ndarray) -> bytes:
    """The response JSON; built from plain lists, which orjson writes fastest."""
    predictions = [
        {"label": label, "probability": probability}
        for label, probability in zip(labels.tolist(), probabilities.tolist())
    ]
    return orjson.dumps({"model": {"name": model.name, "version": model.version}, "predictions": predictions})
