"""The forward pass as served: the same answer for a row whatever else is computed.

Two implementations of one computation: ``compile_predict`` (NumPy, for many rows)
and ``compile_predict_rows`` (Python floats, generated as straight-line code, for a
few). They give the same probability TO THE BIT for every finite row, whatever the
batch it comes in, because each uses only operations that IEEE 754 rounds exactly
and NumPy and Python perform alike:

- Sums are products added left to right, then the bias; no BLAS (whose kernels
  change the order of a dot product with the batch size and may fuse multiply-adds).
  A network with a layer of more than ``ELEMENTWISE_FAN_IN`` inputs is served by
  NumPy alone, with ``@`` and NumPy's exp, for speed (``exact_everywhere``).
- exp is our own (``_exp_parts``): a range reduction by ln(2)/64, a table of
  2**(j/64) and a degree-5 polynomial, within a unit or two in the last place. NumPy's SIMD exp
  and libm's differ from each other in about 1 value in 20 (measured on this machine).
- Finite rows of any size give a probability in [0, 1], never NaN: a row whose
  largest magnitude is over 2**64 is first scaled by a power of two, which is exact,
  and the scale is applied again where an activation saturates; ReLU layers carry
  it (``relu(s * t) = s * relu(t)``), and rescale their outputs when they pass 2**64.
  Weights are at most ``MAX_WEIGHT`` in magnitude (the model reader refuses larger),
  so every sum stays finite. Without this, ``[[1e308, 1e308]]`` made inf - inf.

The trainer keeps NumPy's exp and matrix products (``network.forward``): the
reference's figures are reproduced with those. Served probabilities agree with them
to about 5e-15 relative: up to 36 units in the last place on ``bench/peers.py``'s
10,000 random rows, since an exp a unit or two off in one layer is carried, and
widened, through the layers after it (the tests allow 1e-13).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from trainer.network import Layer, multiply_adds

INPUT_LIMIT = 2.0**64
"""Rows with a value larger in magnitude than this are computed scaled."""
MAX_WEIGHT = 2.0**64
"""The largest weight or bias magnitude a served network may have."""
ELEMENTWISE_FAN_IN = 8
MAX_GENERATED_MULTIPLY_ADDS = 4096
"""Beyond this, generated source would take longer to compile than it could save."""

_TABLE_BITS = 6
_TABLE = tuple(2.0 ** (j / 2**_TABLE_BITS) for j in range(2**_TABLE_BITS))  # 2**(j/64), shared by both paths
_INV_STEP = 2**_TABLE_BITS * 1.44269504088896338700e00  # 64 / ln 2
_STEP_HI = 6.93147180369123816490e-01 / 2**_TABLE_BITS  # fdlibm's split of ln 2, over 64 (exact):
_STEP_LO = 1.90821492927058770002e-10 / 2**_TABLE_BITS  # n * _STEP_HI is exact for |n| < 2**20
_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(5, 0, -1))  # 1/5! ... 1/1!
_SIGMOID_ZERO = 709.0  # exp(t) past this would overflow: 1 / (1 + exp(t)) is 0 there
_SIGMOID_ONE = -40.0  # exp(t) below this is under half an ulp of 1: the sigmoid is exactly 1
_TANH_ONE = 20.0  # tanh beyond this is 1 to the last bit


_C5, _C4, _C3, _C2, _C1 = _TAYLOR
_MASK = 2**_TABLE_BITS - 1
_POW2 = tuple(2.0**m for m in range(-64, 1024))
"""2**m at index m + 64: multiplying by it is ldexp, exactly, for the m that occur
(t >= -40 gives m >= -58, no subnormal), and a list index is cheaper than a call."""


def _exp_parts(t: float) -> tuple[int, float, float]:
    """``(m, T, q)`` with exp(t) = 2**m * (T + T * q): ``T`` = 2**(j/64) from a table,
    ``q`` = expm1(r) for |r| <= ln(2)/128 by a degree-5 polynomial (its error is under
    4e-17 there). When m and j are 0, ``q`` alone is expm1(t), accurate near 0.
    ``t`` within [-40, 709]. The activations below spell the same steps out inline."""
    n = round(t * _INV_STEP)
    r = (t - n * _STEP_HI) - n * _STEP_LO
    return n >> _TABLE_BITS, _TABLE[n & _MASK], ((((_C5 * r + _C4) * r + _C3) * r + _C2) * r + _C1) * r


def sigmoid_of_number(z: float) -> float:
    """1 / (1 + exp(-z)), with ``_exp_parts`` inline (a call costs as much as the
    arithmetic): 0.25 us."""
    t = -z
    if t > _SIGMOID_ZERO:
        return 0.0
    if t < _SIGMOID_ONE:
        t = _SIGMOID_ONE
    n = round(t * _INV_STEP)
    r = (t - n * _STEP_HI) - n * _STEP_LO
    q = ((((_C5 * r + _C4) * r + _C3) * r + _C2) * r + _C1) * r
    table = _TABLE[n & _MASK]
    return 1.0 / (1.0 + (table + table * q) * _POW2[(n >> _TABLE_BITS) + 64])


def tanh_of_number(z: float) -> float:
    doubled = 2.0 * min(abs(z), _TANH_ONE)
    m, table, q = _exp_parts(doubled)
    expm1 = q if m == 0 and table == 1.0 else (table + table * q) * _POW2[m + 64] - 1.0  # n = 0: q is expm1
    value = expm1 / (expm1 + 2.0)
    return value if z >= 0 else -value


def relu_of_number(z: float) -> float:
    return z if z > 0 else 0.0


_TABLE_ARRAY = np.array(_TABLE)


def _exp_parts_array(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_exp_parts`` of every element, by the same operations in the same order."""
    n = t * _INV_STEP
    np.rint(n, out=n)
    r = n * _STEP_HI
    np.subtract(t, r, out=r)
    r -= n * _STEP_LO
    q = r * _C5
    for coefficient in (_C4, _C3, _C2, _C1):
        q += coefficient
        q *= r
    whole = n.astype(np.int32)  # |n| < 2**17 here; ldexp is ten times faster on int32 than int64
    return whole >> _TABLE_BITS, _TABLE_ARRAY[whole & _MASK], q


