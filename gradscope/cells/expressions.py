"""Parsed formulas (:mod:`gradscope.cells.formula`) as SymPy expressions, node by node, and the one function table.

:data:`FUNCTIONS` maps every whitelisted function name to its SymPy head and its NumPy twin; it is
the only place a name in a formula turns into something callable. :func:`to_sympy` builds the
expression of a tree from SymPy objects only (no string reaches ``sympify``) and refuses a result
that is not a finite real expression (``1/(h_prev - h_prev)`` is SymPy's ``zoo``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from gradscope.cells import numpy_functions as npfunctions
from gradscope.cells.activations import relu, sigmoid
from gradscope.cells.formula import ARITIES, Node, fail
from gradscope.errors import FormulaError


@dataclass(frozen=True)
class Function:
    arities: tuple[int, ...]
    exact: Callable[..., Any]  # SymPy head
    numeric: Callable[..., Any]  # NumPy twin


def _identity(x: Any) -> Any:
    return x


#: The one table of whitelisted functions: argument counts, SymPy head, NumPy function.
# fmt: off
FUNCTIONS: Mapping[str, Function] = {
    "tanh": Function(ARITIES["tanh"], sympy.tanh, np.tanh),
    "sigmoid": Function(ARITIES["sigmoid"], sigmoid, npfunctions.sigmoid),
    "exp": Function(ARITIES["exp"], sympy.exp, np.exp),
    "log": Function(ARITIES["log"], sympy.log, np.log),
    "sqrt": Function(ARITIES["sqrt"], sympy.sqrt, np.sqrt),
    "sech": Function(ARITIES["sech"], sympy.sech, lambda x: 1.0 / np.cosh(x)),
    "cosh": Function(ARITIES["cosh"], sympy.cosh, np.cosh),
    "sinh": Function(ARITIES["sinh"], sympy.sinh, np.sinh),
    "relu": Function(ARITIES["relu"], relu, npfunctions.relu),
    # Heaviside(x) is Heaviside(x, 0): 0 at 0, as PyTorch's derivative of ReLU.
    "Heaviside": Function(
        ARITIES["Heaviside"], lambda x, h0=0: sympy.Heaviside(x, h0), lambda x, h0=0.0: np.heaviside(x, h0)
    ),
    "diag": Function(ARITIES["diag"], _identity, _identity),  # a per-unit quantity already stands for its diagonal
    "transpose": Function(ARITIES["transpose"], _identity, _identity),  # of a diagonal matrix
}
# fmt: on

_NOT_REAL = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I)


def rational(value: Fraction) -> sympy.Rational:
    """A parsed number as an exact SymPy rational."""
    return sympy.Rational(value.numerator, value.denominator)


def to_sympy(expression: str, node: Node, values: Mapping[str, sympy.Expr]) -> sympy.Expr:
    """The SymPy expression of a parsed cell formula; ``values`` gives each symbol's expression.

    Raises:
        FormulaError: the formula uses a matrix (cell equations are per unit), or its value is not
            a finite real expression (division by something that is identically zero, ...).
    """
    result = _build(expression, node, values)
    if any(result.has(bad) for bad in _NOT_REAL):
        raise fail(expression, node.position, f"not a finite real expression (SymPy reads it as {sympy.sstr(result)})")
    return result


def _build(expression: str, node: Node, values: Mapping[str, sympy.Expr]) -> sympy.Expr:
    kind = node.kind
    if kind == "num":
        return rational(node.value)
    if kind == "sym":
        return values[node.value]
    if kind == "mat":
        raise fail(expression, node.position, "a cell's equations are per unit: no weight matrices in them")
    args = [_build(expression, a, values) for a in node.args]
    if kind == "neg":
        return -args[0]
    if kind == "+":
        return args[0] + args[1]
    if kind == "-":
        return args[0] - args[1]
    if kind == "*":
        return args[0] * args[1]
    if kind == "/":
        return args[0] / args[1]
    if kind == "pow":
        return args[0] ** rational(node.value)
    if kind == "call":
        return FUNCTIONS[node.value].exact(*args)
    raise FormulaError(f"invalid formula: unknown node {kind!r}")  # unreachable: the parser builds no other kind
