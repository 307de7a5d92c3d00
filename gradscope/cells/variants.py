"""Cells a hand-written BPTT may really be computing: the built-in cells with one classic mistake.

Each :class:`CellVariant` is a built-in cell changed as data, and compiled like any cell:

* a **missing derivative**: an activation whose value is kept but whose derivative is taken as 1
  (``straight_tanh``, ``straight_sigmoid``), i.e. BPTT without ``tanh'`` or ``sigmoid'`` there;
* a derivative **one step off**: ``tanh'`` evaluated on the previous step's value
  (``1 - h_{t-1}^2`` for ``1 - h_t^2``; ``1 - tanh(c_{t-1})^2`` for ``1 - tanh(c_t)^2``);
* a **different forward pass**: a neighbouring cell a tutorial may have written instead (an LSTM
  without ``tanh`` on the cell state, without forget gate; a GRU with ``z`` and ``1 - z`` swapped).

If a user's gradients equal a variant's exact gradients, that variant is what their code computes
(:mod:`gradscope.testing.hints` compiles them, only once a check has failed). The heads carry their
NumPy twin as ``_imp_``, which ``lambdify`` uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import sympy

from gradscope.cells.activations import sigmoid
from gradscope.cells.builtin import get_cell
from gradscope.cells.cell import Cell, now, prev


class straight_tanh(sympy.Function):  # noqa: N801 - SymPy function heads are lower case
    """``tanh`` whose derivative is taken as 1: BPTT that forgets ``tanh'``."""

    nargs = 1
    _imp_ = staticmethod(np.tanh)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sympy.Integer(1)


class straight_sigmoid(sympy.Function):  # noqa: N801
    """The logistic sigmoid whose derivative is taken as 1: BPTT that forgets ``sigmoid'``."""

    nargs = 1
    _imp_ = staticmethod(lambda x: 1.0 / (1.0 + np.exp(-x)))

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sympy.Integer(1)


class lagged_tanh(sympy.Function):  # noqa: N801
    """``lagged_tanh(x, v) = tanh(x)`` whose derivative is ``1 - v^2``, ``v`` the previous step's value."""

    nargs = 2
    _imp_ = staticmethod(lambda x, v: np.tanh(x))

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return 1 - self.args[1] ** 2 if argindex == 1 else sympy.Integer(0)


@dataclass(frozen=True)
class CellVariant:
    """A built-in cell with one mistake: ``key`` names it, ``hint`` says it to a user whose gradients it explains."""

    key: str
    hint: str
    build: Callable[[Cell], Cell]

    def cell(self, name: str) -> Cell:
        """The variant of the built-in cell ``name``."""
        return self.build(get_cell(name))


def _edit(cell: Cell, name: str, symbols: tuple[str, ...], change: Callable[[sympy.Expr], sympy.Expr]) -> Cell:
    """``cell`` with ``change`` applied to the definitions of ``symbols`` (``"h_t"``, ``"i_t"``, ...)."""
    definitions = tuple((s, change(e) if str(s) in symbols else e) for s, e in cell.definitions)
    return replace(cell, name=f"{cell.name}-{name}", definitions=definitions)


def _straight(head: type, new: type) -> Callable[[sympy.Expr], sympy.Expr]:
    return lambda e: e.replace(head, new)


def _tanh_of_c(new: Callable[[sympy.Expr], sympy.Expr]) -> Callable[[sympy.Expr], sympy.Expr]:
    """Replace ``tanh(c_t)`` (the LSTM's output nonlinearity) by ``new(c_t)``."""
    c_t = now("c")
    return lambda e: e.replace(lambda x: x.func == sympy.tanh and x.args[0] == c_t, lambda x: new(x.args[0]))


def _rnn_lagged(cell: Cell) -> Cell:
    return _edit(cell, "lagged", ("h_t",), lambda e: e.replace(sympy.tanh, lambda a: lagged_tanh(a, prev("h"))))


def _gru_swapped(cell: Cell) -> Cell:
    z, n, h = now("z"), now("n"), prev("h")
    return _edit(cell, "swapped-z", ("h_t",), lambda e: z * n + (1 - z) * h)


