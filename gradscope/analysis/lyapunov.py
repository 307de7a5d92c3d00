"""Lyapunov spectra of a cell's forward dynamics by the QR (Benettin) method on the derived Jacobians.

The Lyapunov exponents ``lambda_1 >= lambda_2 >= ...`` of a trajectory are the asymptotic growth
rates (natural log per step) of the singular values of ``J_t J_{t-1} ... J_1``, where
``J_t = d s_t / d s_{t-1}`` (numerator layout, ``s = h`` or ``[h; c]``). The top one is the rate
at which ``||P_k||`` grows or shrinks with the lag, i.e. what ``analyze`` calls ``rate_per_step``,
asymptotically; the rest say how many directions survive and how fast the others die.

Method (G. Benettin, L. Galgani, A. Giorgilli, J.-M. Strelcyn, Meccanica 15, 9-30, 1980; K.
Geist, U. Parlitz, W. Lauterborn, Prog. Theor. Phys. 83, 875, 1990): carry an orthonormal frame
``Q`` ``(S, K)`` forward, ``J_t Q_{t-1} = Q_t R_t`` (reduced QR), and average ``ln |R_t[i, i]|``
over the steps after a discarded ``transient``. ``J_t Q`` is formed from the structured Jacobian
(``sum_g diag(D[a, g]) W_hg`` on the ``h`` columns plus diagonal direct terms, see
:mod:`gradscope.engine.coefficients`), never as a dense ``J_t``: one ``(G H, H) x (H, K)`` product per step.

The uncertainty is estimated by batch means: the averaged steps are cut into
:data:`BATCHES` consecutive batches, and the standard error is the standard deviation of the
batch means over ``sqrt(BATCHES)``. ``drift`` (second half minus first half) shows a transient that
was not discarded; ``running`` holds the running estimates for a convergence plot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope._version import __version__
from gradscope.analysis.analyze import prepare, trajectory
from gradscope.engine.coefficients import StepCoefficients, step_coefficients
from gradscope.engine.trajectory import Trajectory
from gradscope.errors import ConfigError

if TYPE_CHECKING:
    from gradscope.cells.builtin import Cell

LYAPUNOV_SCHEMA = "gradscope.lyapunov/1"
#: Default T: exponents converge like ``1/sqrt(T)`` (chaotic) or ``1/T`` (regular), so longer than analyze's 200.
DEFAULT_LYAPUNOV_STEPS = 1000
#: Running estimates kept for the convergence plot.
DEFAULT_CHECKPOINTS = 100
#: Batches of the batch-means standard error.
BATCHES = 10
#: Steps whose Jacobian coefficients are evaluated in one vectorised call.
CHUNK_STEPS = 512
#: Every FLUSH_EVERY steps, frame entries below FLUSH_BELOW are set to zero (see :func:`benettin`).
FLUSH_EVERY = 16
FLUSH_BELOW = 1e-250
#: Second seed word of the stream the initial frame is drawn from (independent of parameters and inputs).
FRAME_STREAM = 0x4C59

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
    with np.errstate(divide="ignore"):
        for t in range(1, steps + 1):
            frame, r = np.linalg.qr(multiply(t, frame))
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


class _TangentMap:
    """``J_t @ Q`` for a trajectory, from Jacobian coefficients evaluated :data:`CHUNK_STEPS` steps at a time.

    ``J_t Q = [sum_g diag(D[a, g]) (W_hg Q_h)]_a + [sum_b diag(E[a, b]) Q_b]_a`` with ``Q_b`` the
    rows of component b: one ``(G H, H) x (H, K)`` GEMM plus diagonal scalings.
    """

    def __init__(self, run: Trajectory) -> None:
        self.run = run
        self.hidden = run.params.hidden_size
        self.components = len(run.compiled.cell.state)
        self.gates = run.compiled.cell.num_gates
        self.weight_hh = run.params.weight_hh  # (G*H, H)
        self.chunk: StepCoefficients | None = None

    def __call__(self, t: int, frame: np.ndarray) -> np.ndarray:
        if self.chunk is None or not self.chunk.start < t <= self.chunk.stop:
            start = t - 1
            self.chunk = step_coefficients(self.run, start, min(start + CHUNK_STEPS, self.run.steps))
        k = t - 1 - self.chunk.start
        H, C, K = self.hidden, self.components, frame.shape[1]
        projected = (self.weight_hh @ frame[:H]).reshape(self.gates, H, K)
        out = np.einsum("agh,ghk->ahk", self.chunk.recurrent[k], projected)
        if C > 1 or np.any(self.chunk.direct_mask):
            out += np.einsum("abh,bhk->ahk", self.chunk.direct[k], frame.reshape(C, H, K))
        return out.reshape(C * H, K)


@dataclass(frozen=True)
class LyapunovSpectrum:
    """The result of :func:`lyapunov`. Arrays are read-only.

    Attributes:
        cell: the cell's name.
        hidden_size, input_size: sizes.
        steps: T, the length of the trajectory (transient included).
        transient: steps discarded before averaging.
        state: ``"h"`` or ``"[h; c]"``; the exponents are those of the full state ``s``.
        exponents: ``(K,)`` the top K exponents, natural log per step, descending.
        standard_error: ``(K,)`` batch-means standard error of each exponent.
        drift: ``(K,)`` estimate over the second half of the averaged steps minus the first half.
        running_steps: ``(M,)`` averaged-step counts of the running estimates.
        running: ``(M, K)`` running estimates, columns as ``exponents``.
        config: how the parameters, inputs and initial state were obtained (as in ``analyze``).
    """

    cell: str
    hidden_size: int
    input_size: int
    steps: int
    transient: int
    state: str
    exponents: np.ndarray
    standard_error: np.ndarray
    drift: np.ndarray
    running_steps: np.ndarray
    running: np.ndarray
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def top(self) -> float:
        """``lambda_1``, the largest exponent."""
        return float(self.exponents[0])

    @property
    def averaged_steps(self) -> int:
        """``steps - transient``, the steps the estimates average over."""
        return self.steps - self.transient

    @property
    def convergence(self) -> float:
        """The largest standard error over the exponents (NaN when none could be estimated)."""
        finite = self.standard_error[np.isfinite(self.standard_error)]
        return float(finite.max()) if finite.size else math.nan

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema ``"gradscope.lyapunov/1"``); non-finite numbers become ``null``."""
        return {
            "schema": LYAPUNOV_SCHEMA,
            "gradscope_version": __version__,
            "cell": self.cell,
            "state": self.state,
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "steps": self.steps,
            "transient": self.transient,
            "averaged_steps": self.averaged_steps,
            "units": "natural log per step",
            "config": dict(self.config),
            "exponents": _json_list(self.exponents),
            "standard_error": _json_list(self.standard_error),
            "drift": _json_list(self.drift),
            "running": {
                "steps": [int(n) for n in self.running_steps],
                "exponents": [_json_list(row) for row in self.running],
            },
        }


