"""The names a cell's equations may use, and its formula strings read into SymPy (never ``sympify``).

A cell's per-unit equations see, for every gate ``g``, the projections ``u_g`` and (unless the cell
has no recurrent weight) ``m_g``; each state component's previous value (``c_prev``, also written
``c_{t-1}`` or ``c_tm1``); the cell's named quantities once defined (``f`` or ``f_t``); its per-unit
parameter vectors (``p_i``) and its scalar constants (``alpha``), whose values are written in as
exact numbers. :class:`Scope` holds those names for one cell and reads strings with the formula
language (:mod:`gradscope.cells.formula`), checking what each use costs with the named quantities
written out. :func:`recurrent_weight` reads the formula of a structured recurrent matrix
(``"W - transpose(W) - gamma * I"``) into its coefficients without SymPy.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from gradscope.cells.formula import ARITIES, CELL_FUNCTIONS, Cost, Names, Node, check_cost, names_in
from gradscope.cells.formula import parse as parse_formula
from gradscope.cells.spec import RECURRENT_KINDS, RecurrentWeight
from gradscope.errors import ConfigError, FormulaError

#: Gates, state components and named quantities: a letter, then letters and digits (no ``_``, so that
#: ``u_f``, ``c_prev`` and ``f_t`` read one way only).
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}$")
#: Constants and the symbols of per-unit vectors: may contain ``_`` (``p_i``).
SYMBOL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
#: Parameter base names of per-unit vectors (``weight_peephole_i``), stored as ``NAME_l0``.
PARAMETER = re.compile(r"^[a-z][a-z0-9_]{0,47}[a-z0-9]$")
#: Names no constant, vector or quantity may take: the recurrent matrix formula's ``W`` and ``I``.
RESERVED = frozenset({"W", "I"})
#: Most gates, state components, definitions, vectors and constants a cell may have.
LIMITS = {"gates": 16, "state": 8, "definitions": 64, "vectors": 16, "constants": 32}


def check_name(kind: str, name: object, pattern: re.Pattern[str] = NAME) -> str:
    """``name`` if it may name a ``kind`` (gate, state component, constant, ...), else a :class:`ConfigError`."""
    if not isinstance(name, str) or not pattern.match(name):
        rule = "a letter, then letters and digits" if pattern is NAME else "a letter, then letters, digits and '_'"
        raise ConfigError(f"{kind} {name!r} is not a valid name ({rule}, at most {16 if pattern is NAME else 32})")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in ARITIES or name in RESERVED:
        raise ConfigError(f"{kind} {name!r} is a reserved name (a Python keyword, a function, W or I)")
    if pattern is SYMBOL and (name.startswith(("u_", "m_")) or name.endswith(("_prev", "_tm1", "_t"))):
        raise ConfigError(f"{kind} {name!r} would read as a projection or a state value (u_*, m_*, *_prev, *_t)")
    return name


def check_count(kind: str, items: Sequence[Any]) -> None:
    if len(items) > LIMITS[kind]:
        raise ConfigError(f"at most {LIMITS[kind]} {kind}, got {len(items)}")


def _as_fraction(value: float) -> Fraction:
    """A constant's value as the exact decimal it was written as (``0.3`` is ``3/10``)."""
    return Fraction(repr(float(value)))


