"""Independent PyTorch (float64) implementations of the zoo's cells, written from the papers' equations.

Not from gradscope's cell files: each ``step`` reads PyTorch-named parameters and one state vector
and returns the next, so that autograd gives the second source for Jacobians, profiles and BPTT
gradients. Only imported by tests that have already called ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch_reference import tail_jacobians

torch.set_default_dtype(torch.float64)

Params = Mapping[str, torch.Tensor]
Step = Callable[[Params, torch.Tensor, torch.Tensor, Mapping[str, float]], torch.Tensor]


def _gates(params: Params, x: torch.Tensor, h: torch.Tensor, count: int) -> list[torch.Tensor]:
    """The chunks of ``W_ih x + b_ih + W_hh h + b_hh``, each ``(H,)`` (biases optional)."""
    a = params["weight_ih_l0"] @ x + h @ params["weight_hh_l0"].T
    for name in ("bias_ih_l0", "bias_hh_l0"):
        if name in params:
            a = a + params[name]
    return list(torch.chunk(a, count))


def _split(params: Params, x: torch.Tensor, count: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(W_i x + b_i, b_h)`` chunks, for cells that apply their recurrent weights themselves."""
    u = params["weight_ih_l0"] @ x + params.get("bias_ih_l0", 0.0)
    b = params.get("bias_hh_l0", torch.zeros(u.shape[0]))
    return list(torch.chunk(u, count)), list(torch.chunk(b, count))


