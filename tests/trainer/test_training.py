"""Options beyond the reference: losses, activations, mini-batches, L2, validation rows."""

import numpy as np
import pytest

from trainer.config import ConfigError, TrainConfig
from trainer.training import train


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(hidden=(16, 16), activation="relu", loss="cross_entropy", learning_rate=0.001, iterations=1500),
        TrainConfig(hidden=(8,), activation="tanh", learning_rate=0.01, iterations=1500),
        TrainConfig(batch_size=64, learning_rate=0.5, iterations=3000),
    ],
    ids=["relu-16x16-cross-entropy", "tanh-8", "mini-batch-64"],
)
def test_other_settings_learn_the_moons(shipped_data, config):
    result = train(shipped_data.x, shipped_data.y, config)
    assert result.metrics["train"]["accuracy"] > 0.95
    assert result.history[0]["train"]["accuracy"] < result.metrics["train"]["accuracy"]


def test_l2_penalty_shrinks_the_weights(shipped_data):
    plain = train(shipped_data.x, shipped_data.y, TrainConfig(iterations=1000))
    penalised = train(shipped_data.x, shipped_data.y, TrainConfig(iterations=1000, l2=5.0))
    norm = lambda layers: sum(float(np.sum(w**2)) for w, _ in layers)  # noqa: E731
    assert norm(penalised.layers) < 0.8 * norm(plain.layers)


def test_validation_rows_are_measured_in_history_and_metrics(shipped_data):
    x, y = shipped_data.x, shipped_data.y
    result = train(x[:1600], y[:1600], TrainConfig(iterations=600, log_every=200), validation=(x[1600:], y[1600:]))
    assert [r["iteration"] for r in result.history] == [1, 201, 401]
    assert all(set(r) == {"iteration", "train", "validation"} for r in result.history)
    assert result.metrics["validation"]["accuracy"] > 0.9


def test_bad_settings_name_the_setting():
    with pytest.raises(ConfigError, match="loss must be half_squared_error or cross_entropy"):
        TrainConfig(loss="hinge")
    with pytest.raises(ConfigError, match="l2 must be"):
        TrainConfig(l2=float("nan"))
