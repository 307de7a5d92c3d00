"""The formula language's cost limits: what a formula may make SymPy do is bounded before SymPy sees it.

Each limit is met by a formula just inside it (read) and one just outside (a FormulaError at once, naming
the limit), through check_formula, Cell(...) strings and cell files alike. Timings are bounds, not speeds:
a refused formula returns in well under a second where, unchecked, SymPy ran for minutes.
"""

from __future__ import annotations

import time

import pytest

from gradscope.cells import Cell
from gradscope.cells.formula import (
    MAX_CALL_DEPTH,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_NODES,
    Names,
    parse,
)
from gradscope.errors import FormulaError, GradscopeError
from gradscope.testing import check_formula

NAMES = Names({"x": "sym", "y": "sym"}, {}, ("tanh", "sigmoid", "exp", "log", "sqrt"))


def nested(function: str, depth: int, inner: str = "x") -> str:
    return f"{function}(" * depth + inner + ")" * depth


def test_limits_are_documented_numbers() -> None:
    assert MAX_CALL_DEPTH < MAX_DEPTH < MAX_NODES < MAX_EXPANDED_NODES
    assert MAX_LENGTH >= 200 and MAX_EXPONENT >= 2


@pytest.mark.parametrize(
    ("inside", "outside", "fragment"),
    [
        (nested("tanh", MAX_CALL_DEPTH), nested("tanh", MAX_CALL_DEPTH + 1), "nested"),
        (
            "(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1),
            "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1),
            "deep",
        ),
        (f"x**{MAX_EXPONENT}", f"x**{MAX_EXPONENT + 1}", "exponent"),
        ("x" + "+x" * 100, "x" + "+x" * MAX_NODES, ""),
        ("1e10 * x", "1e300**16 * x", ""),
        ("x" * 10, "x" * (MAX_LENGTH + 1), "characters, more than"),
    ],
    ids=["calls", "parentheses", "exponent", "operations", "exact-number", "length"],
)
def test_each_limit_inside_and_outside(inside: str, outside: str, fragment: str) -> None:
    names = NAMES if "xx" not in inside else Names({"x" * 10: "sym"}, {}, ())
    parse(inside, names)
    with pytest.raises(FormulaError) as caught:
        parse(outside, NAMES)
    assert "\n" not in str(caught.value).split("\n")[0]
    assert fragment in str(caught.value)


def test_nested_tanh_39_deep_is_refused_at_once_by_check_formula() -> None:
    start = time.perf_counter()
    with pytest.raises(FormulaError):
        check_formula("rnn", "dh_t/dh_{t-1}", nested("tanh", 39, "h_t") + " * W_hh")
    assert time.perf_counter() - start < 2.0


def test_a_huge_exact_number_is_a_formula_error_not_a_value_error() -> None:
    with pytest.raises(FormulaError):
        check_formula("rnn", "dh_t/dh_{t-1}", "1e300**16 * W_hh")


def test_the_expanded_size_counts_the_quantities_a_formula_uses() -> None:
    # each definition doubles the written-out size: small as written, huge expanded
    definitions = [("a_t", "tanh(u_h + m_h) * tanh(u_h - m_h)")]
    for k in range(1, 16):
        definitions.append((f"a{k}_t", f"a{'' if k == 1 else k - 1}_t * a{'' if k == 1 else k - 1}_t + 1"))
    definitions.append(("h_t", "a15_t"))
    start = time.perf_counter()
    with pytest.raises(GradscopeError, match=r"expand|written out|size"):
        Cell(name="blowup", title="t", gates=("h",), state=("h",), definitions=tuple(definitions), updates=("h_t",))
    assert time.perf_counter() - start < 2.0


def test_cell_strings_are_parsed_never_evaluated(tmp_path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(GradscopeError):
        Cell(
            name="x",
            title="t",
            gates=("h",),
            state=("h",),
            definitions=(("h_t", f"__import__('os').system('touch {marker}')"),),
            updates=("h_t",),
        )
    assert not marker.exists()
