"""SymPy derivation of the per-step Jacobian ``J_t = d s_t / d s_{t-1}``, block by block.

SymPy's matrix calculus cannot differentiate the Hadamard products of LSTM and GRU cells, and
the fully expanded per-entry Jacobian grows far too fast with the hidden size H. Every cell here
is *elementwise functions of linear projections* (see :mod:`gradscope.cells.builtin`), so SymPy
differentiates the scalar per-unit update and the chain rule through the projections gives, for
the blocks of ``J_t`` (numerator layout, ``J_t[i, j] = d s_t[i] / d s_{t-1}[j]``):

    d a_t / d h_{t-1} = sum_g diag(d a_t / d m_g) W_hg + diag(d a_t / d h_{t-1})
    d a_t / d b_{t-1} = diag(d a_t / d b_{t-1})                    for b != h,

for state components ``a`` and ``b``. The coefficients are exact SymPy derivatives, valid for any
H. :func:`expanded_jacobian` keeps the per-entry route for tiny H as an independent check.

A cell with a readout (Jordan network, state ``y``) has one ``O x O`` block, a product of two
stages (:class:`ReadoutBlock`):

    d y_t / d y_{t-1} = diag(d y_t / d r) W_hy sum_g diag(d h_t / d m_g) W_yg.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sympy

from gradscope.cells.builtin import get_cell
from gradscope.cells.cell import Cell, m, now, prev, readout_projection, u
from gradscope.symbolic.blocks import InnerTerm, JacobianBlock, ReadoutBlock


@dataclass(frozen=True)
class Derivation:
    """Everything SymPy derives for one cell; build it with :func:`derive` (cached).

    Expressions in the ``*_partials`` and ``new_state`` fields are *expanded*: written only in the
    :attr:`arguments` symbols, ready for ``lambdify``. :attr:`blocks` holds the same derivatives
    rewritten with the cell's named quantities for people to read.
    """

    cell: Cell
    #: The per-unit arguments in a fixed order: ``u_g`` for each gate, ``m_g`` for each gate, then
    #: the previous state components.
    arguments: tuple[sympy.Symbol, ...]
    #: New value of each state component (expanded).
    new_state: tuple[sympy.Expr, ...]
    #: ``d row_t / d m_g`` for each (row, gate) pair that is not identically zero.
    recurrent_partials: dict[tuple[str, str], sympy.Expr]
    #: ``d row_t / d u_g`` for each (row, gate) pair that is not identically zero.
    input_partials: dict[tuple[str, str], sympy.Expr]
    #: ``d row_t / d col_{t-1}`` (direct, per unit) for each (row, col) pair not identically zero.
    state_partials: dict[tuple[str, str], sympy.Expr]
    #: The Jacobian blocks in row-major order of the state components, readable form.
    blocks: tuple[JacobianBlock | ReadoutBlock, ...]
    #: For a cell with a readout: ``y_t`` and ``d y_t / d r`` in the readout projection ``r``.
    readout_output: sympy.Expr | None = None
    readout_partial: sympy.Expr | None = None
    #: ``d row_t / d p`` for each (row, vector symbol) pair not identically zero (parameter gradients).
    vector_partials: dict[tuple[str, str], sympy.Expr] = field(default_factory=dict)
    #: What each inner gate's projection reads, ``q_g`` (expanded): ``m_g = W_hg q_g + b_hg``.
    inner_reads: dict[str, sympy.Expr] = field(default_factory=dict)
    #: ``d q_g / d other`` for ``(kind, g, other)``: kind ``"m"`` (a projection of the state), ``"s"`` (a
    #: previous state component), ``"u"`` (an input projection) or ``"p"`` (a vector); not identically zero.
    inner_partials: dict[tuple[str, str, str], sympy.Expr] = field(default_factory=dict)

    def block(self, row: str, col: str) -> JacobianBlock | ReadoutBlock:
        """The block ``d row_t / d col_{t-1}``."""
        for candidate in self.blocks:
            if (candidate.row, candidate.col) == (row, col):
                return candidate
        raise KeyError(f"cell {self.cell.name!r} has no block d{row}/d{col}; state is {self.cell.state}")

    def latex(self) -> str:
        """All blocks as a LaTeX ``aligned`` environment."""
        lines = [block.latex().replace(" = ", " &= ", 1) for block in self.blocks]
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def expand(cell: Cell, expression: sympy.Expr | float) -> sympy.Expr:
    """Replace the named quantities by their definitions, latest first, so only arguments remain."""
    if not isinstance(expression, sympy.Basic):  # a number (cells hold SymPy expressions, never strings)
        expression = sympy.Float(expression) if isinstance(expression, float) else sympy.Integer(expression)
    for symbol, definition in reversed(cell.definitions):
        expression = expression.subs(symbol, definition)
    return expression


def _readable(cell: Cell, expression: sympy.Expr) -> sympy.Expr:
    """Rewrite an expanded expression with the cell's named quantities (``f_t`` for ``sigmoid(u_f + m_f)``)."""
    for symbol, definition in cell.definitions:
        # Earlier quantities are already replaced, so match the definition as written.
        expression = expression.subs(definition, symbol)
    return sympy.factor_terms(expression)


