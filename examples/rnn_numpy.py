"""A many-to-one RNN in plain NumPy, with backpropagation through time written by hand.

The classic tutorial network: each word is a one-hot vector, a tanh RNN reads the sentence, the
last hidden state goes through a linear layer and a softmax, and the loss is the cross-entropy of
the true class. Every gradient is derived by hand, in the style of the well-known NumPy tutorials.

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)        x_t one-hot (V,), h_t (H,)
    y   = Why h_T + by,  p = softmax(y)           (K,)
    L   = -log p[target]

Run it on its own to train on a toy sentiment task, check the gradients with gradscope, and see
the planted bug (``planted_bug=True``: the tanh derivative ``1 - h^2`` taken at ``h_{t-1}``, one time
step too early) caught with the time step named: ``python examples/rnn_numpy.py``. The test next to
it (``test_rnn_numpy.py``) runs the same checks.
"""

from __future__ import annotations

import numpy as np

SENTENCES = [
    ("the movie was good", 1),
    ("a truly great film", 1),
    ("i liked it a lot", 1),
    ("good acting and a great story", 1),
    ("the movie was bad", 0),
    ("a truly awful film", 0),
    ("i hated it", 0),
    ("bad acting and a boring story", 0),
]


def build_vocabulary(sentences: list[tuple[str, int]]) -> dict[str, int]:
    """Word -> index, in order of first appearance."""
    vocabulary: dict[str, int] = {}
    for sentence, _ in sentences:
        for word in sentence.split():
            vocabulary.setdefault(word, len(vocabulary))
    return vocabulary


def one_hot(sentence: str, vocabulary: dict[str, int]) -> np.ndarray:
    """The sentence as one-hot word vectors, shape (T, V)."""
    xs = np.zeros((len(sentence.split()), len(vocabulary)))
    for t, word in enumerate(sentence.split()):
        xs[t, vocabulary[word]] = 1.0
    return xs


def init_params(vocab_size: int, hidden_size: int, num_classes: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Small random weights: Wxh (H, V), Whh (H, H), bh (H,), Why (K, H), by (K,)."""
    return {
        "Wxh": rng.normal(0.0, 0.3, size=(hidden_size, vocab_size)),
        "Whh": rng.normal(0.0, 0.3, size=(hidden_size, hidden_size)),
        "bh": np.zeros(hidden_size),
        "Why": rng.normal(0.0, 0.3, size=(num_classes, hidden_size)),
        "by": np.zeros(num_classes),
    }


def loss_and_gradients(
    params: dict[str, np.ndarray], xs: np.ndarray, target: int, h0: np.ndarray, planted_bug: bool = False
) -> tuple[float, dict[str, np.ndarray], dict[int, np.ndarray]]:
    """Forward pass, cross-entropy loss, and BPTT.

    Args:
        params: see :func:`init_params`.
        xs: one-hot inputs (T, V).
        target: the true class.
        h0: initial hidden state (H,).
        planted_bug: take the tanh derivative one step too early (the bug gradscope shows being caught).

    Returns:
        ``(loss, grads, hs)``: ``grads`` has dWxh, dWhh, dbh, dWhy, dby (the parameters' shapes),
        dxs (T, V) and dh0 (H,); ``hs[t]`` is the hidden state after word t (``hs[-1] = h0``).
    """
    Wxh, Whh, bh, Why, by = params["Wxh"], params["Whh"], params["bh"], params["Why"], params["by"]
    steps = xs.shape[0]

    # forward pass
    hs = {-1: h0}
    for t in range(steps):
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
    y = Why @ hs[steps - 1] + by
    p = np.exp(y - y.max())
    p /= p.sum()
    loss = -np.log(p[target])

    # backward pass: output layer
    dy = p.copy()
    dy[target] -= 1.0  # d loss / d y for softmax + cross-entropy
    dWhy = np.outer(dy, hs[steps - 1])
    dby = dy
    dh = Why.T @ dy  # d loss / d h_T

    # backward pass through time
    dWxh, dWhh, dbh = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(bh)
    dxs = np.zeros_like(xs)
    for t in reversed(range(steps)):
        h = hs[t - 1] if planted_bug else hs[t]  # PLANTED_BUG: h_{t-1} where h_t belongs
        dhraw = (1 - h * h) * dh  # backprop through tanh
        dbh += dhraw
        dWxh += np.outer(dhraw, xs[t])
        dWhh += np.outer(dhraw, hs[t - 1])
        dxs[t] = Wxh.T @ dhraw
        dh = Whh.T @ dhraw  # on to h_{t-1}
    grads = {"dWxh": dWxh, "dWhh": dWhh, "dbh": dbh, "dWhy": dWhy, "dby": dby, "dxs": dxs, "dh0": dh}
    return float(loss), grads, hs


def check_with_gradscope(
    params: dict[str, np.ndarray], xs: np.ndarray, target: int, h0: np.ndarray, planted_bug: bool = False
) -> None:
    """Compare this file's BPTT with gradscope's exact reference; raises ``GradientMismatch`` if they differ.

    The tutorial's names (Wxh, Whh, bh, Why, by; dWxh, ..., dxs, dh0) go in as they are. The loss is
    the cross-entropy of the last step (``reduce="last"``), through the output layer Why, by, whose
    gradients are checked too.
    """
    _, grads, _ = loss_and_gradients(params, xs, target, h0, planted_bug)
    from gradscope.testing import check_bptt

    check_bptt("rnn", params, grads, xs, targets=target, loss="softmax_ce", reduce="last", h0=h0)


def train(epochs: int = 200, hidden_size: int = 8, learning_rate: float = 0.1, seed: int = 0) -> list[float]:
    """Plain SGD on :data:`SENTENCES`; returns the mean loss of every epoch."""
    rng = np.random.default_rng(seed)
    vocabulary = build_vocabulary(SENTENCES)
    params = init_params(len(vocabulary), hidden_size, 2, rng)
    h0 = np.zeros(hidden_size)
    history = []
    for _ in range(epochs):
        total = 0.0
        for sentence, label in SENTENCES:
            loss, grads, _ = loss_and_gradients(params, one_hot(sentence, vocabulary), label, h0)
            total += loss
            for name in params:
                params[name] -= learning_rate * np.clip(grads["d" + name], -5, 5)
        history.append(total / len(SENTENCES))
    return history


if __name__ == "__main__":
    losses = train()
    for epoch in (0, 49, 99, 199):
        print(f"epoch {epoch + 1:3d}: mean loss {losses[epoch]:.4f}")
    rng = np.random.default_rng(1)
    vocabulary = build_vocabulary(SENTENCES)
    params = init_params(len(vocabulary), 8, 2, rng)
    params["bh"] = rng.normal(0.0, 0.1, size=8)
    problem = (params, one_hot("good acting and a great story", vocabulary), 1, rng.normal(0.0, 0.5, size=8))
    check_with_gradscope(*problem)
    print("gradscope: the hand-written BPTT gradients match the exact reference")
    from gradscope.testing import GradientMismatch

    try:
        check_with_gradscope(*problem, planted_bug=True)
    except GradientMismatch as mismatch:
        print(mismatch)