def _times_one_plus(table: np.ndarray, q: np.ndarray) -> np.ndarray:
    q *= table
    q += table
    return q


def sigmoid_of_array(z: np.ndarray) -> np.ndarray:
    t = np.negative(z)
    zero = t > _SIGMOID_ZERO
    np.clip(t, _SIGMOID_ONE, _SIGMOID_ZERO, out=t)
    m, table, q = _exp_parts_array(t)
    value = np.ldexp(_times_one_plus(table, q), m)
    value += 1.0
    np.divide(1.0, value, out=value)
    value[zero] = 0.0
    return value


def tanh_of_array(z: np.ndarray) -> np.ndarray:
    doubled = 2.0 * np.minimum(np.abs(z), _TANH_ONE)
    m, table, q = _exp_parts_array(doubled)
    small = (m == 0) & (table == 1.0)
    expm1 = np.where(small, q, np.ldexp(_times_one_plus(table, q.copy()), m) - 1.0)
    value = expm1 / (expm1 + 2.0)
    return np.where(z >= 0, value, -value)


def relu_of_array(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, 0.0)


def _numpy_sigmoid(z: np.ndarray) -> np.ndarray:
    value = np.exp(np.negative(z))  # inf for z below -709: the sigmoid is then exactly 0
    value += 1.0
    return np.divide(1.0, value, out=value)


OF_NUMBER = {"sigmoid": sigmoid_of_number, "tanh": tanh_of_number, "relu": relu_of_number}
OF_ARRAY = {"sigmoid": sigmoid_of_array, "tanh": tanh_of_array, "relu": relu_of_array}
NUMPY_OF_ARRAY = {"sigmoid": _numpy_sigmoid, "tanh": np.tanh, "relu": relu_of_array}
"""For wide networks (``exact_everywhere`` false): NumPy's SIMD exp and tanh, five
times faster than ours on a 16-16 network's 10,000 rows."""


