"""Every derived cell is checked before it is trusted: derived partials against central differences of its update.

A cell whose derivative is wrong on purpose (``tanh`` kept, its derivative taken as 1: the classic BPTT
mistake of :mod:`gradscope.cells.variants`) is refused, naming the partial, the point and both numbers;
equations that are not finite where evaluated are refused from a cell file with exit code 2; a kink of
measure zero (ReLU) is recognised and skipped; the report of a good cell is within its tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_bad_input, invoke

from gradscope.cells import variants
from gradscope.cells.file import parse_cell_text
from gradscope.cells.spec import ZOO_CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.compile.check import POINTS, TOLERANCE, check_partials
from gradscope.errors import CellCheckError

FILE = """name = "checked"
title = "t"
gates = ["a"]
state = ["h"]

[equations]
h = "{equation}"
"""


def test_a_wrong_derivative_is_refused_naming_the_partial_and_both_numbers() -> None:
    wrong = next(v for v in variants.variants_of("rnn") if "tanh" in v.key).cell("rnn")
    with pytest.raises(CellCheckError) as caught:
        compile_cell(wrong)
    message = str(caught.value)
    assert "dh/dm_h" in message and "derived but" in message and "central differences" in message
    compiled = compile_cell(wrong, checked=False)  # the hint search uses it as it is, on purpose
    assert compiled.spec.name == wrong.name


def test_not_finite_where_evaluated_is_a_one_line_error_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "log.toml"
    path.write_text(FILE.format(equation="log(u_a + m_a)"), encoding="utf-8")  # log of negative numbers
    assert_bad_input(invoke("cells", "--file", str(path), "--check"), "not finite")


def test_a_kink_is_skipped_not_refused() -> None:
    compiled = compile_cell(parse_cell_text(FILE.format(equation="relu(u_a + m_a) - relu(-h_prev)")).cell())
    report = check_partials(compiled)
    assert report.worst_error <= TOLERANCE and all(c.points == POINTS for c in report.checks)


@pytest.mark.parametrize("name", ZOO_CELL_NAMES)
def test_every_zoo_cell_passes_with_every_partial_checked(name: str) -> None:
    compiled = compile_cell(name)
    report = check_partials(compiled)
    partials = sum(len(table) for table in (compiled.state_partial_keys, compiled.input_partial_keys))
    assert len(report.checks) >= partials > 0
    assert report.worst_error <= TOLERANCE
    assert np.all([c.skipped < POINTS // 2 for c in report.checks])
