"""Lyapunov spectra by the QR method, each against a second source.

* Fixed points (constant Jacobian): the exponents are the log-moduli of the eigenvalues (numpy).
  Zero state, zero input and zero biases is a fixed point of every built-in cell; the RNN's
  Jacobian there is ``W_hh``, and the LSTM's and GRU's have closed forms derived below.
* The full spectrum sums to the mean ``ln |det J_t|`` (numpy ``slogdet`` of dense Jacobians),
  whatever the convergence, and the structured product equals a dense QR recursion.
* Products of re-drawn Gaussian matrices: Newman's exact spectrum, within their exact statistics.
* The chaotic random tanh RNN: the mean-field curve.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gradscope.analysis.lyapunov_spectrum import FRAME_STREAM, LYAPUNOV_SCHEMA, benettin, lyapunov
from gradscope.analysis.problem import make_problem, trajectory
from gradscope.analysis.theory import (
    forget_gate_rate,
    mean_field_top_exponent,
    newman_spectrum,
    newman_step_variance,
    tanh_rnn_mean_field_rate,
)
from gradscope.cells.spec import CellSpec
from gradscope.engine.coefficients import dense_jacobians
from gradscope.errors import ConfigError
from gradscope.params.layer import expected_shapes

SPECS = {
    "rnn": CellSpec("rnn", "", ("g",), ("h",)),
    "gru": CellSpec("gru", "", ("r", "z", "n"), ("h",)),
    "lstm": CellSpec("lstm", "", ("i", "f", "g", "o"), ("h", "c")),
}


def zero_bias_params(cell: str, H: int, I: int, rng: np.random.Generator, scale: float) -> dict[str, np.ndarray]:
    """Random weights ``N(0, scale^2 / H)`` and zero biases."""
    params = {name: np.zeros(shape) for name, shape in expected_shapes(SPECS[cell], H, I).items()}
    params["weight_ih_l0"] = rng.standard_normal(params["weight_ih_l0"].shape)
    params["weight_hh_l0"] = scale * rng.standard_normal(params["weight_hh_l0"].shape) / math.sqrt(H)
    return params


def sorted_log_moduli(matrix: np.ndarray) -> np.ndarray:
    return np.sort(np.log(np.abs(np.linalg.eigvals(matrix))))[::-1]


def test_tanh_rnn_at_its_zero_fixed_point_has_the_log_moduli_of_the_eigenvalues_of_w_hh() -> None:
    H, I, T = 12, 3, 3000
    params = zero_bias_params("rnn", H, I, np.random.default_rng(5), 1.3)
    result = lyapunov("rnn", params=params, inputs=np.zeros((T, I)), transient=500)
    # The state stays exactly 0, so J_t = diag(tanh'(0)) W_hh = W_hh at every step. The QR method's
    # error is O(1/T) from the initial frame plus terms decaying like the eigenvalue modulus ratios;
    # after a 500-step transient it is ~1e-5 here, well inside 1e-3.
    assert_allclose(result.exponents, sorted_log_moduli(params["weight_hh_l0"]), atol=1e-3)
    assert result.exponents.shape == (H,)
    assert np.all(np.diff(result.exponents) <= 0)
    assert result.convergence < 1e-2


@pytest.mark.parametrize(("cell", "gate"), [("lstm", 2), ("gru", 2)])
def test_gated_cells_at_the_zero_fixed_point_match_their_closed_form(cell: str, gate: int) -> None:
    """Zero state, input and biases: every gate is sigmoid(0) = 1/2, tanh(0) = 0, and

    LSTM: c' = f c + i g, h' = o tanh(c'): dc'/dh = i tanh'(0) W_g = W_g/2, dc'/dc = f = 1/2,
    dh'/dh = o dc'/dh = W_g/4, dh'/dc = o f = 1/4. So J = [[W_g/4, I/4], [W_g/2, I/2]] = B C with
    B = [I/4; I/2], C = [W_g, I]; its nonzero eigenvalues are those of C B = I/2 + W_g/4.
    GRU (reset after the product): n = tanh(r (W_n h)), h' = (1 - z) n + z h: dh'/dh = (1/2)(1/2) W_n + 1/2.
    Both: the top H exponents are log |eig(I/2 + W/4)| with W the g (LSTM) or n (GRU) block.
    """
    H, I, T = 8, 3, 2000
    params = zero_bias_params(cell, H, I, np.random.default_rng(9), 2.0)
    block = params["weight_hh_l0"].reshape(-1, H, H)[gate]
    result = lyapunov(cell, params=params, inputs=np.zeros((T, I)), exponents=H, transient=300)
    assert_allclose(result.exponents, sorted_log_moduli(np.eye(H) / 2 + block / 4), atol=1e-3)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_full_spectrum_sums_to_the_mean_log_determinant(cell: str) -> None:
    """sum_i lambda_i = (1/n) sum_t ln |det J_t| exactly (the product of the R diagonals is the determinant)."""
    options = {"hidden_size": 6, "input_size": 3, "steps": 120, "seed": 3, "gain": 1.5}
    result = lyapunov(cell, **options, transient=20)
    jacobians = dense_jacobians(trajectory(make_problem(cell, **options)))
    _, logdet = np.linalg.slogdet(jacobians[20:])
    assert result.exponents.size == jacobians.shape[1]
    assert result.exponents.sum() == pytest.approx(logdet.mean(), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_structured_products_equal_a_dense_qr_recursion(cell: str) -> None:
    options = {"hidden_size": 7, "input_size": 2, "steps": 150, "seed": 8}
    result = lyapunov(cell, **options, exponents=4, transient=10)
    jacobians = dense_jacobians(trajectory(make_problem(cell, **options)))
    # Same Haar frame (same stream), then plain dense QR steps written out here.
    frame, _ = np.linalg.qr(np.random.default_rng([8, FRAME_STREAM]).standard_normal((jacobians.shape[1], 4)))
    total = np.zeros(4)
    for t, jacobian in enumerate(jacobians, start=1):
        frame, r = np.linalg.qr(jacobian @ frame)
        if t > 10:
            total += np.log(np.abs(np.diag(r)))
    assert_allclose(result.exponents, np.sort(total / 140)[::-1], rtol=1e-10, atol=1e-12)


def test_products_of_redrawn_gaussian_matrices_reproduce_newman() -> None:
    N, steps, gain = 16, 3000, 1.7
    draws = np.random.default_rng(21)

    def multiply(t: int, frame: np.ndarray) -> np.ndarray:
        return draws.normal(0.0, gain / math.sqrt(N), size=(N, N)) @ frame

    run = benettin(multiply, N, steps, exponents=N, rng=np.random.default_rng(2))
    # By rotation invariance each step's ln R_ii are independent across steps, with the variance
    # psi'((N-i+1)/2)/4 (theory.newman_step_variance), and the Haar initial frame is already
    # stationary: the estimate is unbiased with a known standard error. 5 standard errors per
    # exponent (16 exponents: a false alarm about once in 10^5 seeds).
    standard_error = np.sqrt(newman_step_variance(N) / steps)
    deviation = np.abs(run.exponents - newman_spectrum(N, gain))
    assert np.all(deviation < 5 * standard_error), deviation / standard_error
    # The batch-means estimate (9 degrees of freedom) agrees with the exact standard error to within
    # the scatter of a chi distribution: a factor 2.5 either way holds with probability > 0.999 each.
    ratio = run.standard_error / standard_error
    assert np.all((ratio > 0.3) & (ratio < 2.5)), ratio


def test_chaotic_random_tanh_rnn_follows_the_mean_field_curve() -> None:
    """N = 200, W_hh ~ N(0, g^2/N), zero input, a random initial state, 2000 steps after 500.

    Tolerance 0.03 per g for the median of three networks. The mean-field value is the N -> infinity
    limit; at N = 200 the measured exponent sits below it by about (2-3)/N = 0.01-0.015 (measured
    while writing this test at N = 100, 200, 400: the gap halves when N doubles), and different
    networks scatter by 0.002-0.02 at N = 200 (largest near g = 1.5). The statistical error of one
    2000-step estimate is ~0.002. The curve itself changes by more than 0.08 between the gains
    tested, so the tolerance still tells it from a neighbouring gain's value.
    """
    N, T, transient = 200, 2500, 500
    measured = []
    for g in (1.5, 2.0, 3.0):
        tops = []
        for seed in range(3):
            h0 = 0.5 * np.random.default_rng(100 + seed).standard_normal(N)
            result = lyapunov(
                "rnn",
                init="gaussian",
                gain=g,
                hidden_size=N,
                input_size=1,
                inputs=np.zeros((T, 1)),
                h0=h0,
                exponents=1,
                transient=transient,
                seed=seed,
            )
            tops.append(result.top)
        measured.append(float(np.median(tops)))
        assert measured[-1] == pytest.approx(mean_field_top_exponent(g), abs=0.03)
    assert np.all(np.diff(measured) > 0)


@pytest.mark.parametrize(("init", "gain"), [("gaussian", 2.0), ("pytorch", 4.0)])
def test_driven_random_tanh_rnn_follows_the_init_aware_mean_field_rate(init: str, gain: float) -> None:
    """theory.tanh_rnn_mean_field_rate for gradscope's own draws (PyTorch-uniform input weights and
    biases, N(0, 1) inputs). In the chaotic regime at N = 200 the measured exponents of several networks
    were 0.002-0.012 below it (the finite-N gap above); tolerance 0.03 as above."""
    H, I = 200, 32
    result = lyapunov(
        "rnn", init=init, gain=gain, hidden_size=H, input_size=I, steps=2000, transient=500, seed=1, exponents=1
    )
    assert result.top == pytest.approx(tanh_rnn_mean_field_rate(init, gain, H, I), abs=0.03)


def test_lstm_with_zero_weights_decays_at_the_forget_gate_rate() -> None:
    """W = 0, zero input, biases 0 except b_f: c' = f c (g = tanh(0) = 0), so J = [[0, o tanh'(c') f], [0, f I]]
    is block triangular with eigenvalues 0 and f = sigmoid(b_f): the top H exponents are ln sigmoid(b_f)."""
    H, I, b_f = 5, 2, 1.5
    params = {name: np.zeros(shape) for name, shape in expected_shapes(SPECS["lstm"], H, I).items()}
    params["bias_ih_l0"][H : 2 * H] = b_f
    result = lyapunov("lstm", params=params, inputs=np.zeros((400, I)), c0=np.ones(H), exponents=H, transient=50)
    assert_allclose(result.exponents, forget_gate_rate(b_f), atol=1e-9)


def test_result_document_and_running_estimates() -> None:
    seen: list[tuple[int, int]] = []
    result = lyapunov(
        "lstm", hidden_size=5, input_size=3, steps=300, transient=100, seed=2, progress=lambda *a: seen.append(a)
    )
    assert result.exponents.shape == (10,) and result.state == "[h; c]"
    assert result.averaged_steps == 200 and result.running.shape == (result.running_steps.size, 10)
    assert result.running_steps[-1] == 200
    assert_allclose(result.running[-1], result.exponents, rtol=1e-12)
    assert seen[-1] == (300, 300) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    document = result.to_dict()
    assert document["schema"] == LYAPUNOV_SCHEMA
    assert document["exponents"] == [float(v) for v in result.exponents]
    assert document["config"]["seed"] == 2 and document["transient"] == 100
    json.dumps(document, allow_nan=False)
    again = lyapunov("lstm", hidden_size=5, input_size=3, steps=300, transient=100, seed=2)
    assert_allclose(again.exponents, result.exponents, rtol=0, atol=0)
    with pytest.raises(AttributeError):
        result.transient = 3  # type: ignore[misc]
    assert not result.exponents.flags.writeable


def test_singular_jacobians_give_minus_infinity_and_null_in_json() -> None:
    H, I = 4, 2
    params = {name: np.zeros(shape) for name, shape in expected_shapes(SPECS["rnn"], H, I).items()}
    result = lyapunov("rnn-relu", params=params, inputs=np.zeros((20, I)))
    assert np.all(np.isneginf(result.exponents))
    assert result.to_dict()["exponents"] == [None] * H
    json.dumps(result.to_dict(), allow_nan=False)


def test_errors_name_the_option() -> None:
    with pytest.raises(ConfigError, match="exponents"):
        lyapunov("rnn", hidden_size=4, steps=10, exponents=5)
    with pytest.raises(ConfigError, match="transient"):
        lyapunov("rnn", hidden_size=4, steps=10, transient=10)
    with pytest.raises(ConfigError, match="transient"):
        lyapunov("rnn", hidden_size=4, steps=10, transient=-1)
    with pytest.raises(ConfigError, match="gain"):
        lyapunov("rnn", hidden_size=4, steps=10, gain=-1.0)
    rng = np.random.default_rng(0)
    stacked = {
        f"{name}_l{layer}": rng.standard_normal(shape)
        for layer in (0, 1)
        for name, shape in (("weight_ih", (3, 3)), ("weight_hh", (3, 3)), ("bias_ih", (3,)), ("bias_hh", (3,)))
    }
    with pytest.raises(ConfigError, match="stacked"):
        lyapunov("rnn", params=stacked, steps=5)
