"""Paths and small real data shared by the trainer and service tests."""

from pathlib import Path

import numpy as np
import pytest

from trainer.artifacts import write_model
from trainer.config import TrainConfig
from trainer.training import train

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "moon_data.csv"
SHIPPED_DATA = PROJECT_ROOT / "data" / "moon_data.csv"


@pytest.fixture(scope="session")
def reference_data():
    """The original data set from ../shared, or a skip that says it is absent."""
    if not SHARED_DATA.is_file():
        pytest.skip(f"reference data {SHARED_DATA} is absent (it lives in ../shared beside the checkout)")
    from trainer.data import load_dataset

    return load_dataset(SHARED_DATA)


@pytest.fixture(scope="session")
def shipped_data():
    from trainer.data import load_dataset

    return load_dataset(SHIPPED_DATA)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


METADATA = {"created_at": "2026-01-01T00:00:00+00:00", "activation": "sigmoid", "loss": "half_squared_error"}


@pytest.fixture(scope="session")
def trained_layers(shipped_data):
    """Layers of a small real network trained on the shipped data (fast: 800 steps)."""
    return train(shipped_data.x, shipped_data.y, TrainConfig(iterations=800)).layers


def write_version(models_dir, layers, name="moons", accuracy: float | None = None) -> int:
    """A new version of ``layers``, with their real training accuracy on the shipped
    data recorded (what the service's MIN_ACCURACY gate judges), or ``accuracy``."""
    if accuracy is None:
        from trainer.data import load_dataset
        from trainer.evaluation import accuracy as accuracy_of
        from trainer.network import predict_proba

        data = load_dataset(SHIPPED_DATA)
        accuracy = accuracy_of(predict_proba(layers, data.x, METADATA["activation"]), data.y[:, 0])
    return write_model(models_dir, name, layers, {**METADATA, "metrics": {"train": {"accuracy": accuracy}}})[1]


@pytest.fixture
def models_dir(tmp_path, trained_layers):
    folder = tmp_path / "models"
    write_version(folder, trained_layers)
    return folder
