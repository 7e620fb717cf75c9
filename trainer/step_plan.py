"""One gradient step as a fixed plan of NumPy calls over preallocated arrays.

The step does the reference's arithmetic, operation for operation, so the default
run reproduces its figures to the last bit. It is fast because nothing is allocated
or decided per step: every array lives in a ``Workspace`` made once per batch size,
every parameter in one flat vector, and the step itself is a list of calls with
their arguments bound once (``build_step``), which the loop runs in order.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from trainer.config import TrainConfig
from trainer.network import ACTIVATIONS, LOSSES, Layer


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
        self.inputs = np.empty((rows, layer_sizes[0]))
        self.targets = np.empty((rows, 1))
        # [x | 1] @ [W1; b1] adds the first bias inside the matmul, and [-x | -1] gives
        # the negated pre-activation exactly, which a sigmoid takes one step sooner.
        self.inputs_with_ones = np.ones((rows, layer_sizes[0] + 1))
        self.negated_inputs_with_ones = np.full((rows, layer_sizes[0] + 1), -1.0)
        self.outputs = [np.empty((rows, width)) for width in widths]
        self.deltas = [np.empty((rows, width)) for width in widths]
        self.scratch = [np.empty((rows, width)) for width in widths]
        self._padded_delta = np.zeros((rows, 2))
        self._padded_weights = np.zeros((2, max(layer_sizes)))

    def load(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Copy the batch in: all of ``x`` and ``y``, or the ``rows`` of them."""
        if rows is None:
            self.inputs[...] = x
            self.targets[...] = y
        else:
            np.take(x, rows, axis=0, out=self.inputs)
            np.take(y, rows, axis=0, out=self.targets)
        self.inputs_with_ones[:, :-1] = self.inputs
        np.negative(self.inputs, out=self.negated_inputs_with_ones[:, :-1])

    def outer_product(self, column: np.ndarray, weights: np.ndarray, out: np.ndarray) -> list[Callable[[], object]]:
        """Calls computing ``column @ weights.T`` for ``column`` (n, 1) and ``weights``
        (k, 1) into ``out``.

        NumPy does an inner dimension of 1 with its own loop, three times slower
        than BLAS; a zero second column sends it to BLAS, which adds only 0 * 0 to
        each product, so the result is the same to the bit.
        """
        padded_weights = self._padded_weights[:, : len(weights)]
        return [partial(np.copyto, self._padded_delta[:, :1], column),
                partial(np.copyto, padded_weights[:1], weights.T),
                partial(np.matmul, self._padded_delta, padded_weights, out=out)]


def _column_sums(delta: np.ndarray, out: np.ndarray) -> Callable[[], object]:
    """A call computing ``np.sum(delta, axis=0)`` bit for bit into ``out`` (1, fan_out).

    NumPy sums a single column pairwise but several columns row after row, from 0.
    ``ones @ delta`` with a stride-0 row of ones is not something BLAS can take, so
    NumPy's own matmul loop does it, adding row after row from 0 as well: the same
    bits at a fifth of the ufunc's cost for short rows.
    """
    if delta.shape[1] == 1:
        return partial(np.add.reduce, delta, axis=0, out=out[0])
    ones = np.broadcast_to(1.0, (1, delta.shape[0]))
    return partial(np.matmul, ones, delta, out=out)


def _add_penalty(gradient: np.ndarray, weights: np.ndarray, l2: float) -> None:
    gradient += l2 * weights


def build_step(flat: FlatLayers, config: TrainConfig, space: Workspace) -> list[Callable[[], object]]:
    """The calls that fill ``flat.gradients`` from the batch loaded in ``space``;
    afterwards ``space.outputs[-1]`` holds the forward pass's P(label = 1)."""
    hidden, output = ACTIVATIONS[config.activation], ACTIVATIONS["sigmoid"]
    layers, last = flat.layers, len(flat.layers) - 1
    step: list[Callable[[], object]] = []
    inputs = space.inputs
    for index, (weights, bias) in enumerate(layers):
        out, activation = space.outputs[index], output if index == last else hidden
        if index == 0 and activation.apply_to_negated is not None:
            step.append(partial(np.matmul, space.negated_inputs_with_ones, flat.augmented[0], out=out))
            step.append(partial(activation.apply_to_negated, out))
        else:
            if index == 0:
                step.append(partial(np.matmul, space.inputs_with_ones, flat.augmented[0], out=out))
            else:
                step += [partial(np.matmul, inputs, weights, out=out), partial(np.add, out, bias, out=out)]
            step.append(partial(activation.apply, out))
        inputs = out
    delta = space.deltas[last]
    step.append(partial(LOSSES[config.loss].output_delta, inputs, space.targets, delta, space.scratch[last]))
    for index in range(last, -1, -1):
        below = space.outputs[index - 1] if index > 0 else space.inputs
        weight_gradient, bias_gradient = flat.gradient_layers[index]
        step += [partial(np.matmul, below.T, delta, out=weight_gradient), _column_sums(delta, bias_gradient)]
        if index > 0:
            weights, previous = layers[index][0], space.deltas[index - 1]
            if weights.shape[1] == 1:
                step += space.outer_product(delta, weights, previous)
            else:
                step.append(partial(np.matmul, delta, weights.T, out=previous))
            step.append(partial(hidden.scale_by_derivative, previous, below, space.scratch[index - 1]))
            delta = previous
    if config.l2:
        step += [partial(_add_penalty, gradient, weights, config.l2)
                 for (weights, _), (gradient, _) in zip(layers, flat.gradient_layers)]
    return step
