"""The QR (Benettin) method for Lyapunov exponents, on the structured Jacobians of a trajectory.

Carry an orthonormal frame ``Q`` ``(S, K)`` forward, ``J_t Q_{t-1} = Q_t R_t`` (reduced QR), and
average ``ln |R_t[i, i]|`` over the steps after a discarded ``transient`` (G. Benettin, L. Galgani,
A. Giorgilli, J.-M. Strelcyn, Meccanica 15, 9-30, 1980; K. Geist, U. Parlitz, W. Lauterborn, Prog.
Theor. Phys. 83, 875, 1990). ``J_t Q`` is formed from the structured Jacobian (:class:`TangentMap`),
never as a dense ``J_t``.

The uncertainty is estimated by batch means: the averaged steps are cut into :data:`BATCHES`
consecutive batches, and the standard error is the standard deviation of the batch means over
``sqrt(BATCHES)``. ``drift`` (second half minus first half) shows a transient that was not
discarded; ``running`` holds the running estimates for a convergence plot.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradscope.engine.coefficients import StepCoefficients, step_coefficients
from gradscope.engine.trajectory import Trajectory, read_index
from gradscope.errors import ConfigError, DivergenceError

#: Running estimates kept for the convergence plot.
DEFAULT_CHECKPOINTS = 100
#: Batches of the batch-means standard error.
BATCHES = 10
#: Steps whose Jacobian coefficients are evaluated in one vectorised call.
CHUNK_STEPS = 512
#: Every FLUSH_EVERY steps, frame entries below FLUSH_BELOW are set to zero (see :func:`benettin`).
FLUSH_EVERY = 16
FLUSH_BELOW = 1e-250

#: ``multiply(t, Q)`` returns ``J_t @ Q`` ``(S, K)`` for ``Q`` ``(S, K)``; called for ``t = 1, 2, ...`` in order.
Multiply = Callable[[int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class QRRun:
    """What :func:`benettin` measured. Arrays are read-only; columns follow the QR frame's order.

    Attributes:
        exponents: ``(K,)`` mean of ``ln |R_t[i, i]|`` over the averaged steps.
        standard_error: ``(K,)`` batch-means standard error (NaN with fewer than 2 batches or
            where an exponent is ``-inf``).
        drift: ``(K,)`` mean over the second half of the averaged steps minus the first half.
        running_steps: ``(M,)`` numbers of averaged steps at the checkpoints, increasing, ending at n.
        running: ``(M, K)`` the running estimates at those checkpoints.
        averaged_steps: n, the number of steps averaged (after the transient).
    """

    exponents: np.ndarray
    standard_error: np.ndarray
    drift: np.ndarray
    running_steps: np.ndarray
    running: np.ndarray
    averaged_steps: int


def benettin(
    multiply: Multiply,
    size: int,
    steps: int,
    *,
    exponents: int,
    transient: int = 0,
    rng: np.random.Generator | None = None,
    checkpoints: int = DEFAULT_CHECKPOINTS,
    progress: Callable[[int, int], None] | None = None,
) -> QRRun:
    """Top ``exponents`` Lyapunov exponents of ``J_steps ... J_1`` by the QR method.

    Args:
        multiply: ``multiply(t, Q) -> J_t @ Q`` (``(size, K)`` in and out) for ``t = 1..steps``, in order.
        size: S, the dimension of the state.
        steps: T >= transient + 1, the number of factors.
        exponents: K, ``1 <= K <= S``.
        transient: steps run before averaging starts (the frame aligns with the dynamics meanwhile).
        rng: draws the initial random orthonormal frame ``(S, K)``; default ``default_rng(0)``.
        checkpoints: how many running estimates to keep (at evenly spaced step counts).
        progress: called as ``progress(steps_done, steps)`` about a hundred times.

    Returns:
        A :class:`QRRun` (unsorted: column i estimates the i-th largest exponent).
    """
    if not 1 <= exponents <= size:
        raise ConfigError(f"exponents must lie in 1..{size} (the state size), got {exponents}")
    if transient < 0 or steps < transient + 1:
        raise ConfigError(f"need steps > transient >= 0, got steps={steps}, transient={transient}")
    rng = np.random.default_rng(0) if rng is None else rng
    frame, _ = np.linalg.qr(rng.standard_normal((size, exponents)))
    averaged = steps - transient
    batches = min(BATCHES, averaged)
    # Batch b covers averaged steps [edges[b], edges[b + 1]); with an even batch count the halves
    # are batch boundaries.
    edges = (np.arange(batches + 1) * averaged) // batches
    batch_sums = np.zeros((batches, exponents))
    count = min(max(int(checkpoints), 1), averaged)
    marks = np.unique(np.ceil(np.linspace(0, averaged, count + 1)[1:]).astype(int))  # ends at `averaged`
    running = np.empty((marks.size, exponents))
    total = np.zeros(exponents)
    batch, mark = 0, 0
    report_every = max(1, steps // 100)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            tangent = multiply(t, frame)
            if not np.isfinite(tangent).all():  # one check per step, next to a QR of the same size
                raise DivergenceError(
                    f"the tangent map J_t Q is not finite at step {t} (the Jacobian overflows float64); "
                    "the Lyapunov exponents are undefined there: use smaller weights or gain"
                )
            frame, r = np.linalg.qr(tangent)
            if t % FLUSH_EVERY == 0:
                # Entries of an orthonormal frame below 1e-250 cannot change any result, but once
                # they underflow to subnormals every product slows down (seen: 4.5x, LSTM H=64, T=1000).
                frame[np.abs(frame) < FLUSH_BELOW] = 0.0
            if t > transient:
                done = t - transient
                logs = np.log(np.abs(np.diagonal(r)))
                total += logs
                while done > edges[batch + 1]:
                    batch += 1
                batch_sums[batch] += logs
                if done == marks[mark]:
                    running[mark] = total / done
                    mark = min(mark + 1, marks.size - 1)
            if progress is not None and (t % report_every == 0 or t == steps):
                progress(t, steps)
    exponents_mean = total / averaged
    counts = np.diff(edges)[:, None]
    with np.errstate(invalid="ignore"):
        means = batch_sums / counts
        error = np.std(means, axis=0, ddof=1) / math.sqrt(batches) if batches >= 2 else np.full(exponents, np.nan)
        half = batches // 2
        if half >= 1:
            first = batch_sums[:half].sum(axis=0) / edges[half]
            second = batch_sums[half:].sum(axis=0) / (averaged - edges[half])
            drift = np.where(np.isneginf(first) & np.isneginf(second), 0.0, second - first)
        else:
            drift = np.full(exponents, np.nan)
    arrays = (exponents_mean, error, drift, marks, running)
    for array in arrays:
        array.setflags(write=False)
    return QRRun(*arrays, averaged_steps=averaged)


class TangentMap:
    """``J_t @ Q`` for a trajectory, from Jacobian coefficients evaluated :data:`CHUNK_STEPS` steps at a time.

    ``J_t Q = [sum_g diag(D[a, g]) (W_hg Q_r)]_a + [sum_b diag(E[a, b]) Q_b]_a`` with ``Q_r`` the rows
    the recurrence reads and ``Q_b`` those of component b: one ``(G H, R) x (R, K)`` GEMM plus
    diagonal scalings; for a cell that feeds its output back, ``diag(rho') W_hy`` of that.
    """

    def __init__(self, run: Trajectory) -> None:
        self.run = run
        self.hidden = run.params.hidden_size
        self.components = 0 if run.spec.feedback else len(run.spec.state)
        self.gates = run.spec.num_gates
        self.weight_hh = run.params.weight_hh  # (G*H, R)
        self.reads = read_index(run.spec, self.hidden, run.params.output_size)
        self.chunk: StepCoefficients | None = None

    def __call__(self, t: int, frame: np.ndarray) -> np.ndarray:
        if self.chunk is None or not self.chunk.start < t <= self.chunk.stop:
            start = t - 1
            self.chunk = step_coefficients(self.run, start, min(start + CHUNK_STEPS, self.run.steps))
        k = t - 1 - self.chunk.start
        H, C, K = self.hidden, self.components, frame.shape[1]
        projected = (self.weight_hh @ frame[self.reads]).reshape(self.gates, H, K)
        inner = self.chunk.inner
        if inner is not None:  # an inner gate's block is W_hn K_t: W_hn (sum_g Q_g (W_hg Q) + Q_r Q_r-rows)
            gates = list(inner.gates)
            through = np.einsum("lgh,ghk->lhk", inner.recurrent[k], projected)
            through += np.einsum("lch,chk->lhk", inner.direct[k], frame.reshape(C, H, K))
            projected[gates] = np.einsum("lij,ljk->lik", self.run.params.recurrent_blocks()[gates], through)
        out = np.einsum("agh,ghk->ahk", self.chunk.recurrent[k], projected)
        if self.chunk.readout is not None:
            assert self.run.params.weight_out is not None
            return self.chunk.readout[k][:, None] * (self.run.params.weight_out @ out[0])
        if C > 1 or np.any(self.chunk.direct_mask):
            out += np.einsum("abh,bhk->ahk", self.chunk.direct[k], frame.reshape(C, H, K))
        return out.reshape(C * H, K)
