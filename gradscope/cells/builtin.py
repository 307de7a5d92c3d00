"""Recurrent cells as data: their equations in SymPy and their linear projections.

A cell is *elementwise functions of linear projections*. For every gate ``g`` (in PyTorch's chunk
order of ``weight_ih`` / ``weight_hh`` rows) it sees two projections of length H,

* ``u_g = W_ig x_t + b_ig``     (chunk ``g`` of ``weight_ih_l0 @ x_t + bias_ih_l0``), and
* ``m_g = W_hg h_{t-1} + b_hg`` (chunk ``g`` of ``weight_hh_l0 @ h_{t-1} + bias_hh_l0``),

and each unit's previous state components (``h_{t-1}``, and ``c_{t-1}`` for the LSTM). The cell
equations are scalar SymPy expressions in those symbols, for one unit; they hold for every unit
at once. So a new cell is a new :class:`Cell` value, not new engine code: the symbolic layer
differentiates the equations and the numeric layer assembles the Jacobian from them.

The first state component is the hidden state ``h``, the only one the recurrent projections read.

A cell with a :class:`Readout` (the Jordan network) feeds its *output* back instead: a stateless
hidden stage ``h_t`` (equations in ``u_g`` and ``m_g``, where ``m_g = W_yg y_{t-1}`` reads the
previous output) is read out per output unit as ``y_t = rho(r)``, ``r = W_hy h_t + b_y``, and the
state is ``y`` (length O, the output size), not ``h``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from gradscope.cells.activations import relu, sigmoid
from gradscope.cells.spec import CellSpec, resolve_name


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
    """

    name: str
    title: str
    gates: tuple[str, ...]
    state: tuple[str, ...]
    definitions: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    updates: tuple[sympy.Expr, ...]
    reference: str = ""
    readout: Readout | None = None

    def __post_init__(self) -> None:
        if not self.gates:
            raise ValueError(f"cell {self.name!r}: needs at least one gate")
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
        if self.state != ("y",):
            raise ValueError(f"cell {self.name!r}: a cell with a readout has state ('y',), got {self.state}")
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
        return CellSpec(self.name, self.title, self.gates, self.state, self.reference, self.readout is not None)

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


def _elman(activation: Callable[[sympy.Expr], sympy.Expr], name: str, title: str) -> Cell:
    h_t = now("h")
    return Cell(
        name=name,
        title=title,
        gates=("h",),
        state=("h",),
        definitions=((h_t, activation(u("h") + m("h"))),),
        updates=(h_t,),
        reference="torch.nn.RNN (Elman network): h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)",
    )


def rnn() -> Cell:
    """Elman RNN with tanh, as ``torch.nn.RNN(nonlinearity="tanh")``."""
    return _elman(sympy.tanh, "rnn", "Elman RNN, tanh")


def rnn_relu() -> Cell:
    """Elman RNN with ReLU, as ``torch.nn.RNN(nonlinearity="relu")``."""
    return _elman(relu, "rnn-relu", "Elman RNN, ReLU")


def lstm() -> Cell:
    """LSTM as ``torch.nn.LSTM``: gates ``i, f, g, o``; state ``[h; c]``."""
    i_t, f_t, g_t, o_t, c_t, h_t = (now(n) for n in "ifgoch")
    return Cell(
        name="lstm",
        title="LSTM (PyTorch), gates i, f, g, o",
        gates=("i", "f", "g", "o"),
        state=("h", "c"),
        definitions=(
            (i_t, sigmoid(u("i") + m("i"))),
            (f_t, sigmoid(u("f") + m("f"))),
            (g_t, sympy.tanh(u("g") + m("g"))),
            (o_t, sigmoid(u("o") + m("o"))),
            (c_t, f_t * prev("c") + i_t * g_t),
            (h_t, o_t * sympy.tanh(c_t)),
        ),
        updates=(h_t, c_t),
        reference="torch.nn.LSTM (Hochreiter & Schmidhuber 1997 with forget gate, Gers et al. 2000)",
    )


def gru() -> Cell:
    """GRU as ``torch.nn.GRU``: gates ``r, z, n``; the reset gate acts *after* the matrix product."""
    r_t, z_t, n_t, h_t = (now(n) for n in "rznh")
    return Cell(
        name="gru",
        title="GRU (PyTorch variant: reset after the matrix product), gates r, z, n",
        gates=("r", "z", "n"),
        state=("h",),
        definitions=(
            (r_t, sigmoid(u("r") + m("r"))),
            (z_t, sigmoid(u("z") + m("z"))),
            (n_t, sympy.tanh(u("n") + r_t * m("n"))),
            (h_t, (1 - z_t) * n_t + z_t * prev("h")),
        ),
        updates=(h_t,),
        reference=(
            "torch.nn.GRU: n_t = tanh(W_in x + b_in + r_t * (W_hn h + b_hn)); "
            "not Cho et al. 2014, which resets before the product"
        ),
    )


def jordan() -> Cell:
    """Jordan network (1986): the sigmoid output is fed back; state ``y``.

    ``h_t = tanh(W_xh x_t + b_h + W_yh y_{t-1})``, ``y_t = sigmoid(W_hy h_t + b_y)``.
    """
    h_t = now("h")
    return Cell(
        name="jordan",
        title="Jordan network, tanh hidden, sigmoid output fed back",
        gates=("h",),
        state=("y",),
        definitions=((h_t, sympy.tanh(u("h") + m("h"))),),
        updates=(h_t,),
        reference=(
            "Jordan 1986: h_t = tanh(W_xh x_t + b_h + W_yh y_{t-1}), y_t = sigmoid(W_hy h_t + b_y); "
            "the output y is the state"
        ),
        readout=Readout(sigmoid(readout_projection())),
    )


#: Registered cells, by name, as factories (each call builds a fresh, equal value).
CELLS: dict[str, Callable[[], Cell]] = {
    "rnn": rnn,
    "rnn-relu": rnn_relu,
    "lstm": lstm,
    "gru": gru,
    "jordan": jordan,
}


def get_cell(cell: str | Cell) -> Cell:
    """The :class:`Cell` for a registry name (or the cell itself).

    Raises:
        UnknownCellError: the name is not registered; the message lists the valid names and
            suggests the closest one.
    """
    if isinstance(cell, Cell):
        return cell
    return CELLS[resolve_name(cell)]()
