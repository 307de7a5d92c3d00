"""The min-char-rnn-style example: its BPTT passes the check, and its planted bug is caught one step into the carry."""

from __future__ import annotations

import char_rnn
import numpy as np
import pytest

from gradscope.testing import GradientMismatch


def test_hand_written_bptt_matches_gradscope() -> None:
    char_rnn.check_with_gradscope(*char_rnn.demo_problem())


def test_every_gradient_matches_finite_differences() -> None:
    params, inputs, targets, hprev = char_rnn.demo_problem(2)
    _, grads, _ = char_rnn.loss_fun(params, inputs, targets, hprev)
    eps = 1e-6
    for name, value in params.items():
        numeric = np.empty_like(value)
        for index in np.ndindex(value.shape):
            shifted = [{k: v.copy() for k, v in params.items()} for _ in range(2)]
            shifted[0][name][index] += eps
            shifted[1][name][index] -= eps
            plus, minus = (char_rnn.loss_fun(p, inputs, targets, hprev)[0] for p in shifted)
            numeric[index] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grads["d" + name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_the_planted_bug_is_caught_one_step_into_the_carry() -> None:
    problem = char_rnn.demo_problem()
    with pytest.raises(GradientMismatch) as info:
        char_rnn.check_with_gradscope(*problem, planted_bug=True)
    message = str(info.value)
    assert set(info.value.comparison.failed_keys) == {"dWxh", "dWhh", "dbh"}
    # step T has nothing to carry yet, so it is right; the carry into T-1 is the first wrong term
    assert "first goes wrong at t = 7 of 8 (t = 8 is right)" in message
    assert "multiplies by the recurrent weight (Whh) untransposed" in message


def test_training_reduces_the_loss() -> None:
    history = char_rnn.train(steps=200)
    assert history[-1] < 0.5 * history[0]
