"""gradscope's self-check: it passes on the real derivation and fails, naming the check, on a broken one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gradscope.analysis.profile
import gradscope.testing.verification as verification
from gradscope.cells.spec import ALL_CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.errors import ConfigError, UnknownCellError
from gradscope.testing.verification import FINITE_DIFFERENCES, TOLERANCES, TORCH, verify

GRADIENT_KEYS = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "inputs", "h0"}
JORDAN_KEYS = {"weight_ih_l0", "weight_yh_l0", "weight_hy_l0", "bias_ih_l0", "bias_hy_l0", "inputs", "y0"}


def expected_checks(cell: str, with_torch: bool) -> set[tuple[str, str]]:
    keys = JORDAN_KEYS if cell == "jordan" else GRADIENT_KEYS | ({"c0"} if cell == "lstm" else set())
    checks = {("J_t (state Jacobians)", FINITE_DIFFERENCES)} | {(k, FINITE_DIFFERENCES) for k in keys}
    if with_torch:
        checks |= {("states s_t", TORCH), ("J_t (state Jacobians)", TORCH)} | {(k, TORCH) for k in keys}
    return checks


def test_every_cell_passes_without_torch() -> None:
    result = verify(use_torch=False)
    assert result.passed and result.failures == () and result.torch_version is None
    assert [r.cell for r in result.rows] == [c for c in ALL_CELL_NAMES for _ in range(len(expected_checks(c, False)))]
    for cell in ALL_CELL_NAMES:
        assert {(r.check, r.against) for r in result.rows if r.cell == cell} == expected_checks(cell, False)
    for row in result.rows:
        assert row.tolerance == TOLERANCES[row.against]
        assert row.passed == (row.max_rel_err <= row.tolerance)
        assert 0 <= row.max_rel_err < 1e-7 and row.max_abs_err >= 0


def test_every_cell_passes_against_torch() -> None:
    torch = pytest.importorskip("torch")
    result = verify("all")
    assert result.passed and result.torch_version == str(torch.__version__)
    for cell in ALL_CELL_NAMES:
        assert {(r.check, r.against) for r in result.rows if r.cell == cell} == expected_checks(cell, True)
    assert max(r.max_rel_err for r in result.rows if r.against == TORCH) < 1e-12


def test_a_broken_derivation_fails_and_names_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    real = compile_cell("lstm")

    def broken_partials(*args):
        values = list(real.state_partials_function(*args))
        values[-1] = values[-1] * 1.01  # d c_t / d c_{t-1} = 1.01 f_t instead of f_t
        return values

    broken = dataclasses.replace(real, state_partials_function=broken_partials)
    monkeypatch.setattr(gradscope.analysis.problem, "compile_cell", lambda cell: broken)
    result = verify("lstm", use_torch=False)
    assert not result.passed
    failed = {r.check for r in result.failures}
    assert "J_t (state Jacobians)" in failed and "c0" in failed
    assert {r.cell for r in result.failures} == {"lstm"}
    assert all(r.max_rel_err > r.tolerance for r in result.failures)


def test_cell_selection_and_sizes() -> None:
    one = verify("GRU", use_torch=False, hidden_size=2, input_size=1, steps=3, seed=4)
    assert {r.cell for r in one.rows} == {"gru"} and one.passed
    assert one.settings == {"hidden_size": 2, "input_size": 1, "steps": 3, "seed": 4}
    two = verify(["rnn", "lstm"], use_torch=False)
    assert two.rows[0].cell == "rnn" and {r.cell for r in two.rows} == {"rnn", "lstm"}
    with pytest.raises(UnknownCellError, match="did you mean 'lstm'"):
        verify("lstn")


def test_requiring_torch_without_torch_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verification.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="PyTorch is not installed"):
        verify("rnn", use_torch=True)
    assert verify("rnn").torch_version is None


def test_relative_error_is_measured_against_the_largest_reference_entry() -> None:
    row = verification._row("rnn", "x", FINITE_DIFFERENCES, np.array([1.0, 2.0 + 1e-7]), np.array([1.0, 2.0]))
    assert row.max_abs_err == pytest.approx(1e-7) and row.max_rel_err == pytest.approx(5e-8) and row.passed
    zero = verification._row("rnn", "x", TORCH, np.array([1e-3]), np.array([0.0]))
    assert zero.max_rel_err == np.inf and not zero.passed
