"""check_formula: true blocks accepted, plausible wrong ones refuted with counter-examples, no code execution."""

from __future__ import annotations

import ast
import builtins
import contextlib
import inspect
import re
import types

import numpy as np
import pytest
import sympy

import gradscope.symbolic.formula_parser as formula_parser
import gradscope.symbolic.linear_forms as linear_forms
import gradscope.testing.formula_check as formula
import gradscope.testing.formula_check_values as formula_check_values
from gradscope.cells.spec import CELL_NAMES
from gradscope.errors import GradscopeError
from gradscope.symbolic.derivation import derive
from gradscope.testing.formula_check import FormulaError, FormulaMismatch, assert_formula, check_formula


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("block", ["dc/dc", "dc_t/dc_{t-1}", "d c_t / d c_{t-1}", "c/c", "dc_t/dc_prev", ("c", "c")])
def test_the_carousel_is_accepted_in_every_block_spelling(block: object) -> None:
    result = check_formula("lstm", block, "f_t")
    assert result.correct and bool(result)
    assert result.method == "symbolic" and result.counterexample is None
    assert result.block == "dc_t/dc_{t-1}"
    assert result.message.startswith("correct: dc_t/dc_{t-1} = diag(f_t)")


@pytest.mark.parametrize(
    "expression", ["diag(f_t)", "sigmoid(u_f + m_f)", "1/(1 + exp(-(u_f + m_f)))", "f_t*(1 - f_t) + f_t^2"]
)
def test_equivalent_forms_of_the_carousel_are_accepted(expression: str) -> None:
    result = check_formula("lstm", "dc/dc", expression)
    assert result.correct, result.message
    assert result.method in ("symbolic", "symbolic, after expanding definitions")


@pytest.mark.parametrize(
    ("expression", "actual"),
    [
        ("1", lambda v: 1.0),
        ("f_t*(1-f_t)", lambda v: sigmoid(v["u_f"] + v["m_f"]) * (1 - sigmoid(v["u_f"] + v["m_f"]))),
        ("o_t*f_t", lambda v: sigmoid(v["u_o"] + v["m_o"]) * sigmoid(v["u_f"] + v["m_f"])),
        ("1 - f_t", lambda v: 1 - sigmoid(v["u_f"] + v["m_f"])),
    ],
)
def test_plausible_wrong_carousels_are_refuted_with_a_true_counterexample(expression: str, actual) -> None:
    result = check_formula("lstm", "dc/dc", expression)
    assert not result.correct and not result
    assert result.method == "counter-example"
    example = result.counterexample
    assert example.term == "diag(.)"
    # Recompute both sides from the drawn projections, independently of gradscope.
    f = sigmoid(example.values["u_f"] + example.values["m_f"])
    assert example.values["f_t"] == pytest.approx(f, rel=1e-12)
    assert example.expected == pytest.approx(f, rel=1e-12)
    assert example.actual == pytest.approx(actual(example.values), rel=1e-12)
    assert abs(example.actual - example.expected) > 1e-6
    assert result.message.startswith("wrong: dc_t/dc_{t-1} = diag(f_t), but the formula gives")
    assert "f_t = " in result.message


def test_a_weight_term_in_a_diagonal_block_is_refuted() -> None:
    result = check_formula("lstm", "dc/dc", "f_t*W_hf")
    assert not result.correct
    assert result.counterexample.term == "diag(.) W_hf"
    assert result.counterexample.expected == 0.0


def block_formula(cell: str, row: str, col: str) -> str:
    """The derived block written back in the formula language."""
    block = derive(cell).block(row, col)
    parts = [f"diag({sympy.sstr(c)}) * W_h{g}" for g, c in block.projection_terms]
    if block.diagonal != 0:
        parts.append(sympy.sstr(block.diagonal))
    return " + ".join(parts) or "0"


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_every_derived_block_as_printed_is_accepted(cell: str) -> None:
    state = derive(cell).cell.state
    for row in state:
        for col in state:
            result = check_formula(cell, f"d{row}/d{col}", block_formula(cell, row, col))
            assert result.correct, result.message


@pytest.mark.parametrize(
    ("cell", "block", "expression"),
    [
        ("rnn", "dh/dh", "(1 - tanh(u_h + m_h)**2) @ W_hh"),
        ("rnn", "dh/dh", "sech(u_h + m_h)^2 * W_hh"),
        ("lstm", "dh/dc", "o_t*(1 - tanh(c_t)^2)*f_t"),
        ("lstm", "dc/dh", "g_t*i_t*(1-i_t)*W_hi + c_prev*f_t*(1-f_t)*W_hf + i_t*(1-g_t^2)*W_hg"),
        ("gru", "dh/dh", "z_t + (1-z_t)*(1-n_t^2)*(r_t*W_hn + m_n*r_t*(1-r_t)*W_hr) + z_t*(1-z_t)*(h_prev-n_t)*W_hz"),
    ],
)
def test_hand_derived_forms_are_accepted(cell: str, block: str, expression: str) -> None:
    result = check_formula(cell, block, expression)
    assert result.correct, result.message


def test_the_relu_derivative_written_differently_is_accepted_numerically() -> None:
    result = check_formula("rnn-relu", "dh/dh", "Heaviside(h_t) * W_hh")
    assert result.correct
    assert result.method in ("numeric", "symbolic, after expanding definitions")


