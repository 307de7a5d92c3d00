"""PyTorch (float64) twins of gradscope's cells: the second source for Jacobians and profiles.

Only imported by tests that have already called ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def module_for(cell: str, params: Mapping[str, np.ndarray]) -> torch.nn.Module:
    """A real ``torch.nn.RNN``/``LSTM``/``GRU`` (float64) loaded with ``params`` (PyTorch names)."""
    hidden, width = params["weight_hh_l0"].shape[1], params["weight_ih_l0"].shape[1]
    bias = "bias_ih_l0" in params
    if cell in ("rnn", "rnn-relu"):
        nonlinearity = "relu" if cell == "rnn-relu" else "tanh"
        module = torch.nn.RNN(width, hidden, nonlinearity=nonlinearity, bias=bias)
    else:
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](width, hidden, bias=bias)
    module = module.double()
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, name).copy_(torch.tensor(np.asarray(value, dtype=np.float64)))
    return module


def step_function(cell: str, module: torch.nn.Module, hidden: int):
    """``s_t = step(s_{t-1}, x_t)`` on the state vector (``[h; c]`` for the LSTM) through the torch module."""

    def step(state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if cell == "lstm":
            _, (h, c) = module(x[None], (state[None, :hidden], state[None, hidden:]))
            return torch.cat([h.reshape(-1), c.reshape(-1)])
        _, h = module(x[None], state[None])
        return h.reshape(-1)

    return step


def states(cell: str, params: Mapping[str, np.ndarray], inputs: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """The states ``s_0 .. s_T`` as ``(T + 1, S)`` from the torch module."""
    hidden = params["weight_hh_l0"].shape[1]
    step = step_function(cell, module_for(cell, params), hidden)
    state = torch.tensor(initial)
    out = [state]
    with torch.no_grad():
        for x in inputs:
            state = step(state, torch.tensor(x))
            out.append(state)
    return torch.stack(out).numpy()


def step_jacobians(cell: str, params: Mapping[str, np.ndarray], inputs: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """``J_t = d s_t / d s_{t-1}`` for ``t = 1..T`` by autograd, ``(T, S, S)``."""
    hidden = params["weight_hh_l0"].shape[1]
    step = step_function(cell, module_for(cell, params), hidden)
    trajectory = states(cell, params, inputs, initial)

    def jacobian(state: np.ndarray, x: np.ndarray) -> np.ndarray:
        x_t = torch.tensor(x)
        return torch.autograd.functional.jacobian(lambda s: step(s, x_t), torch.tensor(state)).numpy()

    return np.stack([jacobian(s, x) for s, x in zip(trajectory[:-1], inputs, strict=True)])


def lag_products(cell: str, params: Mapping[str, np.ndarray], inputs: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """``P_k = d s_T / d s_{T-k}`` for ``k = 1..T`` by autograd through the whole tail of the sequence.

    Each ``P_k`` is the Jacobian of ``s_T`` with respect to ``s_{T-k}``, re-running the module from
    ``s_{T-k}``: independent of gradscope's chained products.
    """
    hidden = params["weight_hh_l0"].shape[1]
    step = step_function(cell, module_for(cell, params), hidden)
    trajectory = states(cell, params, inputs, initial)
    return tail_jacobians(lambda state, x: step(state, x), inputs, trajectory)


def tail_jacobians(step, inputs: np.ndarray, trajectory: np.ndarray) -> np.ndarray:
    """``d s_T / d s_{T-k}`` ``(T, S, S)`` by autograd, re-running ``step(state, x)`` from each ``s_{T-k}``."""
    steps = len(inputs)
    xs = [torch.tensor(x) for x in inputs]

    def tail(state: torch.Tensor, start: int) -> torch.Tensor:
        for t in range(start, steps):
            state = step(state, xs[t])
        return state

    return np.stack(
        [
            torch.autograd.functional.jacobian(
                lambda s, k=k: tail(s, steps - k), torch.tensor(trajectory[steps - k])
            ).numpy()
            for k in range(1, steps + 1)
        ]
    )


def stacked_module(
    cell: str, params: Mapping[str, np.ndarray], num_layers: int, bidirectional: bool
) -> torch.nn.Module:
    """A real multi-layer (bidirectional) ``torch.nn.RNN``/``LSTM``/``GRU`` loaded with ``params``."""
    hidden, width = params["weight_hh_l0"].shape[1], params["weight_ih_l0"].shape[1]
    options = {"num_layers": num_layers, "bidirectional": bidirectional}
    if cell in ("rnn", "rnn-relu"):
        module = torch.nn.RNN(width, hidden, nonlinearity="relu" if cell == "rnn-relu" else "tanh", **options)
    else:
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](width, hidden, **options)
    module = module.double()
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, name).copy_(torch.tensor(value))
    return module


def depth_jacobian_norms(
    cell: str, params: Mapping[str, np.ndarray], inputs: np.ndarray, num_layers: int, bidirectional: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``||d y_T / d s^{(l,d)}_t||_2`` as ``(L, D, T)`` and the real module's ``output`` ``(T, D*H)``.

    The network is unrolled by hand from single-step calls of one-layer torch modules holding the
    real module's weights; an additive zero perturbation on every state makes each state a leaf
    whose Jacobian autograd returns. The hand-unrolled output is checked against the real module.
    """
    hidden = params["weight_hh_l0"].shape[1]
    directions = 2 if bidirectional else 1
    real = stacked_module(cell, params, num_layers, bidirectional)
    xs = torch.tensor(inputs)
    steps = xs.shape[0]
    size = 2 * hidden if cell == "lstm" else hidden
    steppers = []
    for layer in range(num_layers):
        row = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            single = {k.replace(suffix, "_l0"): v for k, v in params.items() if k.endswith(suffix)}
            row.append(step_function(cell, module_for(cell, single), hidden))
        steppers.append(row)

    def unrolled(perturbation: torch.Tensor) -> torch.Tensor:
        layer_input = xs
        for layer in range(num_layers):
            outputs = []
            for direction in range(directions):
                state = torch.zeros(size)
                hs = [None] * steps
                order = range(steps) if direction == 0 else range(steps - 1, -1, -1)
                for position in order:
                    state = (
                        steppers[layer][direction](state, layer_input[position])
                        + perturbation[layer, direction, position]
                    )
                    hs[position] = state[:hidden]
                outputs.append(torch.stack(hs))
            layer_input = torch.cat(outputs, dim=1)
        return layer_input

    zero = torch.zeros(num_layers, directions, steps, size)
    with torch.no_grad():
        output = unrolled(zero)
        expected, _ = real(xs)
    assert torch.allclose(output, expected, atol=1e-12), "hand-unrolled network differs from the real module"
    jacobian = torch.autograd.functional.jacobian(lambda p: unrolled(p)[-1], zero)  # (Y, L, D, T, S)
    norms = torch.linalg.matrix_norm(jacobian.permute(1, 2, 3, 0, 4), ord=2)
    return norms.numpy(), expected.detach().numpy()
