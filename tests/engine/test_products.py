"""Norm profiles: exact SVD at every lag, PyTorch autograd, closed forms, long sequences, memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from conftest import exact_products

import gradscope
from gradscope.analysis.problem import make_problem, trajectory
from gradscope.cells.spec import CELL_NAMES
from gradscope.engine.products import norm_profile
from gradscope.params.init import haar_orthogonal

SPECTRAL_RTOL = 1e-9  # the promise: relative accuracy of the spectral norm at every lag


def relative_error(log10_actual: np.ndarray, exact_norms: np.ndarray) -> np.ndarray:
    """``|computed / exact - 1|``; an exact zero must come out as ``-inf`` (error 0), else the error is 1."""
    exact_norms = np.asarray(exact_norms, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.abs(10.0 ** (log10_actual - np.log10(exact_norms)) - 1.0)
    both_zero = (exact_norms == 0) & np.isneginf(log10_actual)
    return np.where(both_zero, 0.0, np.where(np.isnan(error), 1.0, error))


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize(("hidden", "gain", "init"), [(3, 0.5, "pytorch"), (6, 1.0, "gaussian"), (10, 3.0, "gaussian")])
def test_spectral_and_frobenius_match_exact_products(
    cell: str, hidden: int, gain: float, init: str, spectral_route: str
) -> None:
    options = {"hidden_size": hidden, "input_size": 3, "steps": 60, "seed": hidden, "gain": gain, "init": init}
    products, _ = exact_products(cell, **options)
    spectral = gradscope.analyze(cell, **options)
    frobenius = gradscope.analyze(cell, norm="frobenius", **options)
    exact_2 = np.linalg.norm(products, ord=2, axis=(1, 2))
    exact_f = np.linalg.norm(products, ord="fro", axis=(1, 2))
    nonzero = exact_2 > 0
    assert np.all(relative_error(spectral.log10_norm[nonzero], exact_2[nonzero]) <= SPECTRAL_RTOL)
    assert np.all(relative_error(frobenius.log10_norm[nonzero], exact_f[nonzero]) <= 1e-12)
    assert np.all(np.isneginf(spectral.log10_norm[~nonzero]))


def test_larger_lstm_spectral_norm_matches_svd_at_every_lag(spectral_route: str) -> None:
    # S = 96: on the tracker route, large enough that the certified block iteration (not only the
    # dense fallback) is exercised.
    options = {"hidden_size": 48, "input_size": 8, "steps": 150, "seed": 1}
    products, _ = exact_products("lstm", **options)
    result = gradscope.analyze("lstm", **options)
    assert result.svd_fallbacks < result.steps // 4
    assert np.all(relative_error(result.log10_norm, np.linalg.norm(products, ord=2, axis=(1, 2))) <= SPECTRAL_RTOL)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("gain", [0.6, 2.5])
def test_profiles_match_torch_autograd(cell: str, gain: float) -> None:
    torch = pytest.importorskip("torch")
    import torch_reference

    problem = make_problem(cell, hidden_size=5, input_size=3, steps=14, seed=11, gain=gain, init="gaussian")
    params = problem.params.as_dict()
    result = gradscope.analyze(cell, params=params, inputs=problem.inputs)
    initial = np.zeros(problem.compiled.spec.state_size(5))
    products = torch.tensor(torch_reference.lag_products(cell, params, problem.inputs, initial))
    for norm, order in (("spectral", 2), ("frobenius", "fro")):
        expected = torch.linalg.matrix_norm(products, ord=order).numpy()
        actual = (
            result.log10_norm
            if norm == "spectral"
            else gradscope.analyze(cell, params=params, inputs=problem.inputs, norm=norm).log10_norm
        )
        assert np.all(relative_error(actual, expected) <= 1e-8), norm


def orthogonal_rnn(hidden: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """tanh RNN with W_hh = scale * Q and zero biases: at zero input and state, J_t = scale * Q exactly."""
    return {
        "weight_ih_l0": rng.standard_normal((hidden, 2)),
        "weight_hh_l0": scale * haar_orthogonal(hidden, rng),
        "bias_ih_l0": np.zeros(hidden),
        "bias_hh_l0": np.zeros(hidden),
    }


@pytest.mark.parametrize("scale", [2.0, 0.5])
def test_scaled_orthogonal_gives_a_to_the_k_far_outside_float64(scale: float, rng: np.random.Generator) -> None:
    steps = 5000
    params = orthogonal_rnn(8, scale, rng)
    result = gradscope.analyze("rnn", params=params, inputs=np.zeros((steps, 2)))
    expected = np.arange(1, steps + 1) * np.log10(scale)
    assert abs(expected[-1]) > 1500  # 2**5000 overflows float64 (max ~1e308) and 0.5**5000 underflows it
    assert np.all(np.abs(result.log10_norm - expected) <= 4e-10)
    assert result.rate_per_step == pytest.approx(np.log(scale), rel=1e-9)
    assert result.verdict == ("exploding" if scale > 1 else "vanishing")


@pytest.mark.parametrize("scale", [1.01, 0.99])
def test_hundred_thousand_steps_stay_finite_and_exact(scale: float, rng: np.random.Generator) -> None:
    steps = 100_000
    params = orthogonal_rnn(4, scale, rng)
    result = gradscope.analyze("rnn", params=params, inputs=np.zeros((steps, 2)), norm="frobenius")
    expected = np.arange(1, steps + 1) * np.log10(scale) + 0.5 * np.log10(4)  # ||a^k Q^k||_F = a^k sqrt(H)
    assert np.all(np.isfinite(result.log10_norm))
    assert np.max(np.abs(result.log10_norm - expected)) <= 1e-8


@pytest.mark.parametrize(("gain", "autonomous"), [(3.0, True), (0.8, False)])
def test_hundred_thousand_steps_of_nonlinear_networks(gain: float, autonomous: bool) -> None:
    """A strongly coupled autonomous and a driven tanh RNN: norms far outside float64's range.

    Correctness: the last lags of the run against plain products of the final Jacobians. (Which
    way the norm goes is the network's business: finite-size chaos can die out over 1e5 steps.)
    """
    steps, hidden = 100_000, 16
    rng = np.random.default_rng(2)
    inputs = np.zeros((steps, 2)) if autonomous else rng.standard_normal((steps, 2))
    options = {"hidden_size": hidden, "input_size": 2, "init": "gaussian", "gain": gain, "seed": 2}
    h0 = rng.standard_normal(hidden)
    result = gradscope.analyze("rnn", inputs=inputs, h0=h0, **options)
    assert np.all(np.isfinite(result.log10_norm))
    assert abs(result.log10_norm[-1]) > 320  # beyond float64's range: only the log accumulator holds it

    problem = make_problem("rnn", inputs=inputs, h0=h0, **options)
    forward = trajectory(problem)
    tail = 120
    from gradscope.engine.coefficients import assemble, step_coefficients

    coefficients = step_coefficients(forward, steps - tail, steps)
    running = np.eye(hidden)
    for k in range(1, tail + 1):
        index = tail - k
        running = running @ assemble(coefficients, index, forward)
        exact = np.linalg.norm(running, 2)
        assert relative_error(result.log10_norm[k - 1], exact) <= SPECTRAL_RTOL


def coincident_rnn(hidden: int, rng: np.random.Generator, second: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """W_hh = U diag(s) U^T with s_1 = 1 and s_2 = ``second`` close to it: P_k = W^k exactly."""
    basis = haar_orthogonal(hidden, rng)
    singular = np.concatenate([[1.0, second], np.linspace(0.9, 0.2, hidden - 2)])
    params = {
        "weight_ih_l0": rng.standard_normal((hidden, 2)),
        "weight_hh_l0": (basis * singular) @ basis.T,
        "bias_ih_l0": np.zeros(hidden),
        "bias_hh_l0": np.zeros(hidden),
    }
    return params, singular


@pytest.mark.parametrize("second", [1 - 1e-7, 1.0])
def test_nearly_coincident_top_singular_values(second: float, rng: np.random.Generator, spectral_route: str) -> None:
    """Where plain power iteration stalls: the top two singular values (nearly) coincide at every lag."""
    params, singular = coincident_rnn(40, rng, second)
    steps = 300
    result = gradscope.analyze("rnn", params=params, inputs=np.zeros((steps, 2)))
    exact = np.max(singular) ** np.arange(1, steps + 1)
    assert np.all(relative_error(result.log10_norm, exact) <= SPECTRAL_RTOL)


def test_rotation_blocks_with_equal_singular_values(rng: np.random.Generator, spectral_route: str) -> None:
    """2x2 rotations: every P_k is orthogonal up to a scale, all singular values equal (1.05^k)."""
    hidden, angle = 12, 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    weight = 1.05 * np.kron(np.eye(hidden // 2), rotation)
    params = orthogonal_rnn(hidden, 1.0, rng) | {"weight_hh_l0": weight}
    result = gradscope.analyze("rnn", params=params, inputs=np.zeros((200, 2)))
    assert np.all(relative_error(result.log10_norm, 1.05 ** np.arange(1, 201)) <= SPECTRAL_RTOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_float32_agrees_with_float64(cell: str) -> None:
    options = {"hidden_size": 24, "steps": 300, "seed": 5}
    single = gradscope.analyze(cell, dtype="float32", **options)
    double = gradscope.analyze(cell, **options)
    assert np.all(np.isfinite(single.log10_norm))
    assert np.max(np.abs(single.log10_norm - double.log10_norm)) <= 1e-4
    assert single.dtype == "float32"


def test_memory_stays_far_below_holding_every_jacobian() -> None:
    problem = make_problem("lstm", hidden_size=16, input_size=4, steps=20_000, seed=0)
    forward = trajectory(problem)
    all_jacobians = 20_000 * 32 * 32 * 8  # bytes for T dense (S x S) Jacobians: 164 MB
    tracemalloc.start()
    norm_profile(forward, norm="spectral")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < all_jacobians / 20


def test_singular_value_snapshots_match_svd() -> None:
    options = {"hidden_size": 6, "input_size": 2, "steps": 40, "seed": 4}
    products, _ = exact_products("gru", **options)
    result = gradscope.analyze("gru", snapshot_lags=[1, 10, 40], **options)
    for lag in (1, 10, 40):
        expected = np.linalg.svd(products[lag - 1], compute_uv=False)
        actual = 10.0 ** result.singular_values[lag]
        # Backward-stable SVDs agree to rounding relative to the largest singular value.
        np.testing.assert_allclose(actual / expected[0], expected / expected[0], rtol=0, atol=1e-12)
    assert result.singular_values[40][0] == pytest.approx(result.log10_norm[39], abs=1e-10)


def test_progress_is_reported_up_to_the_total() -> None:
    calls: list[tuple[int, int]] = []
    gradscope.analyze("rnn", hidden_size=4, steps=250, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (250, 250)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert 50 <= len(calls) <= 260


def test_a_product_that_reaches_zero_is_minus_infinity(rng: np.random.Generator) -> None:
    """ReLU units that are all dead: J_t = 0 exactly, so every P_k is 0."""
    hidden = 5
    params = {
        "weight_ih_l0": rng.standard_normal((hidden, 2)),
        "weight_hh_l0": rng.standard_normal((hidden, hidden)),
        "bias_ih_l0": np.full(hidden, -100.0),
        "bias_hh_l0": np.zeros(hidden),
    }
    result = gradscope.analyze("rnn-relu", params=params, inputs=rng.standard_normal((30, 2)) * 0.1)
    assert np.all(np.isneginf(result.log10_norm))
    assert result.verdict == "vanishing"
    document = result.to_dict()
    assert document["log10_norm"] == [None] * 30 and document["final_log10_norm"] is None


def test_clustered_spectrum_of_a_chrono_lstm_stays_exact(spectral_route: str) -> None:
    """Forget gates near 1 keep many singular values together: the block-Krylov iteration must stay exact."""
    problem = make_problem("lstm", hidden_size=12, input_size=3, steps=120, seed=0)
    params = problem.params.as_dict()
    hidden = 12
    params["bias_ih_l0"] = params["bias_ih_l0"].copy()
    params["bias_ih_l0"][hidden : 2 * hidden] = np.log(np.random.default_rng(0).uniform(1, 119, hidden))
    params["bias_ih_l0"][:hidden] = -params["bias_ih_l0"][hidden : 2 * hidden]
    products, _ = exact_products("lstm", params=params, inputs=problem.inputs)
    result = gradscope.analyze("lstm", params=params, inputs=problem.inputs)
    assert np.all(relative_error(result.log10_norm, np.linalg.norm(products, ord=2, axis=(1, 2))) <= SPECTRAL_RTOL)


def test_flush_negligible_is_relative_to_each_step() -> None:
    from gradscope.engine.operator import FLUSH_RELATIVE, flush_negligible

    array = np.array([[[1.0, 1e-260, -1e-300]], [[1e-40, 1e-260, -1e-300]], [[0.0, 0.0, 0.0]]])
    flush_negligible(array)
    # Step 0's largest is 1: 1e-260 and 1e-300 are below 1e-250 of it and go. Step 1's largest is
    # 1e-40: 1e-260 is 1e-220 of it and stays, 1e-300 goes. A zero step stays zero.
    assert FLUSH_RELATIVE == 1e-250
    np.testing.assert_array_equal(array, [[[1.0, 0.0, 0.0]], [[1e-40, 1e-260, 0.0]], [[0.0, 0.0, 0.0]]])


@pytest.mark.parametrize(("scale", "dtype"), [(1e-170, "float64"), (1e-24, "float32")])
def test_factors_whose_squared_norm_underflows_are_not_mistaken_for_zero(scale: float, dtype: str) -> None:
    """Found by review: ||J||_F below 1e-154 makes ||Q||_F^2 underflow although Q is not zero."""
    weight = scale * np.array([[1.0, 0.3], [0.2, 0.5]])
    params = {"weight_ih_l0": np.eye(2), "weight_hh_l0": weight, "bias_ih_l0": np.zeros(2), "bias_hh_l0": np.zeros(2)}
    forward = trajectory(make_problem("rnn-relu", params=params, inputs=np.ones((20, 2))))
    # ReLU units stay active: J_t = W_hh at every step, so ||P_k|| = ||W^k||, in scaled arithmetic.
    unit = weight / scale
    expected = [
        np.log10(np.linalg.norm(np.linalg.matrix_power(unit, k), 2)) + k * np.log10(scale) for k in range(1, 21)
    ]
    profile = norm_profile(forward, dtype=dtype)
    tolerance = 1e-9 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(profile.log10_norm, expected, rtol=0, atol=tolerance)
