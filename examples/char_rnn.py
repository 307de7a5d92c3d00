"""A character-level RNN in plain NumPy, in the style of min-char-rnn, with its BPTT checked by gradscope.

Column vectors throughout, as in the famous gist: ``x_t`` is a one-hot ``(V, 1)`` column, the hidden
state ``h_t`` is ``(H, 1)``, and the loss is the softmax cross-entropy of the next character at every step.

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)       Wxh (H, V), Whh (H, H), bh (H, 1)
    y_t = Why h_t + by,  p_t = softmax(y_t)      Why (V, H), by (V, 1)
    L   = sum_t -log p_t[target_t]

``python examples/char_rnn.py`` trains on a short text with Adagrad, checks the gradients with the
five-line check, and then shows the planted bug (``PLANTED_BUG``: the gradient carried back through
``Whh`` instead of ``Whh.T``) caught, with the time step where the backward pass first goes wrong.
"""

from __future__ import annotations

import numpy as np

TEXT = "the quick brown fox jumps over the lazy dog; the lazy dog sleeps. "


def init_params(vocab_size: int, hidden_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Small random weights, zero biases, all as the gist shapes them."""
    return {
        "Wxh": rng.normal(0.0, 0.1, (hidden_size, vocab_size)),
        "Whh": rng.normal(0.0, 0.1, (hidden_size, hidden_size)),
        "Why": rng.normal(0.0, 0.1, (vocab_size, hidden_size)),
        "bh": np.zeros((hidden_size, 1)),
        "by": np.zeros((vocab_size, 1)),
    }


def loss_fun(
    params: dict[str, np.ndarray], inputs: list[int], targets: list[int], hprev: np.ndarray, planted_bug: bool = False
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """Forward pass, loss and BPTT over one chunk; returns ``(loss, grads, h_T)`` with grads ``dWxh ... dby``."""
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
    loss = 0.0
    for t, char in enumerate(inputs):
        xs[t] = np.zeros((Wxh.shape[1], 1))
        xs[t][char] = 1.0
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        y = Why @ hs[t] + by
        ps[t] = np.exp(y - y.max()) / np.sum(np.exp(y - y.max()))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hprev)
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1.0  # softmax + cross-entropy
        dWhy += dy @ hs[t].T
        dby += dy
        dh = Why.T @ dy + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh  # through tanh
        dbh += dhraw
        dWxh += dhraw @ xs[t].T
        dWhh += dhraw @ hs[t - 1].T
        dhnext = (Whh if planted_bug else Whh.T) @ dhraw  # PLANTED_BUG: Whh where Whh.T belongs
    grads = {"dWxh": dWxh, "dWhh": dWhh, "dWhy": dWhy, "dbh": dbh, "dby": dby}
    return float(loss), grads, hs[len(inputs) - 1]


def check_with_gradscope(
    params: dict[str, np.ndarray], inputs: list[int], targets: list[int], hprev: np.ndarray, planted_bug: bool = False
) -> None:
    """The check: raises ``GradientMismatch`` naming the gradient, the entry and the time step.

    The gist's names (``Wxh``, ``Whh``, ``bh``, ``Why``, ``by`` and ``dWxh``, ...), its column vectors and its
    character indices go in as they are; gradscope runs the forward pass, the loss and exact BPTT itself.
    """
    _, grads, _ = loss_fun(params, inputs, targets, hprev, planted_bug)
    from gradscope.testing import check_bptt

    check_bptt("rnn", params=params, grads=grads, inputs=inputs, targets=targets, loss="softmax_ce", h0=hprev)


def train(steps: int = 300, hidden_size: int = 16, seq_length: int = 12, learning_rate: float = 0.1, seed: int = 0):
    """Adagrad on :data:`TEXT`, as the gist does; returns the smoothed loss every 50 steps."""
    chars = sorted(set(TEXT))
    index = {c: i for i, c in enumerate(chars)}
    params = init_params(len(chars), hidden_size, np.random.default_rng(seed))
    memory = {k: np.zeros_like(v) for k, v in params.items()}
    smooth = -np.log(1.0 / len(chars)) * seq_length
    hprev, position, history = np.zeros((hidden_size, 1)), 0, []
    for step in range(steps):
        if position + seq_length + 1 >= len(TEXT):
            hprev, position = np.zeros((hidden_size, 1)), 0
        inputs = [index[c] for c in TEXT[position : position + seq_length]]
        targets = [index[c] for c in TEXT[position + 1 : position + seq_length + 1]]
        loss, grads, hprev = loss_fun(params, inputs, targets, hprev)
        smooth = 0.99 * smooth + 0.01 * loss
        for key in params:
            gradient = np.clip(grads["d" + key], -5, 5)  # mitigate exploding gradients
            memory[key] += gradient * gradient
            params[key] -= learning_rate * gradient / np.sqrt(memory[key] + 1e-8)
        position += seq_length
        if step % 50 == 0:
            history.append(smooth)
    return history


def demo_problem(seed: int = 1) -> tuple[dict[str, np.ndarray], list[int], list[int], np.ndarray]:
    """A small random problem for the check: 8 hidden units, 8 characters of :data:`TEXT`."""
    chars = sorted(set(TEXT))
    index = {c: i for i, c in enumerate(chars)}
    rng = np.random.default_rng(seed)
    params = init_params(len(chars), 8, rng)
    params["bh"] = rng.normal(0.0, 0.1, (8, 1))
    inputs, targets = [index[c] for c in TEXT[:8]], [index[c] for c in TEXT[1:9]]
    return params, inputs, targets, rng.normal(0.0, 0.5, (8, 1))


if __name__ == "__main__":
    for step, loss in enumerate(train()):
        print(f"step {50 * step:4d}: smoothed loss {loss:.3f}")
    problem = demo_problem()
    check_with_gradscope(*problem)
    print("gradscope: the hand-written BPTT gradients match the exact reference")
    from gradscope.testing import GradientMismatch

    try:
        check_with_gradscope(*problem, planted_bug=True)
    except GradientMismatch as mismatch:
        print(mismatch)
