"""Check a hand-derived Jacobian block against the SymPy derivation.

A formula is a string over the cell's per-unit symbols, as :func:`gradscope.derive` prints them::

    check_formula("lstm", "dc/dc", "f_t")                      # correct: dc_t/dc_{t-1} = diag(f_t)
    check_formula("rnn", "dh/dh", "(1 - h_t**2) * W_hh")       # correct
    check_formula("rnn", "dh/dh", "W_hh * diag(1 - h_t**2)")   # wrong (the transposed-Jacobian bug)

The formula language (names, operators, functions, limits) is read by
:mod:`gradscope.symbolic.formula_parser`, which also says why that is safe. Here, no formula string
reaches ``eval``, ``exec``, ``compile``, ``sympify``, ``parse_expr`` or ``lambdify`` either:
``lambdify`` only compiles the cell's own definitions, and ``sympify`` only ever sees SymPy
objects and numbers.

**The check.** The formula is first evaluated at random points against the compiled derivative
(a wrong formula gets a numeric counter-example: values of the symbols where the two differ); a
formula that agrees is then confirmed by SymPy, simplifying the difference with the named
quantities as free symbols, then after expanding them into their definitions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradscope.cells.builtin import get_cell
from gradscope.cells.cell import Cell, m, prev, u
from gradscope.compile.cache import compile_cell
from gradscope.compile.codegen import lambdify_expressions
from gradscope.errors import ConfigError, FormulaError
from gradscope.symbolic.derivation import JacobianBlock, derive, expand
from gradscope.symbolic.formula_parser import Node, parse
from gradscope.symbolic.linear_forms import (
    LinearForm,
    NotLinear,
    exact_form,
    forms_equal,
    linear_form,
    matrix_value,
    node_text,
    render_form,
    symbols_in,
)

#: Random points at which a formula is compared numerically.
NUMERIC_POINTS = 256


class FormulaMismatch(AssertionError):  # noqa: N818 - pairs with GradientMismatch
    """Raised by :func:`assert_formula` for a wrong formula; ``.check`` holds the :class:`FormulaCheck`."""

    def __init__(self, check: FormulaCheck) -> None:
        super().__init__(check.message)
        self.check = check


# ---------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CounterExample:
    """Values of the symbols at which a formula and the derivation differ.

    Attributes:
        values: symbol name -> value; the projections ``u_g``, ``m_g`` and previous states were
            drawn at random, the named quantities (``f_t`` ...) computed from them. For a formula
            that is not of the block form, names carry a unit index (``f_t[0]``) and weight
            entries appear as ``W_hf[i, j]`` (H = 2).
        term: where they differ: ``"diag(.)"`` (the diagonal), ``"diag(.) W_hf"`` (the coefficient
            of a weight block), or ``"entry [i, j]"`` of the H = 2 block.
        expected: the derived value there; actual: the formula's.
    """

    values: Mapping[str, float]
    term: str
    expected: float
    actual: float

    def describe(self, shown: tuple[str, ...] = ()) -> str:
        names = [n for n in shown if n in self.values] or list(self.values)
        at = ", ".join(f"{n} = {self.values[n]:.6g}" for n in names)
        return f"at {at}: the {self.term} term is {self.actual:.6g} in the formula, {self.expected:.6g} derived"


@dataclass(frozen=True)
class FormulaCheck:
    """The verdict of :func:`check_formula`; true in a boolean context when the formula is correct.

    Attributes:
        cell: the cell's name. block: e.g. ``"dc_t/dc_{t-1}"``. expression: the formula given.
        formula: the formula as read, in the block form (``diag(...) W_hf + ...``) when it has it.
        derived: the derived block, e.g. ``"dc_t/dc_{t-1} = diag(f_t)"``.
        correct: whether the formula equals the derived block.
        method: how that was established: ``"symbolic"`` (the difference simplifies to 0),
            ``"symbolic, after expanding definitions"``, ``"numeric"`` (equal at every random point
            but SymPy could not simplify the difference to 0), or ``"counter-example"``.
        counterexample: for a wrong formula, values where the two differ.
        message: one paragraph for people.
    """

    cell: str
    block: str
    expression: str
    formula: str
    derived: str
    correct: bool
    method: str
    counterexample: CounterExample | None = None
    message: str = field(default="", repr=False)

    def __bool__(self) -> bool:
        return self.correct


# ------------------------------------------------------------------------------------------ check

_BLOCK = re.compile(
    r"^\s*(?P<row>[A-Za-z][A-Za-z0-9]*?)\s*(?:_\{?t\}?)?\s*/\s*"
    r"(?P<col>[A-Za-z][A-Za-z0-9]*?)\s*(?:_\{?\s*t\s*-\s*1\s*\}?|_prev)?\s*$"
)


def resolve_block(cell: Cell, block: str | tuple[str, str]) -> tuple[str, str]:
    """``(row, col)`` from ``"dc/dc"``, ``"dc_t/dc_{t-1}"``, ``"c/c"`` or ``("c", "c")``.

    Raises:
        FormulaError: not one of those forms, or a component the cell does not have.
    """
    state = cell.state
    if isinstance(block, tuple) and len(block) == 2 and all(isinstance(b, str) for b in block):
        names = list(block)
    elif isinstance(block, str) and (match := _BLOCK.match(re.sub(r"\s+", "", block))):
        names = [match.group("row"), match.group("col")]
    else:
        raise FormulaError(
            f"block must look like 'dc/dc', 'dc_t/dc_{{t-1}}' or ('c', 'c'), got {block!r}"
            f" (the {cell.name} state is {cell.spec.state_layout})"
        )
    for k, name in enumerate(names):
        if name not in state and name.startswith("d") and len(name) > 1:
            names[k] = name = name[1:]  # "dc" is d c
        if name not in state:
            blocks = ", ".join(f"d{a}/d{b}" for a in state for b in state)
            raise FormulaError(f"the {cell.name} cell has no state component {name!r} (blocks: {blocks})")
    return names[0], names[1]


def _term_name(key: str | None) -> str:
    return "diag(.)" if key is None else f"diag(.) W_h{key}"


@functools.cache
def _definition_functions(cell: Cell) -> tuple[tuple[str, Callable[..., Any]], ...]:
    """Each named quantity as a NumPy function of the arguments (the cell's own, trusted, definitions)."""
    derivation = derive(cell)
    out = []
    for symbol, _ in cell.definitions:
        expanded = expand(cell, symbol)
        function = lambdify_expressions(derivation.arguments, expanded)
        out.append((str(symbol), function))
    return tuple(out)


def _draw(cell: Cell, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random arguments and the named quantities they give, each of ``shape``."""
    derivation = derive(cell)
    values = {str(a): rng.normal(0.0, 1.5, size=shape) for a in derivation.arguments}
    arguments = [values[str(a)] for a in derivation.arguments]
    for name, function in _definition_functions(cell):
        values[name] = np.broadcast_to(np.asarray(function(*arguments), dtype=float), shape)
    return values


def _derived_values(cell: Cell, row: str, col: str, values: Mapping[str, np.ndarray]) -> LinearForm:
    """The derived block's coefficients at the points ``values``, from the compiled cell (a second source)."""
    compiled = compile_cell(cell)
    stack = np.stack
    u_values = stack([values[str(u(g))] for g in cell.gates], axis=-2)
    m_values = stack([values[str(m(g))] for g in cell.gates], axis=-2)
    prev_values = stack([values[str(prev(c))] for c in cell.state], axis=-2)
    # per-unit parameter vectors (peepholes) are arguments of the generated code too, in the cell's order
    vectors = np.stack([values[str(name)] for name, _ in cell.vectors]) if cell.vectors else None
    partials = compiled.state_partials(u_values, m_values, prev_values, vectors)
    form: LinearForm = {None: np.zeros(u_values.shape[-1])}
    for (kind, a, other), value in partials.items():
        if a != row:
            continue
        if kind == "m" and col == cell.state[0]:
            form[other] = np.asarray(value, dtype=float)
        elif kind == "s" and other == col:
            form[None] = np.asarray(value, dtype=float)
    return form


def _block_form(block: JacobianBlock) -> LinearForm:
    form: LinearForm = dict(block.projection_terms)
    form[None] = block.diagonal
    return form


def _numeric_difference(
    cell: Cell, row: str, col: str, node: Node, rng: np.random.Generator
) -> tuple[str | None, int, LinearForm, LinearForm, dict[str, np.ndarray]] | None:
    """Compare at random points; ``(term, point, formula values, derived values, points)`` where they first differ."""
    points = _draw(cell, (NUMERIC_POINTS,), rng)
    with np.errstate(all="ignore"):
        given = linear_form(node, lambda name: points[name], exact=False)
    derived = _derived_values(cell, row, col, points)
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
    return key, point, given, derived, points


def check_formula(cell: str | Cell, block: str | tuple[str, str], expression: str, *, seed: int = 0) -> FormulaCheck:
    """Confirm or refute a hand-derived formula for one Jacobian block of ``cell``.

    Args:
        cell: ``"rnn"``, ``"rnn-relu"``, ``"lstm"``, ``"gru"`` or a :class:`~gradscope.cells.builtin.Cell`.
        block: ``"dc/dc"``, ``"dc_t/dc_{t-1}"``, ``"c/c"`` or ``("c", "c")``: the block
            ``d row_t / d col_{t-1}`` (numerator layout).
        expression: the formula, over the symbols :func:`gradscope.derive` prints (see
            :mod:`~gradscope.symbolic.formula_parser`), e.g. ``"f_t"`` or ``"diag(1 - h_t**2) * W_hh"``.
        seed: seeds the random points of the numeric comparison.

    Returns:
        A :class:`FormulaCheck`; ``.correct``, ``.counterexample`` and ``.message``.

    Raises:
        FormulaError: the string is not in the formula language (the message names the token).
        UnknownCellError: unknown cell.
        ConfigError: a cell that feeds its output back (Jordan): its one block is a product of two
            stages, which the formula language does not describe; likewise a cell whose recurrence
            reads several components (coRNN) or whose gate reads a quantity of the step (Cho's GRU, MGU).
    """
    the_cell = get_cell(cell)
    if the_cell.readout is not None:
        raise ConfigError(
            f"check_formula: the {the_cell.name} cell feeds its output back, and its block "
            f"{derive(the_cell).blocks[0].text()} is not in the formula language (one-stage cells only)"
        )
    _check_readable(the_cell)
    row, col = resolve_block(the_cell, block)
    node = parse(expression, the_cell)
    derived_block = derive(the_cell).block(row, col)
    derived_text = derived_block.text()
    name = f"d{row}_t/d{col}_{{t-1}}"
    rng = np.random.default_rng(seed)

    def result(formula: str, correct: bool, method: str, example: CounterExample | None, message: str) -> FormulaCheck:
        return FormulaCheck(the_cell.name, name, expression, formula, derived_text, correct, method, example, message)

    try:
        given = exact_form(node)
    except NotLinear as reason:
        return _check_matrix(the_cell, row, col, node, str(reason), rng, result)
    formula = render_form(given)

    difference = _numeric_difference(the_cell, row, col, node, rng)
    if difference is not None:
        key, point, given_values, derived_values, points = difference
        values = {n: float(v[point]) for n, v in points.items()}
        actual = float(np.broadcast_to(np.asarray(given_values.get(key, 0.0), dtype=float), (NUMERIC_POINTS,))[point])
        expected = float(np.broadcast_to(derived_values.get(key, 0.0), (NUMERIC_POINTS,))[point])
        example = CounterExample(values, _term_name(key), expected, actual)
        shown = symbols_in(given.get(key, 0), _block_form(derived_block).get(key, 0))
        message = (
            f"wrong: {derived_text}, but the formula gives {name} = {formula}; they differ {example.describe(shown)}"
        )
        return result(formula, False, "counter-example", example, message)

    derived = _block_form(derived_block)
    if forms_equal(the_cell, given, derived, expand_definitions=False):
        method = "symbolic"
    elif forms_equal(the_cell, given, derived, expand_definitions=True):
        method = "symbolic, after expanding definitions"
    else:
        method = "numeric"
    how = {
        "symbolic": "the difference simplifies to 0",
        "symbolic, after expanding definitions": "the difference simplifies to 0 with the named quantities expanded",
        "numeric": (
            f"equal at {NUMERIC_POINTS} random points to 1e-9 relative; SymPy could not simplify the difference to 0"
        ),
    }[method]
    return result(formula, True, method, None, f"correct: {name} = {formula} ({how}); derived: {derived_text}")


def _check_readable(cell: Cell) -> None:
    """:class:`ConfigError` for the blocks the formula language does not describe yet: a recurrence that reads
    several state components (coRNN's ``W_ya``, ``W_za``: column blocks of one ``W_ha``) or a gate that reads a
    quantity of the same step (Cho's GRU, MGU: ``W_hn (diag(...) W_hr + diag(r_t))``, a product of blocks)."""
    spec = cell.spec
    if len(spec.read_components) > 1:
        raise ConfigError(
            f"check_formula: the {cell.name} cell's recurrence reads {', '.join(spec.read_components)}, and "
            "blocks over column blocks of one weight are not in the formula language yet (single-read cells only)"
        )
    if spec.inner_gates:
        raise ConfigError(
            f"check_formula: in the {cell.name} cell gate {', '.join(spec.inner_gates)} reads a quantity of the same "
            "step, so its blocks are products of weight blocks, which the formula language does not read yet"
        )


def check_equation(cell: str | Cell, equation: str, *, seed: int = 0) -> FormulaCheck:
    """:func:`check_formula` for one line as ``gradscope derive`` prints a block: ``"BLOCK = FORMULA"``.

    >>> check_equation("lstm", "dc_t/dc_{t-1} = diag(f_t)").correct
    True

    Raises:
        FormulaError: no ``=``, a block that is not one of the cell's, or a formula not in the language.
    """
    block, separator, expression = equation.partition("=")
    if not separator:
        raise FormulaError(
            f"expected BLOCK = FORMULA, e.g. 'dc_t/dc_{{t-1}} = diag(f_t)' (as 'gradscope derive' prints it), "
            f"got {equation!r}"
        )
    return check_formula(cell, block.strip(), expression.strip(), seed=seed)


def _check_matrix(
    cell: Cell,
    row: str,
    col: str,
    node: Node,
    reason: str,
    rng: np.random.Generator,
    result: Callable[..., FormulaCheck],
) -> FormulaCheck:
    """A formula that is a matrix but not of the block form: compare dense 2 x 2 blocks at random points."""
    name = f"d{row}_t/d{col}_{{t-1}}"
    hidden = 2
    worst: tuple[float, CounterExample | None] = (0.0, None)
    for _ in range(20):
        values = _draw(cell, (hidden,), rng)
        weights = {g: rng.normal(size=(hidden, hidden)) for g in cell.gates}
        derived = _derived_values(cell, row, col, values)
        expected = np.diag(derived.pop(None)) + sum(
            (coefficient[:, None] * weights[g] for g, coefficient in derived.items()), np.zeros((hidden, hidden))
        )
        actual = matrix_value(node, values, weights)
        error = np.abs(actual - expected) / (1e-12 + 1e-9 * np.abs(expected))
        error = np.where(np.isfinite(error), error, np.inf)
        i, j = np.unravel_index(int(np.argmax(error)), error.shape)
        if error[i, j] > max(1.0, worst[0]):
            shown = {f"{n}[{k}]": float(v[k]) for n, v in values.items() for k in range(hidden)}
            shown |= {f"W_h{g}[{a}, {b}]": float(w[a, b]) for g, w in weights.items() for a, b in np.ndindex(w.shape)}
            example = CounterExample(shown, f"entry [{i}, {j}]", float(expected[i, j]), float(actual[i, j]))
            worst = (float(error[i, j]), example)
    example = worst[1]
    formula = re.sub(r"\s+", " ", node_text(node))
    if example is None:
        message = f"correct: {name} = {formula} (equal as 2 x 2 matrices at 20 random points); derived: "
        return result(formula, True, "numeric", None, message + derive(cell).block(row, col).text())
    derived_text = derive(cell).block(row, col).text()
    message = (
        f"wrong: {derived_text} (numerator layout, J[i, j] = d{row}_t[i]/d{col}_{{t-1}}[j]), but the formula "
        f"{formula} has {reason}, not of the form sum_g diag(a_g) W_hg + diag(d); with H = 2 and random values "
        f"its {example.term} is {example.actual:.6g}, the derived block's {example.expected:.6g}"
    )
    return result(formula, False, "counter-example", example, message)


def assert_formula(cell: str | Cell, block: str | tuple[str, str], expression: str, *, seed: int = 0) -> FormulaCheck:
    """:func:`check_formula`, raising :class:`FormulaMismatch` (an ``AssertionError``) when the formula is wrong."""
    check = check_formula(cell, block, expression, seed=seed)
    if not check.correct:
        raise FormulaMismatch(check)
    return check
