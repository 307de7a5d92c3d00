"""The SymPy derivation: readable blocks, and the structured route against the fully expanded Jacobian."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import gradscope
from gradscope.cells import get_cell, now, prev
from gradscope.cells.activations import NUMPY_FUNCTIONS
from gradscope.cells.spec import CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.engine.coefficients import dense_jacobians
from gradscope.engine.trajectory import run_forward
from gradscope.params import init_params, validate_layer
from gradscope.symbolic.derivation import derive
from gradscope.symbolic.expanded import expanded_jacobian


def test_lstm_cell_carousel_is_diag_f() -> None:
    block = derive("lstm").block("c", "c")
    assert block.projection_terms == ()
    assert sympy.simplify(block.diagonal - now("f")) == 0
    assert block.text() == "dc_t/dc_{t-1} = diag(f_t)"
    assert block.latex() == r"\frac{\partial c_t}{\partial c_{t-1}} = \operatorname{diag}\left(f_{t}\right)"


def test_rnn_block_is_tanh_derivative_times_w() -> None:
    (block,) = derive("rnn").blocks
    ((gate, coefficient),) = block.projection_terms
    assert gate == "h"
    assert sympy.simplify(coefficient - (1 - now("h") ** 2)) == 0
    assert block.diagonal == 0


def test_gru_direct_term_is_the_update_gate() -> None:
    block = derive("gru").block("h", "h")
    assert sympy.simplify(block.diagonal - now("z")) == 0
    assert [gate for gate, _ in block.projection_terms] == ["r", "z", "n"]
    z, n = now("z"), now("n")
    coefficient = dict(block.projection_terms)["z"]
    assert sympy.simplify(coefficient - z * (1 - z) * (prev("h") - n)) == 0


def test_lstm_has_no_direct_h_dependence_and_full_latex() -> None:
    derivation = gradscope.derive("lstm")
    assert derivation.block("h", "h").diagonal == 0
    assert derivation.block("h", "c").projection_terms == ()
    latex = derivation.latex()
    assert latex.startswith(r"\begin{aligned}") and latex.count(r"\\") == 3
    with pytest.raises(KeyError):
        derivation.block("h", "x")


def test_derive_is_cached_and_accepts_cells() -> None:
    assert derive("gru") is derive(get_cell("gru"))


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("hidden", [1, 2, 3])
def test_structured_jacobian_equals_fully_expanded(cell: str, hidden: int, rng: np.random.Generator) -> None:
    spec = get_cell(cell)
    width, steps = 2, 3
    raw = init_params(spec.spec, hidden, width, rng, gain=1.5)
    params = validate_layer(spec.spec, raw)
    inputs = rng.standard_normal((steps, width))
    initial = rng.standard_normal((len(spec.state), hidden))
    trajectory = run_forward(compile_cell(cell), params, inputs, initial)
    structured = dense_jacobians(trajectory)

    expanded, symbols = expanded_jacobian(spec, hidden, width)
    order = [symbols[name] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "x", "s")]
    flat = [s for matrix in order for s in matrix]
    evaluate = sympy.lambdify(flat, expanded, modules=[NUMPY_FUNCTIONS, "numpy"])
    for t in range(steps):
        values = [
            *raw["weight_ih_l0"].ravel(),
            *raw["weight_hh_l0"].ravel(),
            *raw["bias_ih_l0"],
            *raw["bias_hh_l0"],
            *inputs[t],
            *trajectory.state_vectors()[t],
        ]
        np.testing.assert_allclose(structured[t], np.asarray(evaluate(*values), dtype=float), rtol=1e-12, atol=1e-13)


def test_expanded_route_refuses_large_sizes() -> None:
    with pytest.raises(ValueError, match="hidden_size <= 3"):
        expanded_jacobian(get_cell("lstm"), 4, 1)
