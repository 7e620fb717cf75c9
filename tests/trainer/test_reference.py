"""The default run reproduces ../shared/REFERENCE.md figure for figure."""

import numpy as np
import pytest

from trainer.config import TrainConfig
from trainer.network import forward, init_layers
from trainer.reference import reference_train
from trainer.training import train

REFERENCE_W1 = [[1.78862847, 0.43650985, 0.09649747], [-1.8634927, -0.2773882, -0.35475898]]
REFERENCE_W2 = [[-0.08274148], [-0.62700068], [-0.04381817]]
REFERENCE_LOG = [
    (1, 0.5176, 0.5000), (501, 0.0436, 0.9775), (1001, 0.0397, 0.9775), (1501, 0.0386, 0.9780),
    (2001, 0.0371, 0.9780), (2501, 0.0367, 0.9780), (3001, 0.0365, 0.9780), (3501, 0.0364, 0.9780),
    (4001, 0.0363, 0.9780), (4501, 0.0363, 0.9780),
]


def test_initial_weights_follow_seed_3():
    (w1, b1), (w2, b2) = init_layers([2, 3, 1], np.random.RandomState(3))
    np.testing.assert_allclose(w1, REFERENCE_W1, atol=5e-9)
    np.testing.assert_allclose(w2, REFERENCE_W2, atol=5e-9)
    assert not b1.any() and not b2.any() and b1.shape == (1, 3) and b2.shape == (1, 1)


def test_first_sample_forward_pass(reference_data):
    x = reference_data.x[:1]
    np.testing.assert_allclose(x, [[0.61065138, -0.45964566]], atol=5e-9)
    layers = init_layers([2, 3, 1], np.random.RandomState(3))
    z1 = x @ layers[0][0] + layers[0][1]
    h1, h2 = forward(layers, x, "sigmoid")
    z2 = h1 @ layers[1][0] + layers[1][1]
    np.testing.assert_allclose(z1, [[1.94877477, 0.39405562, 0.22198974]], atol=5e-8)
    np.testing.assert_allclose(h1, [[0.87531298, 0.59725863, 0.55527064]], atol=5e-8)
    np.testing.assert_allclose(z2, [[-0.4712372]], atol=5e-8)
    np.testing.assert_allclose(h2, [[0.38432346]], atol=5e-8)


@pytest.fixture(scope="module")
def default_run(reference_data):
    return train(reference_data.x, reference_data.y, TrainConfig())


def test_training_log_matches_to_four_decimals(default_run):
    got = [(r["iteration"], round(r["train"]["deviation"], 4), round(r["train"]["accuracy"], 4))
           for r in default_run.history]
    assert got == REFERENCE_LOG


def test_final_weights_match_the_plain_reference_loop(default_run, reference_data):
    plain_layers, plain_log = reference_train(reference_data.x, reference_data.y)
    assert [(i, round(d, 4), round(a, 4)) for i, d, a in plain_log] == REFERENCE_LOG
    for (weights, bias), (plain_weights, plain_bias) in zip(default_run.layers, plain_layers):
        np.testing.assert_allclose(weights, plain_weights, rtol=0, atol=1e-3)
        np.testing.assert_allclose(bias, plain_bias.reshape(bias.shape), rtol=0, atol=1e-3)


def test_same_seed_same_weights_other_seed_other_weights(shipped_data):
    config = TrainConfig(iterations=200)
    first = train(shipped_data.x, shipped_data.y, config)
    again = train(shipped_data.x, shipped_data.y, config)
    other = train(shipped_data.x, shipped_data.y, TrainConfig(iterations=200, seed=4))
    for (w, b), (w2, b2) in zip(first.layers, again.layers):
        assert np.array_equal(w, w2) and np.array_equal(b, b2)
    assert not np.array_equal(first.layers[0][0], other.layers[0][0])
