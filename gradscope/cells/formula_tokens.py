"""The formula language's lexical layer: its limits, tokens, tree nodes and numbers (no SymPy).

See :mod:`gradscope.cells.formula` for the language, its safety and its cost limits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from gradscope.errors import FormulaError

#: Longest formula accepted, in characters.
MAX_LENGTH = 1000
#: Deepest nesting of parentheses, signs and calls accepted.
MAX_DEPTH = 40
#: Largest constant exponent accepted (``x**16``); larger ones only serve to blow up SymPy.
MAX_EXPONENT = 16
#: Most operations and operands (tree nodes) in one formula.
MAX_NODES = 500
#: Most function calls nested inside each other, named quantities written out (``tanh(tanh(x))`` is 2).
MAX_CALL_DEPTH = 6
#: Most tree nodes of a formula with the named quantities it uses written out.
MAX_EXPANDED_NODES = 4000
#: Exact numbers stay within ``10**-MAX_LOG10 .. 10**MAX_LOG10`` in magnitude.
MAX_LOG10 = 300

#: The whitelisted functions and their argument counts (the SymPy and NumPy twins are in
#: :mod:`gradscope.cells.expressions`).
ARITIES: Mapping[str, tuple[int, ...]] = {
    "tanh": (1,),
    "sigmoid": (1,),
    "exp": (1,),
    "log": (1,),
    "sqrt": (1,),
    "sech": (1,),
    "cosh": (1,),
    "sinh": (1,),
    "relu": (1,),
    "Heaviside": (1, 2),
    "diag": (1,),
    "transpose": (1,),
}
#: The functions a cell's equations may call (smooth almost everywhere, with a derivative SymPy and
#: NumPy both know): no ``Heaviside`` (its derivative is a Dirac delta), no matrix functions.
CELL_FUNCTIONS = ("tanh", "sigmoid", "exp", "log", "sqrt", "sech", "cosh", "sinh", "relu")


# ----------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "op", "(", ")", ",", "end"
    text: str
    position: int


_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\{\s*t\s*(?:-\s*1\s*)?\})?)"
    r"|(?P<op>\*\*|[-+*/^@])"
    r"|(?P<paren>[(),])"
)

_FORBIDDEN = {
    ".": "'.' is not allowed here (no attribute access)",
    "[": "subscripts ('[') are not allowed",
    "]": "subscripts (']') are not allowed",
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    ":": "':' is not allowed (no lambdas, slices or annotations)",
    "=": "'=' is not allowed (a formula is an expression, not an assignment or comparison)",
    "{": "'{' is only allowed in '_{t-1}'",
    ";": "';' is not allowed (one expression only)",
} | dict.fromkeys("⋅·ₜₕᵢₒᵣₙₘᵤ₋₁⎛⎝⎞⎠θ∂", "SymPy's 2-D picture sign: write the one-line form (derive --format text)")


def fail(expression: str, position: int, reason: str) -> FormulaError:
    """A :class:`FormulaError` with the formula and a caret under ``position`` (``reason`` alone is one line)."""
    shown, offset = expression, position
    if len(expression) > 100:  # show a window around the problem
        start = max(0, position - 50)
        shown, offset = (
            ("..." if start else "") + expression[start : start + 100],
            position - start + (3 if start else 0),
        )
    message = f"invalid formula: {reason}\n  {shown}\n  {' ' * offset}^"
    return FormulaError(message, reason=reason, expression=expression, position=position)


def plain(reason: str) -> FormulaError:
    return FormulaError(f"invalid formula: {reason}", reason=reason)


def tokens(expression: str) -> Iterator[Token]:
    """The tokens of a formula, lazily, ending with an ``"end"`` token.

    Raises:
        FormulaError: at the first character that is not in the language (when it is reached,
            so that the parser reports earlier problems first).
    """
    if not isinstance(expression, str):
        raise FormulaError(f"a formula must be a string, got {type(expression).__name__}")
    if len(expression) > MAX_LENGTH:
        raise plain(f"{len(expression)} characters, more than the {MAX_LENGTH} allowed")
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            char = expression[position]
            raise fail(expression, position, _FORBIDDEN.get(char, f"unexpected character {char!r}"))
        kind, text = match.lastgroup or "", match.group()
        if kind == "number" and len(text) > 40:
            raise fail(expression, position, f"number {text[:20]}... is too long")
        if kind != "space":
            yield Token(text if kind == "paren" else kind, text, position)
        position = match.end()
    yield Token("end", "", len(expression))


# ------------------------------------------------------------------------------------------- tree


@dataclass(frozen=True)
class Node:
    """A parsed formula: ``kind`` is ``"num"``, ``"sym"``, ``"mat"``, ``"call"``, ``"neg"``,
    ``"+" "-" "*" "/"`` or ``"pow"``; ``value`` is the number (a :class:`~fractions.Fraction`), the
    symbol's canonical name, the matrix's name, the function name or the exponent (a ``Fraction``);
    ``args`` the operands; ``position`` where it starts in the formula (not part of equality)."""

    kind: str
    value: Any = None
    args: tuple[Node, ...] = ()
    position: int = field(default=-1, compare=False)


def number(text: str) -> Fraction:
    """A number literal as an exact fraction (``0.5`` is ``1/2``); magnitudes beyond ``1e300`` are refused."""
    mantissa, _, power = text.lower().partition("e")
    if power and abs(int(power)) > MAX_LOG10:
        raise plain(f"number {text!r} is out of range (at most 1e{MAX_LOG10} in magnitude)")
    value = Fraction(mantissa) * Fraction(10) ** int(power or 0)
    if value and not -MAX_LOG10 <= math.log10(value) <= MAX_LOG10:
        raise plain(f"number {text!r} is out of range (at most 1e{MAX_LOG10} in magnitude)")
    return value