def derive(cell: str | Cell) -> Derivation:
    """Differentiate a cell's per-unit update with SymPy (once per cell; the result is cached).

    ``cell`` is a built-in cell's name or a :class:`~gradscope.cells.builtin.Cell`. Cost is independent of
    the hidden size: a few hundredths of a second for the LSTM.

    >>> derive("lstm").block("c", "c").text()
    'dc_t/dc_{t-1} = diag(f_t)'
    """
    return _derive(get_cell(cell))


@functools.cache
def _derive(cell: Cell) -> Derivation:
    if cell.readout is not None:
        return _derive_readout(cell)
    gates, state = cell.gates, cell.state
    vectors = cell.vector_symbols
    arguments = tuple(u(g) for g in gates) + tuple(m(g) for g in gates) + tuple(prev(c) for c in state) + vectors
    new_state = tuple(expand(cell, update) for update in cell.updates)

    recurrent: dict[tuple[str, str], sympy.Expr] = {}
    inputs: dict[tuple[str, str], sympy.Expr] = {}
    direct: dict[tuple[str, str], sympy.Expr] = {}
    by_vector: dict[tuple[str, str], sympy.Expr] = {}
    for row, expression in zip(state, new_state, strict=True):
        for gate in gates:
            if (d := expression.diff(m(gate))) != 0:
                recurrent[row, gate] = d
            if (d := expression.diff(u(gate))) != 0:
                inputs[row, gate] = d
        for col in state:
            if (d := expression.diff(prev(col))) != 0:
                direct[row, col] = d
        for vector in vectors:
            if (d := expression.diff(vector)) != 0:
                by_vector[row, str(vector)] = d
    inner = {gate: expand(cell, read) for gate, read in cell.inner_reads}
    inner_partials = _inner_partials(cell, inner)

    reads = cell.spec.read_components
    blocks = []
    for row in state:
        for col in state:
            terms: tuple[tuple[str, sympy.Expr], ...] = ()
            inner_terms: tuple[InnerTerm, ...] = ()
            if col in reads:
                terms = tuple(
                    (g, _readable(cell, recurrent[row, g])) for g in gates if (row, g) in recurrent and g not in inner
                )
                inner_terms = tuple(
                    _inner_term(cell, g, _readable(cell, recurrent[row, g]), inner_partials, col)
                    for g in inner
                    if (row, g) in recurrent
                )
            diagonal = _readable(cell, direct[row, col]) if (row, col) in direct else sympy.Integer(0)
            blocks.append(JacobianBlock(row, col, terms, diagonal, inner_terms))

    return Derivation(
        cell,
        arguments,
        new_state,
        recurrent,
        inputs,
        direct,
        tuple(blocks),
        vector_partials=by_vector,
        inner_reads=inner,
        inner_partials=inner_partials,
    )


def _inner_partials(cell: Cell, inner: dict[str, sympy.Expr]) -> dict[tuple[str, str, str], sympy.Expr]:
    """``d q_g / d other`` of every inner gate's read ``q_g``, by ``(kind, g, other)``, zeros left out."""
    out: dict[tuple[str, str, str], sympy.Expr] = {}
    for gate, read in inner.items():
        candidates = [("m", g, m(g)) for g in cell.gates if g not in inner]
        candidates += [("s", c, prev(c)) for c in cell.state]
        candidates += [("u", g, u(g)) for g in cell.gates]
        candidates += [("p", str(v), v) for v in cell.vector_symbols]
        for kind, other, symbol in candidates:
            if (d := read.diff(symbol)) != 0:
                out[kind, gate, other] = d
    return out


def _inner_term(
    cell: Cell, gate: str, coefficient: sympy.Expr, partials: dict[tuple[str, str, str], sympy.Expr], col: str
) -> InnerTerm:
    """The readable :class:`InnerTerm` of ``gate`` in a block whose column is the read component ``col``."""
    terms = tuple((g, _readable(cell, d)) for (kind, n, g), d in partials.items() if kind == "m" and n == gate)
    diagonal = partials.get(("s", gate, col), sympy.Integer(0))
    return InnerTerm(gate, coefficient, terms, _readable(cell, diagonal) if diagonal != 0 else diagonal)


def _derive_readout(cell: Cell) -> Derivation:
    """The two stages of a cell that feeds its output back: ``d h_t / d m_g`` (and ``/ d u_g``), ``d y_t / d r``."""
    assert cell.readout is not None
    gates, hidden = cell.gates, "h"
    arguments = tuple(u(g) for g in gates) + tuple(m(g) for g in gates)
    new_hidden = expand(cell, cell.updates[0])
    recurrent = {(hidden, g): d for g in gates if (d := new_hidden.diff(m(g))) != 0}
    inputs = {(hidden, g): d for g in gates if (d := new_hidden.diff(u(g))) != 0}
    output = cell.readout.output
    partial = output.diff(readout_projection())
    readable_partial = sympy.factor_terms(partial.subs(output, now(cell.state[0])))
    terms = tuple((g, _readable(cell, recurrent[hidden, g])) for g in gates if (hidden, g) in recurrent)
    block = ReadoutBlock(cell.state[0], cell.state[0], readable_partial, terms)
    return Derivation(cell, arguments, (new_hidden,), recurrent, inputs, {}, (block,), output, partial)
