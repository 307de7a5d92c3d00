"""Exact backpropagation through time from the derived per-unit partials.

The loss ``L`` reads the hidden states directly through ``upstream[t-1] = dL/dh_t`` (``t = 1..T``);
everything else reaches ``L`` through the recursion. With ``delta_t = dL/ds_t`` (total, shape
``(C, H)``: ``[dL/dh_t; dL/dc_t]`` for the LSTM) and the partials of step t evaluated on the forward
trajectory (:meth:`~gradscope.compile.compiled.CompiledCell.state_partials` and
:meth:`~gradscope.compile.compiled.CompiledCell.input_partials`):

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

A cell that feeds its output back (Jordan network, state ``y``) is handled by
:func:`backward_feedback`: there the loss reads the outputs, ``upstream[t-1] = dL/dy_t``, and the
same recursion runs through the readout and the hidden stage (see there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from gradscope.analysis.analyze import prepare
from gradscope.analysis.analyze import trajectory as forward_pass
from gradscope.engine.coefficients import step_coefficients
from gradscope.engine.feedback import FeedbackTrajectory
from gradscope.engine.trajectory import Trajectory
from gradscope.errors import ConfigError, ParameterError
from gradscope.params.layer import as_float_array

if TYPE_CHECKING:
    from gradscope.cells.builtin import Cell


def state_key(component: str) -> str:
    """The gradient key of an initial state component: ``"h0"``, ``"c0"``."""
    return f"{component}0"


def backward(trajectory: Trajectory | FeedbackTrajectory, upstream: np.ndarray) -> dict[str, np.ndarray]:
    """Exact BPTT through a forward pass, for ``upstream[t-1] = dL/dh_t`` of shape ``(T, H)``.

    For a feedback cell's trajectory, ``upstream`` is ``dL/dy_t`` ``(T, O)``: see :func:`backward_feedback`.

    Returns:
        Gradients under PyTorch's names: ``weight_ih_l0`` ``(G*H, I)``, ``weight_hh_l0``
        ``(G*H, H)``, ``bias_ih_l0`` and ``bias_hh_l0`` ``(G*H,)`` (only when the parameters have
        biases), ``inputs`` ``(T, I)``, and one ``(H,)`` array per initial state component
        (``h0``, and ``c0`` for the LSTM).
    """
    if isinstance(trajectory, FeedbackTrajectory):
        return backward_feedback(trajectory, upstream)
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


def backward_feedback(trajectory: FeedbackTrajectory, upstream: np.ndarray) -> dict[str, np.ndarray]:
    """Exact BPTT through a feedback cell, for ``upstream[t-1] = dL/dy_t`` ``(T, O)`` read by the loss.

    With ``delta_t = dL/dy_t`` (total) and the derived partials ``D_g = d h_t / d m_g``,
    ``E_g = d h_t / d u_g`` and ``rho' = d y_t / d r``, per step from the back:

        dL/dr = rho' * delta_t,   dL/dh_t = W_hy^T dL/dr,   dL/dm_g = D_g * dL/dh_t,   dL/du_g = E_g * dL/dh_t,
        delta_{t-1} = sum_g W_yg^T dL/dm_g + upstream[t-2],

    i.e. ``delta_{t-1} = J_t^T delta_t + upstream``; the parameter gradients are sums of outer
    products over time, as in :func:`backward`.

    Returns:
        ``weight_ih_l0`` ``(G*H, I)``, ``weight_yh_l0`` ``(G*H, O)``, ``weight_hy_l0`` ``(O, H)``,
        ``bias_ih_l0`` ``(G*H,)`` and ``bias_hy_l0`` ``(O,)`` (only when the parameters have biases),
        ``inputs`` ``(T, I)`` and ``y0`` ``(O,)``.
    """
    compiled, params, steps = trajectory.compiled, trajectory.params, trajectory.steps
    spec = compiled.spec
    coefficients = trajectory.coefficients(0, steps)
    input_coefficients = trajectory.input_coefficients(0, steps)  # (T, G, H): d h_t / d u_g
    weight_blocks = params.recurrent_blocks()  # (G, H, O)

    grad_r = np.empty((steps, params.output_size))
    grad_h = np.empty((steps, params.hidden_size))
    grad_m = np.empty_like(coefficients.hidden)
    delta = upstream[steps - 1].copy()
    for k in range(steps - 1, -1, -1):  # k = t - 1
        grad_r[k] = coefficients.readout[k] * delta
        grad_h[k] = params.weight_hy.T @ grad_r[k]
        grad_m[k] = coefficients.hidden[k] * grad_h[k]
        delta = np.einsum("gio,gi->o", weight_blocks, grad_m[k])  # sum_g W_yg^T dL/dm_g
        if k:
            delta += upstream[k - 1]
    grad_u = (input_coefficients * grad_h[:, None, :]).reshape(steps, -1)
    grad_m_flat = grad_m.reshape(steps, -1)
    grads = {
        "weight_ih_l0": grad_u.T @ trajectory.inputs,
        "weight_yh_l0": grad_m_flat.T @ trajectory.states[:steps],
        "weight_hy_l0": grad_r.T @ trajectory.hidden,
    }
    if params.has_bias:
        grads["bias_ih_l0"] = grad_u.sum(axis=0)
        grads["bias_hy_l0"] = grad_r.sum(axis=0)
    grads["inputs"] = grad_u @ params.weight_ih
    grads[state_key(spec.state[0])] = delta
    return grads


def bptt_reference(
    cell: str | Cell,
    params: Mapping[str, object],
    inputs: object,
    upstream: object,
    *,
    h0: object | None = None,
    c0: object | None = None,
    y0: object | None = None,
) -> dict[str, np.ndarray]:
    """The exact gradients of a loss ``L`` that reads the hidden states ``h_1 .. h_T`` directly.

    For the Jordan cell (state ``y``, its fed-back output) the loss reads the outputs ``y_1 .. y_T``:
    ``upstream`` is ``(T, O)``, the initial state is ``y0`` ``(O,)``, and the gradients are
    ``weight_ih_l0``, ``weight_yh_l0``, ``weight_hy_l0``, ``bias_ih_l0``, ``bias_hy_l0``, ``inputs``
    and ``y0`` (see :func:`backward_feedback`).

    Args:
        cell: ``"rnn"``, ``"rnn-relu"``, ``"lstm"``, ``"gru"``, ``"jordan"`` or a :class:`~gradscope.cells.Cell`.
        params: single-layer parameters under PyTorch's names (``weight_ih_l0`` ``(G*H, I)``,
            ``weight_hh_l0`` ``(G*H, H)``, optional ``bias_ih_l0``/``bias_hh_l0`` ``(G*H,)``).
        inputs: ``(T, input_size)``; row ``t-1`` is ``x_t``.
        upstream: ``(T, H)``; row ``t-1`` is ``dL/dh_t`` taken directly from the loss (for a
            many-to-one loss only the last row is non-zero). For the LSTM the loss reads ``h`` only;
            ``c`` receives its gradient through the recursion.
        h0, c0: initial hidden (and LSTM cell) state ``(H,)``; zeros by default.
        y0: the Jordan cell's initial output ``(O,)`` (its only state); zeros by default.

    Returns:
        float64 gradients: ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0`` (same
        shapes as the parameters; biases only if given), ``inputs`` ``(T, I)``, ``h0`` ``(H,)`` and,
        for the LSTM, ``c0`` ``(H,)``.

    Raises:
        GradscopeError: unknown cell, bad parameter names or shapes, non-finite values, or an
            ``upstream`` whose shape is not ``(T, H)`` (``(T, O)`` for the Jordan cell); the message names
            the offending thing.
    """
    problem = prepare(cell, params=params, inputs=inputs, h0=h0, c0=c0, y0=y0)
    if problem.stacked is not None:
        raise ParameterError(
            "bptt_reference takes a single-layer, unidirectional cell (layer 0 names only); "
            f"got {problem.stacked.num_layers} layer(s), bidirectional={problem.stacked.bidirectional}"
        )
    spec = problem.compiled.spec
    steps, size = problem.inputs.shape[0], problem.initial_state.shape[-1]  # size: H, or O for a feedback cell
    gradient = as_float_array("upstream", upstream)
    if gradient.shape != (steps, size):
        if spec.feedback:
            raise ConfigError(
                f"upstream: expected shape (T, O) = ({steps}, {size}), one row dL/dy_t per time step "
                f"(the {spec.name} cell's loss reads its outputs y_t), got {gradient.shape}"
            )
        raise ConfigError(
            f"upstream: expected shape (T, H) = ({steps}, {size}), one row dL/dh_t per time step, "
            f"got {gradient.shape}; for a many-to-one loss put dL/dh_T in the last row and zeros elsewhere"
        )
    return backward(forward_pass(problem), gradient)
