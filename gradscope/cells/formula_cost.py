"""What a parsed formula can make SymPy do, bounded before SymPy sees it, and its constant parts checked.

See :mod:`gradscope.cells.formula` for the limits and why they are there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from gradscope.cells.formula_tokens import MAX_CALL_DEPTH, MAX_EXPANDED_NODES, MAX_LOG10, Node, fail


@dataclass(frozen=True)
class Cost:
    """What a formula (named quantities written out) can make SymPy do.

    Attributes:
        nodes: tree nodes. calls: functions nested in functions.
        scale: a bound on ``|log10|`` of the exact factor multiplying the whole expression (a power
            multiplies it). largest: a bound on ``|log10|`` of any exact number inside.
    """

    nodes: int = 1
    calls: int = 0
    scale: float = 0.0
    largest: float = 0.0


def cost(node: Node, known: Mapping[str, Cost] | None = None) -> Cost:
    """The :class:`Cost` of a tree whose symbols cost what ``known`` says (1 node otherwise)."""
    known = known or {}
    if node.kind == "num":
        size = abs(math.log10(abs(node.value))) if node.value else 0.0
        return Cost(1, 0, size, size)
    if node.kind in ("sym", "mat"):
        return known.get(node.value, Cost())
    parts = [cost(a, known) for a in node.args]
    nodes = 1 + sum(p.nodes for p in parts)
    calls = max(p.calls for p in parts)
    largest = max(max(p.largest, p.scale) for p in parts)
    if node.kind == "call":
        return Cost(nodes, calls + 1, 0.0, largest)
    if node.kind in ("*", "/"):
        scale = parts[0].scale + parts[1].scale
    elif node.kind == "pow":
        scale = parts[0].scale * abs(float(node.value))
    else:  # "neg", "+", "-"
        scale = max(p.scale for p in parts)
    return Cost(nodes, calls, scale, max(largest, scale))


def check_cost(expression: str, node: Node, known: Mapping[str, Cost] | None = None, what: str = "") -> Cost:
    """The cost of ``node``, or a :class:`FormulaError` naming the limit it passes."""
    total = cost(node, known)
    where = f" ({what})" if what else ""
    if total.calls > MAX_CALL_DEPTH:
        raise fail(expression, node.position, f"functions nested more than {MAX_CALL_DEPTH} deep{where}")
    if total.nodes > MAX_EXPANDED_NODES:
        raise fail(
            expression,
            node.position,
            f"more than {MAX_EXPANDED_NODES} operations with its named quantities written out",
        )
    if max(total.scale, total.largest) > MAX_LOG10:
        raise fail(expression, node.position, f"exact numbers beyond 1e{MAX_LOG10} in magnitude")
    return total


# ------------------------------------------------------------------------------------ constants

_CONSTANT_FUNCTIONS = {
    "tanh": math.tanh,
    "sigmoid": lambda x: 0.5 * (1.0 + math.tanh(0.5 * x)),
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sech": lambda x: 1.0 / math.cosh(x),
    "cosh": math.cosh,
    "sinh": math.sinh,
    "relu": lambda x: max(x, 0.0),
    "Heaviside": lambda x, h0=0.0: h0 if x == 0 else float(x > 0),
    "diag": lambda x: x,
    "transpose": lambda x: x,
}


def check_constants(expression: str, node: Node) -> float | None:
    """The value of ``node`` when it is constant (no symbols or matrices), checked to be a finite real
    number, else ``None``; parts of it that are constant are checked the same way.

    Raises:
        FormulaError: ``log(-1)``, ``1/0``, ``x/0``, ``0**-1``, ``(-8)**(1/3)``, ``exp(1000)``, ...
    """
    if node.kind == "num":
        return float(node.value)
    if node.kind in ("sym", "mat"):
        return None
    values = [check_constants(expression, a) for a in node.args]
    if node.kind == "/" and values[1] == 0.0:
        raise fail(expression, node.position, "division by zero")
    if any(v is None for v in values):
        return None
    try:
        if node.kind == "neg":
            value = -values[0]
        elif node.kind == "+":
            value = values[0] + values[1]
        elif node.kind == "-":
            value = values[0] - values[1]
        elif node.kind == "*":
            value = values[0] * values[1]
        elif node.kind == "/":
            value = values[0] / values[1]
        elif node.kind == "pow":
            if values[0] < 0 and Fraction(node.value).denominator != 1:
                raise ValueError("a negative number to a fractional power is not real")
            value = values[0] ** float(node.value)
        else:
            value = _CONSTANT_FUNCTIONS[node.value](*values)
    except (ValueError, OverflowError, ZeroDivisionError) as error:
        raise fail(expression, node.position, f"a constant that is not a finite real number ({error})") from None
    if isinstance(value, complex) or not math.isfinite(value):
        raise fail(expression, node.position, "a constant that is not a finite real number")
    return float(value)
