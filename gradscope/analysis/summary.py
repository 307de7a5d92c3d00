"""One number and one word for a profile: the rate per step, the e-folding lag and a verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VERDICTS = ("vanishing", "stable", "exploding")


@dataclass(frozen=True)
class Thresholds:
    """When a profile counts as vanishing or exploding.

    The verdict compares ``rate_per_step`` (the least-squares slope of ``ln ||P_k||`` against
    ``k``) with these bounds: ``vanishing`` if ``rate < vanishing_rate``, ``exploding`` if
    ``rate > exploding_rate``, ``stable`` in between. The defaults, ``-0.01`` and ``+0.01`` per
    step, call a profile stable when its norm changes by less than a factor of e every 100 steps.
    A profile that reaches exactly zero is ``vanishing`` whatever its slope.
    """

    vanishing_rate: float = -0.01
    exploding_rate: float = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.vanishing_rate) and math.isfinite(self.exploding_rate)):
            raise ValueError("thresholds must be finite")
        if self.vanishing_rate > self.exploding_rate:
            raise ValueError(
                f"vanishing_rate ({self.vanishing_rate}) must not exceed exploding_rate ({self.exploding_rate})"
            )


@dataclass(frozen=True)
class Summary:
    rate_per_step: float  # natural-log units per step
    efolding_lag: float  # steps for the norm to change by a factor e; inf when the rate is 0
    verdict: str


def fit_line(lags: np.ndarray, log10_norm: np.ndarray) -> tuple[float, float]:
    """``(rate, intercept)`` of ``ln ||P_k|| = intercept + rate * k``, least squares over the non-zero norms.

    With fewer than two such lags the line runs through lag 0 (``P_0 = I``, norm 1, intercept 0);
    a profile that reaches exactly zero with fewer than two non-zero lags has rate ``-inf``.

    Args:
        lags: ``(T,)`` integers ``1..T``.
        log10_norm: ``(T,)`` ``log10 ||P_k||``, ``-inf`` where the product is exactly zero.
    """
    finite = np.isfinite(log10_norm)
    if np.count_nonzero(finite) >= 2:
        k = np.asarray(lags, dtype=np.float64)[finite]
        y = np.asarray(log10_norm, dtype=np.float64)[finite] * np.log(10.0)
        k_centred = k - k.mean()
        rate = float(np.dot(k_centred, y - y.mean()) / np.dot(k_centred, k_centred))
        return rate, float(y.mean() - rate * k.mean())
    if np.any(~finite):
        return -math.inf, 0.0
    # A single lag: the slope from lag 0, where P_0 = I has norm 1 exactly.
    return float(log10_norm[finite][0] * np.log(10.0) / lags[finite][0]), 0.0


def summarize(lags: np.ndarray, log10_norm: np.ndarray, thresholds: Thresholds = Thresholds()) -> Summary:
    """Rate per step (:func:`fit_line`), e-folding lag and verdict of a profile.

    Args:
        lags: ``(T,)`` integers ``1..T``.
        log10_norm: ``(T,)`` ``log10 ||P_k||``, ``-inf`` where the product is exactly zero.
    """
    reaches_zero = bool(np.any(~np.isfinite(log10_norm)))
    rate, _ = fit_line(lags, log10_norm)
    efolding = math.inf if rate == 0.0 else 1.0 / abs(rate)
    if reaches_zero or rate < thresholds.vanishing_rate:
        verdict = "vanishing"
    elif rate > thresholds.exploding_rate:
        verdict = "exploding"
    else:
        verdict = "stable"
    return Summary(rate, efolding, verdict)