class Scope:
    """The names one cell's formulas may use, growing as its quantities are defined.

    Parsing (:meth:`parse`) needs no SymPy; :meth:`read` builds SymPy expressions, with every name
    standing for a SymPy symbol of the same canonical name or, for a constant, its exact value.
    """

    def __init__(
        self,
        gates: Sequence[str],
        state: Sequence[str],
        *,
        recurrent: bool = True,
        vectors: Sequence[str] = (),
        constants: Mapping[str, float] | Sequence[tuple[str, float]] = (),
        readout: bool = False,
    ) -> None:
        self.symbols: dict[str, str] = {}  # spelling -> canonical name
        self.constants: dict[str, Fraction] = {}  # canonical name -> exact value
        self.costs: dict[str, Cost] = {}
        self.kinds: dict[str, str] = {}  # canonical name -> "u", "m", "prev", "vector", "constant", "quantity"
        for gate in gates:
            self._add((f"u_{gate}",), "u")
            if recurrent:
                self._add((f"m_{gate}",), "m")
        if not readout:  # a readout cell's hidden stage is stateless
            for component in state:
                self._add((f"{component}_{{t-1}}", f"{component}_prev", f"{component}_tm1"), "prev")
        for symbol in vectors:
            self._add((symbol,), "vector")
        pairs = constants.items() if isinstance(constants, Mapping) else constants
        for name, value in pairs:
            self._add((name,), "constant")
            self.constants[name] = _as_fraction(value)

    def _add(self, spellings: Sequence[str], kind: str, cost: Cost | None = None) -> None:
        canonical = spellings[0]
        for spelling in spellings:
            self.symbols.setdefault(spelling, canonical)
        self.kinds[canonical] = kind
        if cost is not None:
            self.costs[canonical] = cost

    def define(self, symbol: Any, cost: Cost | None = None, where: str = "cell") -> None:
        """Make a named quantity (``f_t``: a SymPy symbol or its name) known to later formulas, as ``f_t`` and ``f``.

        Raises:
            ConfigError: the name (or its short spelling) is taken: defined twice, or a projection,
                a previous state, a vector or a constant.
        """
        name = str(symbol)
        spellings = [name]
        if name.endswith("_t"):
            spellings += [name[:-2] + "_{t}", name[:-2]]
        taken = [spelling for spelling in spellings if spelling in self.symbols]
        if taken:
            raise ConfigError(f"{where}: {taken[0]!r} is defined twice (or is a projection, a vector or a constant)")
        self._add(spellings, "quantity", cost)

    def names(self) -> Names:
        return Names(dict(self.symbols), {}, CELL_FUNCTIONS)

    def parse(self, where: str, text: str) -> tuple[Node, Cost]:
        """Parse one formula string; :class:`FormulaError` naming ``where`` (``"equation of c"``) on any problem."""
        try:
            node = parse_formula(text, self.names())
            return node, check_cost(text, node, self.costs, "named quantities written out")
        except FormulaError as error:
            raise _located(where, error) from None

    def sympy_values(self) -> dict[str, Any]:
        """Each canonical name's SymPy value: a symbol of that name, or a constant's exact rational."""
        import sympy

        values: dict[str, Any] = {name: sympy.Symbol(name) for name in self.kinds}
        for name, value in self.constants.items():
            values[name] = sympy.Rational(value.numerator, value.denominator)
        return values

    def read(self, where: str, value: object) -> tuple[Any, Cost | None]:
        """``value`` (a formula string, a SymPy expression or a number) as a SymPy expression in known names.

        Strings are parsed; SymPy expressions are checked to use known symbols only (never sympified).
        """
        import sympy

        from gradscope.cells.expressions import to_sympy

        if isinstance(value, str):
            node, cost = self.parse(where, value)
            try:
                return to_sympy(value, node, self.sympy_values()), cost
            except FormulaError as error:
                raise _located(where, error) from None
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a formula, got {value!r}")
        if isinstance(value, int):
            return sympy.Integer(value), None
        if isinstance(value, float):
            return sympy.Float(value), None
        if not isinstance(value, sympy.Basic):
            raise ConfigError(f"{where}: expected a formula string or a SymPy expression, got {type(value).__name__}")
        known = {sympy.Symbol(name) for name, kind in self.kinds.items() if kind != "constant"}
        unknown = sorted(str(s) for s in value.free_symbols - known)
        if unknown:
            raise ConfigError(f"{where} uses undefined symbols {unknown}")
        return value, None


def _located(where: str, error: FormulaError) -> FormulaError:
    """The same error, with ``where`` in front of its message and kept as ``error.where``."""
    return FormulaError(
        f"{where}: {error}", reason=error.reason, expression=error.expression, position=error.position, where=where
    )


