"""``derive`` and ``check_formula`` speak one notation: every formula derive prints is read back exactly as printed."""

from __future__ import annotations

import pytest
import sympy

from gradscope import derive
from gradscope.cells import get_cell
from gradscope.cells.spec import CELL_NAMES, ZOO_CELL_NAMES
from gradscope.errors import FormulaError
from gradscope.symbolic import display
from gradscope.symbolic.formula_parser import parse
from gradscope.symbolic.linear_forms import block_form, exact_form
from gradscope.terminal import derivation_pretty
from gradscope.testing import check_equation, check_formula
from tests.cli_helpers import assert_bad_input, invoke
from tests.terminal.test_reports import render

#: Every block of every one-stage cell: coRNN's over [y; z] (W_ya, W_za), Cho's GRU's and MGU's with a product
#: of weight blocks (W_hn (diag(...) W_hr + diag(r_t))) included.
BLOCKS = [(cell, block.row, block.col) for cell in (*CELL_NAMES, *ZOO_CELL_NAMES) for block in derive(cell).blocks]


def _printed_lines(cell: str) -> dict[str, list[str]]:
    """The one-line formulas as each format prints them: the pretty report's and --format text's."""
    pretty = render(derivation_pretty(derive(cell)), width=400).split("check_formula read them:\n", 1)[1]
    text = invoke("derive", "--cell", cell, "--format", "text").stdout
    equations, _, blocks = text.partition("\n\n")
    return {
        "pretty": [line.strip() for line in pretty.splitlines() if line.strip()],
        "text": blocks.splitlines(),
        "equations": equations.splitlines(),
    }


@pytest.mark.parametrize(("cell", "row", "col"), BLOCKS, ids=[f"{c}-d{r}/d{k}" for c, r, k in BLOCKS])
def test_every_printed_block_is_read_back_exactly(cell: str, row: str, col: str) -> None:
    block = derive(cell).block(row, col)
    printed = _printed_lines(cell)
    for source in ("pretty", "text"):
        (line,) = [entry for entry in printed[source] if entry.startswith(f"d{row}_t/d{col}_{{t-1}} = ")]
        assert line == block.text()
        check = check_equation(cell, line)
        assert check.correct and check.method == "symbolic", check.message
        # Exact equality against the derivation, term by term: print -> parse -> the same SymPy coefficients.
        read = exact_form(parse(line.partition(" = ")[2], cell))
        derived = block_form(block)  # the block's own SymPy fields, not its text
        assert {k for k, v in read.items() if v != 0} == {k for k, v in derived.items() if v != 0}
        assert all(sympy.cancel(read.get(k, 0) - v) == 0 for k, v in derived.items())  # (1-x)/100 is 1/100 - x/100
        # and written back as derive prints it (SymPy may distribute a number: (1 - x)/100 as 1/100 - x/100)
        written = exact_form(parse(check.formula, cell))
        assert check.formula == line.partition(" = ")[2] or all(
            sympy.cancel(written.get(k, 0) - v) == 0 for k, v in derived.items()
        )


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_every_printed_equation_reads_as_the_cells_definition(cell: str) -> None:
    definitions = dict(get_cell(cell).definitions)
    lines = _printed_lines(cell)["equations"]
    assert lines == display.equation_texts(derive(cell))
    for line in lines:
        name, _, expression = line.partition(" = ")
        (symbol,) = [s for s in definitions if str(s) == name]
        value = exact_form(parse(expression, cell))
        assert set(value) == {()} and value[()] == definitions[symbol]


def test_juxtaposition_is_a_product_and_a_signed_term_is_not() -> None:
    assert check_formula(
        "lstm", "dc/dh", "diag(g_t*i_t*(1 - i_t)) W_hi + c_prev*f_t*(1-f_t) W_hf + i_t*(1 - g_t^2) W_hg"
    )
    assert check_formula("lstm", "dc/dc", "2 f_t -f_t").correct  # 2*f_t - f_t, not 2*f_t*(-f_t)
    assert not check_formula("lstm", "dc/dc", "f_t f_t").correct  # f_t**2


