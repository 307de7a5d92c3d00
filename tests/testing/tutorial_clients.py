"""Three hand-written BPTT programs as tutorials write them, each with planted bugs (``bug=NAME``).

* :func:`char_rnn`: min-char-rnn style: column vectors, ``Wxh (H, V)``, ``Whh``, ``Why (V, H)``, ``bh (H, 1)``,
  ``by (V, 1)``, character indices in, softmax cross-entropy at every step; returns ``(loss, grads, h_last)``.
* :func:`many_to_one`: flat vectors, ``W_xh``, ``W_hh``, ``b_h``, ``W_hy``, ``b_y``, softmax cross-entropy on
  the last step only; returns the gradients under the parameters' names.
* :func:`lstm`: ``W (4H, H + I)`` on ``[h_{t-1}; x_t]``, gates ordered ``i, f, o, g``, ``b``, ``Wy``, ``by``,
  MSE over every step and output; returns ``dW, db, dWy, dby, dh0, dc0``.

Every backward can record, in ``trace[t]`` (t = 1..T), what it adds to each parameter's gradient at
step t: the tests place a bug in time from these terms, independently of gradscope. ``clip`` clips
every gradient at the end, as the tutorials do before their update.
"""

from __future__ import annotations

import numpy as np

CHAR_BUGS = ("transpose", "tanh_prev", "no_tanh_grad", "no_minus_one", "no_dhnext", "overwrite_h0", "h_t_in_dwhh")
M2O_BUGS = ("transpose", "tanh_prev", "no_tanh_grad", "no_minus_one", "no_dhnext", "overwrite_h0", "no_output_grad")
LSTM_BUGS = (
    "transpose",
    "tanh_c_prev",
    "no_sigmoid_grad",
    "no_dhnext",
    "no_dc_carry",
    "swapped_gates",
    "no_tanh_cell",
    "overwrite_h0",
    "sum_not_mean",
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max())
    return e / e.sum()


def _states(T: int, h0: np.ndarray, bug: str | None) -> dict | np.ndarray:
    """Where the hidden states go: a dict with h0 at -1, or (bug) an array whose slot -1 is also h_T's."""
    if bug == "overwrite_h0":
        hs = np.zeros((T, *h0.shape))
        hs[-1] = h0
        return hs
    return {-1: h0.copy()}


def _clip(grads: dict, clip: float | None) -> dict:
    return grads if clip is None else {k: np.clip(g, -clip, clip) for k, g in grads.items()}


def char_rnn(params: dict, inputs: list, targets: list, hprev: np.ndarray, bug=None, clip=None, trace=None):
    """Forward, loss and BPTT over one chunk of characters (min-char-rnn's ``lossFun``)."""
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    T, H, V = len(inputs), Whh.shape[0], Why.shape[0]
    xs, ps, hs, loss = {}, {}, _states(T, hprev, bug), 0.0
    for t in range(T):
        xs[t] = np.zeros((V, 1))
        xs[t][inputs[t]] = 1.0
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        ps[t] = _softmax(Why @ hs[t] + by)
        loss -= np.log(ps[t][targets[t], 0])
    grads = {"d" + k: np.zeros_like(v) for k, v in params.items()}
    dhnext = np.zeros((H, 1))
    for t in reversed(range(T)):
        dy = ps[t].copy()
        if bug != "no_minus_one":
            dy[targets[t]] -= 1.0
        dh = Why.T @ dy + (0.0 if bug == "no_dhnext" else dhnext)
        h_deriv = hs[t - 1] if bug == "tanh_prev" else hs[t]
        dhraw = dh if bug == "no_tanh_grad" else (1 - h_deriv * h_deriv) * dh
        read = hs[t] if bug == "h_t_in_dwhh" else hs[t - 1]
        step = {"dWxh": dhraw @ xs[t].T, "dWhh": dhraw @ read.T, "dWhy": dy @ hs[t].T, "dbh": dhraw, "dby": dy}
        for k, v in step.items():
            grads[k] += v
        if trace is not None:
            trace[t + 1] = step
        dhnext = (Whh if bug == "transpose" else Whh.T) @ dhraw
    return float(loss), _clip(grads, clip), hs[T - 1]


