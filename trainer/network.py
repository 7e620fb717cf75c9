"""The network's mathematics: initialisation, forward and backward passes.

A network is a list of dense layers ``(weights, bias)`` with shapes
``(fan_in, fan_out)`` and ``(1, fan_out)``. Hidden layers share one activation; the
output layer is a single sigmoid unit giving P(label = 1). Arrays are float64 and
rows are samples. No I/O and no global state: randomness comes in as an argument.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

Layer = tuple[np.ndarray, np.ndarray]


class Activation(NamedTuple):
    """An element-wise activation, applied and differentiated in place.

    ``apply(z)`` overwrites the pre-activation ``z`` with its output.
    ``scale_by_derivative(delta, h, scratch)`` multiplies ``delta`` by f'(z), computed
    from the output ``h``; the order of the multiplications is the reference's, so the
    trainer reproduces its figures to the last bit. ``apply_to_negated(-z)``, where
    given, is ``apply(z)`` from the negated pre-activation, one operation shorter.
    The forward pass as served is ``trainer.inference``'s.
    """

    apply: Callable[[np.ndarray], None]
    scale_by_derivative: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
    apply_to_negated: Callable[[np.ndarray], None] | None = None


def _sigmoid(z: np.ndarray) -> None:
    """1 / (1 + exp(-z)). For z below about -709 exp overflows to inf and the result
    is exactly 0, the right limit: callers silence that warning with ``np.errstate``."""
    np.negative(z, out=z)
    _sigmoid_of_negated(z)


def _sigmoid_of_negated(negated: np.ndarray) -> None:
    np.exp(negated, out=negated)
    negated += 1.0
    np.divide(1.0, negated, out=negated)


def _sigmoid_derivative(delta: np.ndarray, h: np.ndarray, scratch: np.ndarray) -> None:
    delta *= h
    np.subtract(1.0, h, out=scratch)
    delta *= scratch


def _tanh(z: np.ndarray) -> None:
    np.tanh(z, out=z)


def _tanh_derivative(delta: np.ndarray, h: np.ndarray, scratch: np.ndarray) -> None:
    np.multiply(h, h, out=scratch)
    np.subtract(1.0, scratch, out=scratch)
    delta *= scratch


def _relu(z: np.ndarray) -> None:
    np.maximum(z, 0.0, out=z)


def _relu_derivative(delta: np.ndarray, h: np.ndarray, scratch: np.ndarray) -> None:
    np.greater(h, 0.0, out=scratch)
    delta *= scratch


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(_sigmoid, _sigmoid_derivative, _sigmoid_of_negated),
    "tanh": Activation(_tanh, _tanh_derivative),
    "relu": Activation(_relu, _relu_derivative),
}


class Loss(NamedTuple):
    """A loss on the sigmoid output ``h`` (n, 1) against labels ``y`` (n, 1).

    ``total(h, y)`` is the loss summed over samples; ``output_delta(h, y, out)``
    writes dLoss/dz of the output layer, per sample (the reference sums, not
    averages, these over the batch).
    """

    total: Callable[[np.ndarray, np.ndarray], float]
    output_delta: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


def _half_squared_error(h: np.ndarray, y: np.ndarray) -> float:
    return float(0.5 * np.sum((y - h) ** 2))


def _half_squared_error_delta(h, y, out, scratch) -> None:
    np.subtract(h, y, out=out)
    _sigmoid_derivative(out, h, scratch)


_EPSILON = 1e-12


def _cross_entropy(h: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(h, _EPSILON, 1.0 - _EPSILON)
    return float(-np.sum(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


def _cross_entropy_delta(h, y, out, scratch) -> None:
    np.subtract(h, y, out=out)


LOSSES: dict[str, Loss] = {
    "half_squared_error": Loss(_half_squared_error, _half_squared_error_delta),
    "cross_entropy": Loss(_cross_entropy, _cross_entropy_delta),
}


def layer_sizes_of(layers: list[Layer]) -> list[int]:
    """``[2, 3, 1]`` for the reference network."""
    return [layers[0][0].shape[0]] + [weights.shape[1] for weights, _ in layers]


def init_layers(layer_sizes: list[int], rng: np.random.RandomState) -> list[Layer]:
    """Seeded ``randn`` weights and zero biases, layer by layer (the reference's rule).

    The reference draws w1, then w2, from ``np.random.seed(3)``; a
    ``RandomState(3)`` passed in here draws the same numbers.
    """
    layers = []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        weights = rng.randn(fan_in, fan_out)
        layers.append((weights, np.zeros((1, fan_out))))
    return layers


def layer_activations(count: int, activation: str) -> list[Activation]:
    """Each layer's activation: ``activation`` for the hidden ones, sigmoid for the output."""
    return [ACTIVATIONS[activation]] * (count - 1) + [ACTIVATIONS["sigmoid"]]


def forward(layers: list[Layer], x: np.ndarray, activation: str) -> list[np.ndarray]:
    """Every layer's output for ``x`` (n, fan_in); the last is P(label = 1), (n, 1)."""
    outputs = []
    inputs = x
    with np.errstate(over="ignore"):
        for (weights, bias), kind in zip(layers, layer_activations(len(layers), activation)):
            z = inputs @ weights
            z += bias
            kind.apply(z)
            outputs.append(z)
            inputs = z
    return outputs


def multiply_adds(layers: list[Layer]) -> int:
    """Multiply-adds per row of a forward pass: 9 for the reference network."""
    return sum(weights.size for weights, _ in layers)


def predict_proba(layers: list[Layer], x: np.ndarray, activation: str) -> np.ndarray:
    """P(label = 1) for each row of ``x`` (n, 2), shape (n,)."""
    return forward(layers, x, activation)[-1][:, 0]


def backward(layers, x, y, outputs, activation: str, loss: str, l2: float = 0.0) -> list[Layer]:
    """Gradients ``(dW, db)`` per layer of ``total_loss`` summed over the rows of ``x``.

    ``outputs`` is what ``forward`` returned for ``x``; ``y`` is (n, 1). The L2
    penalty applies to weights, not biases.
    """
    derivative = ACTIVATIONS[activation].scale_by_derivative
    delta = np.empty_like(outputs[-1])
    LOSSES[loss].output_delta(outputs[-1], y, delta, np.empty_like(delta))
    gradients: list[Layer] = []
    for index in range(len(layers) - 1, -1, -1):
        inputs = outputs[index - 1] if index > 0 else x
        weight_gradient = inputs.T @ delta + l2 * layers[index][0]
        gradients.append((weight_gradient, np.sum(delta, axis=0, keepdims=True)))
        if index > 0:
            delta = delta @ layers[index][0].T
            derivative(delta, inputs, np.empty_like(delta))
    return gradients[::-1]


def total_loss(layers, x, y, activation: str, loss: str, l2: float = 0.0) -> float:
    """The objective that ``backward`` differentiates, plus ``l2/2 * sum(W**2)``."""
    h = forward(layers, x, activation)[-1]
    penalty = 0.5 * l2 * sum(float(np.sum(weights**2)) for weights, _ in layers)
    return LOSSES[loss].total(h, y) + penalty
