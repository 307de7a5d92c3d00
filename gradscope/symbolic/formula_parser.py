"""Jacobian-block formulas: the formula language (:mod:`gradscope.cells.formula`) with a cell's names and weight blocks.

A formula is a string over the cell's per-unit symbols, as :func:`gradscope.derive` prints them,
e.g. ``"f_t"`` or ``"diag(1 - h_t**2) * W_hh"``.

**The names.** The cell's named quantities (LSTM ``i_t f_t g_t o_t c_t h_t``), previous state
components ``h_{t-1}`` (also ``h_prev``), projections ``u_<gate>`` and ``m_<gate>``, per-unit
parameter vectors, and the recurrent weight blocks ``W_<c><gate>``: the columns of gate ``gate``'s
block of ``weight_hh_l0`` that read state component ``c`` (``W_hh`` for the plain RNN; ``W_hi, W_hf,
W_hg, W_ho`` for the LSTM; ``W_hr, W_hz, W_hn`` for the GRU; ``W_ya, W_za`` for coRNN, whose
recurrence reads ``[y; z]``; for a cell that feeds its output back, also ``y_t``, the readout
projection ``r`` and ``W_hy``), with the functions
``tanh sigmoid exp log sqrt sech cosh sinh relu Heaviside diag transpose``. A per-unit quantity
``q`` stands for the diagonal matrix ``diag(q)`` (``diag`` may be written or left out), ``*`` or
juxtaposition between matrices is the matrix product (``diag(f_t) W_hf``, as ``gradscope derive``
prints blocks; ``diag(A) W_hn (diag(B) W_hr + diag(r_t))``, a product of weight blocks, as it prints
those of Cho's GRU and MGU), and the layout is numerator layout, ``J[i, j] = d row_t[i] / d col_{t-1}[j]``:
a block is a sum of terms ``diag(a_0) W_1 diag(a_1) ... W_k diag(a_k)``
(:mod:`gradscope.symbolic.linear_forms`).
``Heaviside(x)`` is ``Heaviside(x, 0)`` (0 at 0, as PyTorch's ReLU derivative).

**Safety and cost** are the language's (see :mod:`gradscope.cells.formula`): a whitelist read by a
recursive-descent parser, never ``eval``/``sympify``/``parse_expr``, with limits on length,
nesting, operations, exponents and the size of exact numbers. A parsed formula, a tree of
:class:`Node`, is read as a Jacobian block by :mod:`gradscope.symbolic.linear_forms` and checked
against the derivation by :func:`gradscope.testing.check_formula`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from gradscope.cells.builtin import get_cell
from gradscope.cells.cell import Cell, m, now, prev, readout_projection, u
from gradscope.cells.expressions import FUNCTIONS
from gradscope.cells.formula import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_NODES,
    Names,
    Node,
    Token,
    tokens,
)
from gradscope.cells.formula import parse as parse_formula
from gradscope.errors import FormulaError

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NODES",
    "Node",
    "Token",
    "Vocabulary",
    "parse",
    "tokens",
    "vocabulary",
]


@dataclass(frozen=True)
class Vocabulary:
    """The names a formula for one cell may use."""

    symbols: Mapping[str, sympy.Symbol]  # accepted spelling -> symbol
    matrices: Mapping[str, str]  # "W_hf" -> "W_hf"

    def names(self) -> Names:
        """The same names for the parser (canonical symbol names, every function)."""
        return Names({spelling: str(symbol) for spelling, symbol in self.symbols.items()}, self.matrices)

    def describe(self) -> str:
        return self.names().describe()


def vocabulary(cell: Cell) -> Vocabulary:
    """The symbols and weight blocks of ``cell``, with the accepted alternative spellings."""
    symbols: dict[str, sympy.Symbol] = {}
    for symbol, _ in cell.definitions:
        name = str(symbol)
        symbols[name] = symbol
        if name.endswith("_t"):
            symbols[name[:-2] + "_{t}"] = symbol
    for component in cell.state:
        symbol = prev(component)
        for spelling in (str(symbol), f"{component}_prev", f"{component}_tm1"):
            symbols.setdefault(spelling, symbol)
    for gate in cell.gates:
        symbols.setdefault(f"u_{gate}", u(gate))
        symbols.setdefault(f"m_{gate}", m(gate))
    for symbol, _ in cell.vectors:
        symbols.setdefault(symbol, sympy.Symbol(symbol))
    # W_{c g}: the columns of gate g's block of weight_hh_l0 that read component c (W_hf; coRNN's W_ya, W_za)
    reads = cell.spec.read_components
    matrices = {f"W_{c}{g}": f"W_{c}{g}" for c in reads for g in cell.gates}
    if cell.readout is not None:  # y_t = rho(r), r = W_hy h_t + b_y: the second stage of the block
        output = now(cell.state[0])
        symbols.update({str(output): output, f"{cell.state[0]}_{{t}}": output, "r": readout_projection()})
        matrices["W_hy"] = "W_hy"
    return Vocabulary(symbols, matrices)


def parse(expression: str, cell: str | Cell) -> Node:
    """Parse ``expression`` with the vocabulary of ``cell``; raises :class:`FormulaError`."""
    node = parse_formula(expression, vocabulary(get_cell(cell)).names())
    _check_kinds(node)
    return node


def _check_kinds(node: Node) -> bool:
    """Reject operations that make no sense on a weight matrix; return whether ``node`` is a full matrix."""
    kinds = [_check_kinds(a) for a in node.args]
    if node.kind == "mat":
        return True
    if node.kind == "call":
        if node.value == "transpose":
            return kinds[0]
        if any(kinds):
            what = "takes per-unit quantities" if node.value == "diag" else "applies per unit"
            raise FormulaError(f"invalid formula: {node.value}() {what}; its argument contains a weight matrix")
        return False
    if node.kind == "/" and kinds[1]:
        raise FormulaError("invalid formula: division by a weight matrix")
    if node.kind == "pow" and kinds[0] and not (node.value.denominator == 1 and node.value >= 1):
        raise FormulaError(f"invalid formula: a weight matrix to the power {node.value}")
    return any(kinds)
