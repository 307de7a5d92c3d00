"""The dense regime (orthogonal W_hh at gain 1: nothing can be truncated, a flat top of the spectrum)
and the widths where the spectral norm changes route, against the SVD of explicit dense products."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import exact_products

import gradscope

SPECTRAL_RTOL = 1e-9


def relative(log10_actual: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(10.0 ** (log10_actual - np.log10(exact)) - 1.0)


@pytest.mark.parametrize(("cell", "hidden"), [("rnn", 80), ("gru", 40)])
def test_edge_of_chaos_profiles_match_svd_at_every_lag(cell: str, hidden: int, spectral_route: str) -> None:
    # S = 80 lies above the Gram route's width (64), so the float64 norm is certified by the block
    # iteration on both routes, on full products (a flat spectrum truncates nothing), with the
    # read rows assembled (wide products).
    options = {"hidden_size": hidden, "input_size": 4, "steps": 120, "seed": 3, "init": "orthogonal", "gain": 1.0}
    products, _ = exact_products(cell, **options)
    spectral = gradscope.analyze(cell, **options)
    frobenius = gradscope.analyze(cell, norm="frobenius", **options)
    assert np.all(relative(spectral.log10_norm, np.linalg.norm(products, ord=2, axis=(1, 2))) <= SPECTRAL_RTOL)
    assert np.all(relative(frobenius.log10_norm, np.linalg.norm(products, ord="fro", axis=(1, 2))) <= 1e-12)
    single = gradscope.analyze(cell, dtype="float32", **options)
    assert np.max(np.abs(single.log10_norm - spectral.log10_norm)) <= 1e-4


@pytest.mark.parametrize("gain", [0.5, 1.0, 3.0])
def test_every_width_route_matches_svd_through_truncations(gain: float) -> None:
    # An LSTM with S = 96 starts on the iteration (above 64 columns in float64) and, as truncations
    # narrow the product, crosses to the Gram route: vanishing (0.5), default and exploding (3) gains.
    options = {"hidden_size": 48, "input_size": 8, "steps": 160, "seed": 2, "gain": gain}
    products, _ = exact_products("lstm", **options)
    exact = np.linalg.norm(products, ord=2, axis=(1, 2))
    result = gradscope.analyze("lstm", **options)
    nonzero = exact > 0
    assert np.all(relative(result.log10_norm[nonzero], exact[nonzero]) <= SPECTRAL_RTOL)
    single = gradscope.analyze("lstm", dtype="float32", **options)
    assert np.max(np.abs(single.log10_norm[nonzero] - result.log10_norm[nonzero])) <= 1e-4
