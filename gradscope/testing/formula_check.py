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

**The check.** The formula is read as a sum of words in the weight blocks
(:mod:`gradscope.symbolic.linear_forms`: ``diag(a) W_hn diag(b) W_hr`` for Cho's GRU, ``W_ya`` and
``W_za`` for coRNN), and each word's coefficient is first evaluated at random points against the
compiled derivative (:mod:`gradscope.testing.formula_check_values`; a wrong formula gets a numeric
counter-example: values of the symbols, or for products of weight blocks an entry of a 2 x 2 block,
where the two differ); a formula that agrees is then confirmed by SymPy, simplifying the difference
with the named quantities as free symbols, then after expanding them into their definitions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from gradscope.cells.builtin import get_cell
from gradscope.cells.cell import Cell
from gradscope.errors import FormulaError
from gradscope.symbolic.derivation import derive
from gradscope.symbolic.formula_parser import Node, parse, vocabulary
from gradscope.symbolic.linear_forms import (
    NotLinear,
    Word,
    WordForm,
    block_form,
    exact_form,
    forms_equal,
    is_plain,
    matrix_value,
    node_text,
    render_form,
    slot_name,
    slots_used,
    symbols_in,
    term_name,
)
from gradscope.testing.formula_check_values import (
    NUMERIC_POINTS,
    Points,
    at,
    derived_matrix,
    draw,
    numeric_difference,
)


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
            or a block with products of weight blocks (or a transposed or column-scaled one), names
            carry a unit index (``f_t[0]``) and weight entries appear as ``W_hf[i, j]`` (H = 2).
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


def _difference_in(given: WordForm, derived: WordForm, word: Word) -> str:
    """What the formula has where it differs from the derived block, in words (after "the formula ... has")."""
    if word not in derived:
        return f"a term {term_name(word)} that the derived block does not have"
    if word not in given:
        return f"no term {term_name(word)}"
    if word and len(word) in slots_used(given[word]) and len(word) not in slots_used(derived[word]):
        return "a weight matrix multiplied on the right by a per-unit factor (W diag(q) scales columns)"
    return f"a different {term_name(word)} term"


def check_formula(cell: str | Cell, block: str | tuple[str, str], expression: str, *, seed: int = 0) -> FormulaCheck:
    """Confirm or refute a hand-derived formula for one Jacobian block of ``cell``.

    Args:
        cell: a built-in or zoo cell's name (``"lstm"``, ``"gru-cho"``, ``"cornn"``) or a
            :class:`~gradscope.cells.builtin.Cell` (a cell file's, too).
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
    """
    the_cell = get_cell(cell)
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
    derived = block_form(derived_block)
    formula = render_form(given) or re.sub(r"\s+", " ", node_text(node))

    # one set of random points per slot: the units a term's product passes through (row, between, column)
    slots = Points(the_cell, rng)
    plain = is_plain(given) and is_plain(derived)
    difference = numeric_difference(the_cell, row, col, node, slots)
    if difference is not None:
        key, point, given_values, derived_values = difference
        if not plain:
            # a product of weight blocks, or columns scaled: a dense counter-example is the one people can check
            reason = _difference_in(given, derived, key)
            dense = _check_matrix(the_cell, row, col, node, reason, rng, result, formula)
            if not dense.correct:
                return dense
        units = [0] if plain else range(len(key) + 1)  # x@k: x at the k-th unit along the term's product
        values = {slot_name(n, k): float(v[point]) for k in units for n, v in slots[k].items()}
        expected, actual = at(derived_values.get(key, 0.0), point), at(given_values.get(key, 0.0), point)
        example = CounterExample(values, term_name(key), expected, actual)
        shown = symbols_in(given.get(key, 0), derived.get(key, 0))
        note = " (x@k: x at the k-th unit along the term's product)" if any("@" in n for n in shown) else ""
        message = f"wrong: {derived_text}, but the formula gives {name} = {formula}; they differ "
        return result(formula, False, "counter-example", example, message + example.describe(shown) + note)

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
    formula: str | None = None,
) -> FormulaCheck:
    """Compare dense 2 x 2 blocks at random points: for a formula that is no sum of words (a transposed weight
    block), and for the counter-example to one that differs from a block with products of weight blocks."""
    name = f"d{row}_t/d{col}_{{t-1}}"
    hidden = 2
    matrices = sorted(vocabulary(cell).matrices)
    worst: tuple[float, CounterExample | None] = (0.0, None)
    for _ in range(20):
        values = draw(cell, (hidden,), rng)
        weights = {w: rng.normal(size=(hidden, hidden)) for w in matrices}
        expected = derived_matrix(cell, row, col, values, weights)
        actual = matrix_value(node, values, weights)
        error = np.abs(actual - expected) / (1e-12 + 1e-9 * np.abs(expected))
        error = np.where(np.isfinite(error), error, np.inf)
        i, j = np.unravel_index(int(np.argmax(error)), error.shape)
        if error[i, j] > max(1.0, worst[0]):
            shown = {f"{n}[{k}]": float(v[k]) for n, v in values.items() for k in range(hidden)}
            shown |= {f"{w}[{a}, {b}]": float(v[a, b]) for w, v in weights.items() for a, b in np.ndindex(v.shape)}
            example = CounterExample(shown, f"entry [{i}, {j}]", float(expected[i, j]), float(actual[i, j]))
            worst = (float(error[i, j]), example)
    example = worst[1]
    formula = formula or re.sub(r"\s+", " ", node_text(node))
    if example is None:
        message = f"correct: {name} = {formula} (equal as 2 x 2 matrices at 20 random points); derived: "
        return result(formula, True, "numeric", None, message + derive(cell).block(row, col).text())
    derived_text = derive(cell).block(row, col).text()
    message = (
        f"wrong: {derived_text} (numerator layout, J[i, j] = d{row}_t[i]/d{col}_{{t-1}}[j]), but the formula "
        f"{formula} has {reason}; with H = 2 and random values its {example.term} is {example.actual:.6g}, "
        f"the derived block's {example.expected:.6g}"
    )
    return result(formula, False, "counter-example", example, message)


def assert_formula(cell: str | Cell, block: str | tuple[str, str], expression: str, *, seed: int = 0) -> FormulaCheck:
    """:func:`check_formula`, raising :class:`FormulaMismatch` (an ``AssertionError``) when the formula is wrong."""
    check = check_formula(cell, block, expression, seed=seed)
    if not check.correct:
        raise FormulaMismatch(check)
    return check