def _lstm_no_forget(cell: Cell) -> Cell:
    return _edit(cell, "no-forget", ("c_t",), lambda e: prev("c") + now("i") * now("g"))


#: The variants tried for each built-in cell, by name.
VARIANTS: dict[str, tuple[CellVariant, ...]] = {
    "rnn": (
        CellVariant(
            "no-tanh-grad",
            "the tanh derivative (1 - h_t^2) is missing: without it the reference matches your gradients exactly",
            lambda c: _edit(c, "no-tanh-grad", ("h_t",), _straight(sympy.tanh, straight_tanh)),
        ),
        CellVariant(
            "lagged",
            "tanh' is taken one step early, (1 - h_{t-1}^2) where (1 - h_t^2) belongs (off by one in time): "
            "with that mistake the reference matches your gradients exactly",
            _rnn_lagged,
        ),
    ),
    "lstm": (
        CellVariant(
            "no-sigmoid-grad",
            "the sigmoid derivative s (1 - s) of the gates i, f, o is missing: without it the reference matches "
            "your gradients exactly",
            lambda c: _edit(c, "no-sigmoid-grad", ("i_t", "f_t", "o_t"), _straight(sigmoid, straight_sigmoid)),
        ),
        CellVariant(
            "no-tanh-grad-g",
            "the tanh derivative (1 - g_t^2) of the candidate g is missing: without it the reference matches "
            "your gradients exactly",
            lambda c: _edit(c, "no-tanh-grad-g", ("g_t",), _straight(sympy.tanh, straight_tanh)),
        ),
        CellVariant(
            "no-tanh-grad-c",
            "the tanh derivative (1 - tanh(c_t)^2) in dh_t/dc_t is missing: without it the reference matches your "
            "gradients exactly",
            lambda c: _edit(c, "no-tanh-grad-c", ("h_t",), _tanh_of_c(straight_tanh)),
        ),
        CellVariant(
            "lagged-c",
            "tanh'(c) is taken one step early, (1 - tanh(c_{t-1})^2) where (1 - tanh(c_t)^2) belongs (off by one "
            "in time): with that mistake the reference matches your gradients exactly",
            lambda c: _edit(c, "lagged-c", ("h_t",), _tanh_of_c(lambda x: lagged_tanh(x, sympy.tanh(prev("c"))))),
        ),
        CellVariant(
            "no-tanh-cell",
            "your gradients are exact for an LSTM with h_t = o_t * c_t (no tanh on the cell state); gradscope's "
            "lstm, like torch.nn.LSTM, has h_t = o_t * tanh(c_t): your forward pass computes that other cell",
            lambda c: _edit(c, "no-tanh-cell", ("h_t",), _tanh_of_c(lambda x: x)),
        ),
        CellVariant(
            "no-forget",
            "your gradients are exact for an LSTM without forget gate, c_t = c_{t-1} + i_t g_t (the 1997 LSTM); "
            "gradscope's lstm has c_t = f_t c_{t-1} + i_t g_t: your forward pass computes that other cell",
            _lstm_no_forget,
        ),
    ),
    "gru": (
        CellVariant(
            "no-sigmoid-grad",
            "the sigmoid derivative s (1 - s) of the gates r, z is missing: without it the reference matches your "
            "gradients exactly",
            lambda c: _edit(c, "no-sigmoid-grad", ("r_t", "z_t"), _straight(sigmoid, straight_sigmoid)),
        ),
        CellVariant(
            "no-tanh-grad",
            "the tanh derivative (1 - n_t^2) of the candidate n is missing: without it the reference matches your "
            "gradients exactly",
            lambda c: _edit(c, "no-tanh-grad", ("n_t",), _straight(sympy.tanh, straight_tanh)),
        ),
        CellVariant(
            "swapped-z",
            "your gradients are exact for a GRU with h_t = z_t n_t + (1 - z_t) h_{t-1} (z and 1 - z swapped); "
            "gradscope's gru, like torch.nn.GRU, has h_t = (1 - z_t) n_t + z_t h_{t-1}: your forward pass "
            "computes that other cell",
            _gru_swapped,
        ),
    ),
}


def variants_of(cell: str) -> tuple[CellVariant, ...]:
    """The variants tried for a built-in cell (none for other cells)."""
    return VARIANTS.get(cell, ())
