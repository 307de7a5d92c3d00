"""Newman (1986): the exact Lyapunov spectrum of products of re-drawn Gaussian matrices, and the special
functions it needs (no SciPy dependency)."""

from __future__ import annotations

import math

import numpy as np

#: Below this argument :func:`digamma` and :func:`trigamma` step up by their recurrences before
#: using the asymptotic series, whose first omitted term is then below 1e-16 relative.
_ASYMPTOTIC_FROM = 10.0


def _check_positive(name: str, x: float) -> float:
    value = float(x)
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name}: needs a finite argument > 0, got {x!r}")
    return value


def digamma(x: float) -> float:
    """The digamma function ``psi(x) = d/dx ln Gamma(x)`` for ``x > 0``, to about 1e-15.

    Recurrence ``psi(x) = psi(x + 1) - 1/x`` up to ``x >= 10``, then the asymptotic series
    ``ln x - 1/(2x) - sum_n B_{2n} / (2n x^{2n})`` (Abramowitz & Stegun 6.3.5 and 6.3.18).
    """
    x = _check_positive("digamma", x)
    shift = 0.0
    while x < _ASYMPTOTIC_FROM:
        shift -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f * (1 / 132 - f * 691 / 32760)))))
    return shift + math.log(x) - 0.5 / x - series


def trigamma(x: float) -> float:
    """The trigamma function ``psi'(x)`` for ``x > 0``, to about 1e-15.

    Recurrence ``psi'(x) = psi'(x + 1) + 1/x^2`` up to ``x >= 10``, then the asymptotic series
    ``1/x + 1/(2x^2) + sum_n B_{2n} / x^{2n+1}`` (Abramowitz & Stegun 6.4.6 and 6.4.12).
    """
    x = _check_positive("trigamma", x)
    shift = 0.0
    while x < _ASYMPTOTIC_FROM:
        shift += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f * (1 / 30 - f * (5 / 66 - f * (691 / 2730 - f * 7 / 6)))))) / x
    return shift + 1.0 / x + 0.5 * f + series


#
# For i.i.d. ``W_t`` with entries ``N(0, g^2/N)`` (a linear RNN, or the tanh RNN at zero state and
# zero input, whose weights are re-drawn every step), the Lyapunov exponents of
# ``W_t ... W_1`` are exactly
#
#     lambda_i = log g + (1/2) [log(2/N) + psi((N - i + 1)/2)],   i = 1..N,
#
# natural log per step. Source: C. M. Newman, "The distribution of Lyapunov exponents: exact
# results for random matrices", Commun. Math. Phys. 103, 121-126 (1986). Why: by rotation
# invariance the QR (Benettin) method sees, at every step, independent ``R_ii^2 ~ (g^2/N)
# chi^2_{N-i+1}``, and ``E ln chi^2_k = ln 2 + psi(k/2)``. The same argument gives the variance of
# one step's ``ln R_ii``, ``psi'((N-i+1)/2) / 4``, so an n-step estimate has standard error
# ``sqrt(psi'((N-i+1)/2) / (4n))`` (:func:`newman_step_variance`).


def newman_spectrum(size: int, gain: float = 1.0, count: int | None = None) -> np.ndarray:
    """Newman's (1986) Lyapunov exponents of products of i.i.d. ``N(0, gain^2/size)`` matrices.

    Args:
        size: N, the matrices are ``(N, N)``.
        gain: g, the entries' standard deviation times ``sqrt(N)``.
        count: how many exponents, the largest first (default all N).

    Returns:
        ``(count,)`` float64, natural log per step, descending.
    """
    n, k = _check_count(size, count)
    if not gain > 0 or not math.isfinite(gain):
        raise ValueError(f"gain must be a finite number > 0, got {gain!r}")
    return np.array([math.log(gain) + 0.5 * (math.log(2.0 / n) + digamma((n - i + 1) / 2)) for i in range(1, k + 1)])


def newman_step_variance(size: int, count: int | None = None) -> np.ndarray:
    """Variance of one step's ``ln R_ii`` in the QR method for Gaussian products, ``(count,)``.

    ``psi'((N - i + 1)/2) / 4``, independent of the gain; divide by the number of steps for the
    variance of the estimated exponent (the steps are independent).
    """
    n, k = _check_count(size, count)
    return np.array([0.25 * trigamma((n - i + 1) / 2) for i in range(1, k + 1)])


def _check_count(size: int, count: int | None) -> tuple[int, int]:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    k = int(size) if count is None else int(count)
    if not 1 <= k <= size:
        raise ValueError(f"count must lie in 1..{size}, got {count!r}")
    return int(size), k
