"""Stacked and bidirectional networks: gradient flow through depth and time.

PyTorch's ``torch.nn.RNN/LSTM/GRU(input_size, hidden_size, num_layers, bidirectional)``: layer
``l > 0`` reads the concatenated outputs ``[h^{(l-1, forward)}_t; h^{(l-1, reverse)}_t]`` of the
layer below; the reverse direction consumes positions ``T, T-1, ..., 1`` (parameters:
:mod:`gradscope.params.network`).

:func:`depth_profiles` measures, for every layer ``l``, direction ``d`` and input position ``t``
(1-based), ``||d y_T / d s^{(l,d)}_t||_2``, where ``y_T`` is the model's output at the last
position (``output[-1]``: the top layer's directions concatenated, ``[forward; reverse]``) and
``s^{(l,d)}_t`` is that layer's and direction's state right after it consumed position ``t``.
Reverse-mode accumulation of the ``(Y, S)`` matrices ``d y_T / d s`` (``Y = D H``), with every
matrix stored as ``mantissa * 10**exponent`` so that no product overflows or underflows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradscope.compile.compiled import CompiledCell
from gradscope.engine.coefficients import StepCoefficients, inner_input_jacobian, input_coefficients
from gradscope.engine.operator import StepOperator
from gradscope.engine.products import CHUNK_STEPS, spectral_norm
from gradscope.engine.spectral import SpectralNormTracker
from gradscope.engine.trajectory import Trajectory, run_forward
from gradscope.params.network import DIRECTIONS, NetworkParams


def stacked_forward(
    compiled: CompiledCell, stacked: NetworkParams, inputs: np.ndarray, initial: np.ndarray
) -> list[list[Trajectory]]:
    """Forward passes ``[layer][direction]`` from the initial states ``(L*D, S)``; each trajectory is in
    its own processing order (a single layer gives ``[[trajectory]]``).

    The reverse direction's trajectory consumes ``inputs[::-1]``: its state after processing step
    ``k`` is the state right after consuming position ``T + 1 - k``.
    """
    runs: list[list[Trajectory]] = []
    layer_input = inputs
    for layer, row in enumerate(stacked.layers):
        runs.append([])
        for direction, params in enumerate(row):
            sequence = layer_input if direction == 0 else layer_input[::-1]
            run = run_forward(compiled, params, np.ascontiguousarray(sequence), initial[layer * len(row) + direction])
            runs[-1].append(run)
        if layer + 1 < stacked.num_layers:
            layer_input = model_output(runs)  # the next layer reads this one's outputs
    return runs


def model_output(runs: list[list[Trajectory]]) -> np.ndarray:
    """``output`` as PyTorch returns it: the top layer's hidden states, directions concatenated, ``(T, D*H)``."""
    top = runs[-1]
    parts = [top[0].components[1:, 0, :]]
    if len(top) > 1:
        parts.append(top[1].components[1:, 0, :][::-1])
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class DepthProfile:
    """``log10 ||d y_T / d s^{(layer, direction)}_t||_2`` for positions ``t = 1..T`` (``-inf`` where zero)."""

    layer: int
    direction: str
    time: np.ndarray  # (T,) ints 1..T
    log10_norm: np.ndarray  # (T,)


def _accumulate(
    target: np.ndarray, exponent: float, value: np.ndarray, value_exponent: float, rows: slice = slice(None)
) -> float:
    """``target * 10**exponent += value * 10**value_exponent`` (into ``target[rows]``), in place;
    returns the new exponent (the larger one: the smaller term is rescaled)."""
    if not np.isfinite(value_exponent) or not np.any(value):
        return exponent
    if not np.isfinite(exponent):
        if rows != slice(None):
            target[...] = 0.0
        target[rows] = value
        return value_exponent
    if exponent >= value_exponent:
        target[rows] += value * 10.0 ** (value_exponent - exponent)
        return exponent
    target *= 10.0 ** (exponent - value_exponent)
    target[rows] += value
    return value_exponent


def _normalise(matrix: np.ndarray, exponent: float) -> float:
    """Move the matrix's order of magnitude into the exponent (largest entry in [1, 10)), in place;
    returns the new exponent (``-inf`` for a matrix that is exactly zero)."""
    largest = float(np.max(np.abs(matrix))) if matrix.size and np.isfinite(exponent) else 0.0
    if largest == 0.0:
        matrix[...] = 0.0
        return -np.inf
    shift = float(np.floor(np.log10(largest)))
    if shift != 0.0:
        matrix *= 10.0 ** (-shift)
    return exponent + shift


