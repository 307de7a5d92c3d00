"""Every zoo cell, and a cell written here from scratch, against independent PyTorch twins in float64.

For random parameters, inputs and initial states at several sizes: the forward states, every step
Jacobian, the profile ``log10 ||P_k||`` (spectral and Frobenius) and the exact BPTT gradients of
``gradscope.testing`` agree with autograd through ``tests/zoo_reference.py`` to 1e-8 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradscope
from gradscope.analysis.problem import make_problem
from gradscope.cells.file import parse_cell_text
from gradscope.cells.spec import ZOO_CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.engine.coefficients import dense_jacobians
from gradscope.params import init_params
from gradscope.testing import bptt_reference

torch = pytest.importorskip("torch")
import zoo_reference as reference  # noqa: E402

SIZES = (1, 3, 6)

#: A cell written for this test only: a per-unit vector, a constant, a structured recurrent matrix,
#: two state components that the recurrence both reads, and a gate that projects a quantity of the step.
SCRATCH = """
name = "scratch"
title = "A test cell with every feature of the format"
gates = ["a", "b"]
state = ["h", "v"]
reads = ["h"]

[constants]
k = 0.7

[vectors]
w = "weight_leak"

[recurrent]
matrix = "W - 0.5 * transpose(W) + k * I"

[projections]
b = "sigmoid(u_a + m_a) * h_prev + 0.3 * u_b"

[equations]
g = "sigmoid(u_a + m_a)"
v = "k * v_prev + (1 - k) * tanh(u_b + m_b)"
h = "g * h_prev + (1 - g) * tanh(w * v + u_b)"
"""


def scratch_step(params, x, s, constants):
    """The scratch cell by hand: the recurrent blocks are W_g - 0.5 W_g^T + k I."""
    k = 0.7
    h, v = torch.chunk(s, 2)
    hidden = h.shape[0]
    u_a, u_b = torch.chunk(params["weight_ih_l0"] @ x + params["bias_ih_l0"], 2)
    b_a, b_b = torch.chunk(params["bias_hh_l0"], 2)
    w_a, w_b = (w - 0.5 * w.T + k * torch.eye(hidden) for w in torch.chunk(params["weight_hh_l0"], 2))
    g = torch.sigmoid(u_a + w_a @ h + b_a)
    q = g * h + 0.3 * u_b
    m_b = w_b @ q + b_b
    v_new = k * v + (1 - k) * torch.tanh(u_b + m_b)
    h_new = g * h + (1 - g) * torch.tanh(params["weight_leak_l0"] * v_new + u_b)
    return torch.cat([h_new, v_new])


def cases() -> list[tuple[str, object, object, dict]]:
    out = [(name, name, reference.STEPS[name], reference.CONSTANTS.get(name, {})) for name in ZOO_CELL_NAMES]
    out.append(("scratch", parse_cell_text(SCRATCH).cell(), scratch_step, {}))
    return out


CASES = cases()


def draw(cell: object, hidden: int, seed: int) -> tuple[dict, np.ndarray, dict, np.ndarray]:
    """Random parameters (gain 1.5), inputs, given initial state components and the initial state vector."""
    rng = np.random.default_rng(seed)
    spec = compile_cell(cell).spec
    params = init_params(spec, hidden, 2, rng, gain=1.5)
    inputs = rng.standard_normal((7, 2))
    given = {f"{c}0": 0.5 * rng.standard_normal(hidden) for c in spec.state if c in ("h", "c", "y")}
    initial = np.concatenate([given.get(f"{c}0", np.zeros(hidden)) for c in spec.state])
    return params, inputs, given, initial


def relative(actual: np.ndarray, expected: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(expected))), 1e-300)
    return float(np.max(np.abs(actual - expected))) / scale


@pytest.mark.parametrize("hidden", SIZES)
@pytest.mark.parametrize(("name", "cell", "step", "constants"), CASES, ids=[c[0] for c in CASES])
def test_states_and_step_jacobians_match_autograd(name, cell, step, constants, hidden: int) -> None:
    params, inputs, given, initial = draw(cell, hidden, seed=hidden)
    problem = make_problem(cell, params=params, inputs=inputs, **given)
    trajectory = problem.trajectory()
    expected_states = reference.states(step, params, inputs, initial, constants)
    assert relative(trajectory.states, expected_states) < 1e-12
    expected = reference.step_jacobians(step, params, inputs, initial, constants)
    actual = dense_jacobians(trajectory)
    for t in range(len(inputs)):
        assert relative(actual[t], expected[t]) < 1e-8, f"{name} H={hidden} step {t + 1}"


@pytest.mark.parametrize("norm", ["spectral", "frobenius"])
@pytest.mark.parametrize(("name", "cell", "step", "constants"), CASES, ids=[c[0] for c in CASES])
def test_profiles_match_autograd_lag_products(name, cell, step, constants, norm: str) -> None:
    params, inputs, given, initial = draw(cell, 4, seed=7)
    products = reference.lag_products(step, params, inputs, initial, constants)
    expected = np.log10(np.linalg.norm(products, ord=2 if norm == "spectral" else "fro", axis=(1, 2)))
    result = gradscope.analyze(cell, params=params, inputs=inputs, norm=norm, **given)
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(result.log10_norm), finite)
    # 1e-8 relative in the norm is 4.3e-9 in log10
    np.testing.assert_allclose(result.log10_norm[finite], expected[finite], rtol=0, atol=4.3e-9)


@pytest.mark.parametrize("hidden", (2, 5))
@pytest.mark.parametrize(("name", "cell", "step", "constants"), CASES, ids=[c[0] for c in CASES])
def test_bptt_reference_gradients_match_autograd(name, cell, step, constants, hidden: int) -> None:
    params, inputs, given, initial = draw(cell, hidden, seed=11 + hidden)
    upstream = np.random.default_rng(3).standard_normal((len(inputs), hidden))
    grads = bptt_reference(cell, params, inputs, upstream, **given)
    expected = reference.gradients(step, params, inputs, initial, upstream, constants, hidden)
    for key, value in params.items():
        assert grads[key].shape == np.shape(value), key
        assert relative(grads[key], expected[key]) < 1e-8, f"{name}: {key}"
    assert relative(grads["inputs"], expected["inputs"]) < 1e-8
    spec = compile_cell(cell).spec
    initial_grads = np.concatenate([grads[f"{c}0"] for c in spec.state])
    assert relative(initial_grads, expected["initial"]) < 1e-8
