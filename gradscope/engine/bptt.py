"""Exact backpropagation through time from the derived per-unit partials, for any cell.

The loss ``L`` reads the states directly through ``upstream[t-1] = dL/dh_t`` (``t = 1..T``; for a
cell that feeds its output back, ``dL/dy_t``, its state); everything else reaches ``L`` through
the recursion. With ``delta_t = dL/ds_t`` (total) and the partials of step t evaluated on the
forward trajectory (:func:`~gradscope.engine.coefficients.step_coefficients`), per step from the back:

    g_t        = delta_t as the per-unit components (C, H); for a readout cell
                 dL/dr = rho' * delta_t and g_t = W_hy^T dL/dr, its hidden stage's gradient
    dL/dm_g    = sum_a (d a_t / d m_g) * g_t[a]                        (H,)  per gate g
    dL/du_g    = sum_a (d a_t / d u_g) * g_t[a]                        (H,)
    delta_{t-1} = sum_a (d a_t / d b_{t-1}) * g_t[a]                    direct, per unit
                 + [read] sum_g W_hg^T dL/dm_g + [h] upstream[t-2]

that is ``delta_{t-1} = J_t^T delta_t + upstream`` with ``J_t`` never formed. The projections
``u_g = W_ig x_t + b_ig`` and ``m_g = W_hg r_{t-1} + b_hg`` then give the parameter gradients as
sums of outer products over time: ``dL/dW_ih = sum_t dL/du_t x_t^T``, ``dL/dW_hh = sum_t dL/dm_t
r_{t-1}^T``, ``dL/db_ih = sum_t dL/du_t``, ``dL/db_hh = sum_t dL/dm_t`` (gates stacked in the
cell's chunk order), the readout's ``dL/dW_hy = sum_t dL/dr_t h_t^T``, and ``dL/dx_t = W_ih^T dL/du_t``.

Cost: ``O(T (G H R + G H I))`` time and ``O(T G H)`` memory, all float64.
"""

from __future__ import annotations

import numpy as np

from gradscope.engine.coefficients import input_coefficients, step_coefficients
from gradscope.engine.trajectory import Trajectory, read_index


def state_key(component: str) -> str:
    """The gradient key of an initial state component: ``"h0"``, ``"c0"``, ``"y0"``."""
    return f"{component}0"


def backward(trajectory: Trajectory, upstream: np.ndarray) -> dict[str, np.ndarray]:
    """Exact BPTT through a forward pass, for ``upstream[t-1] = dL/dh_t`` of shape ``(T, H)`` (``dL/dy_t``
    ``(T, O)`` for a cell that feeds its output back).

    Returns:
        Gradients under the parameters' own names (``weight_ih_l0`` ``(G*H, I)``, ``weight_hh_l0``
        ``(G*H, R)`` or ``weight_yh_l0``, the readout's ``weight_hy_l0``; biases only when the
        parameters have them), ``inputs`` ``(T, I)``, and one array per initial state component
        (``h0``, and ``c0`` for the LSTM; ``y0`` ``(O,)`` for a readout cell).
    """
    params, spec = trajectory.params, trajectory.spec
    steps, hidden, gates = trajectory.steps, params.hidden_size, spec.num_gates
    readout = spec.feedback
    coefficients = step_coefficients(trajectory, 0, steps)  # (T, C, G, H), (T, C, C, H)
    inputs = input_coefficients(trajectory, 0, steps)  # (T, C, G, H)
    weight_blocks = params.recurrent_blocks()  # (G, H, R)
    reads = read_index(spec, hidden, params.output_size)
    size = trajectory.states.shape[1]
    # What the loss reads directly: h (the first component) of a one-stage cell, y of a readout cell.
    loss_rows = slice(0, size) if readout else slice(0, hidden)

    units = np.empty((steps, coefficients.recurrent.shape[1], hidden))  # g_t, (T, C, H)
    grad_m = np.empty((steps, gates, hidden))  # grad_m[t-1] = dL/dm_g at step t
    grad_r = np.empty((steps, size)) if readout else None  # dL/dr_t of a readout cell
    delta = np.zeros(size)  # dL/ds_t, total
    delta[loss_rows] = upstream[steps - 1]
    for k in range(steps - 1, -1, -1):  # k = t - 1
        if grad_r is not None:
            assert coefficients.readout is not None and params.weight_out is not None
            grad_r[k] = coefficients.readout[k] * delta
            units[k] = params.weight_out.T @ grad_r[k]
        else:
            units[k] = delta.reshape(-1, hidden)
        grad_m[k] = np.einsum("agi,ai->gi", coefficients.recurrent[k], units[k])
        previous = np.zeros(size)
        if not readout:
            previous += np.einsum("abi,ai->bi", coefficients.direct[k], units[k]).reshape(-1)
        previous[reads] += np.einsum("gir,gi->r", weight_blocks, grad_m[k])  # sum_g W_hg^T dL/dm_g
        if k:
            previous[loss_rows] += upstream[k - 1]
        delta = previous  # dL/ds_{t-1}; after the loop, dL/ds_0
    grad_u = np.einsum("tagi,tai->tgi", inputs, units).reshape(steps, gates * hidden)
    grad_m_flat = grad_m.reshape(steps, gates * hidden)
    names = params.layout
    grads = {
        "weight_ih_l0": grad_u.T @ trajectory.inputs,
        f"{names.recurrent_weight}_l0": grad_m_flat.T @ trajectory.read(0, steps),
    }
    if grad_r is not None and trajectory.hidden is not None:
        grads[f"{names.readout_weight}_l0"] = grad_r.T @ trajectory.hidden
    if params.has_bias:
        grads["bias_ih_l0"] = grad_u.sum(axis=0)
        if names.recurrent_bias is not None:
            grads[f"{names.recurrent_bias}_l0"] = grad_m_flat.sum(axis=0)
        if grad_r is not None:
            grads[f"{names.readout_bias}_l0"] = grad_r.sum(axis=0)
    grads["inputs"] = grad_u @ params.weight_ih
    initial = [delta] if readout else list(delta.reshape(-1, hidden))
    for component, value in zip(spec.state, initial, strict=True):
        grads[state_key(component)] = value
    return grads
