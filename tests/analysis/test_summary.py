"""Rate per step, e-folding lag and verdict against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradscope
from gradscope.analysis.summary import Thresholds, summarize


@pytest.mark.parametrize("rate", [-0.3, -0.005, 0.0, 0.02, 1.5])
def test_rate_of_an_exactly_exponential_profile(rate: float) -> None:
    lags = np.arange(1, 301)
    log10_norm = (0.7 + rate * lags) / np.log(10)
    summary = summarize(lags, log10_norm)
    assert summary.rate_per_step == pytest.approx(rate, abs=1e-12)
    assert summary.efolding_lag == (math.inf if rate == 0 else pytest.approx(1 / abs(rate)))
    expected = "vanishing" if rate < -0.01 else "exploding" if rate > 0.01 else "stable"
    assert summary.verdict == expected


def test_rate_is_the_least_squares_slope_of_natural_log() -> None:
    rng = np.random.default_rng(0)
    lags = np.arange(1, 51)
    log10_norm = rng.standard_normal(50)
    slope = np.polyfit(lags, log10_norm * np.log(10), 1)[0]
    assert summarize(lags, log10_norm).rate_per_step == pytest.approx(slope, rel=1e-12)


def test_thresholds_are_configurable_and_checked() -> None:
    lags = np.arange(1, 101)
    log10_norm = -0.005 * lags / np.log(10)
    assert summarize(lags, log10_norm).verdict == "stable"
    assert summarize(lags, log10_norm, Thresholds(vanishing_rate=-0.001)).verdict == "vanishing"
    with pytest.raises(ValueError, match="must not exceed"):
        Thresholds(vanishing_rate=0.1, exploding_rate=0.0)
    with pytest.raises(ValueError, match="finite"):
        Thresholds(vanishing_rate=-math.inf)
    result = gradscope.analyze("rnn", hidden_size=4, steps=20, thresholds=Thresholds(-10.0, 10.0))
    assert result.verdict == "stable" and result.thresholds.vanishing_rate == -10.0


def test_zero_norms_are_vanishing_and_excluded_from_the_fit() -> None:
    lags = np.arange(1, 11)
    log10_norm = np.where(lags <= 5, lags * 0.1, -np.inf)
    summary = summarize(lags, log10_norm)
    assert summary.verdict == "vanishing"
    assert summary.rate_per_step == pytest.approx(0.1 * np.log(10))
    assert summarize(lags, np.full(10, -np.inf)).rate_per_step == -math.inf


def test_single_lag_rate_is_the_slope_from_lag_zero() -> None:
    summary = summarize(np.array([1]), np.array([np.log10(3.0)]))
    assert summary.rate_per_step == pytest.approx(np.log(3.0))
