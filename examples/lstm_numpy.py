"""An LSTM written from scratch in NumPy, predicting a sine wave, with its BPTT checked by gradscope.

The layout of the blog-post LSTMs: one weight ``W (4H, H + I)`` acting on the concatenation
``[h_{t-1}; x_t]``, one bias ``b (4H,)``, the gates stacked ``i, f, o, g`` (not PyTorch's ``i, f, g, o``),
a linear output layer and the mean squared error over every step:

    z_t = W [h_{t-1}; x_t] + b;   i, f, o = sigmoid(z_i, z_f, z_o);   g = tanh(z_g)
    c_t = f * c_{t-1} + i * g,    h_t = o * tanh(c_t),               y_t = Wy h_t + by
    L   = mean over t and outputs of (y_t - target_t)^2

``python examples/lstm_numpy.py`` trains it to continue a sine wave, checks its gradients, and shows
the planted bug (``planted_bug=True``: the cell-state carry ``f_{t+1} * dc_{t+1}`` dropped) caught,
with the time step and the gates where the backward pass first goes wrong.
"""

from __future__ import annotations

import numpy as np


def init_params(input_size: int, hidden_size: int, output_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``W (4H, H + I)``, ``b (4H,)`` with the forget gate's bias at 1, ``Wy (O, H)``, ``by (O,)``."""
    H = hidden_size
    b = np.zeros(4 * H)
    b[H : 2 * H] = 1.0  # remember by default
    scale = 1.0 / np.sqrt(H + input_size)
    return {
        "W": rng.normal(0.0, scale, (4 * H, H + input_size)),
        "b": b,
        "Wy": rng.normal(0.0, 1.0 / np.sqrt(H), (output_size, H)),
        "by": np.zeros(output_size),
    }


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def forward(params: dict[str, np.ndarray], xs: np.ndarray, h0: np.ndarray, c0: np.ndarray):
    """``(ys (T, O), cache)``; the cache keeps ``hs``, ``cs`` (with index -1 the initial state) and the gates."""
    W, b, Wy, by = params["W"], params["b"], params["Wy"], params["by"]
    H = h0.shape[0]
    hs, cs, gates, ys = {-1: h0}, {-1: c0}, {}, np.zeros((xs.shape[0], Wy.shape[0]))
    for t, x in enumerate(xs):
        z = W @ np.concatenate([hs[t - 1], x]) + b
        i, f, o, g = sigmoid(z[:H]), sigmoid(z[H : 2 * H]), sigmoid(z[2 * H : 3 * H]), np.tanh(z[3 * H :])
        cs[t] = f * cs[t - 1] + i * g
        hs[t] = o * np.tanh(cs[t])
        gates[t] = (i, f, o, g)
        ys[t] = Wy @ hs[t] + by
    return ys, (hs, cs, gates)


def loss_and_gradients(
    params: dict[str, np.ndarray],
    xs: np.ndarray,
    targets: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    planted_bug: bool = False,
) -> tuple[float, dict[str, np.ndarray]]:
    """MSE and its hand-written BPTT: ``dW, db, dWy, dby, dh0, dc0``."""
    W, Wy = params["W"], params["Wy"]
    H = h0.shape[0]
    ys, (hs, cs, gates) = forward(params, xs, h0, c0)
    dys = 2.0 * (ys - targets) / ys.size
    grads = {"d" + k: np.zeros_like(v) for k, v in params.items()}
    dh_next, dc_next = np.zeros(H), np.zeros(H)
    for t in reversed(range(xs.shape[0])):
        i, f, o, g = gates[t]
        tanh_c = np.tanh(cs[t])
        grads["dWy"] += np.outer(dys[t], hs[t])
        grads["dby"] += dys[t]
        dh = Wy.T @ dys[t] + dh_next
        carried = 0.0 if planted_bug else dc_next  # PLANTED_BUG: the cell state's carry dropped
        dc = carried + dh * o * (1 - tanh_c**2)
        dz = np.concatenate(
            [dc * g * i * (1 - i), dc * cs[t - 1] * f * (1 - f), dh * tanh_c * o * (1 - o), dc * i * (1 - g**2)]
        )
        grads["dW"] += np.outer(dz, np.concatenate([hs[t - 1], xs[t]]))
        grads["db"] += dz
        dh_next = W[:, :H].T @ dz
        dc_next = f * dc
    grads["dh0"], grads["dc0"] = dh_next, dc_next
    return float(np.mean((ys - targets) ** 2)), grads


def check_with_gradscope(
    params: dict[str, np.ndarray],
    xs: np.ndarray,
    targets: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    planted_bug: bool = False,
) -> None:
    """The check: ``W`` on ``[h; x]`` (gradscope's default ``concat="hx"``), gates ``i, f, o, g``, the MSE loss."""
    _, grads = loss_and_gradients(params, xs, targets, h0, c0, planted_bug)
    from gradscope.testing import check_bptt

    check_bptt("lstm", params, grads, xs, targets=targets, loss="mse", reduce="mean", h0=h0, c0=c0, gates="ifog")


def sine_batch(steps: int, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``sin(t)`` and targets ``sin(t + 0.3)``: learn to look ahead, ``(T, 1)`` each."""
    t = phase + 0.3 * np.arange(steps)
    return np.sin(t)[:, None], np.sin(t + 0.3)[:, None]


def train(epochs: int = 150, hidden_size: int = 8, steps: int = 20, learning_rate: float = 0.5, seed: int = 0):
    """Plain gradient descent on sine waves of random phase; returns the loss of every epoch."""
    rng = np.random.default_rng(seed)
    params = init_params(1, hidden_size, 1, rng)
    zeros = np.zeros(hidden_size)
    history = []
    for _ in range(epochs):
        xs, targets = sine_batch(steps, rng.uniform(0, 2 * np.pi))
        loss, grads = loss_and_gradients(params, xs, targets, zeros, zeros)
        for key in params:
            params[key] -= learning_rate * grads["d" + key]
        history.append(loss)
    return history


def demo_problem(seed: int = 1):
    """A small random problem for the check: H = 4, I = 3, O = 2, T = 5, random initial state."""
    rng = np.random.default_rng(seed)
    params = init_params(3, 4, 2, rng)
    params["b"] = params["b"] + rng.normal(0.0, 0.3, 16)
    return params, rng.normal(size=(5, 3)), rng.normal(size=(5, 2)), rng.normal(0, 0.5, 4), rng.normal(0, 0.5, 4)


if __name__ == "__main__":
    losses = train()
    for epoch in (0, 49, 99, 149):
        print(f"epoch {epoch + 1:3d}: loss {losses[epoch]:.4f}")
    problem = demo_problem()
    check_with_gradscope(*problem)
    print("gradscope: the hand-written BPTT gradients match the exact reference")
    from gradscope.testing import GradientMismatch

    try:
        check_with_gradscope(*problem, planted_bug=True)
    except GradientMismatch as mismatch:
        print(mismatch)
