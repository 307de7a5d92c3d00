"""The loss's own gradient through time: ``||dL/dh_{T-k}||`` at every lag, from exact BPTT.

``P_k = d s_T / d s_{T-k}`` says how a gradient arriving at the last step would shrink on its way back; the
optimiser receives ``dL/dh_t`` itself, the sum over every later step's loss of such products applied to what
the loss sends in. For a loss with an output layer ``y_t = W_out h_t + b_out`` and a per-step or last-step
loss (:mod:`gradscope.engine.losses`), ``upstream[t-1] = W_out^T dL/dy_t`` goes through the derived BPTT
recursion (:func:`~gradscope.engine.bptt.backward_terms`), whose ``deltas[t]`` is the total ``dL/ds_t``; its ``h``
part is ``dL/dh_t`` as autograd gives it for the tensor ``h_t`` (``c_t`` of the LSTM held fixed).
"""

from __future__ import annotations

import numpy as np

from gradscope.engine.bptt import backward_terms
from gradscope.engine.losses import Loss, OutputHead
from gradscope.engine.trajectory import Trajectory
from gradscope.errors import ConfigError


def hidden_states(trajectory: Trajectory) -> np.ndarray:
    """``h_t`` for ``t = 1..T``, ``(T, H)``: what an output layer reads."""
    if trajectory.spec.feedback:
        raise ConfigError(f"the loss's gradient through time: not available for the {trajectory.spec.name} cell")
    return trajectory.components[1:, 0]


def loss_upstream(trajectory: Trajectory, loss: Loss, head: OutputHead | None = None) -> np.ndarray:
    """``upstream[t-1] = dL/dh_t`` as the loss gives it directly (before the recursion), ``(T, H)``."""
    hidden = hidden_states(trajectory)
    outputs = hidden if head is None else head.outputs(hidden)
    gradient = loss.gradient(outputs)
    return gradient if head is None else head.hidden_gradient(gradient)


def loss_gradient_norms(trajectory: Trajectory, upstream: np.ndarray) -> np.ndarray:
    """``(T,)`` ``log10 ||dL/dh_{T-k}||_2`` for lags ``k = 1..T`` (``k = T`` is the initial state ``h_0``;
    ``-inf`` where the gradient is exactly zero), the total gradient through every later step."""
    hidden = trajectory.params.hidden_size
    deltas = backward_terms(trajectory, upstream).deltas  # (T + 1, S): dL/ds_t, t = 0..T
    steps = trajectory.steps
    gradients = deltas[steps - 1 :: -1, :hidden] if steps > 0 else deltas[:0, :hidden]  # rows k-1: dL/dh_{T-k}
    with np.errstate(divide="ignore"):
        return np.log10(np.linalg.norm(gradients, axis=1))
