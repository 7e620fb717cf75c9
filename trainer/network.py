"""The network's mathematics: initialisation, forward and backward passes.

A network is a list of dense layers ``(weights, bias)`` with shapes
``(fan_in, fan_out)`` and ``(1, fan_out)``. Hidden layers share one activation; the
output layer is a single sigmoid unit giving P(label = 1). Arrays are float64 and
rows are samples. No I/O and no global state: randomness comes in as an argument.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import numpy as np

Layer = tuple[np.ndarray, np.ndarray]


class Activation(NamedTuple):
    """An element-wise activation, applied and differentiated in place.

    ``apply(z)`` overwrites the pre-activation ``z`` with its output.
    ``scale_by_derivative(delta, h, scratch)`` multiplies ``delta`` by f'(z), computed
    from the output ``h``; the order of the multiplications is the reference's, so the
    trainer reproduces its figures to the last bit. ``apply_to_negated(-z)``, where
    given, is ``apply(z)`` from the negated pre-activation, one operation shorter.
    ``of_number(z)`` is the activation of one Python float.
    """

    apply: Callable[[np.ndarray], None]
    scale_by_derivative: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
    of_number: Callable[[float], float]
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


def _sigmoid_of_number(z: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-z))
    except OverflowError:  # exp(-z) past the largest double: NumPy's inf gives exactly 0 too
        return 0.0


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


def _relu_of_number(z: float) -> float:
    return z if z > 0.0 or z != z else 0.0  # NaN stays NaN, as with np.maximum


def _relu_derivative(delta: np.ndarray, h: np.ndarray, scratch: np.ndarray) -> None:
    np.greater(h, 0.0, out=scratch)
    delta *= scratch


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(_sigmoid, _sigmoid_derivative, _sigmoid_of_number, _sigmoid_of_negated),
    "tanh": Activation(_tanh, _tanh_derivative, math.tanh),
    "relu": Activation(_relu, _relu_derivative, _relu_of_number),
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


def compile_predict(layers: list[Layer], activation: str) -> Callable[[np.ndarray], np.ndarray]:
    """``predict_proba`` for fixed layers, a little faster per call: sigmoid layers
    keep negated copies of their weights, so ``x @ -W + -b`` gives ``-z`` exactly and
    the sigmoid starts from it. Same results to the bit."""
    steps = []
    for (weights, bias), kind in zip(layers, layer_activations(len(layers), activation)):
        if kind.apply_to_negated is not None:
            steps.append((-weights, -bias, kind.apply_to_negated))
        else:
            steps.append((weights, bias, kind.apply))

    def predict(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            for weights, bias, apply in steps:
                x = x @ weights
                x += bias
                apply(x)
        return x[:, 0]

    return predict


def multiply_adds(layers: list[Layer]) -> int:
    """Multiply-adds per row of a forward pass: 9 for the reference network."""
    return sum(weights.size for weights, _ in layers)


def compile_predict_rows(layers: list[Layer], activation: str) -> Callable[[Sequence[Sequence[float]]], list[float]]:
    """``predict_proba`` for rows of Python numbers, computed with Python floats.

    For a request of a row or two, the dozen NumPy calls of ``compile_predict`` cost
    far more than the arithmetic; this is several times faster while rows times
    ``multiply_adds`` stays below a few dozen, and slower beyond. The operations are
    NumPy's (products summed, then the bias, then the activation), so results agree
    with ``compile_predict`` to within a few units in the last place; NumPy itself
    differs by one unit between batch sizes for about one row in twenty.

    The function is generated as straight-line Python with the weights as constants
    (``predict_rows_source``): for the reference network a row costs 0.7 us this way
    against 2.2 us looping over lists of weights. Meant for small networks, at most
    ``MAX_GENERATED_MULTIPLY_ADDS``.
    """
    namespace = {f"activation_{index}": kind.of_number
                 for index, kind in enumerate(layer_activations(len(layers), activation))}
    exec(predict_rows_source(layers), namespace)  # the source holds only numbers and fixed names
    return namespace["predict"]


MAX_GENERATED_MULTIPLY_ADDS = 4096
"""Beyond this, generated source would take longer to compile than it could save."""


def predict_rows_source(layers: list[Layer]) -> str:
    """The source of ``predict(rows)`` for ``layers``: unit ``j`` of layer ``l`` is
    ``activation_l(v0 * w0j + v1 * w1j + ... + bj)``, summed left to right, and only
    the first output unit of the last layer is computed."""
    if multiply_adds(layers) > MAX_GENERATED_MULTIPLY_ADDS:
        raise ValueError(f"a network of {multiply_adds(layers)} multiply-adds is too large for Python floats")
    inputs = [f"x{i}" for i in range(layers[0][0].shape[0])]
    lines = ["def predict(rows):", "    probabilities = []", f"    for {', '.join(inputs)}, in rows:"]
    for index, (weights, bias) in enumerate(layers):
        units = 1 if index == len(layers) - 1 else weights.shape[1]
        outputs = [f"h{index}_{j}" for j in range(units)]
        for j, output in enumerate(outputs):
            terms = [f"{value} * {_literal(weight)}" for value, weight in zip(inputs, weights[:, j].tolist())]
            lines.append(f"        {output} = activation_{index}({' + '.join(terms)} + {_literal(bias[0, j])})")
        inputs = outputs
    lines += [f"        probabilities.append({inputs[0]})", "    return probabilities"]
    return "\n".join(lines) + "\n"


def _literal(number) -> str:
    """A float as source that evaluates to exactly it (repr round-trips; inf and nan are no literals)."""
    number = float(number)
    return f"({number!r})" if math.isfinite(number) else f"float({str(number)!r})"


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
