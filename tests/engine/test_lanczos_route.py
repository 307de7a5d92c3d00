"""The Lanczos route of the spectral tracker (wide products: the dense regime), against the SVD of explicit
dense products, PyTorch float64 autograd and the block-Krylov route, in both working precisions."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import exact_products, with_singular_values

import gradscope
from gradscope.analysis.problem import make_problem, trajectory
from gradscope.engine import products as engine_products
from gradscope.engine import spectral
from gradscope.engine.products import norm_profile
from gradscope.engine.spectral import SpectralNormTracker
from gradscope.params.init import haar_orthogonal

SPECTRAL_RTOL = 1e-9  # the float64 promise at every lag
SINGLE_LOG10 = 1e-4  # float32 against exact, as the other float32 tests


def relative(log10_actual: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(10.0 ** (log10_actual - np.log10(exact)) - 1.0)


@pytest.fixture
def route(monkeypatch: pytest.MonkeyPatch):
    """``route("lanczos")`` sends every width above the Gram route's to the Lanczos route,
    ``route("block")`` none; ``route("lanczos", gram=False)`` the Gram route's widths too."""

    def choose(name: str, gram: bool = True) -> None:
        monkeypatch.setattr(spectral, "LANCZOS_FROM", 0 if name == "lanczos" else 10**9)
        if not gram:
            monkeypatch.setattr(engine_products, "EXACT_BELOW", 0)

    return choose


