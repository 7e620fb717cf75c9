"""The training loop: gradient descent on the network of ``network.py``.

Each step runs the plan of ``step_plan.build_step`` (the reference's arithmetic, bit
for bit, without per-step allocation), then updates every parameter at once through
the flat vector: two NumPy calls, whatever the number of layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from trainer.config import TrainConfig
from trainer.evaluation import evaluate
from trainer.network import Layer, forward, init_layers
from trainer.step_plan import FlatLayers, Workspace, build_step


@dataclass
class TrainResult:
    layers: list[Layer]
    history: list[dict]
    metrics: dict[str, dict[str, float]]


class GradientStep:
    """Summed gradients of one batch into ``flat.gradients``, one plan per batch size."""

    def __init__(self, flat: FlatLayers, config: TrainConfig, input_width: int):
        self.flat, self.config = flat, config
        self.sizes = [input_width, *[weights.shape[1] for weights, _ in flat.layers]]
        self._plans: dict[int, tuple[Workspace, list]] = {}

    def _plan(self, rows: int) -> tuple[Workspace, list]:
        if rows not in self._plans:
            space = Workspace(rows, self.sizes)
            self._plans[rows] = (space, build_step(self.flat, self.config, space))
        return self._plans[rows]

    def prepare(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None) -> list:
        """Load a batch (all rows, or ``rows``) and return the calls that step on it."""
        space, step = self._plan(len(x) if rows is None else len(rows))
        space.load(x, y, rows)
        return step

    def probabilities(self, rows: int) -> np.ndarray:
        """The last forward pass's P(label = 1) for a batch of ``rows`` rows, (rows, 1)."""
        return self._plan(rows)[0].outputs[-1]

    def gradients(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Fill ``flat.gradients`` for ``x`` (n, fan_in), ``y`` (n, 1); return P(1), (n, 1)."""
        for call in self.prepare(x, y):
            call()
        return self.probabilities(len(x))


def _mini_batches(rows: int, batch_size: int, rng: np.random.Generator):
    """Endless shuffled index batches, a new order every pass over the rows."""
    while True:
        order = rng.permutation(rows)
        for start in range(0, rows, batch_size):
            yield order[start : start + batch_size]


def _measure(layers, activation: str, x, y, validation, probabilities=None) -> dict:
    """``{"train": metrics}`` and, with validation rows, ``"validation"``; the training
    rows' probabilities are computed unless given."""
    if probabilities is None:
        probabilities = forward(layers, x, activation)[-1]
    measured = {"train": evaluate(probabilities, y)}
    if validation is not None:
        measured["validation"] = evaluate(forward(layers, validation[0], activation)[-1], validation[1])
    return measured


def train(
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    on_log: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Fit a network to ``x`` (n, 2) and ``y`` (n, 1) by gradient descent.

    Every ``config.log_every`` iterations (and at the first) the history records the
    metrics of the forward pass of that iteration, before its update, on the training
    rows and on the validation rows if any. ``on_log`` sees each record as it is made.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1, 1)
    if validation is not None and len(validation[0]) == 0:
        validation = None
    flat = FlatLayers(init_layers([x.shape[1], *config.hidden, 1], np.random.RandomState(config.seed)))
    stepper = GradientStep(flat, config, x.shape[1])
    full_batch = config.batch_size is None or config.batch_size >= len(x)
    step = stepper.prepare(x, y) if full_batch else None
    batches = None if full_batch else _mini_batches(len(x), config.batch_size, np.random.default_rng(config.seed))
    values, gradients, learning_rate, log_every = flat.values, flat.gradients, config.learning_rate, config.log_every
    history = []
    with np.errstate(over="ignore"):
        for iteration in range(config.iterations):
            if not full_batch:
                step = stepper.prepare(x, y, next(batches))
            for call in step:
                call()
            if iteration % log_every == 0:
                probabilities = stepper.probabilities(len(x)) if full_batch else None
                record = {"iteration": iteration + 1,
                          **_measure(flat.layers, config.activation, x, y, validation, probabilities)}
                history.append(record)
                if on_log is not None:
                    on_log(record)
            gradients *= learning_rate
            values -= gradients
    layers = flat.copy_layers()
    metrics = _measure(layers, config.activation, x, y, validation)
    return TrainResult(layers, history, metrics)
