"""The hand-written backward pass against finite differences, for every activation and loss."""

import math

import numpy as np
import pytest

from trainer.config import TrainConfig
from trainer.network import (
    ACTIVATIONS, LOSSES, backward, compile_predict, compile_predict_rows, forward, init_layers, layer_activations,
    multiply_adds,
    predict_proba, total_loss,
)
from trainer.step_plan import FlatLayers
from trainer.training import GradientStep


def _problem(rng, sizes):
    x = rng.normal(size=(7, 2))
    y = (rng.random((7, 1)) > 0.5).astype(float)
    layers = init_layers(sizes, np.random.RandomState(1))
    layers = [(w * 0.5, rng.normal(scale=0.1, size=b.shape)) for w, b in layers]
    return x, y, layers


def _numeric_gradient(layers, x, y, activation, loss, l2, step=1e-6):
    numeric = []
    for weights, bias in layers:
        pair = []
        for array in (weights, bias):
            gradient = np.zeros_like(array)
            for index in np.ndindex(array.shape):
                saved = array[index]
                array[index] = saved + step
                up = total_loss(layers, x, y, activation, loss, l2)
                array[index] = saved - step
                down = total_loss(layers, x, y, activation, loss, l2)
                array[index] = saved
                gradient[index] = (up - down) / (2 * step)
            pair.append(gradient)
        numeric.append(pair)
    return numeric


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_backward_matches_finite_differences(activation, loss, l2, rng):
    x, y, layers = _problem(rng, [2, 4, 3, 1])
    outputs = forward(layers, x, activation)
    analytic = backward(layers, x, y, outputs, activation, loss, l2)
    numeric = _numeric_gradient(layers, x, y, activation, loss, l2)
    for (dw, db), (nw, nb) in zip(analytic, numeric):
        np.testing.assert_allclose(dw, nw, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(db, nb, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("hidden", [(3,), (5, 4)])
def test_training_step_computes_the_same_gradients(activation, loss, hidden, rng):
    sizes = [2, *hidden, 1]
    x, y, layers = _problem(rng, sizes)
    config = TrainConfig(hidden=hidden, activation=activation, loss=loss, l2=0.1)
    flat = FlatLayers(layers)
    probabilities = GradientStep(flat, config, x.shape[1]).gradients(x, y)
    expected = backward(layers, x, y, forward(layers, x, activation), activation, loss, 0.1)
    np.testing.assert_allclose(probabilities, forward(layers, x, activation)[-1], rtol=1e-12)
    for (dw, db), (ew, eb) in zip(flat.gradient_layers, expected):
        np.testing.assert_allclose(dw, ew, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(db, eb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_compiled_predict_equals_predict_proba_to_the_bit(activation, rng):
    layers = init_layers([2, 5, 4, 1], np.random.RandomState(2))
    x = rng.normal(size=(50, 2)) * 30
    assert np.array_equal(compile_predict(layers, activation)(x), predict_proba(layers, x, activation))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("sizes", [[2, 3, 1], [2, 5, 4, 1], [2, 16, 1]])
def test_python_float_predict_agrees_with_numpy(activation, sizes, rng):
    """To 1e-15 absolute, 1e-12 relative: a probability near 0 is exp(z) for a large
    negative z, whose last-place error it multiplies, on either path."""
    layers = [(w, rng.normal(size=b.shape)) for w, b in init_layers(sizes, np.random.RandomState(4))]
    rows = np.concatenate([rng.normal(size=(300, 2)), rng.normal(size=(100, 2)) * 300])  # the latter saturate
    got = np.array(compile_predict_rows(layers, activation)(rows.tolist()))
    expected = predict_proba(layers, rows, activation)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.array_equal(got == 0.0, expected == 0.0)  # exp overflowing gives exactly 0 on both paths


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_python_float_predict_follows_numpy_at_the_extremes(activation):
    """Products overflowing to inf, inf - inf = NaN, exp beyond the largest double."""
    layers = [(np.array([[1.0, -1.0], [1.0, 2.0]]), np.array([[0.0, 1.0]])), (np.array([[-3.0], [2.0]]), np.zeros((1, 1)))]
    rows = [[1e308, 1e308], [1e308, -1e308], [-1e308, 5.0], [1e-308, -1e-308], [0.0, -0.0], [800.0, -800.0]]
    got = compile_predict_rows(layers, activation)(rows)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = predict_proba(layers, np.array(rows), activation)
    np.testing.assert_array_equal(np.array(got), expected)


def _python_loop(layers, activation, row):
    """The same operations in the same order, written as a plain loop."""
    values = list(row)
    for (weights, bias), kind in zip(layers, layer_activations(len(layers), activation)):
        values = [kind.of_number(sum((v * w for v, w in zip(values, column)), start=-0.0) + b)
                  for column, b in zip(weights.T.tolist(), bias[0].tolist())]
    return values[0]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_generated_predict_is_the_plain_loop_to_the_bit(activation, rng):
    """The weights are written into the source as text: each must come back exactly."""
    awkward = np.array([[0.1, 1 / 3, 5e-324], [-2.2250738585072014e-308, 1.7976931348623157e308 / 1e300, -0.7]])
    layers = [(awkward, np.array([[1e-17, -0.0, 2 / 3]])), (rng.normal(size=(3, 1)), np.array([[0.3]]))]
    rows = rng.normal(size=(50, 2)).tolist()
    assert compile_predict_rows(layers, activation)(rows) == [_python_loop(layers, activation, row) for row in rows]


def test_generated_predict_takes_non_finite_weights_and_refuses_huge_networks():
    layers = [(np.array([[np.inf], [1.0]]), np.array([[np.nan]]))]
    assert math.isnan(compile_predict_rows(layers, "sigmoid")([[1.0, 2.0]])[0])
    with pytest.raises(ValueError, match="too large"):
        compile_predict_rows(init_layers([2, 64, 64, 1], np.random.RandomState(0)), "relu")


def test_multiply_adds_counts_weights():
    assert multiply_adds(init_layers([2, 3, 1], np.random.RandomState(0))) == 9


def test_predict_proba_is_a_probability_per_row(rng):
    layers = init_layers([2, 3, 1], np.random.RandomState(0))
    p = predict_proba(layers, rng.normal(size=(5, 2)) * 100, "sigmoid")
    assert p.shape == (5,) and np.all((p >= 0) & (p <= 1))
