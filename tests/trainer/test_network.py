"""The hand-written backward pass against finite differences, for every activation and loss."""

import numpy as np
import pytest

from trainer.config import TrainConfig
from trainer.network import ACTIVATIONS, LOSSES, backward, forward, init_layers, multiply_adds, predict_proba, total_loss
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


def test_multiply_adds_counts_weights():
    assert multiply_adds(init_layers([2, 3, 1], np.random.RandomState(0))) == 9


def test_predict_proba_is_a_probability_per_row(rng):
    layers = init_layers([2, 3, 1], np.random.RandomState(0))
    p = predict_proba(layers, rng.normal(size=(5, 2)) * 100, "sigmoid")
    assert p.shape == (5,) and np.all((p >= 0) & (p <= 1))
