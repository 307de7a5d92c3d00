"""The fully expanded Jacobian of a cell for tiny sizes: every entry written out and differentiated by SymPy.

Independent of the structured route in :mod:`gradscope.symbolic.derivation`: its size explodes with
H, so it is meant for ``hidden_size <= 3``, as a cross-check.
"""

from __future__ import annotations

import sympy

from gradscope.cells.cell import Cell, m, prev, readout_projection, u
from gradscope.symbolic.derivation import expand


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
    vectors: sympy.Matrix | None = None,
) -> sympy.Expr:
    """``expression`` (in the per-unit symbols) for one unit, in explicit weight and state symbols."""
    hidden = input_projection.shape[0] // cell.num_gates
    substitution = {u(g): input_projection[k * hidden + unit] for k, g in enumerate(cell.gates)}
    substitution |= {m(g): recurrent_projection[k * hidden + unit] for k, g in enumerate(cell.gates)}
    if state is not None:
        substitution |= {prev(c): state[k * hidden + unit] for k, c in enumerate(cell.state)}
    if vectors is not None:
        substitution |= {v: vectors[k * hidden + unit] for k, v in enumerate(cell.vector_symbols)}
    return expression.xreplace(substitution)


def expanded_jacobian(cell: Cell, hidden_size: int, input_size: int) -> tuple[sympy.Matrix, dict[str, sympy.Matrix]]:
    """The fully expanded ``J_t`` (numerator layout) by ``Matrix.jacobian``, entry by entry.

    Independent of the structured route in :func:`derive`: every entry of the state update is
    written out with explicit weight symbols and differentiated directly. Its size explodes with H,
    so it is meant for ``hidden_size <= 3``, as a cross-check.

    Returns:
        ``(J, symbols)``: ``J`` is ``(S, S)`` with ``S = len(cell.state) * hidden_size``;
        ``symbols`` maps ``"weight_hh"`` ``(G*H, R)`` (the blocks ``W_hg`` as the projections use them,
        for a structured recurrent weight too), ``"weight_ih"`` ``(G*H, I)``, ``"bias_ih"``,
        ``"bias_hh"`` ``(G*H, 1)``, ``"vectors"`` ``(P*H, 1)`` (the per-unit vectors stacked),
        ``"x"`` ``(I, 1)`` and ``"s"`` ``(S, 1)`` (the previous state) to matrices of the symbols
        ``J`` is written in. A gate that reads a quantity ``q`` of the step projects ``W_hg q + b_hg``.
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
    vectors = _symbols("p", max(1, len(cell.vectors)) * H)
    input_projection = w_ih * x + b_ih
    read = sympy.Matrix.vstack(*(s[cell.state.index(c) * H : (cell.state.index(c) + 1) * H, :] for c in reads))
    recurrent_projection = w_hh * read + b_hh
    for gate, what in cell.inner_reads:  # that gate projects a quantity of the step, from the other projections
        k = cell.gates.index(gate)
        q = sympy.Matrix(
            [
                _unit_entry(cell, expand(cell, what), i, input_projection, recurrent_projection, s, vectors)
                for i in range(H)
            ]
        )
        rows = slice(k * H, (k + 1) * H)
        recurrent_projection[rows, :] = w_hh[rows, :] * q + b_hh[rows, :]
    entries = [
        _unit_entry(cell, expand(cell, update), unit, input_projection, recurrent_projection, s, vectors)
        for update in cell.updates
        for unit in range(H)
    ]
    jacobian = sympy.Matrix(entries).jacobian(s)
    symbols = {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b_ih, "bias_hh": b_hh, "x": x, "s": s}
    return jacobian, symbols | {"vectors": vectors}


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
