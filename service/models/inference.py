"""What ``POST /predict`` does behind the HTTP layer: choose a model, run it, shape the answer."""

from __future__ import annotations

import zlib

import numpy as np
import orjson

from service.protocols.errors import ModelNotFound, NoModel, VersionNotFound
from service.models.registry import LoadedModel, Snapshot
from service.models.repository import RepositorySnapshot

LISTED_NAMES = 20
"""Model names an unknown-model error lists, at most (the message stays short)."""


def model_snapshot(repository: RepositorySnapshot, name: str) -> Snapshot:
    """The snapshot of the served model ``name``; 404 when there is none."""
    snapshot = repository.get(name)
    if snapshot is None:
        names = list(repository.models)
        more = len(names) - LISTED_NAMES
        shown = ", ".join(names[:LISTED_NAMES]) + (f" and {more} more" if more > 0 else "")
        raise ModelNotFound(f"unknown model {name[:80]!r} (models: {shown or 'none'})")
    return snapshot


def choose_model(snapshot: Snapshot, requested: int | str | None) -> LoadedModel:
    """The served model, or the loaded version asked for by number or label; 503 or
    404 otherwise."""
    if snapshot.served is None:
        raise NoModel(snapshot.reason)
    if requested is None:
        return snapshot.served
    version = snapshot.resolve(requested)
    if version is None:
        raise VersionNotFound(f"no label {requested!r} (labels: {', '.join(sorted(snapshot.labels)) or 'none'})")
    model = snapshot.models.get(version)
    if model is None and version in snapshot.rejected:
        raise VersionNotFound(f"version {version} was rejected: {snapshot.rejected[version].reason}")
    if model is None:
        loaded = ", ".join(str(v) for v in sorted(snapshot.models))
        raise VersionNotFound(f"version {version} is not loaded (loaded: {loaded})")
    return model


def canary_bucket(request_id: str) -> int:
    """0-99 from the request id: the same id always lands in the same bucket, in every
    worker and replica, so a client that retries with its id gets the same version."""
    return zlib.crc32(request_id.encode("utf-8", "replace")) % 100


def route_model(snapshot: Snapshot, requested: int | str | None, request_id: str,
                canary_percent: int) -> tuple[LoadedModel, str]:
    """The model for a request, and its route: ``requested`` (it named a version or a
    label), ``pinned`` (MODEL_VERSION), ``canary`` (CANARY_PERCENT of the others go to
    the version labelled canary, when it is loaded and not the served one) or
    ``stable`` (the served version: the stable label's, else the newest)."""
    if requested is not None:
        return choose_model(snapshot, requested), "requested"
    served = choose_model(snapshot, None)
    if snapshot.pinned is not None:
        return served, "pinned"
    canary = snapshot.models.get(snapshot.labels.get("canary", 0)) if canary_percent else None
    if canary is not None and canary is not served and canary_bucket(request_id) < canary_percent:
        return canary, "canary"
    return served, "stable"


def predict(model: LoadedModel, rows) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, labels)`` for validated rows of ``[x1, x2]`` (a list or an
    (n, 2) array), in their order; see ``predict_lists``."""
    if len(rows) <= model.python_float_rows:
        probabilities, labels = predict_lists(model, rows.tolist() if isinstance(rows, np.ndarray) else rows)
        return np.array(probabilities), np.array(labels, dtype=np.int8)
    probabilities = model.predict(np.asarray(rows, dtype=np.float64).reshape(-1, 2))
    return probabilities, (probabilities >= 0.5).astype(np.int8)


def predict_lists(model: LoadedModel, rows) -> tuple[list[float], list[int]]:
    """``predict`` as plain lists, which orjson writes fastest, for rows of Python
    numbers. A few rows (at most ``model.python_float_rows``) are computed with Python
    floats, more with NumPy; both protocols get the same numbers for the same rows."""
    if len(rows) <= model.python_float_rows:
        probabilities = model.predict_rows(rows)
        return probabilities, [1 if probability >= 0.5 else 0 for probability in probabilities]
    probabilities, labels = predict(model, rows)
    return probabilities.tolist(), labels.tolist()


def prediction_body(model: LoadedModel, probabilities: list[float], labels: list[int]) -> bytes:
    """The response JSON."""
    predictions = [
        {"label": label, "probability": probability} for label, probability in zip(labels, probabilities)
    ]
    return orjson.dumps({"model": {"name": model.name, "version": model.version}, "predictions": predictions})
