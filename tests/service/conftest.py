"""Apps built from temporary models folders with small real model files."""

from __future__ import annotations

import numpy as np
import pytest

from service.app import create_app
from service.settings import Settings
from trainer.artifacts import write_model
from trainer.config import TrainConfig
from trainer.training import train

METADATA = {"created_at": "2026-01-01T00:00:00+00:00", "activation": "sigmoid", "loss": "half_squared_error"}


@pytest.fixture(scope="session")
def trained_layers(shipped_data):
    """Layers of a small real network trained on the shipped data (fast: 800 steps)."""
    return train(shipped_data.x, shipped_data.y, TrainConfig(iterations=800)).layers


def write_version(models_dir, layers, name="moons") -> int:
    return write_model(models_dir, name, layers, METADATA)[1]


@pytest.fixture
def models_dir(tmp_path, trained_layers):
    folder = tmp_path / "models"
    write_version(folder, trained_layers)
    return folder


@pytest.fixture
def make_app(models_dir):
    def build(**overrides):
        settings = Settings(models_dir=models_dir, reload_interval_s=0, **overrides)
        return create_app(settings, start_reloader=False)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def numpy_probabilities(layers, rows):
    """The forward pass written out in NumPy, the oracle for the service's answers."""
    h = np.asarray(rows, dtype=float)
    with np.errstate(over="ignore"):
        for weights, bias in layers:
            h = 1 / (1 + np.exp(-(h @ weights + bias)))
    return h[:, 0]
