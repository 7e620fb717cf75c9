"""The forward pass as served: both implementations agree to the bit, a row's answer
never depends on its batch, and every finite row gets a probability in [0, 1]."""

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.inference import (
    MAX_WEIGHT, _exp_parts, check_weights, compile_predict, compile_predict_rows, exact_everywhere,
    predict_rows_source, sigmoid_of_number, tanh_of_number,
)
from trainer.network import init_layers, layer_sizes_of, predict_proba

ACTIVATIONS = ["sigmoid", "tanh", "relu"]
finite = st.floats(allow_nan=False, allow_infinity=False)
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None)


def _network(sizes, activation_seed=4):
    rng = np.random.default_rng(activation_seed)
    return [(w, rng.normal(size=b.shape)) for w, b in init_layers(sizes, np.random.RandomState(activation_seed))]


NETWORKS = {tuple(sizes): _network(sizes) for sizes in ([2, 3, 1], [2, 5, 4, 1], [2, 8, 8, 1])}


@FUZZ
@given(row=st.tuples(finite, finite), others=st.lists(st.tuples(finite, finite), min_size=21, max_size=40),
       position=st.integers(0, 40), activation=st.sampled_from(ACTIVATIONS),
       sizes=st.sampled_from(sorted(NETWORKS)))
def test_a_row_gets_the_same_answer_alone_in_a_batch_and_on_either_path(row, others, position, activation, sizes):
    layers = NETWORKS[sizes]
    on_numpy, on_floats = compile_predict(layers, activation), compile_predict_rows(layers, activation)
    batch = others[:position] + [row] + others[position:]
    alone = on_numpy(np.array([row]))[0]
    assert math.isfinite(alone) and 0.0 <= alone <= 1.0
    assert on_numpy(np.array(batch))[min(position, len(others))] == alone
    assert on_floats([row]) == [alone]
    assert on_floats(batch) == on_numpy(np.array(batch)).tolist()


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_extremes_of_the_double_range(activation):
    """``[[1e308, 1e308]]`` gave NaN (inf - inf), so ``"probability": null``."""
    layers = NETWORKS[(2, 5, 4, 1)]
    rows = [[1e308, 1e308], [1.7976931348623157e308, -1.7976931348623157e308], [-1e308, 5.0], [5e-324, -5e-324],
            [0.0, -0.0], [800.0, -800.0], [2.0**64, 2.0**64], [2.0**64 * (1 + 2**-52), 1.0]]
    got = compile_predict(layers, activation)(np.array(rows))
    assert np.all(np.isfinite(got)) and np.all((got >= 0) & (got <= 1))
    assert compile_predict_rows(layers, activation)(rows) == got.tolist()


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("sizes", [[2, 3, 1], [2, 5, 4, 1], [2, 16, 1], [2, 16, 16, 1], [2, 64, 64, 1]])
def test_served_probabilities_are_the_trainers_to_1e_13(activation, sizes, rng):
    layers = _network(sizes)
    rows = np.concatenate([rng.normal(size=(300, 2)), rng.normal(size=(100, 2)) * 300, rng.normal(size=(50, 2)) * 1e-4])
    np.testing.assert_allclose(compile_predict(layers, activation)(rows), predict_proba(layers, rows, activation),
                               rtol=1e-13, atol=2e-15)


def test_a_wide_network_is_served_by_numpy_alone_and_never_gives_nan():
    layers = _network([2, 16, 16, 1])
    assert not exact_everywhere(layers) and exact_everywhere(NETWORKS[(2, 8, 8, 1)])
    got = compile_predict(layers, "relu")(np.array([[1e308, -1e308], [1.0, 2.0]]))
    assert np.all(np.isfinite(got))


@FUZZ
@given(t=st.floats(-745.0, 709.0))
def test_our_exp_is_within_an_ulp_or_two(t):
    m, table, q = _exp_parts(t)
    value, expected = math.ldexp(table + table * q, m), math.exp(t)
    assert abs(value - expected) <= 2 * math.ulp(expected)


@FUZZ
@given(z=finite)
def test_sigmoid_and_tanh_of_a_number(z):
    sigmoid, tanh = sigmoid_of_number(z), tanh_of_number(z)
    assert 0.0 <= sigmoid <= 1.0 and -1.0 <= tanh <= 1.0
    expected = 1 / (1 + math.exp(-z)) if z > -700 else 0.0
    assert abs(sigmoid - expected) <= 4e-16 and abs(tanh - math.tanh(z)) <= 4e-16


def test_relu_layers_carry_their_scale_through_a_deep_network():
    """Twelve ReLU layers of weight 2**60 each: without rescaling their outputs would
    pass the largest double and the next layer would make inf - inf."""
    layers = [(np.full((2, 2), 2.0**60) * np.array([[1, -1], [1, 1]]), np.zeros((1, 2))) for _ in range(12)]
    layers.append((np.array([[1.0], [-1.0]]), np.array([[0.5]])))
    rows = [[1.0, 2.0], [1e300, 3e300], [-5.0, 1e-300]]
    got = compile_predict(layers, "relu")(np.array(rows))
    assert np.all(np.isfinite(got)) and compile_predict_rows(layers, "relu")(rows) == got.tolist()


def test_weights_are_finite_and_bounded():
    check_weights(NETWORKS[(2, 3, 1)])
    for bad in (np.nan, np.inf, MAX_WEIGHT * 2):
        layers = [(w.copy(), b.copy()) for w, b in NETWORKS[(2, 3, 1)]]
        layers[1][0][0, 0] = bad
        with pytest.raises(ValueError, match="w2"):
            check_weights(layers)


def test_generated_source_keeps_every_weight_exactly_and_refuses_huge_networks(rng):
    awkward = np.array([[0.1, 1 / 3, 5e-324], [-2.2250738585072014e-308, 1.7976931348623157e8, -0.7]])
    layers = [(awkward, np.array([[1e-17, -0.0, 2 / 3]])), (rng.normal(size=(3, 1)), np.array([[0.3]]))]
    rows = rng.normal(size=(50, 2)).tolist()
    assert compile_predict_rows(layers, "tanh")(rows) == compile_predict(layers, "tanh")(np.array(rows)).tolist()
    assert repr(5e-324) in predict_rows_source(layers, ["tanh", "sigmoid"])
    with pytest.raises(ValueError, match="too large"):
        compile_predict_rows(init_layers([2, 64, 64, 1], np.random.RandomState(0)), "relu")
    assert layer_sizes_of(layers) == [2, 3, 1]
