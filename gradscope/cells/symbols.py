"""The per-unit symbols a cell's equations are written in: projections, previous and current values, the readout."""

from __future__ import annotations

import sympy


def u(gate: str) -> sympy.Symbol:
    """Input projection of ``gate`` for one unit: ``(W_i{gate} x_t + b_i{gate})``."""
    return sympy.Symbol(f"u_{gate}")


def m(gate: str) -> sympy.Symbol:
    """Recurrent projection of ``gate`` for one unit: ``(W_h{gate} h_{t-1} + b_h{gate})``."""
    return sympy.Symbol(f"m_{gate}")


def prev(component: str) -> sympy.Symbol:
    """A unit's previous state component, e.g. ``prev("c")`` is ``c_{t-1}``."""
    return sympy.Symbol(f"{component}_{{t-1}}")


def readout_projection() -> sympy.Symbol:
    """The readout projection of one output unit: ``r = (W_hy h_t + b_y)``."""
    return sympy.Symbol("r")


def now(name: str) -> sympy.Symbol:
    """A named quantity at the current step, e.g. ``now("f")`` is the forget gate ``f_t``."""
    return sympy.Symbol(f"{name}_t")
