"""Cells as data: the registry, validation of user cells, and a new cell that is only data."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from conftest import minimal_gated_unit

import gradscope
from gradscope.cells import CELLS, Cell, get_cell, u
from gradscope.cells.spec import ALL_CELL_NAMES, CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.engine.coefficients import dense_jacobians
from gradscope.engine.trajectory import run_forward
from gradscope.errors import UnknownCellError
from gradscope.params import init_params, validate_layer


def test_registry_matches_the_light_list_of_names() -> None:
    assert tuple(CELLS) == ALL_CELL_NAMES
    for name in ALL_CELL_NAMES:
        cell = get_cell(name)
        assert cell.name == name
        assert cell.spec == compile_cell(name).spec


@pytest.mark.parametrize(("given", "expected"), [("LSTM", "lstm"), ("rnn_relu", "rnn-relu"), (" gru ", "gru")])
def test_names_are_forgiving(given: str, expected: str) -> None:
    assert get_cell(given).name == expected


def test_unknown_cell_suggests_the_closest_and_lists_all() -> None:
    with pytest.raises(UnknownCellError) as error:
        get_cell("lstn")
    message = str(error.value)
    assert "'lstn'" in message and "did you mean 'lstm'" in message
    for name in CELL_NAMES:
        assert name in message
    with pytest.raises(gradscope.GradscopeError):
        gradscope.analyze("transformer")


def test_gate_order_and_state_follow_pytorch() -> None:
    assert get_cell("lstm").gates == ("i", "f", "g", "o")
    assert get_cell("gru").gates == ("r", "z", "n")
    assert get_cell("lstm").state == ("h", "c") and get_cell("lstm").state_layout == "[h; c]"
    assert get_cell("rnn").state_layout == "h"


def test_cell_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="undefined symbols"):
        Cell("bad", "bad", ("a",), ("h",), (), (sympy.tanh(u("a") + sympy.Symbol("q")),))
    with pytest.raises(ValueError, match=r"reads .* must name distinct state components"):
        Cell("bad", "bad", ("a",), ("c",), (), (u("a"),), reads=("h",))
    with pytest.raises(ValueError, match="2 state components"):
        Cell("bad", "bad", ("a",), ("h", "c"), (), (u("a"),))


def mgu_step(params: dict[str, np.ndarray], h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The same cell written by hand in NumPy (independent of SymPy and of gradscope's code)."""
    H = h.shape[0]
    gi = params["weight_ih_l0"] @ x + params["bias_ih_l0"]
    gh = params["weight_hh_l0"] @ h + params["bias_hh_l0"]
    f = 1.0 / (1.0 + np.exp(-(gi[:H] + gh[:H])))
    n = np.tanh(gi[H:] + f * gh[H:])
    return (1 - f) * h + f * n


def test_a_new_cell_is_only_data_and_gets_correct_jacobians(rng: np.random.Generator) -> None:
    cell = minimal_gated_unit()
    compiled = compile_cell(cell)
    assert compiled.origin == "live"
    H, I, T = 5, 3, 6
    raw = init_params(cell.spec, H, I, rng, gain=2.0)
    params = validate_layer(cell.spec, raw)
    inputs = rng.standard_normal((T, I))
    h0 = rng.standard_normal((1, H))
    trajectory = run_forward(compiled, params, inputs, h0)
    jacobians = dense_jacobians(trajectory)

    h = h0[0]
    eps = 1e-6
    for t in range(T):
        expected_next = mgu_step(raw, h, inputs[t])
        np.testing.assert_allclose(trajectory.components[t + 1, 0], expected_next, rtol=0, atol=1e-14)
        numeric = np.empty((H, H))
        for j in range(H):
            step = np.zeros(H)
            step[j] = eps
            numeric[:, j] = (mgu_step(raw, h + step, inputs[t]) - mgu_step(raw, h - step, inputs[t])) / (2 * eps)
        np.testing.assert_allclose(jacobians[t], numeric, rtol=1e-7, atol=1e-9)
        h = expected_next

    result = gradscope.analyze(cell, params=raw, inputs=inputs)
    assert result.cell == "mgu" and result.steps == T


def test_elman_is_the_tanh_rnn_under_its_classic_name() -> None:
    assert get_cell("Elman").name == "rnn" and get_cell("elman_relu").name == "rnn-relu"
    a = gradscope.analyze("elman", hidden_size=4, steps=6)
    b = gradscope.analyze("rnn", hidden_size=4, steps=6)
    np.testing.assert_array_equal(a.log10_norm, b.log10_norm)
    with pytest.raises(UnknownCellError, match="did you mean 'elman'"):
        get_cell("elmann")
