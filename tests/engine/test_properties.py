"""Property tests over random small configurations: every lag against exact dense products."""

from __future__ import annotations

import numpy as np
from conftest import exact_log10_norms
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gradscope
from gradscope.cells.spec import CELL_NAMES

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
# Found by hypothesis: P_k ~ 1e-159, whose squared entries an unscaled reference flushes to subnormals.
@example(
    cell="rnn",
    options={"hidden_size": 1, "input_size": 1, "steps": 22, "seed": 1, "gain": 4.0, "init": "gaussian"},
    norm="frobenius",
)
def test_profile_matches_exact_products(cell: str, options: dict[str, object], norm: str) -> None:
    exact = exact_log10_norms(cell, 2 if norm == "spectral" else "fro", **options)
    result = gradscope.analyze(cell, norm=norm, **options)
    zero = np.isneginf(exact)
    assert np.all(np.isneginf(result.log10_norm[zero]))
    relative = np.abs(10.0 ** (result.log10_norm[~zero] - exact[~zero]) - 1)
    assert np.all(relative <= 1e-9)
    assert result.verdict in {"vanishing", "stable", "exploding"}
