"""Loss heads: the output layer and loss that hand-written BPTT ends in, and the ``dL/dh_t`` they send back.

An output layer reads every hidden state, ``y_t = W_out h_t + b_out`` ``(O,)`` (the tutorials' ``Why``
and ``by``; without one, the loss reads ``y_t = h_t``). Each step has an elementwise loss:

* ``"softmax_ce"``: ``l_t = -log softmax(y_t)[k_t]`` for a class index ``k_t``, or ``-sum_o q_t[o] log
  softmax(y_t)[o]`` for a target distribution ``q_t``; ``dl_t/dy_t = softmax(y_t) - onehot(k_t)``.
* ``"mse"``: ``l_t = mean_o (y_t[o] - target_t[o])^2`` (``torch.nn.MSELoss()`` on one step).
* ``"sse"``: ``l_t = sum_o (y_t[o] - target_t[o])^2``; ``"half_sse"``: half of it, ``dl_t/dy_t = y_t - target_t``.

and the reduction over the steps is ``"sum"`` (``L = sum_t l_t``), ``"mean"`` (``L = (1/T) sum_t l_t``;
with ``"mse"`` this is ``MSELoss()`` over all ``T*O`` entries) or ``"last"`` (``L = l_T``: a
many-to-one loss, one target for the sequence). Then ``upstream[t-1] = dL/dh_t = W_out^T dL/dy_t``
is what :func:`gradscope.engine.bptt.backward` takes, and ``dL/dW_out = sum_t dL/dy_t h_t^T``,
``dL/db_out = sum_t dL/dy_t``.

All float64 NumPy; the softmax subtracts each row's maximum, so large logits neither overflow nor
lose the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradscope.errors import ConfigError, ShapeError
from gradscope.params.arrays import as_float_array, check_choice

#: The built-in losses, per step (see the module docstring).
LOSSES = ("softmax_ce", "mse", "sse", "half_sse")
#: How the per-step losses are reduced over time.
REDUCTIONS = ("sum", "mean", "last")


@dataclass(frozen=True)
class OutputHead:
    """A linear output layer ``y_t = weight h_t + bias``.

    Attributes:
        weight: ``(O, H)``.
        bias: ``(O,)``, or ``None`` for a layer without bias.
    """

    weight: np.ndarray
    bias: np.ndarray | None = None

    @property
    def output_size(self) -> int:
        return int(self.weight.shape[0])

    def outputs(self, hidden: np.ndarray) -> np.ndarray:
        """``y_t`` for hidden states ``(T, H)``: ``(T, O)``."""
        out = hidden @ self.weight.T
        return out if self.bias is None else out + self.bias

    def hidden_gradient(self, output_gradient: np.ndarray) -> np.ndarray:
        """``dL/dh_t = W^T dL/dy_t`` for ``output_gradient`` ``(T, O)``: ``(T, H)``."""
        return output_gradient @ self.weight

    def gradients(self, hidden: np.ndarray, output_gradient: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(dL/dW, dL/db)``: ``sum_t dL/dy_t h_t^T`` ``(O, H)`` and ``sum_t dL/dy_t`` ``(O,)`` (``None``: no bias)."""
        weight = output_gradient.T @ hidden
        return weight, (None if self.bias is None else output_gradient.sum(axis=0))


