"""Per-step Jacobians and forward states against PyTorch autograd (float64) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from gradscope.analysis.problem import make_problem, trajectory
from gradscope.cells.spec import CELL_NAMES
from gradscope.engine.coefficients import dense_jacobians

torch = pytest.importorskip("torch")
import torch_reference  # noqa: E402


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize(("hidden", "gain"), [(1, 0.5), (4, 1.0), (7, 3.0)])
def test_states_and_jacobians_match_torch(cell: str, hidden: int, gain: float, rng: np.random.Generator) -> None:
    components = 2 if cell == "lstm" else 1
    initial = rng.standard_normal(components * hidden)
    h0, c0 = initial[:hidden], (initial[hidden:] if cell == "lstm" else None)
    problem = make_problem(
        cell, hidden_size=hidden, input_size=3, steps=9, seed=int(hidden * 10 + gain), gain=gain, h0=h0, c0=c0
    )
    params = problem.params.as_dict()
    forward = trajectory(problem)
    expected_states = torch_reference.states(cell, params, problem.inputs, initial)
    np.testing.assert_allclose(forward.state_vectors(), expected_states, rtol=1e-13, atol=1e-14)
    expected = torch_reference.step_jacobians(cell, params, problem.inputs, initial)
    np.testing.assert_allclose(dense_jacobians(forward), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_models_without_bias_match_torch(cell: str, rng: np.random.Generator) -> None:
    problem = make_problem(cell, hidden_size=3, input_size=2, steps=4, seed=3)
    params = {k: v for k, v in problem.params.as_dict().items() if k.startswith("weight")}
    unbiased = make_problem(cell, params=params, inputs=problem.inputs)
    assert not unbiased.params.has_bias
    initial = np.zeros(unbiased.compiled.spec.state_size(3))
    expected = torch_reference.step_jacobians(cell, params, problem.inputs, initial)
    np.testing.assert_allclose(dense_jacobians(trajectory(unbiased)), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_jacobians_match_central_differences(cell: str) -> None:
    problem = make_problem(cell, hidden_size=4, input_size=2, steps=3, seed=7, gain=1.7)
    forward = trajectory(problem)
    jacobians = dense_jacobians(forward)
    compiled, params = problem.compiled, problem.params
    G, C, H = compiled.spec.num_gates, len(compiled.spec.state), params.hidden_size

    def step(state: np.ndarray, t: int) -> np.ndarray:
        prev = state.reshape(C, H)
        m = (params.weight_hh @ prev[0] + params.bias_hh).reshape(G, H)
        return compiled.update(forward.input_projection[t], m, prev).reshape(-1)

    eps = 1e-6
    for t in range(problem.inputs.shape[0]):
        s = forward.state_vectors()[t]
        numeric = np.stack([(step(s + eps * e, t) - step(s - eps * e, t)) / (2 * eps) for e in np.eye(C * H)], axis=1)
        tolerance = 1e-9 if cell != "rnn-relu" else 1e-12  # piecewise linear: differences are exact
        np.testing.assert_allclose(jacobians[t], numeric, rtol=1e-7, atol=tolerance)
