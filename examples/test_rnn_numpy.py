"""The many-to-one NumPy RNN: its hand-written BPTT passes gradscope's check, and its planted bug is caught."""

from __future__ import annotations

import numpy as np
import pytest
import rnn_numpy

from gradscope.testing import GradientMismatch

SENTENCE, TARGET = "good acting and a great story", 1


def setup(seed: int = 1) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vocabulary = rnn_numpy.build_vocabulary(rnn_numpy.SENTENCES)
    params = rnn_numpy.init_params(len(vocabulary), 5, 2, rng)
    params["bh"] = rng.normal(0.0, 0.1, size=5)
    return params, rnn_numpy.one_hot(SENTENCE, vocabulary), rng.normal(0.0, 0.5, size=5)


def test_hand_written_bptt_matches_gradscope() -> None:
    params, xs, h0 = setup()
    rnn_numpy.check_with_gradscope(params, xs, TARGET, h0)  # raises GradientMismatch if wrong


def test_every_gradient_matches_finite_differences() -> None:
    # A second source for every gradient of the example, the output layer's included.
    params, xs, h0 = setup(2)
    _, grads, _ = rnn_numpy.loss_and_gradients(params, xs, TARGET, h0)
    arrays = dict(params) | {"xs": xs, "h0": h0}

    def loss(a: dict[str, np.ndarray]) -> float:
        p = {k: a[k] for k in params}
        return rnn_numpy.loss_and_gradients(p, a["xs"], TARGET, a["h0"])[0]

    eps = 1e-6
    for name, value in arrays.items():
        numeric = np.empty_like(value)
        for index in np.ndindex(value.shape):
            plus, minus = dict(arrays), dict(arrays)
            plus[name], minus[name] = value.copy(), value.copy()
            plus[name][index] += eps
            minus[name][index] -= eps
            numeric[index] = (loss(plus) - loss(minus)) / (2 * eps)
        np.testing.assert_allclose(grads["d" + name], numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_the_planted_bug_is_caught_at_the_last_step_with_its_hint() -> None:
    params, xs, h0 = setup()
    with pytest.raises(GradientMismatch) as info:
        rnn_numpy.check_with_gradscope(params, xs, TARGET, h0, planted_bug=True)
    message = str(info.value)
    assert message.startswith("BPTT gradients differ from the exact reference (rnn, T=6, H=5, I=19, O=2")
    assert {"dWxh", "dWhh", "dbh"} <= set(info.value.comparison.failed_keys)
    assert "first goes wrong at t = 6 of 6" in message  # tanh' is wrong at the very first step visited
    assert "tanh' is taken one step early" in message
    assert "matching: dWhy, dby" in message  # the output layer reads the forward pass only


def test_the_bug_is_invisible_in_the_forward_pass() -> None:
    params, xs, h0 = setup()
    good = rnn_numpy.loss_and_gradients(params, xs, TARGET, h0)
    bad = rnn_numpy.loss_and_gradients(params, xs, TARGET, h0, planted_bug=True)
    assert good[0] == bad[0]
    np.testing.assert_array_equal(good[1]["dWhy"], bad[1]["dWhy"])


def test_training_reduces_the_loss() -> None:
    losses = rnn_numpy.train(epochs=30)
    assert losses[-1] < 0.5 * losses[0]