def _json_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def lyapunov(
    cell: str | Cell,
    *,
    params: Mapping[str, object] | None = None,
    inputs: object | None = None,
    h0: object | None = None,
    c0: object | None = None,
    exponents: int | None = None,
    transient: int = 0,
    hidden_size: int | None = None,
    input_size: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    init: str = "pytorch",
    gain: float = 1.0,
    checkpoints: int = DEFAULT_CHECKPOINTS,
    progress: Callable[[int, int], None] | None = None,
) -> LyapunovSpectrum:
    """The top Lyapunov exponents of a cell driven by an input sequence, by the QR method.

    Parameters, inputs and initial state are handled exactly as by :func:`gradscope.analyze`
    (through :func:`gradscope.analysis.analyze.prepare`): the same ``seed`` gives the same network and
    inputs.

    Args:
        cell, params, inputs, h0, c0, hidden_size, input_size, seed, init, gain: as in
            :func:`gradscope.analyze`. Stacked or bidirectional parameters are refused.
        exponents: K, how many exponents (default: all S, the state size: H, or 2H for the LSTM).
        transient: steps run before averaging starts (default 0); needs ``steps > transient``.
        steps: T including the transient, when ``inputs`` is not given (default 1000).
        checkpoints: how many running estimates to keep.
        progress: called as ``progress(steps_done, T)`` about a hundred times.

    Returns:
        A :class:`LyapunovSpectrum`; ``to_dict()`` gives the ``gradscope.lyapunov/1`` document.

    Raises:
        GradscopeError: anything ``analyze`` refuses; ``exponents`` outside ``1..S``; ``transient``
            negative or not below T.
    """
    if steps is None and inputs is None:
        steps = DEFAULT_LYAPUNOV_STEPS
    problem = prepare(
        cell,
        params=params,
        inputs=inputs,
        h0=h0,
        c0=c0,
        hidden_size=hidden_size,
        input_size=input_size,
        steps=steps,
        seed=seed,
        init=init,
        gain=gain,
    )
    if problem.stacked is not None:
        raise ConfigError("lyapunov: stacked or bidirectional parameters are not supported (one layer, one direction)")
    spec = problem.compiled.spec
    if spec.feedback:
        raise ConfigError(
            f"lyapunov: the {spec.name} cell (state y, its fed-back output) is not supported; "
            "'analyze' gives its gradient-norm profile"
        )
    H = problem.params.hidden_size
    size = spec.state_size(H)
    count = size if exponents is None else exponents
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise ConfigError(f"exponents must be a positive integer, got {exponents!r}")
    if isinstance(transient, bool) or not isinstance(transient, (int, np.integer)) or transient < 0:
        raise ConfigError(f"transient must be a non-negative integer, got {transient!r}")
    total = problem.inputs.shape[0]
    if transient >= total:
        raise ConfigError(f"transient={transient} leaves no steps to average (T={total}); use transient < T")
    run = benettin(
        _TangentMap(trajectory(problem)),
        size,
        total,
        exponents=int(count),
        transient=int(transient),
        rng=np.random.default_rng([int(seed), FRAME_STREAM]),
        checkpoints=checkpoints,
        progress=progress,
    )
    order = np.argsort(-run.exponents, kind="stable")
    sorted_arrays = [run.exponents[order], run.standard_error[order], run.drift[order], run.running[:, order]]
    for array in sorted_arrays:
        array.setflags(write=False)
    return LyapunovSpectrum(
        cell=spec.name,
        hidden_size=H,
        input_size=problem.params.input_size,
        steps=int(total),
        transient=int(transient),
        state=spec.state_layout,
        exponents=sorted_arrays[0],
        standard_error=sorted_arrays[1],
        drift=sorted_arrays[2],
        running_steps=run.running_steps,
        running=sorted_arrays[3],
        config={**problem.config, "frame_seed": [int(seed), FRAME_STREAM]},
    )


