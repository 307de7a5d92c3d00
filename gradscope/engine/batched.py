"""N networks of one cell and shape advanced together: forward passes and step Jacobians over a leading axis.

An ensemble (or a sweep's tasks of one shape) runs the same small computation N times; one at a time,
Python's per-step overhead, not arithmetic, is most of the cost for H up to about 64. Here every step
is one stacked NumPy call for all N networks:

* :func:`batched_forward`: the states of N networks, ``(N, T + 1, S)``. The recurrent projection is one
  stacked ``np.matmul`` of ``(N, G H, R)`` by ``(N, R, 1)`` (NumPy hands each slice to BLAS's
  matrix-vector product, the call the one-at-a-time pass makes) and the update one call of the compiled
  per-unit code on ``(N, G, H)``: every member's states are bit for bit those of
  :func:`~gradscope.engine.trajectory.run_forward` (checked in the tests; a chaotic network would
  amplify a difference in the last bit to any size).
* :func:`batched_coefficients` and :func:`batched_jacobians`: the step Jacobians ``J_t`` ``(N, S, S)`` of
  every member, from a chunk's coefficients; :mod:`gradscope.engine.batched_profiles` multiplies them.

Every member's numbers depend on that member alone (each stacked call works slice by slice), never on
which or how many networks share its batch: a sweep's rows are the same however its tasks are chunked.
Members whose numbers the batch cannot give exactly (see :func:`batchable`) are for the caller to run
one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gradscope.compile.compiled import CompiledCell
from gradscope.engine.coefficients import partial_masks, partials_by_component
from gradscope.engine.operator import flush_negligible
from gradscope.engine.products import EXACT_BELOW
from gradscope.engine.trajectory import CHECK_EVERY, read_index
from gradscope.engine.truncation import coupling, state_coupling, strongly_connected
from gradscope.params.layer import LayerParams


def batchable(spec_feedback: bool, inner_gates: bool, layers: int, dtype: str, norm: str, size: int) -> bool:
    """Whether a problem's profile can be computed in a batch with the one-at-a-time path's numbers to 1e-12.

    Not for: cells with a readout (Jordan's: state ``y``) or with gates that project a quantity of the step
    (Cho's GRU), whose Jacobians have another structure; stacked or bidirectional networks (depth profiles);
    ``float32`` (the one-at-a-time path's rounding, 1e-7 a step, and its adaptive truncation at 1e-6
    would make any other order of operations differ by about 1e-6); and spectral norms of states wider
    than :data:`~gradscope.engine.products.EXACT_BELOW` (there the one-at-a-time path certifies to 4e-10 only).
    """
    if spec_feedback or inner_gates or layers != 1 or dtype != "float64":
        return False
    return norm == "frobenius" or size <= EXACT_BELOW


@dataclass(frozen=True)
class BatchedTrajectory:
    """Forward passes of N networks of one cell and shape.

    Attributes:
        compiled: the cell.
        weight_hh: ``(N, G H, R)``; bias_hh ``(N, G H)``; vectors ``(P, N, H)`` or ``None``.
        input_projection: ``(N, T, G, H)``.
        states: ``(N, T + 1, S)``; ``states[n, t]`` is member n's ``s_t``.
        finite: ``(N,)`` bool, whether each member's forward pass stayed finite (members that did not are
            for the one-at-a-time path, whose error names the step).
    """

    compiled: CompiledCell
    weight_hh: np.ndarray
    bias_hh: np.ndarray
    vectors: np.ndarray | None
    input_projection: np.ndarray
    states: np.ndarray
    finite: np.ndarray

    @property
    def members(self) -> int:
        return int(self.states.shape[0])

    @property
    def steps(self) -> int:
        return int(self.states.shape[1] - 1)

    @property
    def hidden(self) -> int:
        return int(self.input_projection.shape[-1])


def batched_forward(
    compiled: CompiledCell, params: Sequence[LayerParams], inputs: Sequence[np.ndarray], initial: Sequence[np.ndarray]
) -> BatchedTrajectory:
    """The forward passes of ``N = len(params)`` networks of one cell and shape, all float64.

    Args:
        compiled: the cell (no readout).
        params: N layers' parameters of one shape.
        inputs: N input sequences ``(T, I)``; initial: N initial states ``(S,)``.
    """
    spec = compiled.spec
    hidden, gates = params[0].hidden_size, spec.num_gates
    steps, count = inputs[0].shape[0], len(params)
    with np.errstate(over="ignore", invalid="ignore"):
        # The one-at-a-time expression, member by member (once per member: bit for bit the same projections).
        projection = np.stack([x @ p.weight_ih.T + p.bias_ih for x, p in zip(inputs, params, strict=True)])
    projection = projection.reshape(count, steps, gates, hidden)
    weight = np.stack([p.weight_hh for p in params])
    bias = np.stack([p.bias_hh for p in params])
    vectors = None if params[0].vectors is None else np.stack([p.vectors for p in params], axis=1)
    reads = read_index(spec, hidden)
    components = len(spec.state)
    states = np.empty((count, steps + 1, components * hidden))
    states[:, 0] = np.stack([np.reshape(s, -1) for s in initial])
    finite = np.isfinite(projection).reshape(count, -1).all(axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            previous = states[:, t]
            m = (np.matmul(weight, previous[:, reads, None])[..., 0] + bias).reshape(count, gates, hidden)
            update = compiled.update(projection[:, t], m, previous.reshape(count, components, hidden), vectors)
            states[:, t + 1] = update.reshape(count, -1)
            if (t + 1) % CHECK_EVERY == 0 or t + 1 == steps:
                finite &= np.isfinite(states[:, max(0, t + 1 - CHECK_EVERY) : t + 2]).reshape(count, -1).all(axis=1)
    return BatchedTrajectory(compiled, weight, bias, vectors, projection, states, finite)


def batched_coefficients(batch: BatchedTrajectory, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """``(recurrent (N, n, C, G, H), direct (N, n, C, C, H))`` for steps ``start+1 .. stop`` (see
    :class:`~gradscope.engine.coefficients.StepCoefficients`), flushed like the one-at-a-time path's."""
    spec, hidden = batch.compiled.spec, batch.hidden
    count, n = batch.members, stop - start
    components, gates = len(spec.state), spec.num_gates
    previous = batch.states[:, start:stop]
    weight_t = np.ascontiguousarray(batch.weight_hh.transpose(0, 2, 1))  # (N, R, G H): a plain GEMM per member
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged member's rows are not used
        m = np.matmul(np.ascontiguousarray(previous[..., read_index(spec, hidden)]), weight_t)
        m = (m + batch.bias_hh[:, None]).reshape(count, n, gates, hidden)
    vectors = None if batch.vectors is None else batch.vectors[:, :, None]  # (P, N, 1, H): broadcast over time
    partials = batch.compiled.state_partials(
        batch.input_projection[:, start:stop], m, previous.reshape(count, n, components, hidden), vectors
    )
    recurrent, direct, _, _ = partials_by_component(spec.state, spec.gates, partials, (count, n), hidden)
    for array in (recurrent, direct):  # flushed per member and step, as the operator does per step
        flush_negligible(array.reshape(count * n, *array.shape[2:]))
    return recurrent, direct


def weight_blocks(batch: BatchedTrajectory) -> np.ndarray:
    """``W_hg`` of every member, ``(N, G, H, R)`` (a view of the stacked weights)."""
    return batch.weight_hh.reshape(batch.members, batch.compiled.spec.num_gates, batch.hidden, -1)


def batched_jacobians(
    batch: BatchedTrajectory, blocks: np.ndarray, recurrent: np.ndarray, direct: np.ndarray, out: np.ndarray
) -> None:
    """Dense ``J_t`` ``(n, S, S)`` into ``out`` from one step's coefficients ``(n, C, G, H)`` / ``(n, C, C, H)``
    and the members' weight blocks ``(n, G, H, R)`` (any ``n`` members of ``batch``, in any order)."""
    spec, hidden = batch.compiled.spec, batch.hidden
    count, components = blocks.shape[0], len(spec.state)
    reads = read_index(spec, hidden)
    if components == 1 and reads == slice(0, hidden):  # RNN, GRU: J = sum_g diag(D[g]) W_hg + diag(d), no zeros
        np.einsum("ngi,ngir->nir", recurrent[:, 0], blocks, out=out)
        out.reshape(count, -1)[:, :: hidden + 1] += direct[:, 0, 0]
        return
    out[...] = 0.0
    blocked = out.reshape(count, components, hidden, components, hidden)
    diagonal = np.arange(hidden)
    for a in range(components):
        rows = out[:, a * hidden : (a + 1) * hidden]
        rows[:, :, reads] = np.einsum("ngi,ngir->nir", recurrent[:, a], blocks)  # sum_g diag(D[a, g]) W_hg
        for b in range(components):
            blocked[:, a, diagonal, b, diagonal] += direct[:, a, b]


def strongly_coupled(batch: BatchedTrajectory) -> np.ndarray:
    """``(N,)`` bool: whether each member's coupling graph (an edge ``j -> i`` wherever ``J_t[i, j]`` can be
    nonzero, from the weights that count and the cell's partials) is strongly connected, the condition
    under which :mod:`gradscope.engine.truncation` may drop directions (as the one-at-a-time path decides)."""
    spec, hidden = batch.compiled.spec, batch.hidden
    recurrent_mask, direct_mask = partial_masks(spec.state, spec.gates, batch.compiled.state_partial_keys)
    reads = read_index(spec, hidden)
    # coupling() is relative to the largest weight of any gate, as the one-at-a-time path's
    return np.array(
        [
            strongly_connected(state_coupling(coupling(blocks), recurrent_mask, direct_mask, reads))
            for blocks in weight_blocks(batch)
        ],
        dtype=bool,
    )
