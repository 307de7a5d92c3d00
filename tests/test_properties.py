"""Property tests over random small configurations: every lag against exact dense products."""

from __future__ import annotations

import numpy as np
from conftest import exact_products
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradscope
from gradscope.cellspec import CELL_NAMES

configurations = st.fixed_dictionaries(
    {
        "hidden_size": st.integers(1, 9),
        "input_size": st.integers(1, 4),
        "steps": st.integers(1, 40),
        "seed": st.integers(0, 2**31),
        "gain": st.floats(0.05, 4.0),
        "init": st.sampled_from(["pytorch", "gaussian", "orthogonal"]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(CELL_NAMES), options=configurations, norm=st.sampled_from(["spectral", "frobenius"]))
def test_profile_matches_exact_products(cell: str, options: dict[str, object], norm: str) -> None:
    products, _ = exact_products(cell, **options)
    result = gradscope.analyze(cell, norm=norm, **options)
    exact = np.linalg.norm(products, ord=2 if norm == "spectral" else "fro", axis=(1, 2))
    zero = exact == 0
    assert np.all(np.isneginf(result.log10_norm[zero]))
    relative = np.abs(10.0 ** (result.log10_norm[~zero] - np.log10(exact[~zero])) - 1)
    assert np.all(relative <= 1e-9)
    assert result.verdict in {"vanishing", "stable", "exploding"}
