"""Exact backpropagation through time from the derived per-unit partials.

The loss ``L`` reads the hidden states directly through ``upstream[t-1] = dL/dh_t`` (``t = 1..T``);
everything else reaches ``L`` through the recursion. With ``delta_t = dL/ds_t`` (total, shape
``(C, H)``: ``[dL/dh_t; dL/dc_t]`` for the LSTM) and the partials of step t evaluated on the forward
trajectory (:meth:`~gradscope.compiled.CompiledCell.state_partials` and
:meth:`~gradscope.compiled.CompiledCell.input_partials`):

    dL/dm_g  = sum_a (d a_t / d m_g) * delta_t[a]                  (H,)  per gate g
    dL/du_g  = sum_a (d a_t / d u_g) * delta_t[a]                  (H,)
    delta_{t-1}[b] = sum_a (d a_t / d b_{t-1}) * delta_t[a]          direct, per unit
                   + [b == h] * (sum_g W_hg^T dL/dm_g + upstream[t-2])

that is ``delta_{t-1} = J_t^T delta_t + upstream`` with ``J_t`` never formed. The projections
``u_g = W_ig x_t + b_ig`` and ``m_g = W_hg h_{t-1} + b_hg`` then give the parameter gradients as
sums of outer products over time: ``dL/dW_ih = sum_t dL/du_t x_t^T``, ``dL/dW_hh = sum_t dL/dm_t
h_{t-1}^T``, ``dL/db_ih = sum_t dL/du_t``, ``dL/db_hh = sum_t dL/dm_t`` (gates stacked in PyTorch's
chunk order), and ``dL/dx_t = W_ih^T dL/du_t``.

Cost: ``O(T (G H^2 + G H I))`` time and ``O(T G H)`` memory, all float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from gradscope.analysis import prepare
from gradscope.errors import ConfigError, ParameterError
from gradscope.jacobians import step_coefficients
from gradscope.params import as_float_array
from gradscope.trajectory import Trajectory, run_forward

if TYPE_CHECKING:
    from gradscope.cells import Cell


def state_key(component: str) -> str:
    """The gradient key of an initial state component: ``"h0"``, ``"c0"``."""
    return f"{component}0"


def backward(trajectory: Trajectory, upstream: np.ndarray) -> dict[str, np.ndarray]:
    """Exact BPTT through a forward pass, for ``upstream[t-1] = dL/dh_t`` of shape ``(T, H)``.

    Returns:
        Gradients under PyTorch's names: ``weight_ih_l0`` ``(G*H, I)``, ``weight_hh_l0``
        ``(G*H, H)``, ``bias_ih_l0`` and ``bias_hh_l0`` ``(G*H,)`` (only when the parameters have
        biases), ``inputs`` ``(T, I)``, and one ``(H,)`` array per initial state component
        (``h0``, and ``c0`` for the LSTM).
    """
    compiled, params = trajectory.compiled, trajectory.params
    spec = compiled.spec
    steps, hidden, gates, components = trajectory.steps, params.hidden_size, spec.num_gates, len(spec.state)
    gate_index = {g: k for k, g in enumerate(spec.gates)}
    component_index = {c: k for k, c in enumerate(spec.state)}

    # All partials of all steps at once: (T, C, G, H) recurrent, (T, C, C, H) direct, (T, C, G, H) input.
    coefficients = step_coefficients(trajectory, 0, steps)
    input_coefficients = np.zeros((steps, components, gates, hidden))
    input_partials = compiled.input_partials(
        trajectory.input_projection, trajectory.recurrent_projection(0, steps), trajectory.states[:steps]
    )
    for (_, row, gate), value in input_partials.items():
        input_coefficients[:, component_index[row], gate_index[gate]] = value

    weight_blocks = params.recurrent_blocks()  # (G, H, H)
    deltas = np.zeros((steps, components, hidden))  # deltas[t-1] = dL/ds_t (total)
    grad_m = np.empty((steps, gates, hidden))  # grad_m[t-1] = dL/dm_g at step t
    deltas[steps - 1, 0] = upstream[steps - 1]
    for k in range(steps - 1, -1, -1):  # k = t - 1
        grad_m[k] = np.einsum("agi,ai->gi", coefficients.recurrent[k], deltas[k])
        previous = np.einsum("abi,ai->bi", coefficients.direct[k], deltas[k])
        previous[0] += np.einsum("gij,gi->j", weight_blocks, grad_m[k])  # sum_g W_hg^T dL/dm_g
        if k == 0:
            initial = previous  # dL/ds_0
        else:
            previous[0] += upstream[k - 1]
            deltas[k - 1] = previous
    grad_u = np.einsum("tagi,tai->tgi", input_coefficients, deltas)

    grad_u_flat = grad_u.reshape(steps, gates * hidden)
    grad_m_flat = grad_m.reshape(steps, gates * hidden)
    grads = {
        "weight_ih_l0": grad_u_flat.T @ trajectory.inputs,
        "weight_hh_l0": grad_m_flat.T @ trajectory.states[:steps, 0],
    }
    if params.has_bias:
        grads["bias_ih_l0"] = grad_u_flat.sum(axis=0)
        grads["bias_hh_l0"] = grad_m_flat.sum(axis=0)
    grads["inputs"] = grad_u_flat @ params.weight_ih
    for component, value in zip(spec.state, initial, strict=True):
        grads[state_key(component)] = value
    return grads


def bptt_reference(
    cell: str | Cell,
    params: Mapping[str, object],
    inputs: object,
    upstream: object,
    *,
    h0: object | None = None,
    c0: object | None = None,
) -> dict[str, np.ndarray]:
    """The exact gradients of a loss ``L`` that reads the hidden states ``h_1 .. h_T`` directly.

    Args:
        cell: ``"rnn"``, ``"rnn-relu"``, ``"lstm"``, ``"gru"`` or a :class:`~gradscope.cells.Cell`.
        params: single-layer parameters under PyTorch's names (``weight_ih_l0`` ``(G*H, I)``,
            ``weight_hh_l0`` ``(G*H, H)``, optional ``bias_ih_l0``/``bias_hh_l0`` ``(G*H,)``).
        inputs: ``(T, input_size)``; row ``t-1`` is ``x_t``.
        upstream: ``(T, H)``; row ``t-1`` is ``dL/dh_t`` taken directly from the loss (for a
            many-to-one loss only the last row is non-zero). For the LSTM the loss reads ``h`` only;
            ``c`` receives its gradient through the recursion.
        h0, c0: initial hidden (and LSTM cell) state ``(H,)``; zeros by default.

    Returns:
        float64 gradients: ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0`` (same
        shapes as the parameters; biases only if given), ``inputs`` ``(T, I)``, ``h0`` ``(H,)`` and,
        for the LSTM, ``c0`` ``(H,)``.

    Raises:
        GradscopeError: unknown cell, bad parameter names or shapes, non-finite values, or an
            ``upstream`` whose shape is not ``(T, H)``; the message names the offending thing.
    """
    problem = prepare(cell, params=params, inputs=inputs, h0=h0, c0=c0)
    if problem.stacked is not None:
        raise ParameterError(
            "bptt_reference takes a single-layer, unidirectional cell (layer 0 names only); "
            f"got {problem.stacked.num_layers} layer(s), bidirectional={problem.stacked.bidirectional}"
        )
    steps, hidden = problem.inputs.shape[0], problem.params.hidden_size
    gradient = as_float_array("upstream", upstream)
    if gradient.shape != (steps, hidden):
        raise ConfigError(
            f"upstream: expected shape (T, H) = ({steps}, {hidden}), one row dL/dh_t per time step, "
            f"got {gradient.shape}; for a many-to-one loss put dL/dh_T in the last row and zeros elsewhere"
        )
    forward = run_forward(problem.compiled, problem.params, problem.inputs, problem.initial_state)
    return backward(forward, gradient)
