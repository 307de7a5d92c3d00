"""The formula language: a string read into a tree, safely (a whitelist, never ``eval``), within cost limits.

One language for every piece of math a person hands gradscope: a cell's equations (cell files,
strings given to :class:`~gradscope.cells.cell.Cell`) and hand-derived Jacobian blocks
(:func:`gradscope.testing.check_formula`). Each use says which names it knows (:class:`Names`).

**The language.** Numbers (``2``, ``0.5``, ``1e-3``), names, ``+ - * / @``, juxtaposition for the
product (``2x``, ``diag(f_t) W_hf`` as ``gradscope derive`` prints blocks), powers ``**`` or ``^``
with a constant exponent (``x**2``, ``x**(1/2)``, ``x**-1``), parentheses and calls of the
whitelisted functions (:data:`ARITIES`). Numbers are exact (``0.1`` is ``1/10``).

**Safety.** A tokenizer and a recursive-descent parser with a whitelist of names, functions and
operators; no string reaches ``eval``, ``exec``, ``compile``, ``sympify`` or ``parse_expr``, and
this module does not import SymPy (:mod:`gradscope.cells.expressions` builds SymPy expressions
from the tree, node by node). Attribute access, subscripts, strings, lambdas, keywords, dunder
names and calls of other functions are a :class:`~gradscope.errors.FormulaError` that names the
offending token and shows where it is.

**Cost.** What a formula may make SymPy do is bounded before SymPy sees it: its length
(:data:`MAX_LENGTH`), nesting (:data:`MAX_DEPTH`), number of operations (:data:`MAX_NODES`),
exponents (:data:`MAX_EXPONENT`), functions nested in functions (:data:`MAX_CALL_DEPTH`; SymPy's
automatic simplification of nested ``tanh`` grows about threefold per level), the size of a formula
with the named quantities it uses written out (:data:`MAX_EXPANDED_NODES`), and the size of exact
numbers (:data:`MAX_LOG10`: ``1e300**16`` would be a 4800-digit integer). Constant parts are
checked to be real and finite (``log(-1)``, ``1/0``, ``(-8)**(1/3)`` are refused).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from gradscope.cells.formula_cost import Cost, check_constants, check_cost, cost
from gradscope.cells.formula_tokens import (
    ARITIES,
    CELL_FUNCTIONS,
    MAX_CALL_DEPTH,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_LOG10,
    MAX_NODES,
    Node,
    Token,
    fail,
    number,
    plain,
    tokens,
)
from gradscope.errors import FormulaError

__all__ = [
    "ARITIES",
    "CELL_FUNCTIONS",
    "MAX_CALL_DEPTH",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_LOG10",
    "MAX_NODES",
    "Cost",
    "Names",
    "Node",
    "Token",
    "check_constants",
    "check_cost",
    "cost",
    "fail",
    "names_in",
    "number",
    "parse",
    "tokens",
]


@dataclass(frozen=True)
class Names:
    """The names one use of the language knows.

    Attributes:
        symbols: accepted spelling -> canonical name (``"c_prev"`` -> ``"c_{t-1}"``).
        matrices: accepted spelling -> matrix name (``"W_hf"`` -> ``"f"``); empty where there are none.
        functions: the callable functions (a subset of :data:`ARITIES`).
    """

    symbols: Mapping[str, str]
    matrices: Mapping[str, str] = field(default_factory=dict)
    functions: tuple[str, ...] = tuple(ARITIES)

    def describe(self) -> str:
        names = ", ".join(sorted(set(self.symbols.values()))) or "none"
        matrices = f"; matrices: {', '.join(self.matrices)}" if self.matrices else ""
        return f"symbols: {names}{matrices}"


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

    def __init__(self, expression: str, names: Names) -> None:
        self.expression = expression
        self.names = names
        self.stream = tokens(expression)
        self.buffer: list[Token] = []
        self.depth = 0
        self.nodes = 0

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise plain("it is empty")
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
        return fail(self.expression, token.position, reason)

    def node(self, token: Token, kind: str, value: Any = None, args: tuple[Node, ...] = ()) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(token, f"more than {MAX_NODES} operations and operands")
        return Node(kind, value, args, token.position)

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
            token = self.take()
            node = self.node(token, token.text, args=(node, self.product()))
        return node

    def product(self) -> Node:
        node = self.unary()
        while True:
            token = self.peek()
            if token.kind == "op" and token.text in ("*", "@", "/"):
                self.take()
                node = self.node(token, "/" if token.text == "/" else "*", args=(node, self.unary()))
            elif token.kind in ("name", "("):
                # juxtaposition, as derive prints blocks (diag(f_t) W_hf): a power, so "a -b" stays a difference
                node = self.node(token, "*", args=(node, self.power()))
            else:
                return node

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text in ("+", "-"):
            self.take()
            self.enter(token)
            operand = self.unary()
            self.depth -= 1
            return self.node(token, "neg", args=(operand,)) if token.text == "-" else operand
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        token = self.peek()
        if token.kind == "op" and token.text in ("**", "^"):
            self.take()
            exponent = self.exponent()
            if abs(exponent) > MAX_EXPONENT:
                raise self.error(token, f"exponent {exponent} is larger than {MAX_EXPONENT} in magnitude")
            return self.node(token, "pow", exponent, (base,))
        return base

    def exponent(self) -> Fraction:
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

    def signed_number(self) -> Fraction:
        token = self.take()
        sign = 1
        if token.kind == "op" and token.text in ("+", "-"):
            sign = -1 if token.text == "-" else 1
            token = self.take()
        if token.kind != "number":
            raise self.error(token, "an exponent must be a number, e.g. x**2 or x**(1/2)")
        value = number(token.text)
        if abs(value) > MAX_EXPONENT:  # before any arithmetic on it: 1e300 / 1e-300 is 1e600
            raise self.error(token, f"exponent {token.text} is larger than {MAX_EXPONENT} in magnitude")
        return sign * value

    def atom(self) -> Node:
        token = self.take()
        if token.kind == "number":
            try:
                return self.node(token, "num", number(token.text))
            except FormulaError as error:
                raise self.error(token, error.reason) from None
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
        if self.peek().kind == "(" and text not in self.names.matrices:  # W_hn (...) is a product, as derive prints it
            if text not in self.names.functions:
                raise self.error(token, f"unknown function {text!r} (allowed: {', '.join(self.names.functions)})")
            return self.call(token, text)
        if text in self.names.functions:
            raise self.error(token, f"function {text!r} must be called, e.g. {text}(x)")
        if text in self.names.symbols:
            return self.node(token, "sym", self.names.symbols[text])
        if text in self.names.matrices:
            return self.node(token, "mat", self.names.matrices[text])
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
        arities = ARITIES[function]
        if len(args) not in arities:
            raise self.error(token, f"{function}() takes {' or '.join(map(str, arities))} argument(s)")
        if function == "Heaviside" and len(args) == 2 and args[1].kind != "num":
            raise self.error(token, "Heaviside(x, h0): h0 must be a number")
        return self.node(token, "call", function, tuple(args))


def parse(expression: str, names: Names) -> Node:
    """Parse ``expression`` with ``names``: the tree, its cost and its constants checked.

    Raises:
        FormulaError: the string is not in the language, or passes a limit; the message names the
            offending token and shows where it is.
    """
    node = _Parser(expression, names).parse()
    check_cost(expression, node)
    check_constants(expression, node)
    return node


def names_in(node: Node, kind: str = "sym") -> set[str]:
    """The canonical names of the symbols (or, with ``kind="mat"``, matrices) a tree uses."""
    found = {node.value} if node.kind == kind else set()
    for arg in node.args:
        found |= names_in(arg, kind)
    return found
