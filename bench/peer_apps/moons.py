"""The model every peer serves: Moonserve's model file, read by the project's own
reader, and the plain NumPy forward pass (``trainer.network.forward``, what the
trainer computes with), as a user of any server would call it. Needs only NumPy;
``bench/peers.py`` puts the project on ``PYTHONPATH`` and the file in ``MOONS_MODEL``."""

from __future__ import annotations

import os

import numpy as np

from trainer.artifacts import read_model
from trainer.network import forward

_MODEL = read_model(os.environ["MOONS_MODEL"])
NAME, VERSION = "moons", _MODEL.version
_ACTIVATION = _MODEL.metadata.get("activation", "sigmoid")


def probabilities(rows) -> np.ndarray:
    """P(label = 1) for each row of ``rows`` (n x 2)."""
    x = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    return forward(_MODEL.layers, x, _ACTIVATION)[-1][:, 0]


def predictions(rows) -> list[dict]:
    """Moonserve's /predict answer shape: a label and its probability per row."""
    return [{"label": int(p >= 0.5), "probability": p} for p in probabilities(rows).tolist()]


def answer(rows) -> dict:
    return {"model": {"name": NAME, "version": VERSION}, "predictions": predictions(rows)}
