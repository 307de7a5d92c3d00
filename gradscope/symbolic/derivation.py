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
from dataclasses import dataclass

import sympy

from gradscope.cells.builtin import get_cell
from gradscope.cells.cell import Cell, m, now, prev, readout_projection, u


@dataclass(frozen=True)
class JacobianBlock:
    """One block ``d row_t / d col_{t-1}`` of ``J_t`` (each ``H x H``).

    ``block = sum_g diag(projection_terms[g]) W_hg + diag(diagonal)``, where the coefficients are
    per-unit SymPy expressions written with the cell's named quantities (``f_t``, ``c_t``, ...).
    Terms that are identically zero are left out; ``diagonal`` is ``0`` when there is none.
    """

    row: str
    col: str
    projection_terms: tuple[tuple[str, sympy.Expr], ...]
    diagonal: sympy.Expr

    def _parts(self, diag: str, weight: str, printer: object) -> list[str]:
        # W_{col g}: the columns of gate g's block of weight_hh_l0 that read component col (W_hg for h).
        parts = [
            diag.format(printer(coefficient)) + weight.format(self.col, gate)
            for gate, coefficient in self.projection_terms
        ]
        if self.diagonal != 0:
            parts.append(diag.format(printer(self.diagonal)))
        return parts or ["0"]

    def latex(self) -> str:
        """The block as a LaTeX equation.

        For example ``\\frac{\\partial c_t}{\\partial c_{t-1}} = \\operatorname{diag}\\left(f_{t}\\right)``.
        """
        parts = self._parts(r"\operatorname{{diag}}\left({}\right)", " W_{{{}{}}}", sympy.latex)
        return rf"\frac{{\partial {self.row}_t}}{{\partial {self.col}_{{t-1}}}} = " + " + ".join(parts)

    def text(self) -> str:
        """The block as one line of plain text (``sympy.sstr`` coefficients)."""
        parts = self._parts("diag({})", " W_{}{}", sympy.sstr)
        return f"d{self.row}_t/d{self.col}_{{t-1}} = " + " + ".join(parts)

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class ReadoutBlock:
    """The Jacobian ``d y_t / d y_{t-1}`` (``O x O``) of a cell that feeds its output back.

    ``block = diag(readout) W_hy sum_g diag(hidden_terms[g]) W_yg``, coefficients per unit in the
    cell's named quantities (``y_t``, ``h_t``).
    """

    row: str
    col: str
    readout: sympy.Expr
    hidden_terms: tuple[tuple[str, sympy.Expr], ...]

    def _format(self, diag: str, readout_weight: str, weight: str, printer: object) -> str:
        terms = [diag.format(printer(coefficient)) + weight.format(gate) for gate, coefficient in self.hidden_terms]
        inner = terms[0] if len(terms) == 1 else "(" + " + ".join(terms) + ")"
        return diag.format(printer(self.readout)) + readout_weight + " " + inner

    def latex(self) -> str:
        """The block as a LaTeX equation (``\\frac{\\partial y_t}{\\partial y_{t-1}} = ...``)."""
        body = self._format(r"\operatorname{{diag}}\left({}\right)", " W_{hy}", " W_{{y{}}}", sympy.latex)
        return rf"\frac{{\partial {self.row}_t}}{{\partial {self.col}_{{t-1}}}} = " + body

    def text(self) -> str:
        """The block as one line of plain text, e.g. ``dy_t/dy_{t-1} = diag(...) W_hy diag(...) W_yh``."""
        return f"d{self.row}_t/d{self.col}_{{t-1}} = " + self._format("diag({})", " W_hy", " W_y{}", sympy.sstr)

    def __str__(self) -> str:
        return self.text()


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
    expression = sympy.sympify(expression)  # a SymPy expression, or a number
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
    arguments = tuple(u(g) for g in gates) + tuple(m(g) for g in gates) + tuple(prev(c) for c in state)
    new_state = tuple(expand(cell, update) for update in cell.updates)

    recurrent: dict[tuple[str, str], sympy.Expr] = {}
    inputs: dict[tuple[str, str], sympy.Expr] = {}
    direct: dict[tuple[str, str], sympy.Expr] = {}
    for row, expression in zip(state, new_state, strict=True):
        for gate in gates:
            if (d := expression.diff(m(gate))) != 0:
                recurrent[row, gate] = d
            if (d := expression.diff(u(gate))) != 0:
                inputs[row, gate] = d
        for col in state:
            if (d := expression.diff(prev(col))) != 0:
                direct[row, col] = d

    reads = cell.spec.read_components
    blocks = []
    for row in state:
        for col in state:
            terms = ()
            if col in reads:
                terms = tuple((g, _readable(cell, recurrent[row, g])) for g in gates if (row, g) in recurrent)
            diagonal = _readable(cell, direct[row, col]) if (row, col) in direct else sympy.Integer(0)
            blocks.append(JacobianBlock(row, col, terms, diagonal))

    return Derivation(cell, arguments, new_state, recurrent, inputs, direct, tuple(blocks))


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


def _symbols(name: str, rows: int, columns: int = 1) -> sympy.Matrix:
    """A ``(rows, columns)`` matrix of symbols ``name_i_j`` (``name_i`` for a column)."""
    if columns == 1:
        return sympy.Matrix(rows, 1, lambda i, _: sympy.Symbol(f"{name}_{i}"))
    return sympy.Matrix(rows, columns, lambda i, j: sympy.Symbol(f"{name}_{i}_{j}"))


