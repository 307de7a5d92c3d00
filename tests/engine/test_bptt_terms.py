"""The per-step BPTT terms: the total dL/ds_t through time against autograd, the sums against backward()."""

from __future__ import annotations

import numpy as np
import pytest

from gradscope.analysis.problem import make_problem
from gradscope.engine.bptt import BackwardVariant, backward, backward_terms

T, H, I = 6, 4, 3


def _problem(cell: str, seed: int = 0):
    problem = make_problem(cell, hidden_size=H, input_size=I, steps=T, seed=seed, gain=1.5)
    return problem, np.random.default_rng([seed, 7]).standard_normal((T, H))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_gradient_through_time_is_autograds(cell: str) -> None:
    torch = pytest.importorskip("torch")
    problem, upstream = _problem(cell)
    terms = backward_terms(problem.trajectory(), upstream)
    p = {k: torch.tensor(v) for k, v in problem.params.as_dict().items()}
    x = torch.tensor(problem.inputs)
    h, c = (
        torch.zeros(H, dtype=torch.float64, requires_grad=True),
        torch.zeros(H, dtype=torch.float64, requires_grad=True),
    )
    states, loss, gates = [(h, c)], 0.0, [None]
    for t in range(T):  # PyTorch's equations, step by step, keeping every state for its .grad
        gi, gh = p["weight_ih_l0"] @ x[t] + p["bias_ih_l0"], p["weight_hh_l0"] @ h + p["bias_hh_l0"]
        if cell == "rnn":
            h = torch.tanh(gi + gh)
        elif cell == "lstm":
            i, f, g, o = (gi + gh).chunk(4)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            c.retain_grad()
            gates.append(torch.sigmoid(o).detach())
        else:
            (ri, zi, ni), (rh, zh, nh) = gi.chunk(3), gh.chunk(3)
            r, z = torch.sigmoid(ri + rh), torch.sigmoid(zi + zh)
            h = (1 - z) * torch.tanh(ni + r * nh) + z * h
        h.retain_grad()
        states.append((h, c))
        loss = loss + (h * torch.tensor(upstream[t])).sum()
    loss.backward()
    for t, (h_t, c_t) in enumerate(states):
        np.testing.assert_allclose(terms.deltas[t][:H], h_t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"dL/dh_{t}")
        if cell == "lstm" and t:
            # autograd's c_t.grad also takes the path through h_t = o_t tanh(c_t); the state's does not
            through_h = h_t.grad.numpy() * gates[t].numpy() * (1 - np.tanh(c_t.detach().numpy()) ** 2)
            np.testing.assert_allclose(terms.deltas[t][H:] + through_h, c_t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "jordan"])
def test_terms_sum_to_the_gradients(cell: str) -> None:
    problem, _ = _problem(cell)
    trajectory = problem.trajectory()
    upstream = np.random.default_rng(3).standard_normal((T, trajectory.states.shape[1] if cell == "jordan" else H))
    terms = backward_terms(trajectory, upstream)
    grads = backward(trajectory, upstream)
    for key, value in terms.gradients().items():
        np.testing.assert_array_equal(value, grads[key])
    np.testing.assert_allclose(terms.grad_u.sum(axis=0), grads["bias_ih_l0"], rtol=1e-14)
    assert terms.deltas.shape == (T + 1, trajectory.states.shape[1])


def test_no_variant_is_exact_bptt() -> None:
    problem, upstream = _problem("lstm")
    trajectory = problem.trajectory()
    exact = backward(trajectory, upstream)
    for variant in (BackwardVariant(), BackwardVariant(gate_order=(0, 1, 2, 3))):
        for key, value in backward_terms(trajectory, upstream, variant).gradients().items():
            np.testing.assert_array_equal(value, exact[key])


def test_a_dropped_carry_changes_every_step_but_the_last() -> None:
    problem, upstream = _problem("rnn")
    trajectory = problem.trajectory()
    exact = backward_terms(trajectory, upstream)
    dropped = backward_terms(trajectory, upstream, BackwardVariant(dropped=("h",)))
    # With the carry dropped, dL/dh_t is what the loss gives h_t directly.
    np.testing.assert_array_equal(dropped.deltas[1:], upstream)
    np.testing.assert_array_equal(dropped.grad_m[-1], exact.grad_m[-1])
    assert not np.allclose(dropped.grad_m[:-1], exact.grad_m[:-1])