def depth_profiles(compiled: CompiledCell, stacked: NetworkParams, runs: list[list[Trajectory]]) -> list[DepthProfile]:
    """Gradient norms of the last output with respect to every layer's and direction's states.

    Per layer and direction, ``G^T = (d y_T / d s_k)^T`` ``(S, Y)`` is carried back one step at a
    time (see :class:`_DepthSweep`), plus what the layer above sends down at each position. A
    unidirectional stack runs every layer's sweep in one pass over ``k = T..1``, each layer handing
    ``d y_T / d x_k`` straight down; in a bidirectional one the reverse directions run the other
    way through the positions, so the layer above's ``d y_T / d x`` is held for every position
    (:func:`depth_memory`; more than the memory budget is refused).

    Returns one :class:`DepthProfile` per (layer, direction), layers bottom to top, forward first.
    """
    steps = runs[0][0].steps
    outputs = stacked.num_directions * stacked.hidden_size  # Y
    tracker = SpectralNormTracker(outputs, np.dtype(np.float64), np.random.default_rng(0))
    sweep = _bidirectional_sweep if stacked.bidirectional else _unidirectional_sweep
    profiles = sweep(compiled, stacked, runs, tracker)
    time = np.arange(1, steps + 1)
    return [
        DepthProfile(layer, DIRECTIONS[direction], time, profiles[layer, direction])
        for layer in range(stacked.num_layers)
        for direction in range(stacked.num_directions)
    ]


class _DepthSweep:
    """``G^T = (d y_T / d s_k)^T`` ``(S, Y)`` of one layer and direction, stored as ``mantissa *
    10**exponent``, carried back by the structured ``J^T`` of
    :class:`~gradscope.engine.operator.StepOperator` (in its internal state order, ``h`` last;
    norms do not depend on it), with its spectral norm certified at every step as in
    :func:`~gradscope.engine.products.norm_profile`."""

    def __init__(
        self, compiled: CompiledCell, run: Trajectory, outputs: int, tracker: SpectralNormTracker, feeds_below: bool
    ) -> None:
        self.operator = StepOperator(run, np.dtype(np.float64), extra_rows=0)
        self.hidden_rows = self.operator.component_rows(run.spec.state[0])  # what the layer outputs
        self.compiled, self.run, self.feeds_below = compiled, run, feeds_below
        self.input_blocks = run.params.weight_ih.reshape(compiled.spec.num_gates, run.params.hidden_size, -1)
        self.steps, self.hidden, self.tracker = run.steps, run.params.hidden_size, tracker
        self.gradient_t = np.zeros((self.operator.size, outputs))
        self.spare = np.empty_like(self.gradient_t)
        self.exponent = -np.inf
        # The coefficients of step indices window[0] .. window[1]-1 (at most CHUNK_STEPS of them,
        # evaluated as the sweep moves back: memory does not grow with T).
        self.window = (0, 0)
        self.coefficients: StepCoefficients | None = None
        self.input_coefficients = np.zeros(0)

    def _at(self, index: int) -> int:
        """Position of step index ``index`` in the current window, evaluating a new window if needed."""
        start, stop = self.window
        if not start <= index < stop:
            stop = index + 1
            start = max(0, stop - CHUNK_STEPS)
            self.coefficients = self.operator.chunk(start, stop)
            if self.feeds_below:
                self.input_coefficients = input_coefficients(self.run, start, stop)[:, self.operator.order]
            self.window = (start, stop)
        return index - start

    def step(self, k: int, from_above: np.ndarray, from_above_exponent: float) -> float:
        """Move to the state after step ``k`` and add ``d y_T / d h_k`` ``(Y, H)`` from the layer above
        (or ``y_T`` itself); returns ``log10 ||d y_T / d s_k||_2`` (``-inf`` where exactly zero)."""
        if k < self.steps and np.isfinite(self.exponent):
            index = self._at(k)
            self.operator.load(self.coefficients, index, 1.0)
            self.spare = self.operator.apply(self.gradient_t, self.spare)
            self.gradient_t, self.spare = self.spare, self.gradient_t
        self.exponent = _accumulate(self.gradient_t, self.exponent, from_above.T, from_above_exponent, self.hidden_rows)
        self.exponent = _normalise(self.gradient_t, self.exponent)
        if not np.isfinite(self.exponent):
            return -np.inf
        self.tracker.image = None  # G changed by more than a factor: the block is only a warm start
        norm = spectral_norm(self.gradient_t, self.tracker, float(np.vdot(self.gradient_t, self.gradient_t)))
        return float(np.log10(norm)) + self.exponent

    def to_input(self, k: int) -> tuple[np.ndarray, float]:
        """``d y_T / d x`` ``(Y, width)`` at the position step ``k`` consumed: ``G (d s_k / d x)``."""
        index = self._at(k - 1)  # (evaluated first: it may load a new window)
        coefficients = self.input_coefficients[index]  # (C, G, H), internal order
        jacobian = np.einsum("agi,giw->aiw", coefficients, self.input_blocks)  # d s_k / d x, (C, H, width)
        chunk = self.coefficients
        if chunk is not None and chunk.inner is not None:  # through what the inner gates read
            blocks = self.run.params.recurrent_blocks()
            jacobian += inner_input_jacobian(chunk.inner, chunk.recurrent, blocks, self.input_blocks, index)
        return self.gradient_t.T @ jacobian.reshape(self.operator.size, -1), self.exponent


