"""The block-Krylov path of the spectral tracker: clustered spectra certified without the dense solver."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import exact_products, with_singular_values

import gradscope
from gradscope.engine.spectral import SpectralNormTracker, _orthonormal_complement
from gradscope.params.init import haar_orthogonal

SPECTRAL_RTOL = 1e-9


@pytest.mark.parametrize("seed", [0, 1])
def test_flat_top_of_the_spectrum_is_certified_by_the_iteration(seed: int) -> None:
    """A flat spectrum (the first lags of an LSTM): a 1 % gap, then 20 singular values within 1 %."""
    rng = np.random.default_rng(seed)
    size = 200
    singular = np.concatenate([[1.0], 0.99 - 0.1 * np.sort(rng.uniform(0, 1, size - 1))])
    q = with_singular_values(singular, rng)
    tracker = SpectralNormTracker(size, np.dtype(np.float64), rng)
    sigma = tracker.norm(q, float(np.vdot(q, q)))
    assert abs(sigma / np.linalg.norm(q, 2) - 1) <= SPECTRAL_RTOL
    assert tracker.fallbacks == 0
    # The tracked block is left orthonormal, with its image under Q, for the next lag.
    np.testing.assert_allclose(tracker.basis.T @ tracker.basis, np.eye(tracker.block), atol=1e-13)
    np.testing.assert_allclose(tracker.image, q @ tracker.basis, atol=1e-13)


def test_exactly_equal_singular_values_fall_back_to_the_exact_answer(rng: np.random.Generator) -> None:
    """``Q = c * orthogonal``: no gap ever opens, so the iteration cannot certify; the dense answer is exact."""
    size = 100
    q = 0.7 * haar_orthogonal(size, rng)
    tracker = SpectralNormTracker(size, np.dtype(np.float64), rng)
    assert tracker.norm(q, float(np.vdot(q, q))) == pytest.approx(0.7, rel=1e-13)
    assert tracker.fallbacks == 1


def test_first_lags_of_a_wide_lstm_need_no_dense_fallback() -> None:
    """S = 160: the top singular values of the first products sit within ~1 % of each other."""
    options = {"hidden_size": 80, "input_size": 4, "steps": 40, "seed": 2}
    products, _ = exact_products("lstm", **options)
    result = gradscope.analyze("lstm", **options)
    exact = np.linalg.norm(products, ord=2, axis=(1, 2))
    assert np.all(np.abs(10.0 ** (result.log10_norm - np.log10(exact)) - 1) <= SPECTRAL_RTOL)
    assert result.svd_fallbacks <= 2


def test_orthonormal_complement_is_orthonormal_and_orthogonal(rng: np.random.Generator) -> None:
    space, _ = np.linalg.qr(rng.standard_normal((50, 12)))
    # Rank deficient and partly inside span(space): what a converged Krylov step produces.
    block = np.concatenate([space[:, :3] + 1e-15 * rng.standard_normal((50, 3)), np.zeros((50, 2))], axis=1)
    block[:, 0] += rng.standard_normal(50)
    extra = _orthonormal_complement(space, block)
    assert extra is not None and extra.shape == (50, 5)
    assert np.abs(space.T @ extra).max() <= 1e-14
    np.testing.assert_allclose(extra.T @ extra, np.eye(5), atol=1e-14)


def test_orthonormal_complement_of_a_full_space_is_none(rng: np.random.Generator) -> None:
    space, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    assert _orthonormal_complement(space[:, :8], rng.standard_normal((10, 4))) is None
