"""Each path of the step Jacobian against PyTorch autograd in float64.

The torch side never sees gradscope's coefficients: it runs the cell's forward pass itself and gets a
path's Jacobian as autograd's ``d s_t / d s_{t-1}`` of a step in which only that path reads the previous
state (every other use of it is a constant): a gate's path is the step with only that gate's recurrent
projection live; a direct path is the step with only the explicit ``c_{t-1}`` (or ``h_{t-1}``) live,
restricted to the target's rows. Products of those Jacobians are formed explicitly, their spectral norms
taken at every lag, and compared with :func:`gradscope.engine.paths.path_profiles`.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradscope.analysis.problem import make_problem
from gradscope.analysis.profile import analyze
from gradscope.engine.coefficients import step_coefficients
from gradscope.engine.paths import cell_paths, dense_product_profile, diagonal_profile, path_profiles

torch = pytest.importorskip("torch")

H, I, T = 5, 3, 14


def _torch_step(cell: str, params: dict, x, h_live, c_live, h_const, c_const, live: set[str]):
    """One step; gate g's recurrent projection reads ``h_live`` if ``g`` is live (else the constant), and the
    explicit previous state reads the live copy if ``"direct"`` is live."""
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    b_ih, b_hh = params["bias_ih_l0"], params["bias_hh_l0"]
    gates = {"lstm": "ifgo", "gru": "rzn"}[cell]
    u = (w_ih @ x + b_ih).reshape(len(gates), H)
    m = [
        w_hh[k * H : (k + 1) * H] @ (h_live if g in live else h_const) + b_hh[k * H : (k + 1) * H]
        for k, g in enumerate(gates)
    ]
    if cell == "lstm":
        i, f, o = (torch.sigmoid(u[k] + m[k]) for k in (0, 1, 3))
        g = torch.tanh(u[2] + m[2])
        c = f * (c_live if "direct" in live else c_const) + i * g
        return torch.cat([o * torch.tanh(c), c])
    r, z = torch.sigmoid(u[0] + m[0]), torch.sigmoid(u[1] + m[1])
    n = torch.tanh(u[2] + r * m[2])
    return (1 - z) * n + z * (h_live if "direct" in live else h_const)


def _torch_jacobians(cell: str, problem, live: set[str], rows: slice | None = None) -> list:
    """``J_t`` of the live paths for ``t = 1..T`` (numerator layout), by autograd on torch's own forward pass."""
    params = {k: torch.tensor(v) for k, v in problem.params.as_dict().items()}
    xs = torch.tensor(problem.inputs)
    state = torch.tensor(problem.initial_state[0])
    jacobians = []
    for t in range(T):
        h, c = state[:H], state[H:] if cell == "lstm" else None

        def step(s, h=h, c=c, t=t):
            return _torch_step(cell, params, xs[t], s[:H], s[H:] if cell == "lstm" else None, h, c, live)

        jacobian = torch.autograd.functional.jacobian(step, state)
        if cell == "lstm" and "direct" not in live:
            jacobian[:, H:] = 0.0  # only the explicit c_{t-1} is a direct path; c_const is a constant
        if rows is not None:
            masked = torch.zeros_like(jacobian)
            masked[rows] = jacobian[rows]
            jacobian = masked
        jacobians.append(jacobian)
        with torch.no_grad():
            state = _torch_step(cell, params, xs[t], h, c, h, c, {"i", "f", "g", "o", "r", "z", "n", "direct"})
    return jacobians


def _log10_profile(jacobians: list) -> np.ndarray:
    product, values = None, []
    for jacobian in reversed(jacobians):
        product = jacobian if product is None else product @ jacobian
        values.append(float(torch.linalg.matrix_norm(product, 2)))
    with np.errstate(divide="ignore"):
        return np.log10(np.array(values))