@pytest.mark.parametrize(("cell", "hidden"), [("rnn", 80), ("gru", 72)])
def test_edge_of_chaos_matches_svd_and_the_block_route(cell: str, hidden: int, route) -> None:
    # Orthogonal W_hh at gain 1: the RNN truncates nothing and the top of the spectrum is flat; the
    # GRU starts so and then narrows by truncation.
    options = {"hidden_size": hidden, "input_size": 4, "steps": 120, "seed": 5, "init": "orthogonal", "gain": 1.0}
    products, _ = exact_products(cell, **options)
    exact_2 = np.linalg.norm(products, ord=2, axis=(1, 2))
    exact_f = np.linalg.norm(products, ord="fro", axis=(1, 2))
    forward = trajectory(make_problem(cell, **options))
    route("block")
    block = norm_profile(forward)
    route("lanczos")
    lanczos = norm_profile(forward)
    assert lanczos.directions == block.directions
    if cell == "rnn":
        assert lanczos.directions == hidden  # full products all the way (the GRU's gates let it truncate)
    assert np.all(relative(lanczos.log10_norm, exact_2) <= SPECTRAL_RTOL)
    assert np.max(np.abs(lanczos.log10_norm - block.log10_norm)) <= 1e-9
    frobenius = gradscope.analyze(cell, norm="frobenius", **options)
    assert np.all(relative(frobenius.log10_norm, exact_f) <= 1e-12)
    single = gradscope.analyze(cell, dtype="float32", **options)
    assert np.max(np.abs(single.log10_norm - np.log10(exact_2))) <= SINGLE_LOG10
    single_frobenius = gradscope.analyze(cell, dtype="float32", norm="frobenius", **options)
    assert np.max(np.abs(single_frobenius.log10_norm - np.log10(exact_f))) <= SINGLE_LOG10


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_at_its_own_width_matches_torch_float64(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    import torch_reference

    # S = 260 >= LANCZOS_FROM: the route is taken without being forced.
    hidden = 260
    assert hidden >= spectral.LANCZOS_FROM
    problem = make_problem("rnn", hidden_size=hidden, input_size=3, steps=40, seed=7, init="orthogonal", gain=1.0)
    params = problem.params.as_dict()
    lag_products = torch_reference.lag_products("rnn", params, problem.inputs, np.zeros(hidden))
    products = torch.tensor(lag_products, dtype=torch.float64)
    for norm, order in (("spectral", 2), ("frobenius", "fro")):
        expected = torch.linalg.matrix_norm(products, ord=order).numpy()
        result = gradscope.analyze("rnn", params=params, inputs=problem.inputs, norm=norm, dtype=dtype)
        if dtype == "float64":
            assert np.all(relative(result.log10_norm, expected) <= SPECTRAL_RTOL), norm
        else:
            assert np.max(np.abs(result.log10_norm - np.log10(expected))) <= SINGLE_LOG10, norm


@pytest.mark.parametrize("gain", [0.5, 1.0, 3.0])
def test_through_truncations_at_every_width(gain: float, route) -> None:
    # An LSTM (S = 96) whose products narrow by truncation mid-run: on the Lanczos route at every
    # width (Gram route off), so the route also follows the tracker's restriction to kept columns.
    options = {"hidden_size": 48, "input_size": 8, "steps": 160, "seed": 2, "gain": gain}
    products, _ = exact_products("lstm", **options)
    exact = np.linalg.norm(products, ord=2, axis=(1, 2))
    nonzero = exact > 0
    route("lanczos", gram=False)
    result = gradscope.analyze("lstm", **options)
    assert np.all(relative(result.log10_norm[nonzero], exact[nonzero]) <= SPECTRAL_RTOL)
    assert result.svd_fallbacks < result.steps // 4
    single = gradscope.analyze("lstm", dtype="float32", **options)
    assert np.max(np.abs(single.log10_norm[nonzero] - np.log10(exact[nonzero]))) <= SINGLE_LOG10


def test_a_wide_lstm_switches_from_the_lanczos_route_to_the_others() -> None:
    # S = 256: the first lags are wide (Lanczos route), truncations then narrow the product below
    # LANCZOS_FROM (block route) and the Gram route's width.
    options = {"hidden_size": 128, "input_size": 4, "steps": 90, "seed": 4}
    products, _ = exact_products("lstm", **options)
    exact = np.linalg.norm(products, ord=2, axis=(1, 2))
    result = norm_profile(trajectory(make_problem("lstm", **options)))
    assert result.directions < spectral.LANCZOS_FROM
    assert np.all(relative(result.log10_norm, exact) <= SPECTRAL_RTOL)
    single = gradscope.analyze("lstm", dtype="float32", **options)
    assert np.max(np.abs(single.log10_norm - np.log10(exact))) <= SINGLE_LOG10
    assert result.log10_norm.size == options["steps"]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_flat_top_is_certified_and_leaves_an_orthonormal_block(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = 300
    singular = np.concatenate([[1.0], 0.99 - 0.1 * np.sort(rng.uniform(0, 1, size - 1))])
    q = with_singular_values(singular, rng)
    tracker = SpectralNormTracker(size, np.dtype(np.float64), rng)
    assert not tracker.wants_image(size)
    sigma = tracker.norm(q, float(np.vdot(q, q)))
    assert abs(sigma - 1.0) <= SPECTRAL_RTOL
    assert tracker.fallbacks == 0
    np.testing.assert_allclose(tracker.basis.T @ tracker.basis, np.eye(tracker.block), atol=1e-13)
    # The top Ritz vector (last column) is the top right singular vector, to the certified accuracy.
    top = tracker.basis[:, -1]
    assert np.linalg.norm(q @ top) == pytest.approx(1.0, rel=SPECTRAL_RTOL)
    # A slightly changed matrix (the next lag) is certified again from that block.
    nudged = q @ (np.eye(size) + 1e-3 * rng.standard_normal((size, size)))
    assert tracker.norm(nudged, float(np.vdot(nudged, nudged))) == pytest.approx(
        np.linalg.norm(nudged, 2), rel=SPECTRAL_RTOL
    )
    assert tracker.fallbacks == 0


def test_exactly_equal_singular_values_fall_back_to_the_exact_answer(rng: np.random.Generator) -> None:
    size = 280
    q = 0.7 * haar_orthogonal(size, rng)
    tracker = SpectralNormTracker(size, np.dtype(np.float64), rng)
    assert tracker.norm(q, float(np.vdot(q, q))) == pytest.approx(0.7, rel=1e-13)
    assert tracker.fallbacks == 1


def test_an_invariant_start_is_certified_at_once(rng: np.random.Generator) -> None:
    # Q of rank 2: the first block already spans B's range, so the residual is zero at the first step.
    size = 260
    left, right = haar_orthogonal(size, rng)[:, :2], haar_orthogonal(size, rng)[:, :2]
    q = left @ np.diag([3.0, 1.0]) @ right.T
    tracker = SpectralNormTracker(size, np.dtype(np.float64), rng)
    tracker.basis[:, -2:] = right
    assert tracker.norm(q, float(np.vdot(q, q))) == pytest.approx(3.0, rel=1e-12)
    assert tracker.fallbacks == 0


@pytest.mark.parametrize("block", [1, 2])
def test_one_and_two_column_blocks_agree_with_the_svd(block: int, route, monkeypatch: pytest.MonkeyPatch) -> None:
    # The route works with blocks of LANCZOS_BLOCK columns (one by default); both sizes certify every lag
    # of a flat-topped dense product to the float64 promise, against the SVD of the explicit products.
    options = {"hidden_size": 80, "input_size": 4, "steps": 60, "seed": 3, "init": "orthogonal", "gain": 1.0}
    products, _ = exact_products("rnn", **options)
    exact_2 = np.linalg.norm(products, ord=2, axis=(1, 2))
    forward = trajectory(make_problem("rnn", **options))
    route("lanczos")
    monkeypatch.setattr(spectral, "LANCZOS_BLOCK", block)
    profile = norm_profile(forward)
    assert profile.directions == 80
    assert np.all(relative(profile.log10_norm, exact_2) <= SPECTRAL_RTOL)