def many_to_one(params: dict, xs: np.ndarray, target: int, h0: np.ndarray, bug=None, clip=None, trace=None) -> dict:
    """A tanh RNN classifier read at the last step; hand-written BPTT."""
    W_xh, W_hh, b_h, W_hy, b_y = (params[k] for k in ("W_xh", "W_hh", "b_h", "W_hy", "b_y"))
    T, H = xs.shape[0], h0.shape[0]
    hs = _states(T, h0, bug)
    for t in range(T):
        hs[t] = np.tanh(W_xh @ xs[t] + W_hh @ hs[t - 1] + b_h)
    dy = _softmax(W_hy @ hs[T - 1] + b_y)
    if bug != "no_minus_one":
        dy[target] -= 1.0
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dh_next = np.zeros(H)
    for t in reversed(range(T)):
        last = t == T - 1
        dh = (W_hy.T @ dy if last and bug != "no_output_grad" else np.zeros(H)) + (0 if bug == "no_dhnext" else dh_next)
        deriv = hs[t - 1] if bug == "tanh_prev" else hs[t]
        da = dh if bug == "no_tanh_grad" else (1 - deriv**2) * dh
        step = {
            "W_xh": np.outer(da, xs[t]),
            "W_hh": np.outer(da, hs[t - 1]),
            "b_h": da,
            "W_hy": np.outer(dy, hs[t]) if last else np.zeros_like(W_hy),
            "b_y": dy if last else np.zeros_like(b_y),
        }
        for k, v in step.items():
            grads[k] += v
        if trace is not None:
            trace[t + 1] = step
        dh_next = (W_hh if bug == "transpose" else W_hh.T) @ da
    return _clip(grads, clip)


def lstm_forward(params: dict, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray, bug=None):
    """``(ys, hs, cs, gates)``; ``hs[-1] = h0``, ``cs[-1] = c0``, ``gates[t] = (i, f, o, g)``."""
    W, b, Wy, by = params["W"], params["b"], params["Wy"], params["by"]
    T, H = xs.shape[0], h0.shape[0]
    hs, cs, gates, ys = _states(T, h0, bug), {-1: c0.copy()}, {}, np.zeros((T, Wy.shape[0]))
    for t in range(T):
        z = W @ np.concatenate([hs[t - 1], xs[t]]) + b
        i, f, o, g = _sigmoid(z[:H]), _sigmoid(z[H : 2 * H]), _sigmoid(z[2 * H : 3 * H]), np.tanh(z[3 * H :])
        cs[t] = f * cs[t - 1] + i * g
        hs[t] = o * (cs[t] if bug == "no_tanh_cell" else np.tanh(cs[t]))
        gates[t] = (i, f, o, g)
        ys[t] = Wy @ hs[t] + by
    return ys, hs, cs, gates


def lstm(
    params: dict, xs: np.ndarray, targets: np.ndarray, h0: np.ndarray, c0: np.ndarray, bug=None, clip=None, trace=None
) -> dict:
    """An LSTM with a linear output layer and MSE over every step; hand-written BPTT."""
    W, Wy = params["W"], params["Wy"]
    T, H = xs.shape[0], h0.shape[0]
    ys, hs, cs, gates = lstm_forward(params, xs, h0, c0, bug)
    dys = 2.0 * (ys - targets) / (targets.shape[1] if bug == "sum_not_mean" else ys.size)
    grads = {"d" + k: np.zeros_like(v) for k, v in params.items()}
    dh_next, dc_next = np.zeros(H), np.zeros(H)
    for t in reversed(range(T)):
        i, f, o, g = gates[t]
        tc = cs[t] if bug == "no_tanh_cell" else np.tanh(cs[t])
        dh = Wy.T @ dys[t] + (0.0 if bug == "no_dhnext" else dh_next)
        if bug == "no_tanh_cell":
            dc = dc_next + dh * o
        else:
            deriv = 1 - (np.tanh(cs[t - 1]) if bug == "tanh_c_prev" else tc) ** 2
            dc = (0.0 if bug == "no_dc_carry" else dc_next) + dh * o * deriv
        di, df, do, dg = dc * g, dc * cs[t - 1], dh * tc, dc * i
        if bug != "no_sigmoid_grad":
            di, df, do = di * i * (1 - i), df * f * (1 - f), do * o * (1 - o)
        dg = dg * (1 - g**2)
        dz = np.concatenate([di, df, dg, do] if bug == "swapped_gates" else [di, df, do, dg])
        v = np.concatenate([hs[t - 1], xs[t]])
        step = {"dW": np.outer(dz, v), "db": dz, "dWy": np.outer(dys[t], hs[t]), "dby": dys[t]}
        for k, val in step.items():
            grads[k] += val
        if trace is not None:
            trace[t + 1] = step
        if bug == "transpose":
            dh_next = sum(W[k * H : (k + 1) * H, :H] @ dz[k * H : (k + 1) * H] for k in range(4))
        else:
            dh_next = W[:, :H].T @ dz
        dc_next = f * dc
    grads["dh0"], grads["dc0"] = dh_next, dc_next
    return _clip(grads, clip)