def _unidirectional_sweep(
    compiled: CompiledCell, stacked: NetworkParams, runs: list[list[Trajectory]], tracker: SpectralNormTracker
) -> dict[tuple[int, int], np.ndarray]:
    """Every layer's sweep in one pass over ``k = T..1``; nothing per position is held."""
    steps, hidden, layers = runs[0][0].steps, stacked.hidden_size, stacked.num_layers
    sweeps = [_DepthSweep(compiled, runs[layer][0], hidden, tracker, layer > 0) for layer in range(layers)]
    profiles = {(layer, 0): np.full(steps, -np.inf) for layer in range(layers)}
    nothing = np.zeros((hidden, hidden))
    for k in range(steps, 0, -1):
        # y_T = h^{(top)}_T: the identity enters the top layer at the last position only.
        above, above_exponent = (np.eye(hidden), 0.0) if k == steps else (nothing, -np.inf)
        for layer in range(layers - 1, -1, -1):
            value = sweeps[layer].step(k, above, above_exponent)
            profiles[layer, 0][k - 1] = value
            if layer > 0:
                above, above_exponent = sweeps[layer].to_input(k) if np.isfinite(value) else (nothing, -np.inf)
    return profiles


def _bidirectional_sweep(
    compiled: CompiledCell, stacked: NetworkParams, runs: list[list[Trajectory]], tracker: SpectralNormTracker
) -> dict[tuple[int, int], np.ndarray]:
    """Layer by layer, both directions, holding ``d y_T / d x`` of every position for the layer below."""
    steps, hidden, outputs = runs[0][0].steps, stacked.hidden_size, 2 * stacked.hidden_size
    check_depth_memory(stacked, steps)
    profiles: dict[tuple[int, int], np.ndarray] = {}
    # Gradients of y_T with respect to each layer's input at every position, (T, Y, width), one
    # exponent per position. For the top layer this is d y_T / d [h^{(top, fwd)}; h^{(top, rev)}]:
    # the identity at the last position, zero elsewhere (one (1, Y, Y) slab read at every position).
    top = np.zeros((1, outputs, outputs))
    top[0] = np.eye(outputs)
    upstream, upstream_exponent = np.broadcast_to(top, (steps, outputs, outputs)), np.full(steps, -np.inf)
    upstream_exponent[steps - 1] = 0.0
    for layer in range(stacked.num_layers - 1, -1, -1):
        width = runs[layer][0].inputs.shape[1] if layer > 0 else 0  # layer 0 feeds nothing below
        below = np.zeros((steps, outputs, width))
        below_exponent = np.full(steps, -np.inf)
        for direction in range(2):
            sweep = _DepthSweep(compiled, runs[layer][direction], outputs, tracker, layer > 0)
            log10_norm = np.full(steps, -np.inf)
            for k in range(steps, 0, -1):
                position = k if direction == 0 else steps + 1 - k  # the position step k consumed
                # This direction's output h at this position feeds the layer above (or is part of y_T).
                from_above = upstream[position - 1][:, direction * hidden : (direction + 1) * hidden]
                log10_norm[position - 1] = sweep.step(k, from_above, upstream_exponent[position - 1])
                if layer > 0 and np.isfinite(log10_norm[position - 1]):
                    contribution, exponent = sweep.to_input(k)
                    below_exponent[position - 1] = _accumulate(
                        below[position - 1], below_exponent[position - 1], contribution, exponent
                    )
            profiles[layer, direction] = log10_norm
        upstream, upstream_exponent = below, below_exponent
    return profiles


def depth_memory(stacked: NetworkParams, steps: int) -> int:
    """Bytes :func:`depth_profiles` holds at its peak for every position: for a bidirectional stack,
    ``d y_T / d x`` ``(T, Y, D H)`` float64 (``Y = D H``) at one or two layer boundaries; nothing for
    a unidirectional one (its sweeps hand that down position by position)."""
    if not stacked.bidirectional:
        return 0
    outputs = stacked.num_directions * stacked.hidden_size
    boundaries = min(2, stacked.num_layers - 1)
    return boundaries * steps * outputs * outputs * 8


def check_depth_memory(stacked: NetworkParams, steps: int) -> None:
    """Refuse, naming the sizes, depth profiles that would need more than the memory budget
    (:mod:`gradscope.params.budget`); called before the forward pass, so that nothing is computed first."""
    from gradscope.params.budget import check_budget

    check_budget(
        f"depth profiles of this {stacked.num_layers}-layer bidirectional network (H={stacked.hidden_size}) over "
        f"T={steps} steps (d y_T / d x at every position, float64; analyse a shorter input sequence)",
        depth_memory(stacked, steps),
    )