def test_a_pasted_two_dimensional_picture_gets_a_hint() -> None:
    with pytest.raises(FormulaError, match=r"SymPy's 2-D picture.*--format text"):
        check_equation("lstm", "dc_t/dc_{t-1} = diag(fₜ)")


def test_check_equation_needs_a_block_and_a_formula() -> None:
    with pytest.raises(FormulaError, match="expected BLOCK = FORMULA"):
        check_equation("lstm", "diag(f_t)")
    with pytest.raises(FormulaError, match="no state component 'c'"):
        check_equation("gru", "dc/dc = z_t")


def test_derive_check_gives_a_verdict_and_an_exit_status() -> None:
    right = invoke("derive", "--cell", "lstm", "--check", "dc_t/dc_{t-1} = diag(f_t)")
    assert right.exit_code == 0 and right.stdout.startswith("CORRECT  lstm: dc_t/dc_{t-1} = diag(f_t)")
    both = invoke(
        "derive", "-c", "rnn", "--check", "dh/dh = (1 - h_t**2) * W_hh", "--check", "dh/dh = W_hh * (1 - h_t**2)"
    )
    assert both.exit_code == 1
    first, second = both.stdout.strip().splitlines()
    assert first.startswith("CORRECT") and second.startswith("WRONG  rnn: dh_t/dh_{t-1} = diag(1 - h_t**2) W_hh")
    assert "entry [" in second  # the transposed Jacobian gets a numeric counter-example
    unreadable = invoke("derive", "-c", "lstm", "--check", "dc/dc = f_t.real")
    assert unreadable.exit_code == 2 and unreadable.stdout == "" and "Traceback" not in unreadable.stderr
    assert unreadable.stderr.startswith("gradscope: error: invalid formula: '.' is not allowed")
    assert unreadable.stderr.splitlines()[-1].strip() == "^"  # the caret under the offending character
    assert_bad_input(invoke("derive", "-c", "lstm", "--check", "f_t"), "expected BLOCK = FORMULA")


def test_the_feedback_cells_two_stage_block_is_read_back_exactly() -> None:
    (block,) = derive("jordan").blocks
    assert _printed_lines_jordan() == [block.text()]
    check = check_equation("jordan", block.text())  # diag(y_t*(1 - y_t)) W_hy diag(1 - h_t**2) W_yh
    assert check.correct and check.method == "symbolic", check.message
    assert check.formula == block.text().partition(" = ")[2]
    right = invoke("derive", "-c", "jordan", "--check", block.text())
    assert right.exit_code == 0 and right.stdout.startswith("CORRECT  jordan: dy_t/dy_{t-1} = ")
    swapped = invoke("derive", "-c", "jordan", "--check", "dy/dy = diag(y_t*(1 - y_t)) W_yh diag(1 - h_t**2) W_hy")
    assert swapped.exit_code == 1 and "entry [" in swapped.stdout


def _printed_lines_jordan() -> list[str]:
    pretty = render(derivation_pretty(derive("jordan")), width=400).split("check_formula read them:\n", 1)[1]
    return [line.strip() for line in pretty.splitlines() if line.strip()]


def test_derive_check_with_block_takes_bare_formulas() -> None:
    right = invoke("derive", "-c", "lstm", "--block", "dh/dc", "--check", "diag(o_t*(1 - tanh(c_t)**2)*f_t)")
    assert right.exit_code == 0 and right.stdout.startswith("CORRECT  lstm: dh_t/dc_{t-1} = ")
    wrong = invoke("derive", "-c", "lstm", "--block", "dh/dc", "--check", "o_t*f_t")  # tanh'(c_t) left out
    assert wrong.exit_code == 1 and wrong.stdout.startswith("WRONG  lstm: dh_t/dc_{t-1}")
    assert_bad_input(invoke("derive", "-c", "lstm", "--block", "dh/dq", "--check", "f_t"), "no state component 'q'")
    assert_bad_input(invoke("derive", "-c", "lstm", "--block", "dh/dc"), "--block", "--check")
