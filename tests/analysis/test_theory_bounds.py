"""Pascanu's bound: its value against numpy's SVD, and measured profiles against it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import gradscope
from gradscope.analysis.problem import make_problem
from gradscope.analysis.theory import ACTIVATION_GAMMA, pascanu_gamma, pascanu_log10_bound, sigma_max
from gradscope.cells.spec import CellSpec
from gradscope.params.init import haar_orthogonal
from gradscope.params.layer import expected_shapes

RNN = CellSpec("rnn", "tanh RNN", ("g",), ("h",))


@pytest.mark.parametrize("shape", [(7, 7), (5, 9), (12, 3)])
def test_sigma_max_is_the_largest_singular_value(shape: tuple[int, int]) -> None:
    matrix = np.random.default_rng(1).standard_normal(shape)
    assert sigma_max(matrix) == pytest.approx(np.linalg.svd(matrix, compute_uv=False)[0], rel=1e-12)


def test_bound_is_k_times_log10_of_gamma_sigma() -> None:
    weight = np.random.default_rng(2).standard_normal((6, 6)) / 3
    lags = np.arange(1, 41)
    top = np.linalg.svd(weight, compute_uv=False)[0]
    assert_allclose(pascanu_log10_bound(weight, lags, 1.0), lags * np.log10(top), rtol=1e-12)
    assert_allclose(pascanu_log10_bound(weight, lags, 0.25), lags * np.log10(0.25 * top), rtol=1e-12)
    frobenius = pascanu_log10_bound(weight, lags, 1.0, norm="frobenius")
    assert_allclose(frobenius, lags * np.log10(top) + 0.5 * np.log10(6), rtol=1e-12)


def test_gamma_is_the_supremum_of_the_derivative() -> None:
    a = np.linspace(-20, 20, 400_001)
    sigmoid = 1 / (1 + np.exp(-a))
    assert ACTIVATION_GAMMA["tanh"] == pytest.approx(np.max(1 - np.tanh(a) ** 2), abs=1e-9)
    assert ACTIVATION_GAMMA["sigmoid"] == pytest.approx(np.max(sigmoid * (1 - sigmoid)), abs=1e-9)
    assert ACTIVATION_GAMMA["relu"] == 1.0
    assert pascanu_gamma("rnn") == 1.0
    assert pascanu_gamma("rnn-relu") == 1.0
    assert pascanu_gamma("lstm") is None
    assert pascanu_gamma("gru") is None


@pytest.mark.parametrize(
    ("cell", "init", "gain", "norm"),
    [
        ("rnn", "pytorch", 1.0, "spectral"),
        ("rnn", "gaussian", 2.0, "spectral"),
        ("rnn", "gaussian", 0.7, "spectral"),
        ("rnn", "orthogonal", 1.2, "spectral"),
        ("rnn-relu", "pytorch", 1.0, "spectral"),
        ("rnn", "gaussian", 1.5, "frobenius"),
    ],
)
def test_measured_profile_never_exceeds_the_bound(cell: str, init: str, gain: float, norm: str) -> None:
    H, I, T, seed = 10, 4, 60, 3
    result = gradscope.analyze(cell, hidden_size=H, input_size=I, steps=T, seed=seed, init=init, gain=gain, norm=norm)
    weight = make_problem(cell, hidden_size=H, input_size=I, steps=T, seed=seed, init=init, gain=gain).params.weight_hh
    bound = pascanu_log10_bound(weight, result.lags, pascanu_gamma(cell), norm)
    finite = np.isfinite(result.log10_norm)
    assert np.all(result.log10_norm[finite] <= bound[finite] + 1e-9)


@pytest.mark.parametrize("a", [0.5, 0.9, 1.0, 1.3])
def test_orthogonal_rnn_at_zero_input_has_slope_log_a_and_a_tight_bound(a: float) -> None:
    """Zero input, zero biases, h0 = 0: h stays 0, tanh' = 1, J_t = a Q and ||P_k|| = a^k exactly."""
    H, I, T = 8, 3, 50
    rng = np.random.default_rng(11)
    params = {name: np.zeros(shape) for name, shape in expected_shapes(RNN, H, I).items()}
    params["weight_ih_l0"] = rng.standard_normal((H, I))
    params["weight_hh_l0"] = a * haar_orthogonal(H, rng)
    result = gradscope.analyze("rnn", params=params, inputs=np.zeros((T, I)))
    exact = result.lags * math.log10(a)
    assert_allclose(result.log10_norm, exact, atol=1e-10)
    assert result.rate_per_step == pytest.approx(math.log(a), abs=1e-10)
    bound = pascanu_log10_bound(params["weight_hh_l0"], result.lags, pascanu_gamma("rnn"))
    assert_allclose(bound, exact, atol=1e-12)
    fit = result.fitted_log10
    assert fit is not None
    assert_allclose(fit, exact, atol=1e-9)


def test_zero_matrix_and_bad_input() -> None:
    bound = pascanu_log10_bound(np.zeros((3, 3)), np.arange(0, 4))
    assert bound[0] == 0.0
    assert np.all(np.isneginf(bound[1:]))
    with pytest.raises(ValueError, match="square"):
        pascanu_log10_bound(np.zeros((3, 4)), np.arange(1, 4))
    with pytest.raises(ValueError, match="norm"):
        pascanu_log10_bound(np.eye(3), np.arange(1, 4), norm="nuclear")