# ---------------------------------------------------------------------------------- dependencies


def dependencies(text: str, names: Names) -> set[str]:
    """The canonical names a formula string uses (for ordering a file's equations)."""
    return names_in(parse_formula(text, names))


# ---------------------------------------------------------------------------- structured weights


def recurrent_weight(kind: str, text: str = "W", constants: Mapping[str, float] | None = None) -> RecurrentWeight:
    """The coefficients of ``text``, a formula ``a * W + b * transpose(W) + c * I`` in the stored block ``W``.

    ``a``, ``b``, ``c`` may be constant formulas over ``constants`` (``"W - transpose(W) - gamma * I"``).

    Raises:
        ConfigError: an unknown kind. FormulaError: not of that form (a product of matrices, a
            constant term, a function other than ``transpose``), or every coefficient zero.
    """
    if kind not in RECURRENT_KINDS:
        raise ConfigError(f"unknown recurrent weight {kind!r} (valid: {', '.join(RECURRENT_KINDS)})")
    if kind == "none":
        return RecurrentWeight("none", 0.0, 0.0, 0.0, "")
    constants = dict(constants or {})
    names = Names({name: name for name in constants}, {"W": "W", "I": "I"}, ("transpose",))
    node = parse_formula(text, names)
    form = _linear(text, node, constants)
    if form.pop(None, 0.0) != 0.0:
        raise FormulaError(f"invalid formula: {text!r} adds a constant to a matrix (write it as c * I)")
    scale, transpose, identity = (float(form.get(key, 0.0)) for key in ("W", "T", "I"))
    if kind == "per-unit":  # a diagonal block is its own transpose
        scale, transpose = scale + transpose, 0.0
    if scale == 0.0 and transpose == 0.0:
        raise FormulaError(f"invalid formula: {text!r} does not use the stored weight W")
    return RecurrentWeight(kind, scale, transpose, identity, " ".join(text.split()))


def _linear(text: str, node: Node, constants: Mapping[str, float]) -> dict[str | None, float]:
    """``node`` as ``{"W": a, "T": b, "I": c, None: constant}``."""
    kind = node.kind
    if kind == "num":
        return {None: float(node.value)}
    if kind == "sym":
        return {None: float(constants[node.value])}
    if kind == "mat":
        return {node.value: 1.0}
    parts = [_linear(text, a, constants) for a in node.args]
    if kind == "neg":
        return {k: -v for k, v in parts[0].items()}
    if kind in ("+", "-"):
        out = dict(parts[0])
        for k, v in parts[1].items():
            out[k] = out.get(k, 0.0) + (v if kind == "+" else -v)
        return out
    if kind in ("*", "/"):
        left, right = parts
        if set(left) - {None} and set(right) - {None}:
            raise FormulaError(f"invalid formula: {text!r} multiplies two matrices (only a * W + b * W^T + c * I)")
        if kind == "/" and set(right) - {None}:
            raise FormulaError(f"invalid formula: {text!r} divides by a matrix")
        if kind == "/":
            right = {None: 1.0 / right[None]}
        factor, matrix = (left[None], right) if set(right) - {None} else (right[None], left)
        return {k: v * factor for k, v in matrix.items()}
    if kind == "pow":
        if set(parts[0]) - {None}:
            raise FormulaError(f"invalid formula: {text!r} takes a power of a matrix")
        base = parts[0].get(None, 0.0)
        if base < 0 and Fraction(node.value).denominator != 1:
            raise FormulaError(f"invalid formula: {text!r} takes a fractional power of a negative number")
        try:
            return {None: float(base ** float(node.value))}
        except (OverflowError, ZeroDivisionError) as error:
            raise FormulaError(f"invalid formula: {text!r}: {error}") from None
    # transpose (the only function the names allow)
    swap = {"W": "T", "T": "W", "I": "I", None: None}
    return {swap[k]: v for k, v in parts[0].items()}
