"""Paths and small real data shared by the trainer and service tests."""

from pathlib import Path

import numpy as np
import pytest

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
