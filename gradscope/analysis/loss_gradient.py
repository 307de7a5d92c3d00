"""``||dL/dh_{T-k}||`` over the lag for a loss: the gradient signal the optimiser actually receives.

A loss is one of the BPTT checker's (:mod:`gradscope.engine.losses`: ``softmax_ce``, ``mse``, ``sse``,
``half_sse``, reduced over time by ``sum``, ``mean`` or ``last``), read through an optional output layer
``y_t = W_out h_t + b_out``; the gradient comes from the derived reference
(:func:`~gradscope.engine.loss_flow.loss_gradient_norms`), never from finite differences or autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradscope.analysis.document import json_number, json_numbers
from gradscope.analysis.problem import Problem
from gradscope.analysis.summary import fit_line
from gradscope.engine.loss_flow import loss_gradient_norms, loss_upstream
from gradscope.engine.losses import OutputHead, make_loss
from gradscope.errors import ConfigError
from gradscope.params.arrays import as_float_array


@dataclass(frozen=True)
class LossSpec:
    """A loss to follow back through time, with its targets and optional output layer.

    Attributes:
        kind: ``"softmax_ce"``, ``"mse"``, ``"sse"`` or ``"half_sse"``.
        reduce: ``"last"`` (one target for the sequence), ``"sum"`` or ``"mean"`` (one per step).
        targets: class indices or values, as :func:`~gradscope.engine.losses.make_loss` takes them.
        head_weight, head_bias: the output layer ``(O, H)`` and ``(O,)`` (``None``: the loss reads ``h_t``).
    """

    kind: str
    reduce: str
    targets: Any
    head_weight: np.ndarray | None = None
    head_bias: np.ndarray | None = None

    def head(self) -> OutputHead | None:
        if self.head_weight is None:
            return None
        weight = as_float_array("output weight", self.head_weight)
        bias = None if self.head_bias is None else as_float_array("output bias", self.head_bias).reshape(-1)
        if weight.ndim != 2 or (bias is not None and bias.shape != (weight.shape[0],)):
            raise ConfigError(f"output layer: expected weight (O, H) and bias (O,), got {weight.shape} and "
                              f"{None if bias is None else bias.shape}")  # fmt: skip
        return OutputHead(weight, bias)


@dataclass(frozen=True)
class LossGradient:
    """``log10 ||dL/dh_{T-k}||_2`` at lags ``k = 1..T`` and the slope of its logarithm.

    Attributes:
        loss, reduce: the loss followed.
        lags: ``(T,)`` ints ``1..T``.
        log10_norm: ``(T,)``; ``-inf`` where the gradient is exactly zero.
        rate_per_step: least-squares slope of ``ln ||dL/dh_{T-k}||`` against ``k`` (as for the Jacobian profile).
    """

    loss: str
    reduce: str
    lags: np.ndarray
    log10_norm: np.ndarray
    rate_per_step: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "reduce": self.reduce,
            "rate_per_step": json_number(self.rate_per_step),
            "log10_norm": json_numbers(self.log10_norm),
        }


def loss_gradient(problem: Problem, spec: LossSpec) -> LossGradient:
    """``||dL/dh_{T-k}||`` for ``k = 1..T`` on ``problem``'s forward pass (one layer, one direction).

    Raises:
        ConfigError, ShapeError: a stacked or bidirectional network, a cell that feeds its output back, an
            unknown loss or reduction, targets or an output layer of the wrong shape (the message names them).
    """
    if problem.network.stacked:
        raise ConfigError("the loss's gradient through time: one layer and one direction only")
    trajectory = problem.trajectory()
    head = spec.head()
    if head is not None and head.weight.shape[1] != problem.hidden_size:
        raise ConfigError(f"output layer: weight has {head.weight.shape[1]} columns, the cell has H = "
                          f"{problem.hidden_size}")  # fmt: skip
    size = problem.hidden_size if head is None else head.output_size
    loss = make_loss(spec.kind, spec.reduce, spec.targets, problem.steps, size)
    values = loss_gradient_norms(trajectory, loss_upstream(trajectory, loss, head))
    lags = np.arange(1, problem.steps + 1)
    rate, _ = fit_line(lags, values) if values.size else (math.nan, 0.0)
    lags.setflags(write=False)
    values.setflags(write=False)
    return LossGradient(spec.kind, spec.reduce, lags, values, rate)