def exact_everywhere(layers: list[Layer]) -> bool:
    """Whether every layer is narrow enough (``ELEMENTWISE_FAN_IN``) to be computed
    input by input with our exp, so that both forward passes agree to the bit and a
    row's answer never depends on its batch. Wider networks are served by NumPy alone,
    with ``@`` and NumPy's exp: never NaN, but the last place may vary with the batch."""
    return all(weights.shape[0] <= ELEMENTWISE_FAN_IN for weights, _ in layers)


def layer_kinds(count: int, activation: str) -> list[str]:
    """``activation`` for the hidden layers, sigmoid for the output."""
    return [activation] * (count - 1) + ["sigmoid"]


def check_weights(layers: list[Layer]) -> None:
    """``ValueError`` unless every weight and bias is finite and at most ``MAX_WEIGHT``."""
    for index, (weights, bias) in enumerate(layers, start=1):
        for name, array in ((f"w{index}", weights), (f"b{index}", bias)):
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name} holds values that are not finite")
            if array.size and np.max(np.abs(array)) > MAX_WEIGHT:
                raise ValueError(f"{name} holds a value over {MAX_WEIGHT:.3g} in magnitude")


def _linear_elementwise(u: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``weights.T @ u + bias`` for ``u`` of shape (fan_in, n), summed input by input,
    on contiguous rows: (fan_out, n)."""
    t = weights[0][:, None] * u[0]
    for i in range(1, weights.shape[0]):
        t += weights[i][:, None] * u[i]
    t += bias
    return t


def _exponent(magnitude: np.ndarray) -> np.ndarray:
    """Per row, the power of two that brings ``magnitude`` under 1 when it is over
    ``INPUT_LIMIT``, else 0."""
    return np.where(magnitude > INPUT_LIMIT, np.frexp(magnitude)[1], 0).astype(np.int32)


def compile_predict(layers: list[Layer], activation: str) -> Callable[[np.ndarray], np.ndarray]:
    """P(label = 1) for each row of an (n, 2) array, shape (n,), in NumPy. Works on
    the transposed activations, (units, n), so that every operation runs over a
    contiguous row: 0.4 ms for 10,000 rows of the reference network, against 1.4 ms
    on (n, units) columns (NumPy's own exp and ``@`` take 0.14 ms, not to the bit
    alike from batch to batch)."""
    kinds, exact = layer_kinds(len(layers), activation), exact_everywhere(layers)
    functions = OF_ARRAY if exact else NUMPY_OF_ARRAY
    steps = [(np.ascontiguousarray(weights), np.ascontiguousarray(bias.T), kind, index == len(layers) - 1)
             for index, ((weights, bias), kind) in enumerate(zip(layers, kinds))]

    def predict(x: np.ndarray) -> np.ndarray:
        u = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(-1, 2).T)
        scale = None
        if u.size and np.max(np.abs(u)) > INPUT_LIMIT:  # one reduction decides; per row only then
            scale = _exponent(np.maximum(np.abs(u[0]), np.abs(u[1])))
            u = np.ldexp(u, -scale)
        with np.errstate(over="ignore", under="ignore"):
            for weights, bias, kind, last in steps:
                scaled_bias = bias if scale is None else np.ldexp(bias, -scale)
                t = _linear_elementwise(u, weights, scaled_bias) if exact else weights.T @ u + scaled_bias
                if kind == "relu" and not last:
                    u = relu_of_array(t)
                    if u.size and np.max(u) > INPUT_LIMIT:
                        extra = _exponent(np.max(u, axis=0))
                        u = np.ldexp(u, -extra)
                        scale = extra if scale is None else scale + extra
                else:
                    z = t if scale is None else np.ldexp(t, scale)
                    u, scale = functions[kind](z), None
        return u[0]

    return predict


def _ldexp(value: float, exponent: int) -> float:
    """``math.ldexp`` that overflows to infinity, as NumPy's does, instead of raising."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


def predict_row_scaled(layers: list[list[tuple[list[float], float]]], kinds: list[str], row) -> float:
    """One row through the whole computation, scaling included: what
    ``compile_predict`` does, for the rows the generated code hands over. ``layers``
    is, per layer, each unit's ``(weights, bias)``."""
    magnitude = max(abs(row[0]), abs(row[1]))
    scale = math.frexp(magnitude)[1] if magnitude > INPUT_LIMIT else 0
    u = [_ldexp(value, -scale) for value in row]
    for index, (units, kind) in enumerate(zip(layers, kinds)):
        t = []
        for weights, bias in units:
            total = u[0] * weights[0]
            for value, weight in zip(u[1:], weights[1:]):
                total += value * weight
            t.append(total + _ldexp(bias, -scale))
        if kind == "relu" and index < len(layers) - 1:
            u = [relu_of_number(value) for value in t]
            if max(u) > INPUT_LIMIT:
                extra = math.frexp(max(u))[1]
                u, scale = [_ldexp(value, -extra) for value in u], scale + extra
        else:
            u, scale = [OF_NUMBER[kind](_ldexp(value, scale)) for value in t], 0
    return u[0]


def compile_predict_rows(layers: list[Layer], activation: str) -> Callable[[Sequence[Sequence[float]]], list[float]]:
    """P(label = 1) for rows of Python numbers, computed with Python floats.

    For a request of a row or two, the dozen NumPy calls of ``compile_predict`` cost
    far more than the arithmetic. The function is generated as straight-line Python
    with the weights as constants (``predict_rows_source``): 1.8 us a row for the
    reference network, most of it our four sigmoids (``bench/predict_crossover.py``;
    0.6 us with libm's exp, which NumPy's does not match). A row over
    ``INPUT_LIMIT``, or a ReLU layer's output over it, goes to ``predict_row_scaled``.
    """
    kinds = layer_kinds(len(layers), activation)
    units = [[(weights[:, j].tolist(), float(bias[0, j])) for j in range(weights.shape[1])]
             for weights, bias in layers]
    namespace = {f"activation_{index}": OF_NUMBER[kind] for index, kind in enumerate(kinds)}
    namespace["scaled"] = lambda row: predict_row_scaled(units, kinds, row)
    exec(predict_rows_source(layers, kinds), namespace)  # the source holds only numbers and fixed names
    return namespace["predict"]


def predict_rows_source(layers: list[Layer], kinds: list[str]) -> str:
    """The source of ``predict(rows)`` for ``layers``: unit ``j`` of layer ``l`` is
    ``activation_l(v0 * w0j + v1 * w1j + ... + bj)``, summed left to right, and only
    the first output unit of the last layer is computed."""
    if multiply_adds(layers) > MAX_GENERATED_MULTIPLY_ADDS:
        raise ValueError(f"a network of {multiply_adds(layers)} multiply-adds is too large for Python floats")
    limit = _literal(INPUT_LIMIT)
    inputs = [f"x{i}" for i in range(layers[0][0].shape[0])]
    lines = ["def predict(rows):", "    probabilities = []", f"    for {', '.join(inputs)}, in rows:",
             f"        if not ({' and '.join(f'-{limit} <= {name} <= {limit}' for name in inputs)}):",
             f"            probabilities.append(scaled(({', '.join(inputs)},)))", "            continue"]
    for index, (weights, bias) in enumerate(layers):
        last = index == len(layers) - 1
        outputs = [f"h{index}_{j}" for j in range(1 if last else weights.shape[1])]
        for j, output in enumerate(outputs):
            terms = [f"{value} * {_literal(weight)}" for value, weight in zip(inputs, weights[:, j].tolist())]
            lines.append(f"        {output} = activation_{index}({' + '.join(terms)} + {_literal(bias[0, j])})")
        if kinds[index] == "relu" and not last:
            lines += [f"        if {' or '.join(f'{name} > {limit}' for name in outputs)}:",
                      "            probabilities.append(scaled((x0, x1)))", "            continue"]
        inputs = outputs
    lines += [f"        probabilities.append({inputs[0]})", "    return probabilities"]
    return "\n".join(lines) + "\n"


def _literal(number) -> str:
    """A float as source that evaluates to exactly it (repr round-trips)."""
    return f"({float(number)!r})"
