"""The from-scratch LSTM example: its BPTT passes the check, and its planted bug is caught with step and gates."""

from __future__ import annotations

import lstm_numpy
import numpy as np
import pytest

from gradscope.testing import GradientMismatch


def test_hand_written_bptt_matches_gradscope() -> None:
    lstm_numpy.check_with_gradscope(*lstm_numpy.demo_problem())


def test_every_gradient_matches_finite_differences() -> None:
    params, xs, targets, h0, c0 = lstm_numpy.demo_problem(2)
    _, grads = lstm_numpy.loss_and_gradients(params, xs, targets, h0, c0)
    arrays = dict(params) | {"h0": h0, "c0": c0}

    def loss(a: dict[str, np.ndarray]) -> float:
        ys, _ = lstm_numpy.forward({k: a[k] for k in params}, xs, a["h0"], a["c0"])
        return float(np.mean((ys - targets) ** 2))

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


def test_the_planted_bug_is_caught_with_its_step_and_gates() -> None:
    with pytest.raises(GradientMismatch) as info:
        lstm_numpy.check_with_gradscope(*lstm_numpy.demo_problem(), planted_bug=True)
    message = str(info.value)
    assert set(info.value.comparison.failed_keys) == {"dW", "db", "dh0", "dc0"}
    # at t = T there is no carry yet; at T-1 the output gate still only reads dh, which is right
    assert "first goes wrong at t = 4 of 5 (t = 5 is right) in the cell's terms" in message
    assert "wrong at t = 1..4; at t = 4: gates i, f, g" in message
    assert "the carry of dc back from step t+1" in message


def test_training_reduces_the_loss() -> None:
    losses = lstm_numpy.train(epochs=100)
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:10])
