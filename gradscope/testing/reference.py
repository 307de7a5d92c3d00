"""Exact reference gradients for hand-written BPTT: one validated problem, then the engine's backward pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from gradscope.analysis.problem import Problem, make_problem
from gradscope.engine.bptt import backward
from gradscope.errors import ConfigError, ParameterError
from gradscope.params.arrays import as_float_array

if TYPE_CHECKING:
    from gradscope.cells.cell import Cell


def reference_problem(
    cell: str | Cell,
    params: Mapping[str, object],
    inputs: object,
    *,
    h0: object | None = None,
    c0: object | None = None,
    y0: object | None = None,
) -> Problem:
    """The single-layer problem a reference gradient is computed on (stacked parameters are refused)."""
    problem = make_problem(cell, params=params, inputs=inputs, h0=h0, c0=c0, y0=y0)
    network = problem.network
    if network.stacked:
        raise ParameterError(
            "bptt_reference takes a single-layer, unidirectional cell (layer 0 names only); "
            f"got {network.num_layers} layer(s), bidirectional={network.bidirectional}"
        )
    return problem


def reference_gradients(problem: Problem, upstream: object) -> dict[str, np.ndarray]:
    """The exact gradients on a problem of :func:`reference_problem`, for ``upstream`` ``(T, H)`` (``(T, O)``)."""
    spec = problem.spec
    steps, size = problem.steps, (problem.output_size or problem.hidden_size)
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
    return backward(problem.trajectory(), gradient)


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
    and ``y0``.

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
    return reference_gradients(reference_problem(cell, params, inputs, h0=h0, c0=c0, y0=y0), upstream)
