"""The LSTM forget gate's carousel and chrono initialisation (Tallec & Ollivier 2018): rates and memory times."""

from __future__ import annotations

import math

import numpy as np

#
# The LSTM's cell state carries ``d c_t / d c_{t-1} = diag(f_t)`` (the constant error carousel,
# Hochreiter & Schmidhuber 1997; the forget gate is from Gers, Schmidhuber & Cummins 2000). With a
# forget gate held at ``f = sigmoid(b_f)`` the carousel alone multiplies the gradient by ``f`` per
# step: rate ``ln f`` per step, and the *memory time* of the unit, in the sense of Tallec &
# Ollivier, is ``T = 1 / (1 - f) = 1 + exp(b_f)``. Chrono initialisation (C. Tallec, Y. Ollivier,
# "Can recurrent neural networks warp time?", ICLR 2018, Section 5) draws ``b_f = log(U(1,
# T_max - 1))`` and ``b_i = -b_f``, which makes the memory times ``1 + U(1, T_max - 1)``: uniform on
# ``(2, T_max)``.


def forget_gate_rate(forget_bias: float | np.ndarray) -> float | np.ndarray:
    """``ln sigmoid(b_f) = -ln(1 + exp(-b_f))``: the carousel's rate per step (natural log, < 0)."""
    b = np.asarray(forget_bias, dtype=np.float64)
    rate = -np.logaddexp(0.0, -b)
    return float(rate) if rate.ndim == 0 else rate


def forget_gate_memory_time(forget_bias: float | np.ndarray) -> float | np.ndarray:
    """Tallec & Ollivier's memory time ``1 / (1 - sigmoid(b_f)) = 1 + exp(b_f)`` (steps)."""
    b = np.asarray(forget_bias, dtype=np.float64)
    time = 1.0 + np.exp(b)
    return float(time) if time.ndim == 0 else time


def forget_gate_efolding_lag(forget_bias: float | np.ndarray) -> float | np.ndarray:
    """``-1 / ln sigmoid(b_f)``: steps for the carousel to shrink a gradient by a factor e.

    About :func:`forget_gate_memory_time` minus 1/2 for large ``b_f`` (``-1/ln(1 - 1/T) = T - 1/2 + O(1/T)``).
    """
    lag = -1.0 / np.asarray(forget_gate_rate(forget_bias))
    return float(lag) if lag.ndim == 0 else lag


def chrono_memory_time_range(t_max: int) -> tuple[float, float]:
    """The interval ``(2, T_max)`` over which chrono initialisation spreads the memory times uniformly."""
    if isinstance(t_max, bool) or not isinstance(t_max, (int, np.integer)) or t_max < 3:
        raise ValueError(f"chrono initialisation needs an integer t_max >= 3, got {t_max!r}")
    return 2.0, float(t_max)


def chrono_slowest_rate(t_max: int) -> float:
    """``ln(1 - 1/T_max)``: the carousel rate of chrono's longest-lived unit (``b_f -> log(T_max - 1)``)."""
    return math.log1p(-1.0 / chrono_memory_time_range(t_max)[1])