def _unit_entry(
    cell: Cell,
    expression: sympy.Expr,
    unit: int,
    input_projection: sympy.Matrix,
    recurrent_projection: sympy.Matrix,
    state: sympy.Matrix | None = None,
) -> sympy.Expr:
    """``expression`` (in the per-unit symbols) for one unit, in explicit weight and state symbols."""
    hidden = input_projection.shape[0] // cell.num_gates
    substitution = {u(g): input_projection[k * hidden + unit] for k, g in enumerate(cell.gates)}
    substitution |= {m(g): recurrent_projection[k * hidden + unit] for k, g in enumerate(cell.gates)}
    if state is not None:
        substitution |= {prev(c): state[k * hidden + unit] for k, c in enumerate(cell.state)}
    return expression.xreplace(substitution)


def expanded_jacobian(cell: Cell, hidden_size: int, input_size: int) -> tuple[sympy.Matrix, dict[str, sympy.Matrix]]:
    """The fully expanded ``J_t`` (numerator layout) by ``Matrix.jacobian``, entry by entry.

    Independent of the structured route in :func:`derive`: every entry of the state update is
    written out with explicit weight symbols and differentiated directly. Its size explodes with H,
    so it is meant for ``hidden_size <= 3``, as a cross-check.

    Returns:
        ``(J, symbols)``: ``J`` is ``(S, S)`` with ``S = len(cell.state) * hidden_size``;
        ``symbols`` maps ``"weight_ih"`` ``(G*H, I)``, ``"weight_hh"`` ``(G*H, R)``, ``"bias_ih"``,
        ``"bias_hh"`` ``(G*H, 1)``, ``"x"`` ``(I, 1)`` and ``"s"`` ``(S, 1)`` (the previous state)
        to matrices of the symbols ``J`` is written in.
    """
    if hidden_size > 3:
        raise ValueError(f"expanded_jacobian is for hidden_size <= 3 (it grows too fast), got {hidden_size}")
    if cell.readout is not None:
        raise ValueError(f"cell {cell.name!r} feeds its output back: use expanded_readout_jacobian")
    H, I, G = hidden_size, input_size, cell.num_gates
    reads = cell.spec.read_components
    w_ih, w_hh = _symbols("Wih", G * H, I), _symbols("Whh", G * H, len(reads) * H)
    b_ih, b_hh = _symbols("bih", G * H), _symbols("bhh", G * H)
    x, s = _symbols("x", I), _symbols("s", len(cell.state) * H)
    input_projection = w_ih * x + b_ih
    read = sympy.Matrix.vstack(*(s[cell.state.index(c) * H : (cell.state.index(c) + 1) * H, :] for c in reads))
    recurrent_projection = w_hh * read + b_hh
    entries = [
        _unit_entry(cell, expand(cell, update), unit, input_projection, recurrent_projection, s)
        for update in cell.updates
        for unit in range(H)
    ]
    jacobian = sympy.Matrix(entries).jacobian(s)
    symbols = {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b_ih, "bias_hh": b_hh, "x": x, "s": s}
    return jacobian, symbols


def expanded_readout_jacobian(
    cell: Cell, hidden_size: int, input_size: int, output_size: int
) -> tuple[sympy.Matrix, dict[str, sympy.Matrix]]:
    """The fully expanded ``J_t = d y_t / d y_{t-1}`` ``(O, O)`` of a cell with a readout, entry by entry.

    The independent check of :class:`ReadoutBlock` for tiny sizes (``hidden_size <= 3``,
    ``output_size <= 3``): ``y_t`` is written out with explicit weight symbols and
    ``Matrix.jacobian`` differentiates it.

    Returns:
        ``(J, symbols)``: ``symbols`` maps ``"weight_ih"`` ``(G*H, I)``, ``"weight_yh"`` ``(G*H, O)``,
        ``"bias_ih"`` ``(G*H, 1)``, ``"weight_hy"`` ``(O, H)``, ``"bias_hy"`` ``(O, 1)``, ``"x"``
        ``(I, 1)`` and ``"y"`` ``(O, 1)`` (the previous output) to matrices of symbols.
    """
    if cell.readout is None:
        raise ValueError(f"cell {cell.name!r} has no readout: use expanded_jacobian")
    if hidden_size > 3 or output_size > 3:
        raise ValueError(
            f"expanded_readout_jacobian is for sizes <= 3 (it grows too fast), got H={hidden_size}, O={output_size}"
        )
    H, I, O, G = hidden_size, input_size, output_size, cell.num_gates
    w_ih, w_yh, b_ih = _symbols("Wih", G * H, I), _symbols("Wyh", G * H, O), _symbols("bih", G * H)
    w_hy, b_hy = _symbols("Why", O, H), _symbols("bhy", O)
    x, y = _symbols("x", I), _symbols("y", O)
    input_projection = w_ih * x + b_ih
    recurrent_projection = w_yh * y
    expression = expand(cell, cell.updates[0])
    hidden = sympy.Matrix(
        [_unit_entry(cell, expression, unit, input_projection, recurrent_projection) for unit in range(H)]
    )
    readout = w_hy * hidden + b_hy
    output = sympy.Matrix([cell.readout.output.xreplace({readout_projection(): readout[o]}) for o in range(O)])
    symbols = {"weight_ih": w_ih, "weight_yh": w_yh, "bias_ih": b_ih, "weight_hy": w_hy, "bias_hy": b_hy}
    return output.jacobian(y), symbols | {"x": x, "y": y}
