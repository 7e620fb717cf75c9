"""The training loop: gradient descent on the network of ``network.py``.

The loop does the reference's arithmetic, operation for operation, so that the
default run reproduces its figures to the last bit; it is fast because nothing is
allocated per step (every array lives in a workspace made once), all parameters sit
in one flat vector updated by two operations, and column sums use ``einsum``, which
adds rows in the same order as ``np.sum(axis=0)`` at a third of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from trainer.config import TrainConfig
from trainer.evaluation import evaluate
from trainer.network import ACTIVATIONS, LOSSES, Layer, forward, init_layers


class FlatLayers:
    """Layers ``(W, b)`` as views into one flat vector, gradients likewise.

    Each layer's ``W`` is followed by its ``b`` in the vector, so the pair is also
    one ``(fan_in + 1, fan_out)`` matrix, the bias its last row: ``augmented``.
    """

    def __init__(self, layers: list[Layer]):
        self.values = np.concatenate([a.ravel() for layer in layers for a in layer])
        self.gradients = np.empty_like(self.values)
        self.layers, self.augmented = self._views(self.values, layers)
        self.gradient_layers, _ = self._views(self.gradients, layers)

    @staticmethod
    def _views(flat: np.ndarray, layers: list[Layer]):
        views, augmented, offset = [], [], 0
        for weights, bias in layers:
            end = offset + weights.size + bias.size
            block = flat[offset:end]
            views.append((block[: weights.size].reshape(weights.shape), block[weights.size :].reshape(bias.shape)))
            augmented.append(block.reshape(-1, bias.shape[1]))
            offset = end
        return views, augmented

    def copy_layers(self) -> list[Layer]:
        return [(weights.copy(), bias.copy()) for weights, bias in self.layers]


class Workspace:
    """Every per-step array for a batch of ``rows`` rows, allocated once."""

    def __init__(self, rows: int, layer_sizes: list[int]):
        widths = layer_sizes[1:]
        self.outputs = [np.empty((rows, width)) for width in widths]
        self.deltas = [np.empty((rows, width)) for width in widths]
        self.scratch = [np.empty((rows, width)) for width in widths]
        self._inputs_with_ones = np.ones((rows, layer_sizes[0] + 1))
        self._inputs_seen = None
        self._padded_delta = np.zeros((rows, 2))
        self._padded_weights = np.zeros((2, max(layer_sizes)))

    def inputs_with_ones(self, x: np.ndarray) -> np.ndarray:
        """``[x | 1]``, so that the first layer's bias rides in its matmul.

        Filled only when ``x`` is another array than last time: full-batch training
        passes the same one every step.
        """
        if self._inputs_seen is not x:
            self._inputs_with_ones[:, :-1] = x
            self._inputs_seen = x
        return self._inputs_with_ones

    def outer(self, column: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
        """``column @ weights.T`` for ``column`` (n, 1) and ``weights`` (k, 1), into ``out``.

        NumPy does an inner dimension of 1 with its own loop, three times slower
        than BLAS; a zero second column sends it to BLAS, which adds only 0 * 0 to
        each product, so the result is the same to the bit.
        """
        self._padded_delta[:, 0] = column[:, 0]
        padded = self._padded_weights[:, : len(weights)]
        padded[0] = weights[:, 0]
        np.matmul(self._padded_delta, padded, out=out)


def _column_sums(delta: np.ndarray, out: np.ndarray) -> None:
    """``np.sum(delta, axis=0)`` bit for bit, into ``out`` (fan_out,).

    NumPy sums a single column pairwise but several columns row after row; einsum
    adds row after row too, and much faster than the ufunc's short inner loops.
    """
    if delta.shape[1] == 1:
        np.add.reduce(delta, axis=0, out=out)
    else:
        np.einsum("ij->j", delta, out=out)


@dataclass
class Stepper:
    """Computes summed gradients for one batch into ``flat.gradients``."""

    flat: FlatLayers
    config: TrainConfig
    workspaces: dict[int, Workspace] = field(default_factory=dict)

    def __post_init__(self):
        self.hidden = ACTIVATIONS[self.config.activation]
        self.sigmoid = ACTIVATIONS["sigmoid"]
        self.loss = LOSSES[self.config.loss]
        self.sizes = [self.flat.layers[0][0].shape[0]] + [w.shape[1] for w, _ in self.flat.layers]
        self.first_layer = self.flat.augmented[0]

    def _workspace(self, rows: int) -> Workspace:
        if rows not in self.workspaces:
            self.workspaces[rows] = Workspace(rows, self.sizes)
        return self.workspaces[rows]

    def gradients(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Fill ``flat.gradients`` for rows ``x`` (n, 2), ``y`` (n, 1); return P(1), (n, 1)."""
        space = self._workspace(len(x))
        layers, last = self.flat.layers, len(self.flat.layers) - 1
        inputs = x
        for index, (weights, bias) in enumerate(layers):
            out = space.outputs[index]
            if index == 0:
                np.matmul(space.inputs_with_ones(x), self.first_layer, out=out)
            else:
                np.matmul(inputs, weights, out=out)
                out += bias
            (self.sigmoid if index == last else self.hidden).apply(out)
            inputs = out
        delta = space.deltas[last]
        self.loss.output_delta(inputs, y, delta, space.scratch[last])
        for index in range(last, -1, -1):
            below = space.outputs[index - 1] if index > 0 else x
            weight_gradient, bias_gradient = self.flat.gradient_layers[index]
            np.matmul(below.T, delta, out=weight_gradient)
            _column_sums(delta, bias_gradient[0])
            if index > 0:
                delta = self._propagate(delta, index, space)
        if self.config.l2:
            for (weights, _), (weight_gradient, _) in zip(layers, self.flat.gradient_layers):
                weight_gradient += self.config.l2 * weights
        return space.outputs[last]

    def _propagate(self, delta: np.ndarray, index: int, space: Workspace) -> np.ndarray:
        weights = self.flat.layers[index][0]
        below = space.deltas[index - 1]
        if weights.shape[1] == 1:
            space.outer(delta, weights, below)
        else:
            np.matmul(delta, weights.T, out=below)
        self.hidden.scale_by_derivative(below, space.outputs[index - 1], space.scratch[index - 1])
        return below