def _problem(cell: str):
    rng = np.random.default_rng(7)
    c0 = rng.standard_normal(H) if cell == "lstm" else None
    return make_problem(cell, hidden_size=H, input_size=I, steps=T, seed=3, h0=rng.standard_normal(H), c0=c0)


LIVE = {
    "lstm": {"W_hi": ({"i"}, None), "W_hf": ({"f"}, None), "W_hg": ({"g"}, None), "W_ho": ({"o"}, None)},
    "gru": {"W_hr": ({"r"}, None), "W_hz": ({"z"}, None), "W_hn": ({"n"}, None), "h->h": ({"direct"}, None)},
}
LIVE["lstm"] |= {"c->h": ({"direct"}, slice(0, H)), "c->c": ({"direct"}, slice(H, 2 * H))}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_each_path_alone_and_ablated_matches_torch(cell: str) -> None:
    problem = _problem(cell)
    profiles = path_profiles(problem.trajectory())
    assert [p.name for p in profiles.paths] == list(LIVE[cell])
    full = torch.stack([j for j in _torch_jacobians(cell, problem, {"i", "f", "g", "o", "r", "z", "n", "direct"})])
    for k, path in enumerate(profiles.paths):
        live, rows = LIVE[cell][path.name]
        term = _torch_jacobians(cell, problem, live, rows)
        expected = _log10_profile(term)
        got = profiles.alone[k]
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected), err_msg=path.name)
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=1e-9, err_msg=path.name)
        ablated = _log10_profile(list(full - torch.stack(term)))
        np.testing.assert_allclose(profiles.ablated[k], ablated, rtol=0, atol=1e-9, err_msg=path.name)


def test_lstm_carousel_is_the_exact_product_of_the_forget_gates() -> None:
    problem = _problem("lstm")
    params = {k: torch.tensor(v) for k, v in problem.params.as_dict().items()}
    lstm = torch.nn.LSTM(I, H, dtype=torch.float64)
    with torch.no_grad():
        for name, value in params.items():
            getattr(lstm, name).copy_(value)
        hs, _ = lstm(
            torch.tensor(problem.inputs),
            (torch.tensor(problem.initial_state[:, :H]), torch.tensor(problem.initial_state[:, H:])),
        )
        previous = torch.cat([torch.tensor(problem.initial_state[:, :H]), hs[:-1]])
        a_f = torch.tensor(problem.inputs) @ params["weight_ih_l0"][H : 2 * H].T + params["bias_ih_l0"][H : 2 * H]
        a_f = a_f + previous @ params["weight_hh_l0"][H : 2 * H].T + params["bias_hh_l0"][H : 2 * H]
        forget = torch.sigmoid(a_f).numpy()  # (T, H)
    expected = [np.log10(np.max(np.prod(forget[T - k :], axis=0))) for k in range(1, T + 1)]
    profiles = path_profiles(problem.trajectory())
    carousel = [p.name for p in profiles.paths].index("c->c")
    np.testing.assert_allclose(profiles.alone[carousel], expected, rtol=0, atol=1e-12)


def test_diagonal_profile_is_exact_and_zero_safe() -> None:
    values = np.array([[0.5, 0.0], [0.25, 2.0], [0.5, 4.0]])
    np.testing.assert_allclose(diagonal_profile(values)[:2], np.log10([4.0, 8.0]))
    assert diagonal_profile(values)[2] == pytest.approx(np.log10(0.0625))  # unit 1 is zero at t=1


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "indrnn", "gru-cho", "jordan", "cornn"])
def test_every_path_together_is_the_full_product_of_analyze(cell: str) -> None:
    problem = make_problem(cell, hidden_size=4, input_size=3, steps=12, seed=1)
    trajectory = problem.trajectory()
    coefficients = step_coefficients(trajectory, 0, trajectory.steps)
    assert cell_paths(coefficients, trajectory)
    full = dense_product_profile(coefficients, trajectory)
    np.testing.assert_allclose(full, analyze(problem).log10_norm, rtol=0, atol=1e-9)
