"""Pascanu, Mikolov & Bengio (2013): the upper bound on the plain RNN's gradient through time.

For ``h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` the per-step Jacobian (numerator layout,
``J_t[i, j] = d h_t[i] / d h_{t-1}[j]``) is ``J_t = diag(phi'(a_t)) W_hh``, so with
``gamma = sup |phi'|``

    ||J_t||_2 <= gamma * sigma_max(W_hh)   and   ||P_k||_2 <= (gamma * sigma_max(W_hh))^k,

``P_k = J_T ... J_{T-k+1}``, by submultiplicativity of the spectral norm. ``gamma = 1`` for tanh
(``tanh' = 1 - tanh^2 <= 1``, equality at 0) and for ReLU (``relu'`` is 0 or 1), ``1/4`` for the
logistic sigmoid. Source: R. Pascanu, T. Mikolov, Y. Bengio, "On the difficulty of training
recurrent neural networks", ICML 2013 (arXiv:1211.5063), Section 2.1, where the paper writes the
same bound with ``W_rec^T`` because it uses the denominator layout. The bound is sufficient for
vanishing (``gamma * sigma_max < 1``) but loose: for Gaussian ``W_hh`` with variance ``g^2/H``,
``sigma_max -> 2g`` while the gradient already vanishes for ``g < 1``.

The bound is for the spectral norm. For the Frobenius norm it holds after multiplying by
``sqrt(H)`` (``||P||_F <= sqrt(rank P) ||P||_2``), which :func:`pascanu_log10_bound` applies when
asked for ``norm="frobenius"``. There is no such bound for the gated cells (LSTM, GRU): their
Jacobians contain direct, gate-weighted paths (``diag(f_t)`` for the LSTM's ``c``) besides
``W_hh``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: ``sup |phi'(a)|`` of the elementwise nonlinearities the plain RNN can use.
ACTIVATION_GAMMA: dict[str, float] = {"tanh": 1.0, "relu": 1.0, "sigmoid": 0.25}

#: The nonlinearity of each built-in cell to which Pascanu's bound applies.
CELL_ACTIVATION: dict[str, str] = {"rnn": "tanh", "rnn-relu": "relu"}


def sigma_max(matrix: np.ndarray) -> float:
    """The largest singular value (spectral norm) of a ``(n, m)`` matrix."""
    return float(np.linalg.norm(np.asarray(matrix, dtype=np.float64), 2))


def pascanu_gamma(cell: str) -> float | None:
    """``gamma`` of Pascanu's bound for a built-in cell name, or ``None`` when the bound does not apply."""
    activation = CELL_ACTIVATION.get(cell)
    return None if activation is None else ACTIVATION_GAMMA[activation]


def pascanu_log10_bound(
    weight_hh: np.ndarray, lags: np.ndarray, gamma: float = 1.0, norm: str = "spectral"
) -> np.ndarray:
    """``log10`` of Pascanu's upper bound on ``||d h_T / d h_{T-k}||`` at each lag.

    Args:
        weight_hh: the recurrent matrix ``W_hh`` ``(H, H)``.
        lags: ``(T,)`` lags ``k >= 0``.
        gamma: ``sup |phi'|`` of the cell's nonlinearity (1 for tanh and ReLU).
        norm: ``"spectral"``: ``k * log10(gamma * sigma_max)``; ``"frobenius"``: the same plus
            ``log10(sqrt(H))``.

    Returns:
        ``(T,)`` float64; ``-inf`` at every positive lag when ``gamma * sigma_max == 0``.
    """
    weight = np.asarray(weight_hh, dtype=np.float64)
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"weight_hh: expected a square (H, H) matrix, got shape {weight.shape}")
    if norm not in ("spectral", "frobenius"):
        raise ValueError(f"unknown norm {norm!r} (valid: spectral, frobenius)")
    k = np.asarray(lags, dtype=np.float64)
    factor = gamma * sigma_max(weight)
    per_step = math.log10(factor) if factor > 0 else -math.inf
    with np.errstate(invalid="ignore"):
        bound = np.where(k == 0, 0.0, k * per_step)
    if norm == "frobenius":
        bound = bound + 0.5 * math.log10(weight.shape[0])
    return bound


@dataclass(frozen=True)
class PascanuBound:
    """Pascanu's bound on a profile: ``gamma``, ``sigma_max(W_hh)`` and ``log10`` of the bound at each lag ``(T,)``."""

    gamma: float
    sigma_max: float
    log10: np.ndarray

    @property
    def factor(self) -> float:
        """``gamma * sigma_max(W_hh)``, what the bound grows by per step."""
        return self.gamma * self.sigma_max


def pascanu_bound(cell: str, weight_hh: np.ndarray, lags: np.ndarray, norm: str = "spectral") -> PascanuBound | None:
    """The bound for a cell's profile at ``lags``, or ``None`` where it does not apply (gated cells, or a
    recurrent weight that is not one square ``(H, H)`` matrix)."""
    gamma = pascanu_gamma(cell)
    weight = np.asarray(weight_hh, dtype=np.float64)
    if gamma is None or weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        return None
    return PascanuBound(gamma, sigma_max(weight), pascanu_log10_bound(weight, lags, gamma, norm))