@dataclass
class TrainResult:
    layers: list[Layer]
    history: list[dict]
    metrics: dict[str, dict[str, float]]


def _batches(rows: int, batch_size: int | None, rng: np.random.Generator):
    """Endless index batches: the whole set each time, or shuffled mini-batches."""
    while True:
        if batch_size is None or batch_size >= rows:
            yield None
            continue
        order = rng.permutation(rows)
        for start in range(0, rows, batch_size):
            yield order[start : start + batch_size]


def _final_metrics(layers, config, x, y, x_val, y_val) -> dict[str, dict[str, float]]:
    metrics = {"train": evaluate(forward(layers, x, config.activation)[-1], y)}
    if x_val is not None and len(x_val):
        metrics["validation"] = evaluate(forward(layers, x_val, config.activation)[-1], y_val)
    return metrics


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
    x_val, y_val = validation if validation is not None else (None, None)
    layer_sizes = [x.shape[1], *config.hidden, 1]
    flat = FlatLayers(init_layers(layer_sizes, np.random.RandomState(config.seed)))
    stepper = Stepper(flat, config)
    batches = _batches(len(x), config.batch_size, np.random.default_rng(config.seed))
    history = []
    with np.errstate(over="ignore"):
        for iteration in range(config.iterations):
            rows = next(batches)
            if rows is None:
                probabilities = stepper.gradients(x, y)
            else:
                stepper.gradients(x[rows], y[rows])
                probabilities = None
            if iteration % config.log_every == 0:
                record = _log_record(iteration, flat, config, x, y, probabilities, x_val, y_val)
                history.append(record)
                if on_log is not None:
                    on_log(record)
            flat.gradients *= config.learning_rate
            flat.values -= flat.gradients
    layers = flat.copy_layers()
    return TrainResult(layers, history, _final_metrics(layers, config, x, y, x_val, y_val))


def _log_record(iteration, flat, config, x, y, probabilities, x_val, y_val) -> dict:
    if probabilities is None:
        probabilities = forward(flat.layers, x, config.activation)[-1]
    record = {"iteration": iteration + 1, "train": evaluate(probabilities, y)}
    if x_val is not None and len(x_val):
        record["validation"] = evaluate(forward(flat.layers, x_val, config.activation)[-1], y_val)
    return record
