"""A recurrent cell as data: its equations in SymPy and its linear projections.

A cell is *elementwise functions of linear projections*. For every gate ``g`` (in PyTorch's chunk
order of ``weight_ih`` / ``weight_hh`` rows) it sees two projections of length H,

* ``u_g = W_ig x_t + b_ig``     (chunk ``g`` of ``weight_ih_l0 @ x_t + bias_ih_l0``), and
* ``m_g = W_hg h_{t-1} + b_hg`` (chunk ``g`` of ``weight_hh_l0 @ h_{t-1} + bias_hh_l0``),

and each unit's previous state components (``h_{t-1}``, and ``c_{t-1}`` for the LSTM). The cell
equations are scalar SymPy expressions in those symbols, for one unit; they hold for every unit
at once. So a new cell is a new :class:`Cell` value, not new engine code: the symbolic layer
differentiates the equations and the numeric layer assembles the Jacobian from them.

The first state component is the hidden state ``h``. The recurrent projections read ``h`` alone unless
the cell names the components they read (``reads``, e.g. ``("y", "z")`` for coupled oscillators):
then ``m_g = W_hg [s_reads] + b_hg`` with ``W_hg`` of shape ``(H, len(reads) * H)``.

A cell with a :class:`Readout` (the Jordan network) feeds its *output* back instead: a stateless
hidden stage ``h_t`` (equations in ``u_g`` and ``m_g``, where ``m_g = W_yg y_{t-1}`` reads the
previous output) is read out per output unit as ``y_t = rho(r)``, ``r = W_hy h_t + b_y``, and the
state is ``y`` (length O, the output size), not ``h``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from gradscope.cells.spec import CellSpec


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


@dataclass(frozen=True)
class Readout:
    """An output stage ``y_t = output(r)`` per output unit, ``r = W_hy h_t + b_y``, whose value is fed back.

    Attributes:
        output: ``y_t`` as a SymPy expression in :func:`readout_projection` only.
    """

    output: sympy.Expr


@dataclass(frozen=True)
class Cell:
    """A recurrent cell, defined by its per-unit equations.

    Attributes:
        name: registry name, e.g. ``"lstm"``.
        title: one-line human description.
        gates: gate names in PyTorch's chunk order; ``weight_ih_l0`` has shape
            ``(len(gates) * H, input_size)`` and ``weight_hh_l0`` ``(len(gates) * H, H)``.
        state: state components; ``s = [state[0]; state[1]; ...]`` with ``state[0] == "h"``.
        definitions: named intermediate quantities ``(symbol, expression)`` in evaluation order;
            an expression may use :func:`u`, :func:`m`, :func:`prev` symbols and earlier names.
        updates: the new value of each state component, in the order of ``state``; with a
            ``readout``, the one new hidden vector ``h_t`` that the readout projects.
        reference: where the equations come from (the variant, for cells that have several).
        readout: an output stage fed back as the state (Jordan network); then ``state == ("y",)``,
            the hidden stage may not use :func:`prev` symbols, and :func:`m` projections read
            ``y_{t-1}`` (``m_g = W_yg y_{t-1}``).
        label: the short display name (``"tanh RNN"``); the name when empty.
        reads: the state components the recurrent projections read, in the column order of
            ``weight_hh_l0``; empty means ``h`` alone.
    """

    name: str
    title: str
    gates: tuple[str, ...]
    state: tuple[str, ...]
    definitions: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    updates: tuple[sympy.Expr, ...]
    reference: str = ""
    readout: Readout | None = None
    label: str = ""
    reads: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.gates:
            raise ValueError(f"cell {self.name!r}: needs at least one gate")
        unknown = [c for c in self.reads if c not in self.state]
        if unknown or len(set(self.reads)) != len(self.reads):
            raise ValueError(f"cell {self.name!r}: reads {self.reads} must name distinct state components {self.state}")
        if self.readout is not None:
            self._check_readout()
            return
        if not self.state or self.state[0] != "h":
            raise ValueError(f"cell {self.name!r}: the first state component must be 'h', got {self.state}")
        if len(self.updates) != len(self.state):
            raise ValueError(
                f"cell {self.name!r}: {len(self.state)} state components {self.state} "
                f"but {len(self.updates)} update expressions"
            )
        known = {u(g) for g in self.gates} | {m(g) for g in self.gates} | {prev(c) for c in self.state}
        for symbol, expression in self.definitions:
            _check_symbols(self.name, str(symbol), expression, known)
            known = known | {symbol}
        for component, expression in zip(self.state, self.updates, strict=True):
            _check_symbols(self.name, f"update of {component}", expression, known)

    def _check_readout(self) -> None:
        assert self.readout is not None
        if self.state != ("y",) or self.reads not in ((), ("y",)):
            raise ValueError(
                f"cell {self.name!r}: a cell with a readout has state ('y',) and reads y, got {self.state}"
            )
        if len(self.updates) != 1:
            raise ValueError(
                f"cell {self.name!r}: a cell with a readout needs one update (h_t), got {len(self.updates)}"
            )
        # The hidden stage is stateless: everything it remembers comes back through y_{t-1}.
        known = {u(g) for g in self.gates} | {m(g) for g in self.gates}
        for symbol, expression in self.definitions:
            _check_symbols(self.name, str(symbol), expression, known)
            known = known | {symbol}
        _check_symbols(self.name, "hidden update h_t", self.updates[0], known)
        _check_symbols(self.name, "readout", self.readout.output, {readout_projection()})

    @property
    def spec(self) -> CellSpec:
        """The cell's interface without its equations (what the numeric layers use)."""
        return CellSpec(
            self.name,
            self.title,
            self.gates,
            self.state,
            self.reference,
            self.readout is not None,
            self.label,
            self.reads,
        )

    @property
    def num_gates(self) -> int:
        return len(self.gates)

    @property
    def state_layout(self) -> str:
        """The state vector as text: ``"h"`` or ``"[h; c]"``."""
        return self.spec.state_layout


def _check_symbols(cell: str, what: str, expression: sympy.Expr, known: set[sympy.Symbol]) -> None:
    unknown = sorted(str(s) for s in sympy.sympify(expression).free_symbols - known)
    if unknown:
        raise ValueError(f"cell {cell!r}: {what} uses undefined symbols {unknown}")
