"""The derived block's values for :func:`gradscope.check_formula`: from the compiled cell, not the derivation's text.

The check compares a formula with the block at random points. The formula's side is the formula read as
a :data:`~gradscope.symbolic.linear_forms.WordForm`; this module gives the derived side from the
*compiled* partial derivatives (a second source besides the printed block): each term
``diag(a_0) W_1 diag(a_1) ... W_k diag(a_k)`` of ``d row_t / d col_{t-1}`` with its factors evaluated at
one set of points per slot, or summed into a dense matrix for given weight blocks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradscope.cells.cell import Cell, m, now, prev, u
from gradscope.compile.cache import compile_cell
from gradscope.compile.codegen import lambdify_expressions
from gradscope.symbolic.derivation import derive, expand
from gradscope.symbolic.formula_parser import Node
from gradscope.symbolic.linear_forms import Word, WordForm, word_form

#: Random points at which a formula is compared numerically.
NUMERIC_POINTS = 256


@functools.cache
def definition_functions(cell: Cell) -> tuple[tuple[str, Callable[..., Any]], ...]:
    """Each named quantity as a NumPy function of the arguments (the cell's own, trusted, definitions)."""
    derivation = derive(cell)
    out = []
    for symbol, _ in cell.definitions:
        expanded = expand(cell, symbol)
        function = lambdify_expressions(derivation.arguments, expanded)
        out.append((str(symbol), function))
    return tuple(out)


def draw(cell: Cell, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random arguments and the named quantities they give, each of ``shape``."""
    derivation = derive(cell)
    values = {str(a): rng.normal(0.0, 1.5, size=shape) for a in derivation.arguments}
    arguments = [values[str(a)] for a in derivation.arguments]
    for name, function in definition_functions(cell):
        values[name] = np.broadcast_to(np.asarray(function(*arguments), dtype=float), shape)
    if cell.readout is not None:  # the output stage: y_t = rho(r) at the output units; y_{t-1} enters through m only
        state = cell.state[0]
        values["r"] = rng.normal(0.0, 1.5, size=shape)
        values[str(now(state))] = compile_cell(cell).readout(values["r"])
        values[str(prev(state))] = rng.normal(0.0, 1.5, size=shape)
    return values


def partials(cell: Cell, values: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
    """The compiled cell's ``d row/d m_g``, ``d row/d col`` and its inner gates' ``d q/d ...`` at ``values``."""
    compiled = compile_cell(cell)
    u_values = np.stack([values[str(u(g))] for g in cell.gates], axis=-2)
    m_values = np.stack([values[str(m(g))] for g in cell.gates], axis=-2)
    arguments = derive(cell).arguments  # a cell that feeds its output back reads y_{t-1} through m only
    read = [values[str(prev(c))] for c in cell.state if prev(c) in arguments]
    prev_values = np.stack(read, axis=-2) if read else np.zeros((*u_values.shape[:-2], 0, u_values.shape[-1]))
    # per-unit parameter vectors (peepholes) are arguments of the generated code too, in the cell's order
    vectors = np.stack([values[str(name)] for name, _ in cell.vectors]) if cell.vectors else None
    packed = (u_values, m_values, prev_values, vectors)
    return compiled.state_partials(*packed), compiled.inner_partials(*packed)


class Points:
    """Random points for each slot (the ``k``-th unit along a term's product), drawn when first asked for:
    ``points[k]`` maps every argument and named quantity to ``(NUMERIC_POINTS,)`` values."""

    def __init__(self, cell: Cell, rng: np.random.Generator) -> None:
        self.cell, self.rng = cell, rng
        self.slots: list[dict[str, np.ndarray]] = []

    def __getitem__(self, slot: int) -> dict[str, np.ndarray]:
        while len(self.slots) <= slot:
            self.slots.append(draw(self.cell, (NUMERIC_POINTS,), self.rng))
        return self.slots[slot]


def derived_terms(cell: Cell, row: str, col: str, slots: Any) -> list[tuple[Word, list[np.ndarray]]]:
    """The derived block's terms from the compiled cell (a second source), each ``(word, factors)``: the term
    ``diag(factors[0]) W_1 diag(factors[1]) ...``, factor ``k`` evaluated at the points ``slots[k]``
    (a :class:`Points`, or a list of per-unit values)."""
    direct, _ = partials(cell, slots[0])
    ones = np.asarray(1.0)  # a factor 1 (a term that ends in a weight block); broadcasts to any unit count
    terms: list[tuple[Word, list[np.ndarray]]] = [((), [direct.get(("s", row, col), 0.0 * ones)])]
    if cell.readout is not None:  # diag(rho'(r)) W_hy diag(d h/d m_g) W_yg: the output unit, then a hidden one
        readout = compile_cell(cell).readout_partial(slots[0]["r"])
        hidden, _ = partials(cell, slots[1])
        terms[0] = ((), [0.0 * ones])
        gates = [g for g in cell.gates if ("m", "h", g) in hidden]
        return terms + [(("W_hy", f"W_{col}{g}"), [readout, hidden["m", "h", g], ones]) for g in gates]
    if col not in cell.spec.read_components:
        return terms
    inner_gates = cell.spec.inner_gates
    inner = partials(cell, slots[1])[1] if inner_gates else {}  # what the inner gates read, at the next unit
    for gate in cell.gates:
        if ("m", row, gate) not in direct:
            continue
        outer = direct["m", row, gate]
        if gate not in inner_gates:
            terms.append(((f"W_{col}{gate}",), [outer, ones]))
            continue
        for (kind, read, other), value in inner.items():  # d q / d m_g (then W_{col g}) and d q / d col_{t-1}
            if read == gate and kind == "m":
                terms.append(((f"W_{col}{gate}", f"W_{col}{other}"), [outer, value, ones]))
            elif read == gate and kind == "s" and other == col:
                terms.append(((f"W_{col}{gate}",), [outer, value]))
    return terms


def derived_values(cell: Cell, row: str, col: str, slots: Points) -> WordForm:
    """The derived block's form at the points ``slots`` (slot ``k`` of each word at ``slots[k]``)."""
    form: WordForm = {}
    for word, factors in derived_terms(cell, row, col, slots):
        form[word] = form.get(word, 0.0) + np.prod(np.broadcast_arrays(*factors), axis=0)
    return form


def derived_matrix(cell: Cell, row: str, col: str, values: Mapping[str, np.ndarray], weights: Mapping) -> np.ndarray:
    """The derived block as a dense matrix, for per-unit ``values`` and ``weights`` by name: ``(H, H)`` from
    ``(H,)`` values and ``(H, H)`` blocks, or ``(O, O)`` for a cell that feeds its output back (``W_hy``
    ``(O, H)``, ``W_yh`` ``(H, O)``, ``r`` and ``y_t`` ``(O,)``)."""
    size = np.shape(weights["W_hy"] if cell.readout is not None else next(iter(weights.values())))[0]
    total = np.zeros((size, size))
    for word, factors in derived_terms(cell, row, col, [values, values]):
        product = np.diag(np.broadcast_to(factors[0], (size,)))
        for matrix, factor in zip(word, factors[1:], strict=True):
            product = product @ weights[matrix]
            product = product * np.broadcast_to(factor, (product.shape[1],))[None, :]  # diag(factor) on the right
        total += product
    return total


def numeric_difference(
    cell: Cell, row: str, col: str, node: Node, slots: Points
) -> tuple[Word, int, WordForm, WordForm] | None:
    """Compare at random points; ``(word, point, formula values, derived values)`` where they first differ."""
    with np.errstate(all="ignore"):
        given = word_form(node, lambda name, slot: slots[slot][name], exact=False)
    derived = derived_values(cell, row, col, slots)
    errors = {}
    for key in set(given) | set(derived):
        a = np.broadcast_to(np.asarray(given.get(key, 0.0), dtype=float), (NUMERIC_POINTS,))
        e = np.broadcast_to(np.asarray(derived.get(key, 0.0), dtype=float), (NUMERIC_POINTS,))
        with np.errstate(all="ignore"):
            error = np.abs(a - e) / (1e-12 + 1e-9 * np.abs(e))
        errors[key] = np.where(np.isfinite(error), error, np.inf)
    differ = np.any([error > 1 for error in errors.values()], axis=0)
    if not differ.any():
        return None
    point = int(np.argmax(differ))  # the first random point where they differ: a typical one, not an extreme
    key = max(errors, key=lambda k: errors[k][point])
    return key, point, given, derived


def at(values: Any, point: int) -> float:
    return float(np.broadcast_to(np.asarray(values, dtype=float), (NUMERIC_POINTS,))[point])