def lstm_loss(params: dict, xs: np.ndarray, targets: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> float:
    ys = lstm_forward(params, xs, h0, c0)[0]
    return float(np.mean((ys - targets) ** 2))


GRU_BUGS = ("no_sigmoid_grad", "no_tanh_grad", "swapped_z", "transpose")


def gru(params: dict, xs: np.ndarray, targets: np.ndarray, h0: np.ndarray, bug=None, trace=None) -> dict:
    """A GRU with one array per gate (``Wz, Uz, bz``, ``Wr, Ur, br``, ``Wh, Uh, bh`` for the candidate), PyTorch's
    variant (``n = tanh(Wh x + bh + r * (Uh h))``), and the loss ``0.5 sum_t ||h_t - target_t||^2`` on the states."""
    T, H = xs.shape[0], h0.shape[0]
    hs, cache = {-1: h0.copy()}, {}
    for t in range(T):
        x, h = xs[t], hs[t - 1]
        r = _sigmoid(params["Wr"] @ x + params["br"] + params["Ur"] @ h)
        z = _sigmoid(params["Wz"] @ x + params["bz"] + params["Uz"] @ h)
        uh = params["Uh"] @ h
        n = np.tanh(params["Wh"] @ x + params["bh"] + r * uh)
        hs[t] = z * n + (1 - z) * h if bug == "swapped_z" else (1 - z) * n + z * h
        cache[t] = (r, z, n, uh)
    grads = {"d" + k: np.zeros_like(v) for k, v in params.items()}
    dh_next = np.zeros(H)
    for t in reversed(range(T)):
        r, z, n, uh = cache[t]
        x, h = xs[t], hs[t - 1]
        dh = hs[t] - targets[t] + dh_next
        if bug == "swapped_z":
            dn, dz, dh_prev = dh * z, dh * (n - h), dh * (1 - z)
        else:
            dn, dz, dh_prev = dh * (1 - z), dh * (h - n), dh * z
        da_n = dn if bug == "no_tanh_grad" else dn * (1 - n**2)
        dr = da_n * uh
        da_r, da_z = (dr, dz) if bug == "no_sigmoid_grad" else (dr * r * (1 - r), dz * z * (1 - z))
        step = {
            "dWr": np.outer(da_r, x), "dUr": np.outer(da_r, h), "dbr": da_r,
            "dWz": np.outer(da_z, x), "dUz": np.outer(da_z, h), "dbz": da_z,
            "dWh": np.outer(da_n, x), "dUh": np.outer(da_n * r, h), "dbh": da_n,
        }  # fmt: skip
        for k, v in step.items():
            grads[k] += v
        if trace is not None:
            trace[t + 1] = step
        carry = [(params["Ur"], da_r), (params["Uz"], da_z), (params["Uh"], da_n * r)]
        dh_next = dh_prev + sum((U if bug == "transpose" else U.T) @ d for U, d in carry)
    grads["dh0"] = dh_next
    return grads
