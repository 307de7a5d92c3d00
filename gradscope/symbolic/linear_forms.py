"""Parsed formulas as Jacobian blocks: per-unit coefficients of each ``W_hg`` and of the diagonal, or dense matrices.

A block is ``sum_g diag(a_g) W_hg + diag(d)`` (numerator layout); :func:`linear_form` reads a
parsed formula (:mod:`gradscope.symbolic.formula_parser`) as those coefficients, in SymPy or
evaluated with NumPy, :func:`matrix_value` as a dense matrix, and :func:`node_text` writes it back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy

from gradscope.cells.activations import sigmoid
from gradscope.cells.cell import Cell
from gradscope.cells.expressions import FUNCTIONS, rational
from gradscope.cells.formula import Node
from gradscope.symbolic.derivation import expand

#: A block ``sum_g diag(a[g]) W_hg + diag(a[None])`` as ``{gate or None: coefficient}``.
LinearForm = dict[str | None, Any]


class NotLinear(Exception):  # noqa: N818 - a signal to the check, not a user's error
    """The formula is a matrix, but not of the form ``sum_g diag(a_g) W_hg + diag(d)``."""


def linear_form(node: Node, leaf: Callable[[str], Any], exact: bool) -> LinearForm:
    """The block a parsed formula denotes, as per-unit coefficients of ``W_hg`` and of the diagonal.

    ``leaf`` gives a symbol's value: a SymPy symbol when ``exact`` (SymPy coefficients), else a
    NumPy array of points (the coefficients evaluated there, with NumPy's functions).

    Raises:
        NotLinear: a matrix product, a transposed weight block, or a weight block followed by a
            per-unit factor (``W diag(q)`` scales columns): not of the block form.
    """
    kind, args = node.kind, node.args
    if kind == "num":
        return {None: rational(node.value) if exact else float(node.value)}
    if kind == "sym":
        return {None: leaf(node.value)}
    if kind == "mat":
        return {node.value: 1}
    parts = [linear_form(a, leaf, exact) for a in args]
    if kind == "neg":
        return {k: -v for k, v in parts[0].items()}
    if kind in ("+", "-"):
        out = dict(parts[0])
        for k, v in parts[1].items():
            out[k] = out.get(k, 0) + (v if kind == "+" else -v)
        return out
    if kind in ("*", "/"):
        left, right = parts
        if set(right) - {None}:  # right has weight blocks
            if kind == "/":
                raise NotLinear("division by a weight matrix")
            if set(left) - {None}:
                raise NotLinear("a product of weight matrices")
            return {k: left[None] * v for k, v in right.items()}
        factor = right[None] if kind == "*" else 1 / right[None]
        if set(left) - {None} and not _constant(factor):
            raise NotLinear("a weight matrix multiplied on the right by a per-unit factor (W diag(q) scales columns)")
        return {k: v * factor for k, v in left.items()}
    if kind == "pow":
        base = parts[0]
        if set(base) - {None}:
            raise NotLinear("a power of a weight matrix")
        exponent = rational(node.value) if exact else float(node.value)
        return {None: base[None] ** exponent}
    # call
    if node.value == "transpose" and set(parts[0]) - {None}:
        raise NotLinear("a transposed weight matrix")
    function = FUNCTIONS[node.value]
    return {None: (function.exact if exact else function.numeric)(*[p[None] for p in parts])}


def _constant(value: Any) -> bool:
    return not isinstance(value, sympy.Basic) or value.is_number


def matrix_value(node: Node, values: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray]) -> np.ndarray:
    """The formula as a dense ``(H, H)`` matrix, for per-unit ``values`` ``(H,)`` and ``weights`` ``(H, H)``."""

    def walk(n: Node) -> tuple[bool, np.ndarray]:  # (is_matrix, (H, H) or (H,))
        if n.kind == "num":
            return False, np.full(size, float(n.value))
        if n.kind == "sym":
            return False, values[n.value]
        if n.kind == "mat":
            return True, weights[n.value]
        parts = [walk(a) for a in n.args]
        if n.kind == "neg":
            return parts[0][0], -parts[0][1]
        if n.kind in ("+", "-"):
            (lm, lv), (rm, rv) = parts
            lv, rv = (lv if lm or not rm else np.diag(lv)), (rv if rm or not lm else np.diag(rv))
            return lm or rm, lv + rv if n.kind == "+" else lv - rv
        if n.kind in ("*", "/"):
            (lm, lv), (rm, rv) = parts
            if n.kind == "/":
                rv = 1.0 / rv
            if lm and rm:
                return True, lv @ rv
            if lm:
                return True, lv * rv[None, :]
            if rm:
                return True, lv[:, None] * rv
            return False, lv * rv
        if n.kind == "pow":
            is_matrix, base = parts[0]
            if is_matrix:
                return True, np.linalg.matrix_power(base, int(n.value))
            return False, base ** float(n.value)
        if n.value == "transpose":
            return parts[0][0], parts[0][1].T
        return False, FUNCTIONS[n.value].numeric(*[p[1] for p in parts])

    size = next(iter(weights.values())).shape[0]
    with np.errstate(all="ignore"):
        is_matrix, value = walk(node)
    return value if is_matrix else np.diag(value)


# ------------------------------------------------------------------------------------------- text


def node_text(node: Node) -> str:
    """The parsed formula written back as text (fully parenthesised where it matters)."""
    if node.kind == "num":
        return sympy.sstr(rational(node.value))
    if node.kind == "sym":
        return node.value
    if node.kind == "mat":
        return f"W_h{node.value}"
    if node.kind == "neg":
        return f"-{_wrapped(node.args[0])}"
    if node.kind in ("+", "-", "*", "/"):
        return f"{_wrapped(node.args[0])} {node.kind} {_wrapped(node.args[1])}"
    if node.kind == "pow":
        return f"{_wrapped(node.args[0])}**{sympy.sstr(rational(node.value))}"
    return f"{node.value}({', '.join(node_text(a) for a in node.args)})"


def _wrapped(node: Node) -> str:
    text = node_text(node)
    return f"({text})" if node.kind in ("+", "-", "*", "/", "neg") else text


def render_form(form: LinearForm) -> str:
    """A block's coefficients as text: ``diag(...) W_hf + diag(...)``."""
    parts = [f"diag({sympy.sstr(v)}) W_h{k}" for k, v in form.items() if k is not None]
    if form.get(None, 0) != 0 or not parts:
        parts.append(f"diag({sympy.sstr(form.get(None, 0))})")
    return " + ".join(parts)


def symbols_in(*expressions: Any) -> tuple[str, ...]:
    """The names of the free symbols of the SymPy expressions among ``expressions``, sorted."""
    names: set[str] = set()
    for expression in expressions:
        if isinstance(expression, sympy.Basic):
            names |= {str(s) for s in expression.free_symbols}
    return tuple(sorted(names))


#: Symbolic proofs are attempted on differences of at most this many operations, with integer
#: powers of at most this size: within them a rational normal form (``cancel``) is fast, while
#: ``sympy.simplify`` can take ten minutes on a 12-operation difference holding a 16th power.
PROOF_OPERATIONS = 80
PROOF_POWER = 4


def provably_zero(difference: sympy.Expr) -> bool:
    """Whether ``difference`` is 0 by a bounded symbolic route: its rational normal form, then that of
    its rewriting in exponentials (``sech(x)**2 - 1 + tanh(x)**2``). ``False`` means "not proven"
    (also for differences too large to try)."""
    if difference == 0:
        return True
    if sympy.count_ops(difference) > PROOF_OPERATIONS or not all(
        power.exp.is_Rational and power.exp.q in (1, 2) and abs(power.exp) <= PROOF_POWER
        for power in difference.atoms(sympy.Pow)
    ):
        return False
    if sympy.cancel(difference) == 0:
        return True
    rewritten = sympy.expand(difference.rewrite(sympy.exp))
    return sympy.count_ops(rewritten) <= 8 * PROOF_OPERATIONS and sympy.cancel(rewritten) == 0


def forms_equal(cell: Cell, given: LinearForm, derived: LinearForm, expand_definitions: bool) -> bool:
    """Whether two blocks' coefficients are provably equal as SymPy expressions (with the cell's named
    quantities expanded into their definitions, and the sigmoid into exponentials, when
    ``expand_definitions``); see :func:`provably_zero` for what "provably" means."""
    for key in set(given) | set(derived):
        difference = sympy.sympify(given.get(key, 0)) - sympy.sympify(derived.get(key, 0))
        if expand_definitions:
            difference = expand(cell, difference).replace(sigmoid, lambda x: 1 / (1 + sympy.exp(-x)))
        if not provably_zero(difference):
            return False
    return True


def exact_form(node: Node) -> LinearForm:
    """A parsed formula's block with exact SymPy coefficients (zero terms left out, the diagonal kept)."""
    form = linear_form(node, sympy.Symbol, exact=True)
    return {k: sympy.sympify(v) for k, v in form.items() if sympy.sympify(v) != 0 or k is None}
