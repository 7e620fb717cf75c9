"""Training settings; the defaults are the reference network's."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from trainer.network import ACTIVATIONS, LOSSES


class ConfigError(ValueError):
    """A training setting that cannot work; the message names the setting."""


@dataclass(frozen=True)
class TrainConfig:
    hidden: tuple[int, ...] = (3,)
    activation: str = "sigmoid"
    loss: str = "half_squared_error"
    learning_rate: float = 0.05
    iterations: int = 5000
    seed: int = 3
    batch_size: int | None = None
    l2: float = 0.0
    validation_fraction: float = 0.0
    log_every: int = 500

    def __post_init__(self):
        problems = {
            "hidden": not self.hidden or any(width < 1 for width in self.hidden),
            "activation": self.activation not in ACTIVATIONS,
            "loss": self.loss not in LOSSES,
            "learning_rate": not 0 < self.learning_rate < float("inf"),
            "iterations": self.iterations < 1,
            "seed": not 0 <= self.seed < 2**32,
            "batch_size": self.batch_size is not None and self.batch_size < 1,
            "l2": not 0 <= self.l2 < float("inf"),
            "validation_fraction": not 0 <= self.validation_fraction < 1,
            "log_every": self.log_every < 1,
        }
        allowed = {
            "hidden": "one or more positive widths",
            "activation": " or ".join(ACTIVATIONS),
            "loss": " or ".join(LOSSES),
            "learning_rate": "a positive finite number",
            "iterations": "a positive integer",
            "seed": "an integer from 0 to 2**32 - 1",
            "batch_size": "a positive integer",
            "l2": "zero or a positive finite number",
            "validation_fraction": "at least 0 and below 1",
            "log_every": "a positive integer",
        }
        for name, bad in problems.items():
            if bad:
                raise ConfigError(f"{name} must be {allowed[name]}, got {getattr(self, name)!r}")

    def as_dict(self) -> dict:
        settings = asdict(self)
        settings["hidden"] = list(self.hidden)
        return settings