@dataclass(frozen=True)
class Loss:
    """A per-step loss, its reduction over time and its targets, checked against the outputs' sizes.

    Attributes:
        kind: one of :data:`LOSSES`.
        reduce: one of :data:`REDUCTIONS`.
        targets: ``(n,)`` int class indices or ``(n, O)`` floats (a distribution per step for
            ``"softmax_ce"``), ``n = T`` (``n = 1`` for ``reduce="last"``).
    """

    kind: str
    reduce: str
    targets: np.ndarray

    def step_losses(self, outputs: np.ndarray) -> np.ndarray:
        """``l_t`` for every step the loss reads, ``(n,)``, for ``outputs`` ``(T, O)``."""
        read = self._read(outputs)
        if self.kind == "softmax_ce":
            shifted = read - read.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            return -np.sum(self._distribution(read.shape) * log_p, axis=1)
        squares = np.sum((read - self.targets) ** 2, axis=1)
        return squares * {"mse": 1.0 / read.shape[1], "sse": 1.0, "half_sse": 0.5}[self.kind]

    def value(self, outputs: np.ndarray) -> float:
        """``L``, the reduced loss."""
        losses = self.step_losses(outputs)
        return float(losses.mean() if self.reduce == "mean" else losses.sum())

    def gradient(self, outputs: np.ndarray) -> np.ndarray:
        """``dL/dy_t`` ``(T, O)``; rows the loss does not read (all but the last for ``"last"``) are zero."""
        read = self._read(outputs)
        if self.kind == "softmax_ce":
            shifted = np.exp(read - read.max(axis=1, keepdims=True))
            step = shifted / shifted.sum(axis=1, keepdims=True) - self._distribution(read.shape)
        else:
            step = (read - self.targets) * {"mse": 2.0 / read.shape[1], "sse": 2.0, "half_sse": 1.0}[self.kind]
        gradient = np.zeros_like(outputs, dtype=np.float64)
        if self.reduce == "last":
            gradient[-1] = step[0]
        else:
            gradient[:] = step / (outputs.shape[0] if self.reduce == "mean" else 1.0)
        return gradient

    def prefix(self, steps: int) -> Loss:
        """The same loss on the first ``steps`` steps (``"last"`` keeps its one target)."""
        return self if self.reduce == "last" else Loss(self.kind, self.reduce, self.targets[:steps])

    def _read(self, outputs: np.ndarray) -> np.ndarray:
        return outputs[-1:] if self.reduce == "last" else outputs

    def _distribution(self, shape: tuple[int, ...]) -> np.ndarray:
        if self.targets.ndim == 2:
            return self.targets
        return np.eye(shape[1])[self.targets]


def make_loss(kind: str, reduce: str, targets: object, steps: int, output_size: int) -> Loss:
    """A validated :class:`Loss` for outputs ``(steps, output_size)``.

    ``targets``: for ``"softmax_ce"``, class indices (``steps`` of them; one, or a scalar, for
    ``reduce="last"``) or float distributions ``(n, O)``; for the squared errors, floats ``(n, O)``
    (``(O,)`` for ``"last"``; column vectors ``(O, 1)`` are accepted). Every error names ``targets``
    and the expected shape.
    """
    check_choice("loss", kind, LOSSES)
    check_choice("reduce", reduce, REDUCTIONS)
    n = 1 if reduce == "last" else steps
    array = np.asarray(targets.detach().cpu().numpy() if hasattr(targets, "detach") else targets)
    if kind == "softmax_ce" and array.dtype.kind in "iub":
        indices = array.reshape(-1)
        if indices.size != n:
            what = (
                "one class index (the sequence's label)" if reduce == "last" else f"{steps} class indices, one per step"
            )
            raise ShapeError(f"targets: expected {what} for reduce={reduce!r}, got {indices.size}")
        bad = indices[(indices < 0) | (indices >= output_size)]
        if bad.size:
            raise ConfigError(f"targets: class index {int(bad[0])} out of range for {output_size} outputs")
        return Loss(kind, reduce, indices.astype(np.int64))
    values = as_float_array("targets", array)
    if values.size == n * output_size:
        values = values.reshape(n, output_size)
    else:
        expected = f"({output_size},)" if reduce == "last" else f"({steps}, {output_size})"
        kinds = "class indices or distributions" if kind == "softmax_ce" else "values"
        raise ShapeError(f"targets: expected {kinds} of shape {expected} for reduce={reduce!r}, got {values.shape}")
    if kind == "softmax_ce" and (np.any(values < 0) or not np.allclose(values.sum(axis=1), 1.0)):
        raise ConfigError(
            "targets: float targets of softmax_ce must be distributions (non-negative, rows summing to 1)"
        )
    return Loss(kind, reduce, values)