@pytest.mark.parametrize(
    ("cell", "block", "expression", "term"),
    [
        ("rnn", "dh/dh", "(1 - h_t) * W_hh", "diag(.) W_hh"),
        ("gru", "dh/dh", "z_t", "diag(.) W_hr"),
        ("lstm", "dh/dc", "o_t*(1 - tanh(c_t)^2)", "diag(.)"),
        ("lstm", "dh/dh", "o_t*(1 - tanh(c_t)^2)*W_ho", "diag(.) W_hi"),
    ],
)
def test_plausible_wrong_blocks_are_refuted(cell: str, block: str, expression: str, term: str) -> None:
    result = check_formula(cell, block, expression)
    assert not result.correct
    assert result.counterexample.term in (term, *(f"diag(.) W_h{g}" for g in "ifgorzn"), "diag(.)")


def test_the_transposed_rnn_jacobian_is_refuted_with_a_matrix_counterexample() -> None:
    result = check_formula("rnn", "dh/dh", "W_hh * diag(1 - h_t**2)")
    assert not result.correct
    assert "multiplied on the right by a per-unit factor" in result.message
    values, example = result.counterexample.values, result.counterexample
    # Rebuild both 2 x 2 matrices from the reported values, independently of gradscope.
    h = np.array([np.tanh(values[f"u_h[{k}]"] + values[f"m_h[{k}]"]) for k in range(2)])
    w = np.array([[values[f"W_hh[{a}, {b}]"] for b in range(2)] for a in range(2)])
    i, j = (int(k) for k in example.term.removeprefix("entry [").removesuffix("]").split(","))
    assert example.expected == pytest.approx((np.diag(1 - h**2) @ w)[i, j], rel=1e-12)
    assert example.actual == pytest.approx((w @ np.diag(1 - h**2))[i, j], rel=1e-12)
    assert not check_formula("rnn", "dh/dh", "transpose(W_hh) * (1 - h_t**2)").correct


def test_assert_formula_raises_an_assertion_error() -> None:
    assert assert_formula("lstm", "dc/dc", "f_t").correct
    with pytest.raises(FormulaMismatch, match=re.escape("wrong: dc_t/dc_{t-1}")) as info:
        assert_formula("lstm", "dc/dc", "1")
    assert isinstance(info.value, AssertionError) and not info.value.check.correct


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("__import__('os')", "'__import__'"),
        ("__import__('os').system('ls')", "'__import__'"),
        ("f_t.__class__", "'.'"),
        ("().__class__.__bases__", "found ')'"),
        ("f_t.__class__.__bases__[0].__subclasses__()", "'.'"),
        ("(lambda: 1)()", "'lambda'"),
        ("f_t[0]", "'['"),
        ("eval('1')", "'eval'"),
        ("exec", "'exec'"),
        ("open('x')", "'open'"),
        ("f_t if 1 else 0", "'if'"),
        ("'f_t'", "strings"),
        ("x := 1", "':'"),
        ("f_t; 1", "';'"),
        ("f_t**f_t", "exponent must be a number"),
        ("f_t**99", "larger than 16"),
        ("9**9**9", "after a complete expression"),
        ("tanh(W_hf)", "tanh()"),
        ("x_t", "unknown name 'x_t'"),
        ("sin(f_t)", "unknown function 'sin'"),
        ("", "empty"),
        ("(" * 200 + "f_t" + ")" * 200, "nested more than"),
        ("-" * 100 + "f_t", "nested more than"),
        ("f_t + " * 300 + "1", "more than the 1000 allowed"),
    ],
)
def test_malicious_or_invalid_strings_get_a_clear_error(expression: str, fragment: str) -> None:
    with pytest.raises(FormulaError) as info:
        check_formula("lstm", "dc/dc", expression)
    assert fragment in str(info.value)
    assert isinstance(info.value, GradscopeError) and isinstance(info.value, ValueError)


def test_formula_strings_never_reach_eval_exec_compile_or_sympify(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def guard(name: str, original):
        def wrapper(*args, **kwargs):
            if any(isinstance(a, str) and ("f_t" in a or "__import__" in a) for a in args):
                seen.append(name)
            return original(*args, **kwargs)

        return wrapper

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, guard(name, getattr(builtins, name)))
    monkeypatch.setattr(sympy, "sympify", guard("sympify", sympy.sympify))  # the one module every layer uses
    for expression in ("f_t*(1 - f_t)", "f_t", "__import__('os')"):
        with contextlib.suppress(FormulaError):
            check_formula("lstm", "dc/dc", expression)
    for expression in ("f_t W_hn (f_t W_hf + f_t)", "W_hn (__import__('os'))"):  # products of weight blocks
        with contextlib.suppress(FormulaError):
            check_formula("mgu", "dh/dh", expression)
    assert seen == []


@pytest.mark.parametrize(
    "module", [formula, formula_parser, linear_forms, formula_check_values], ids=lambda module: module.__name__
)
def test_the_formula_modules_call_no_code_execution_function(module: types.ModuleType) -> None:
    tree = ast.parse(inspect.getsource(module))
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    builtins_called = {f.id for f in calls if isinstance(f, ast.Name)}
    methods_called = {f.attr for f in calls if isinstance(f, ast.Attribute)}
    assert builtins_called.isdisjoint({"eval", "exec", "compile", "__import__", "getattr", "setattr"})
    assert methods_called.isdisjoint({"parse_expr", "eval", "exec"})


def test_bad_blocks_are_named() -> None:
    with pytest.raises(FormulaError, match=r"no state component 'c' \(blocks: dh/dh\)"):
        check_formula("rnn", "dc/dc", "1")
    with pytest.raises(FormulaError, match="block must look like"):
        check_formula("lstm", "c", "1")


def test_errors_show_where_the_problem_is() -> None:
    with pytest.raises(FormulaError) as info:
        check_formula("lstm", "dc/dc", "f_t + o_t.real")
    lines = str(info.value).splitlines()
    assert lines[1].strip() == "f_t + o_t.real"
    assert lines[2].index("^") == lines[1].index(".")