def peephole_lstm(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """Gers et al. 2002 / Greff et al. 2017: peepholes from c_{t-1} into i and f, from c_t into o."""
    h, cell = torch.chunk(s, 2)
    ai, af, ag, ao = _gates(params, x, h, 4)
    i = torch.sigmoid(ai + params["weight_peephole_i_l0"] * cell)
    f = torch.sigmoid(af + params["weight_peephole_f_l0"] * cell)
    new_cell = f * cell + i * torch.tanh(ag)
    o = torch.sigmoid(ao + params["weight_peephole_o_l0"] * new_cell)
    return torch.cat([o * torch.tanh(new_cell), new_cell])


def cifg_lstm(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """Greff et al. 2017, CIFG: the forget gate is 1 - i."""
    h, cell = torch.chunk(s, 2)
    ai, ag, ao = _gates(params, x, h, 3)
    i = torch.sigmoid(ai + params["weight_peephole_i_l0"] * cell)
    new_cell = (1 - i) * cell + i * torch.tanh(ag)
    o = torch.sigmoid(ao + params["weight_peephole_o_l0"] * new_cell)
    return torch.cat([o * torch.tanh(new_cell), new_cell])


def janet(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """van der Westhuizen & Lasenby 2018: c_t = sig(s) c + (1 - sig(s - beta)) tanh(.), h_t = c_t."""
    a_f, a_c = _gates(params, x, s, 2)
    return torch.sigmoid(a_f) * s + (1 - torch.sigmoid(a_f - c["beta"])) * torch.tanh(a_c)


def mgu(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """Zhou et al. 2016: f resets h before the product, h_t = (1 - f) h + f n."""
    (u_f, u_n), (b_f, b_n) = _split(params, x, 2)
    w_f, w_n = torch.chunk(params["weight_hh_l0"], 2)
    f = torch.sigmoid(u_f + w_f @ s + b_f)
    n = torch.tanh(u_n + w_n @ (f * s) + b_n)
    return (1 - f) * s + f * n


def gru_cho(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """Cho et al. 2014, eqs. 5-8: n = tanh(W x + U (r * h)), h_t = z h + (1 - z) n."""
    (u_r, u_z, u_n), (b_r, b_z, b_n) = _split(params, x, 3)
    w_r, w_z, w_n = torch.chunk(params["weight_hh_l0"], 3)
    r = torch.sigmoid(u_r + w_r @ s + b_r)
    z = torch.sigmoid(u_z + w_z @ s + b_z)
    n = torch.tanh(u_n + w_n @ (r * s) + b_n)
    return z * s + (1 - z) * n


def ugrnn(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """Collins et al. 2017: h_t = g h + (1 - g) tanh(.)."""
    a_c, a_g = _gates(params, x, s, 2)
    g = torch.sigmoid(a_g)
    return g * s + (1 - g) * torch.tanh(a_c)


def indrnn(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """Li et al. 2018: h_t = relu(W x + u * h + b), u = weight_hh_l0 of shape (H,)."""
    (u,), (b,) = _split(params, x, 1)
    return torch.relu(u + params["weight_hh_l0"] * s + b)


def antisymmetric_rnn(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """Chang et al. 2019: h_t = h + eps tanh((W - W^T - gamma I) h + V x + b), W = weight_hh_l0."""
    (u,), (b,) = _split(params, x, 1)
    w = params["weight_hh_l0"]
    a = w - w.T - c["gamma"] * torch.eye(w.shape[0])
    return s + c["eps"] * torch.tanh(a @ s + u + b)


def cornn(params: Params, x: torch.Tensor, s: torch.Tensor, c: Mapping[str, float]) -> torch.Tensor:
    """Rusch & Mishra 2021, eq. (3), damping implicit: weight_hh_l0 = [W | script W] reads [y; z]."""
    y, z = torch.chunk(s, 2)
    (u,), (b,) = _split(params, x, 1)
    drive = torch.tanh(u + params["weight_hh_l0"] @ s + b)
    z_new = (z + c["dt"] * (drive - c["gamma"] * y)) / (1 + c["dt"] * c["eps"])
    return torch.cat([y + c["dt"] * z_new, z_new])


STEPS: dict[str, Step] = {
    "peephole-lstm": peephole_lstm,
    "cifg-lstm": cifg_lstm,
    "janet": janet,
    "mgu": mgu,
    "gru-cho": gru_cho,
    "ugrnn": ugrnn,
    "indrnn": indrnn,
    "antisymmetric-rnn": antisymmetric_rnn,
    "cornn": cornn,
}
#: The constants the zoo's files ship with.
CONSTANTS = {
    "janet": {"beta": 1.0},
    "antisymmetric-rnn": {"eps": 0.01, "gamma": 0.01},
    "cornn": {"dt": 0.042, "gamma": 2.7, "eps": 4.7},
}


def tensors(params: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.tensor(np.asarray(value, dtype=np.float64)) for name, value in params.items()}


def states(
    step: Step, params: Mapping[str, np.ndarray], inputs: np.ndarray, initial: np.ndarray, constants
) -> np.ndarray:
    """``s_0 .. s_T`` ``(T + 1, S)`` by the torch step."""
    p, state = tensors(params), torch.as_tensor(np.array(initial))
    out = [state]
    with torch.no_grad():
        for x in torch.as_tensor(np.array(inputs)):
            state = step(p, x, state, constants)
            out.append(state)
    return torch.stack(out).numpy()


def step_jacobians(step: Step, params, inputs: np.ndarray, initial: np.ndarray, constants) -> np.ndarray:
    """``J_t = d s_t / d s_{t-1}`` for ``t = 1..T`` by autograd, ``(T, S, S)``."""
    p, xs = tensors(params), torch.tensor(np.asarray(inputs))
    trajectory = states(step, params, inputs, initial, constants)
    return np.stack(
        [
            torch.autograd.functional.jacobian(lambda s, x=x: step(p, x, s, constants), torch.tensor(s)).numpy()
            for s, x in zip(trajectory[:-1], xs, strict=True)
        ]
    )


def lag_products(step: Step, params, inputs: np.ndarray, initial: np.ndarray, constants) -> np.ndarray:
    """``P_k = d s_T / d s_{T-k}`` for ``k = 1..T``, each by autograd through the whole tail, ``(T, S, S)``."""
    p = tensors(params)
    trajectory = states(step, params, inputs, initial, constants)
    return tail_jacobians(lambda state, x: step(p, x, state, constants), inputs, trajectory)


def gradients(
    step: Step, params, inputs: np.ndarray, initial: np.ndarray, upstream: np.ndarray, constants, hidden: int
) -> dict[str, np.ndarray]:
    """``dL/d(everything)`` for ``L = sum_t <upstream_t, s_t[:H]>`` (the loss reads the first component)."""
    p = {name: value.clone().requires_grad_(True) for name, value in tensors(params).items()}
    xs = torch.tensor(np.asarray(inputs)).requires_grad_(True)
    state0 = torch.tensor(np.asarray(initial)).requires_grad_(True)
    state, loss = state0, torch.zeros(())
    for t in range(len(inputs)):
        state = step(p, xs[t], state, constants)
        loss = loss + torch.dot(torch.tensor(upstream[t]), state[:hidden])
    loss.backward()
    out = {name: value.grad.numpy() for name, value in p.items()}
    return out | {"inputs": xs.grad.numpy(), "initial": state0.grad.numpy()}
