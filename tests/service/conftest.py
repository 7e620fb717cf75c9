"""Apps built from temporary models folders with small real model files."""

from __future__ import annotations

import numpy as np
import pytest

from service.app import create_app
from service.settings import Settings
from tests.conftest import write_version  # noqa: F401  (the service tests import it from here)

@pytest.fixture
def make_app(models_dir):
    def build(**overrides):
        # access lines written at once, so that pytest captures them with their test
        settings = Settings(models_dir=models_dir, reload_interval_s=0, access_log_flush_s=0, **overrides)
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


def flipped(layers):
    """The same network with its output negated: P(label = 1) becomes 1 - P."""
    return [*layers[:-1], (-layers[-1][0], -layers[-1][1])]


@pytest.fixture
def two_models(models_dir, trained_layers):
    """``moons`` version 1, and ``other`` versions 1 and 2: the flipped network, recorded
    as passing the gate (its accuracy on the moons is not the point)."""
    for _ in range(2):
        write_version(models_dir, flipped(trained_layers), name="other", accuracy=0.95)
    return models_dir


def write_plot(models_dir, layers, name="moons", version=1):
    """The decision-boundary picture the trainer writes beside a version, on the shipped data."""
    from trainer.data import load_dataset
    from trainer.plotting import decision_boundary_png
    from tests.conftest import SHIPPED_DATA

    data = load_dataset(SHIPPED_DATA)
    picture = decision_boundary_png(layers, "sigmoid", data.x, data.y, f"{name} version {version}")
    (models_dir / name / f"{version}.png").write_bytes(picture)