def mean_field_prediction(spectrum: LyapunovSpectrum) -> float | None:
    """The mean-field ``lambda_1`` of the random tanh RNN (:func:`gradscope.analysis.theory.tanh_rnn_mean_field_rate`)
    when the run is what that theory describes: random parameters and random N(0, 1) inputs; else ``None``."""
    from gradscope.analysis import theory as theory

    config = spectrum.config
    if spectrum.cell != "rnn" or config.get("params") != "random" or config.get("inputs") == "given":
        return None
    return theory.tanh_rnn_mean_field_rate(config["init"], config["gain"], spectrum.hidden_size, spectrum.input_size)


def newman_prediction(spectrum: LyapunovSpectrum, inputs: np.ndarray | None) -> np.ndarray | None:
    """Newman's spectrum for the top exponents when it applies, else ``None``.

    It applies to the tanh RNN with random Gaussian ``W_hh`` (``init="gaussian"``, parameters not
    given) in the linear regime: all-zero ``inputs`` and a gain below the edge of chaos (< 1), so
    the state settles near its fixed point. (Newman's law is for matrices re-drawn every step; for
    one fixed matrix it is the reference scale, not an exact prediction.) Driven by random inputs,
    tanh saturates and the law does not apply.
    """
    from gradscope.analysis import theory as theory

    config = spectrum.config
    if spectrum.cell != "rnn" or config.get("params") != "random" or config.get("init") != "gaussian":
        return None
    if not config["gain"] < 1 or inputs is None or np.any(np.asarray(inputs) != 0):
        return None
    return theory.newman_spectrum(spectrum.hidden_size, config["gain"], count=spectrum.exponents.size)
