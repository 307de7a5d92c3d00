"""The formula language: reading a formula string into a tree, safely (a whitelist, never ``eval``).

A formula is a string over the cell's per-unit symbols, as :func:`gradscope.derive` prints them,
e.g. ``"f_t"`` or ``"diag(1 - h_t**2) * W_hh"``.

**The language.** Numbers; the cell's named quantities (LSTM ``i_t f_t g_t o_t c_t h_t``), previous
state components ``h_{t-1}`` (also ``h_prev``), projections ``u_<gate>`` and ``m_<gate>``; the
recurrent weight blocks ``W_h<gate>`` (``W_hh`` for the plain RNN; ``W_hi, W_hf, W_hg, W_ho`` for
the LSTM; ``W_hr, W_hz, W_hn`` for the GRU); ``+ - * / @``, juxtaposition for the product
(``diag(f_t) W_hf``, as ``gradscope derive`` prints blocks) and powers ``**`` or ``^`` with a constant
exponent; the functions ``tanh sigmoid exp log sqrt sech cosh sinh relu Heaviside diag transpose``.
A per-unit quantity ``q`` stands for the diagonal matrix ``diag(q)`` (``diag`` may be written or
left out), ``*`` between matrices is the matrix product, and the layout is numerator layout,
``J[i, j] = d row_t[i] / d col_{t-1}[j]``: a block is ``sum_g diag(a_g) W_hg + diag(d)``.
``Heaviside(x)`` is ``Heaviside(x, 0)`` (0 at 0, as PyTorch's ReLU derivative).

**Safety.** The string is read by a tokenizer and a recursive-descent parser with a whitelist of
names, functions and operators, and limits on length and nesting; SymPy expressions are built
from the parsed tree node by node. No string reaches ``eval``, ``exec``, ``compile``, ``sympify``,
``parse_expr`` or ``lambdify`` (``lambdify`` only compiles the cell's own definitions, and
``sympify`` only ever sees SymPy objects and numbers). Anything else (attribute
access, subscripts, strings, lambdas, keywords, dunder names, calls of other functions) is a
:class:`FormulaError` that names the offending token and shows where it is.

A parsed formula, a tree of :class:`Node`, is read as a Jacobian block by
:mod:`gradscope.symbolic.linear_forms` and checked against the derivation by
:func:`gradscope.testing.check_formula`.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from gradscope.cells import numpy_functions as npfunctions
from gradscope.cells.activations import relu, sigmoid
from gradscope.cells.builtin import get_cell
from gradscope.cells.cell import Cell, m, prev, u
from gradscope.errors import FormulaError

#: Longest formula accepted, in characters.
MAX_LENGTH = 1000
#: Deepest nesting of parentheses, signs and calls accepted.
MAX_DEPTH = 40
#: Largest constant exponent accepted (``x**16``); larger ones only serve to blow up SymPy.
MAX_EXPONENT = 16


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


def _fail(expression: str, position: int, reason: str) -> FormulaError:
    """A :class:`FormulaError` with the formula and a caret under ``position``."""
    shown, offset = expression, position
    if len(expression) > 100:  # show a window around the problem
        start = max(0, position - 50)
        shown, offset = (
            ("..." if start else "") + expression[start : start + 100],
            position - start + (3 if start else 0),
        )
    return FormulaError(f"invalid formula: {reason}\n  {shown}\n  {' ' * offset}^")


def tokens(expression: str) -> Iterator[Token]:
    """The tokens of a formula, lazily, ending with an ``"end"`` token.

    Raises:
        FormulaError: at the first character that is not in the language (when it is reached,
            so that the parser reports earlier problems first).
    """
    if not isinstance(expression, str):
        raise FormulaError(f"a formula must be a string, got {type(expression).__name__}")
    if len(expression) > MAX_LENGTH:
        raise FormulaError(f"invalid formula: {len(expression)} characters, more than the {MAX_LENGTH} allowed")
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            char = expression[position]
            raise _fail(expression, position, _FORBIDDEN.get(char, f"unexpected character {char!r}"))
        kind, text = match.lastgroup or "", match.group()
        if kind == "number" and len(text) > 40:
            raise _fail(expression, position, f"number {text[:20]}... is too long")
        if kind != "space":
            yield Token(text if kind == "paren" else kind, text, position)
        position = match.end()
    yield Token("end", "", len(expression))


# ------------------------------------------------------------------------------------------- tree


@dataclass(frozen=True)
class Node:
    """A parsed formula: ``kind`` is ``"num"``, ``"sym"``, ``"mat"``, ``"call"``, ``"neg"``,
    ``"+" "-" "*" "/"`` or ``"pow"``; ``value`` is the number, symbol name, gate, function name or
    exponent; ``args`` the operands."""

    kind: str
    value: Any = None
    args: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """The names a formula for one cell may use."""

    symbols: Mapping[str, sympy.Symbol]  # accepted spelling -> symbol
    matrices: Mapping[str, str]  # "W_hf" -> gate "f"

    def describe(self) -> str:
        names = sorted({str(s) for s in self.symbols.values()})
        return f"symbols: {', '.join(names)}; weight blocks: {', '.join(self.matrices)}"


@dataclass(frozen=True)
class _Function:
    arities: tuple[int, ...]
    exact: Callable[..., Any]  # SymPy head
    numeric: Callable[..., Any]  # NumPy twin


def _identity(x: Any) -> Any:
    return x


#: The one table of whitelisted functions: argument counts, SymPy head, NumPy function.
# fmt: off
FUNCTIONS: Mapping[str, _Function] = {
    "tanh": _Function((1,), sympy.tanh, np.tanh),
    "sigmoid": _Function((1,), sigmoid, npfunctions.sigmoid),
    "exp": _Function((1,), sympy.exp, np.exp),
    "log": _Function((1,), sympy.log, np.log),
    "sqrt": _Function((1,), sympy.sqrt, np.sqrt),
    "sech": _Function((1,), sympy.sech, lambda x: 1.0 / np.cosh(x)),
    "cosh": _Function((1,), sympy.cosh, np.cosh),
    "sinh": _Function((1,), sympy.sinh, np.sinh),
    "relu": _Function((1,), relu, npfunctions.relu),
    # Heaviside(x) is Heaviside(x, 0): 0 at 0, as PyTorch's derivative of ReLU.
    "Heaviside": _Function((1, 2), lambda x, h0=0: sympy.Heaviside(x, h0), lambda x, h0=0.0: np.heaviside(x, h0)),
    "diag": _Function((1,), _identity, _identity),  # a per-unit quantity already stands for its diagonal matrix
    "transpose": _Function((1,), _identity, _identity),  # of a diagonal matrix; of a weight block: see linear_form
}
# fmt: on


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
    return Vocabulary(symbols, {f"W_h{gate}": gate for gate in cell.gates})


class _Parser:
    """Recursive descent over the token list; every node it builds is whitelisted.

    Grammar::

        sum     := product (("+" | "-") product)*
        product := unary (("*" | "@" | "/") unary | power)*     (a power after a factor: juxtaposition)
        unary   := ("+" | "-") unary | power
        power   := atom (("**" | "^") exponent)?
        exponent:= ["+" | "-"] NUMBER | "(" ["+" | "-"] NUMBER ["/" NUMBER] ")"
        atom    := NUMBER | NAME | FUNCTION "(" sum ["," sum] ")" | "(" sum ")"
    """

    def __init__(self, expression: str, names: Vocabulary) -> None:
        self.expression = expression
        self.names = names
        self.stream = tokens(expression)
        self.buffer: list[Token] = []
        self.depth = 0

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise FormulaError("invalid formula: it is empty")
        node = self.sum()
        token = self.peek()
        if token.kind != "end":
            raise self.error(token, f"unexpected {token.text!r} after a complete expression")
        return node

    # helpers
    def peek(self) -> Token:
        if not self.buffer:
            self.buffer.append(next(self.stream))
        return self.buffer[0]

    def take(self) -> Token:
        token = self.peek()
        if token.kind != "end":
            self.buffer.pop()
        return token

    def error(self, token: Token, reason: str) -> FormulaError:
        return _fail(self.expression, token.position, reason)

    def expect(self, kind: str) -> Token:
        token = self.take()
        if token.kind != kind:
            found = "the end of the formula" if token.kind == "end" else repr(token.text)
            raise self.error(token, f"expected {kind!r}, found {found}")
        return token

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(token, f"nested more than {MAX_DEPTH} levels deep")

    # grammar
    def sum(self) -> Node:
        node = self.product()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op = self.take().text
            node = Node(op, args=(node, self.product()))
        return node

    def product(self) -> Node:
        node = self.unary()
        while (token := self.peek()).kind in ("name", "(") or (token.kind == "op" and token.text in ("*", "@", "/")):
            if token.kind == "op":
                node = Node("/" if self.take().text == "/" else "*", args=(node, self.unary()))
            else:  # juxtaposition, as derive prints blocks (diag(f_t) W_hf): a power, so "a -b" stays a difference
                node = Node("*", args=(node, self.power()))
        return node

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text in ("+", "-"):
            self.take()
            self.enter(token)
            operand = self.unary()
            self.depth -= 1
            return Node("neg", args=(operand,)) if token.text == "-" else operand
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        token = self.peek()
        if token.kind == "op" and token.text in ("**", "^"):
            self.take()
            exponent = self.exponent()
            if abs(exponent) > MAX_EXPONENT:
                raise self.error(token, f"exponent {exponent} is larger than {MAX_EXPONENT} in magnitude")
            return Node("pow", exponent, (base,))
        return base

    def exponent(self) -> sympy.Rational:
        token = self.peek()
        if token.kind == "(":
            self.take()
            value = self.signed_number()
            if self.peek().kind == "op" and self.peek().text == "/":
                self.take()
                denominator = self.signed_number()
                if denominator == 0:
                    raise self.error(token, "division by zero in an exponent")
                value = value / denominator
            self.expect(")")
            return value
        return self.signed_number()

    def signed_number(self) -> sympy.Rational:
        token = self.take()
        sign = 1
        if token.kind == "op" and token.text in ("+", "-"):
            sign = -1 if token.text == "-" else 1
            token = self.take()
        if token.kind != "number":
            raise self.error(token, "an exponent must be a number, e.g. x**2 or x**(1/2)")
        return sign * _number(token.text)

    def atom(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Node("num", _number(token.text))
        if token.kind == "(":
            self.enter(token)
            node = self.sum()
            self.expect(")")
            self.depth -= 1
            return node
        if token.kind == "name":
            return self.name(token)
        found = "the end of the formula" if token.kind == "end" else repr(token.text)
        raise self.error(token, f"expected a number, a name or '(', found {found}")

    def name(self, token: Token) -> Node:
        text = re.sub(r"\s+", "", token.text)
        if text.startswith("__") or text.endswith("__"):
            raise self.error(token, f"names with double underscores ({text!r}) are not allowed")
        if keyword.iskeyword(text) or keyword.issoftkeyword(text):
            raise self.error(token, f"{text!r} is a Python keyword; a formula is arithmetic over the cell's symbols")
        if self.peek().kind == "(":
            if text not in FUNCTIONS:
                raise self.error(token, f"unknown function {text!r} (allowed: {', '.join(FUNCTIONS)})")
            return self.call(token, text)
        if text in FUNCTIONS:
            raise self.error(token, f"function {text!r} must be called, e.g. {text}(x)")
        if text in self.names.symbols:
            return Node("sym", str(self.names.symbols[text]))
        if text in self.names.matrices:
            return Node("mat", self.names.matrices[text])
        raise self.error(token, f"unknown name {text!r} ({self.names.describe()})")

    def call(self, token: Token, function: str) -> Node:
        self.enter(token)
        self.expect("(")
        args = [self.sum()]
        while self.peek().kind == ",":
            self.take()
            args.append(self.sum())
        self.expect(")")
        self.depth -= 1
        arities = FUNCTIONS[function].arities
        if len(args) not in arities:
            raise self.error(token, f"{function}() takes {' or '.join(map(str, arities))} argument(s)")
        if function == "Heaviside" and len(args) == 2 and args[1].kind != "num":
            raise self.error(token, "Heaviside(x, h0): h0 must be a number")
        return Node("call", function, tuple(args))


def _number(text: str) -> sympy.Rational:
    """A number literal as an exact rational (``0.5`` is ``1/2``)."""
    mantissa, _, power = text.lower().partition("e")
    if power and abs(int(power)) > 300:
        raise FormulaError(f"invalid formula: number {text!r} is out of range")
    return sympy.Rational(mantissa) * sympy.Integer(10) ** int(power or 0)


def parse(expression: str, cell: str | Cell) -> Node:
    """Parse ``expression`` with the vocabulary of ``cell``; raises :class:`FormulaError`."""
    node = _Parser(expression, vocabulary(get_cell(cell))).parse()
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
    if node.kind == "pow" and kinds[0] and not (node.value.is_integer and node.value >= 1):
        raise FormulaError(f"invalid formula: a weight matrix to the power {node.value}")
    return any(kinds)
