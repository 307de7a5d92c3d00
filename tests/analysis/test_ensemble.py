"""Ensembles: each draw is an analyze() run (batched: to 1e-12); the band is NumPy's median and quantiles."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import gradscope
from gradscope.analysis.ensemble import analyze_ensemble, band
from gradscope.analysis.problem import make_problem
from gradscope.cells.spec import CellSpec
from gradscope.errors import ConfigError
from gradscope.params.init import haar_orthogonal
from gradscope.params.layer import expected_shapes

SIZES = {"hidden_size": 5, "input_size": 3, "steps": 30}


def test_members_are_analyze_runs_and_the_band_is_numpys() -> None:
    ensemble = analyze_ensemble("gru", samples=5, seed=7, **SIZES)
    members = [gradscope.analyze("gru", seed=s, **SIZES) for s in range(7, 12)]
    profiles = np.stack([m.log10_norm for m in members])
    assert_array_equal(ensemble.seeds, np.arange(7, 12))
    # The draws run as one batch (engine.batched): the one-at-a-time numbers to rounding.
    assert_allclose(ensemble.profiles, profiles, rtol=1e-12, atol=1e-12)
    # Five draws: the median is the third order statistic, exactly.
    assert_array_equal(ensemble.median, np.sort(ensemble.profiles, axis=0)[2])
    assert_allclose(ensemble.median, np.median(profiles, axis=0), rtol=1e-12)
    assert_allclose(ensemble.lower, np.quantile(profiles, 0.1, axis=0), rtol=1e-12)
    assert_allclose(ensemble.upper, np.quantile(profiles, 0.9, axis=0), rtol=1e-12)
    assert_allclose(ensemble.rates, [m.rate_per_step for m in members])
    assert ensemble.verdicts == tuple(m.verdict for m in members)
    assert ensemble.median_rate == pytest.approx(np.median([m.rate_per_step for m in members]))
    assert sum(ensemble.verdict_counts().values()) == 5
    assert np.all(ensemble.lower <= ensemble.median)
    assert np.all(ensemble.median <= ensemble.upper)


def test_deterministic_per_seed() -> None:
    first = analyze_ensemble("rnn", samples=3, seed=2, **SIZES)
    again = analyze_ensemble("rnn", samples=3, seed=2, **SIZES)
    other = analyze_ensemble("rnn", samples=3, seed=3, **SIZES)
    assert_array_equal(first.profiles, again.profiles)
    assert_array_equal(first.median, again.median)
    assert not np.array_equal(first.profiles, other.profiles)
    assert_array_equal(first.profiles[1:], other.profiles[:2])  # seeds 3, 4 are shared


def test_custom_quantiles_and_progress() -> None:
    calls: list[tuple[int, int]] = []
    ensemble = analyze_ensemble(
        "lstm", samples=4, quantiles=(0.25, 0.75), progress=lambda d, t: calls.append((d, t)), **SIZES
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert ensemble.quantiles == (0.25, 0.75)
    assert_allclose(ensemble.lower, np.quantile(ensemble.profiles, 0.25, axis=0))
    assert_allclose(ensemble.upper, np.quantile(ensemble.profiles, 0.75, axis=0))


def test_factories_closed_form() -> None:
    """Orthogonal a*Q recurrent weights, zero biases and zero input: every draw has ||P_k|| = a^k."""
    a, H, I, T = 0.8, 6, 2, 25
    spec = CellSpec("rnn", "tanh RNN", ("g",), ("h",))

    def params(seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        out = {name: np.zeros(shape) for name, shape in expected_shapes(spec, H, I).items()}
        out["weight_ih_l0"] = rng.standard_normal((H, I))
        out["weight_hh_l0"] = a * haar_orthogonal(H, rng)
        return out

    problems = [make_problem("rnn", params=params(seed), inputs=np.zeros((T, I)), seed=seed) for seed in range(3)]
    ensemble = analyze_ensemble(problems, label="orthogonal")
    exact = np.arange(1, T + 1) * math.log10(a)
    assert_allclose(ensemble.median, exact, atol=1e-10)
    assert_allclose(ensemble.lower, exact, atol=1e-10)
    assert ensemble.label == "orthogonal"
    assert ensemble.config["params"] == "given"


def test_band_with_an_exactly_zero_norm_has_no_nan() -> None:
    profiles = np.array([[-np.inf, 0.0], [1.0, 1.0], [2.0, 2.0]])
    median, lower, upper = band(profiles)
    assert not np.any(np.isnan(np.concatenate([median, lower, upper])))
    assert median[0] == 1.0
    assert lower[0] == -np.inf
    assert upper[0] == pytest.approx(np.quantile([-5.0, 1.0, 2.0], 0.9))


def test_json_document() -> None:
    ensemble = analyze_ensemble("rnn", samples=2, **SIZES)
    document = json.loads(json.dumps(ensemble.to_dict(), allow_nan=False))
    assert document["schema"] == "gradscope.ensemble/1"
    assert document["samples"] == 2
    assert len(document["profiles"]) == 2
    assert len(document["median"]) == SIZES["steps"]


@pytest.mark.parametrize(
    "kwargs",
    [{"samples": 0}, {"samples": -1}, {"samples": True}, {"samples": 2.5}, {"quantiles": (0.9, 0.1)}, {"seed": -1}],
)
def test_invalid_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        analyze_ensemble("rnn", **SIZES, **kwargs)  # type: ignore[arg-type]
