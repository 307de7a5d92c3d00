"""N networks of one cell and shape advanced together: forward passes and norm profiles over a leading axis.

An ensemble (or a sweep's tasks of one shape) runs the same small computation N times; one at a time,
Python's per-step overhead, not arithmetic, is most of the cost for H up to about 64. Here every step
is one stacked NumPy call for all N networks:

* :func:`batched_forward`: the states of N networks, ``(N, T + 1, S)``. The recurrent projection is one
  stacked ``np.matmul`` of ``(N, G H, R)`` by ``(N, R, 1)`` (NumPy hands each slice to BLAS's
  matrix-vector product, the call the one-at-a-time pass makes) and the update one call of the compiled
  per-unit code on ``(N, G, H)``: every member's states are bit for bit those of
  :func:`~gradscope.engine.trajectory.run_forward` (checked in the tests; a chaotic network would
  amplify a difference in the last bit to any size).
* :func:`batched_profiles`: ``log10 ||P_k||`` for ``k = 1..T`` of every member. ``P_k = P_{k-1} J_{T-k+1}``
  is advanced as dense ``(N, S, S)`` products, divided by its Frobenius norm every step (``log10`` of what was
  divided out Kahan-summed per member), with negligible entries flushed as the one-at-a-time path does.
  Norms: Frobenius directly; spectral from a block of ``b`` approximate top left singular vectors ``U``
  (one subspace-iteration step per lag, so they follow the converging top subspace), with Rayleigh-Ritz
  values ``theta`` of ``P P^T`` on ``span(U)`` and two rigorous certificates, as in
  :mod:`gradscope.engine.spectral`: ``lambda_1 <= theta_1 + tail`` (Cauchy interlacing, ``tail =
  ||P||_F^2 - sum theta``) and Kato-Temple with ``lambda_2 <= theta_2 + tail``. A member that neither
  certifies to :data:`CERTIFY_RTOL` gets the exact eigenvalue of its Gram matrix (``eigvalsh`` over the
  stack of such members). Products are never truncated (:mod:`gradscope.engine.truncation` drops only
  directions whose effect on any norm is below ``1e-24`` relative, and at most ``1e-14`` before its sketch
  alarm), so the profiles agree with :func:`~gradscope.engine.products.norm_profile` to rounding, about
  ``1e-14`` in ``log10``.

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
from gradscope.engine.operator import FLUSH_RELATIVE, flush_negligible
from gradscope.engine.products import CHUNK_STEPS, EXACT_BELOW, FLUSH_EVERY
from gradscope.engine.trajectory import CHECK_EVERY, read_index
from gradscope.params.layer import LayerParams

#: Relative accuracy of ``sigma_1^2`` the certificates must reach before the exact Gram eigenvalue is skipped
#: (``1e-13`` on ``sigma^2`` is ``2e-14`` in ``log10 sigma``: far inside the 1e-12 the batch promises).
CERTIFY_RTOL = 1e-13
#: Approximate top singular vectors tracked per member.
BLOCK = 8
#: Extra subspace-iteration steps for a member not yet certified, before its exact Gram eigenvalue.
REFINE = 2
#: A member whose certificates miss by more than this factor goes to its exact Gram eigenvalue at once: at the
#: first lags, before the block has converged, refining it would cost two more iterations and still fail.
HOPELESS = 1e10


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


def _coefficients(batch: BatchedTrajectory, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
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
    recurrent = np.zeros((count, n, components, gates, hidden))
    direct = np.zeros((count, n, components, components, hidden))
    component_index = {name: k for k, name in enumerate(spec.state)}
    gate_index = {name: k for k, name in enumerate(spec.gates)}
    for (kind, row, other), value in partials.items():
        if kind in ("m", "u"):
            recurrent[:, :, component_index[row], gate_index[other]] = value
        else:
            direct[:, :, component_index[row], component_index[other]] = value
    for array in (recurrent, direct):  # flushed per member and step, as the operator does per step
        flush_negligible(array.reshape(count * n, *array.shape[2:]))
    return recurrent, direct


def _jacobians(batch: BatchedTrajectory, recurrent: np.ndarray, direct: np.ndarray, out: np.ndarray) -> None:
    """Dense ``J_t`` ``(N, S, S)`` into ``out`` from one step's coefficients ``(N, C, G, H)`` / ``(N, C, C, H)``."""
    spec, hidden = batch.compiled.spec, batch.hidden
    count, components, gates = batch.members, len(spec.state), spec.num_gates
    blocks = batch.weight_hh.reshape(count, gates, hidden, -1)  # (N, G, H, R): W_hg
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


def batched_profiles(batch: BatchedTrajectory, norm: str, members: np.ndarray | None = None) -> np.ndarray:
    """``log10 ||d s_T / d s_{T-k}||`` ``(N, T)`` for every member (float64), ``-inf`` where exactly zero.

    A member whose product stops being finite gets ``NaN`` from then on (the one-at-a-time path raises there).
    ``members`` (bool ``(N,)``) restricts the work to some; the others' rows are ``NaN``.
    """
    count, steps = batch.members, batch.steps
    size = batch.states.shape[2]
    live = np.ones(count, dtype=bool) if members is None else np.asarray(members, dtype=bool).copy()
    log10_norm = np.full((count, steps), np.nan)
    product = np.zeros((count, size, size))
    factor = np.empty((count, size, size))
    total = np.zeros(count)  # log10 of what was divided out, Kahan-summed
    compensation = np.zeros(count)
    zero = np.zeros(count, dtype=bool)
    tracker = _Ritz(count, size) if norm == "spectral" else None
    lag = 0
    for stop in range(steps, 0, -CHUNK_STEPS):
        start = max(0, stop - CHUNK_STEPS)
        recurrent, direct = _coefficients(batch, start, stop)
        for k in range(stop - start - 1, -1, -1):
            _jacobians(batch, recurrent[:, k], direct[:, k], factor)
            lag += 1
            if lag == 1:
                product[...] = factor
            else:
                product = np.matmul(product, factor)  # P_k = P_{k-1} J_t, slice by slice
            product[~live] = 0.0  # members that are not ours (or no longer): zeros keep the stacked calls finite
            if lag % FLUSH_EVERY == 0:
                magnitude = np.abs(product)
                product[magnitude < FLUSH_RELATIVE * magnitude.max(axis=(1, 2), keepdims=True)] = 0.0
            frobenius = np.einsum("nij,nij->n", product, product)
            awkward = np.flatnonzero(live & ~zero & ~((frobenius > 0.0) & (frobenius < np.inf)))
            for n in awkward:  # squares that under- or overflow: divide by the largest entry first
                largest = float(np.abs(product[n]).max())
                if largest == 0.0:
                    zero[n] = True
                elif not np.isfinite(largest):
                    live[n] = False  # a non-finite product: the one-at-a-time path raises there
                else:
                    product[n] /= largest
                    total[n : n + 1], compensation[n : n + 1] = _kahan(
                        total[n : n + 1], compensation[n : n + 1], np.log10(np.array([largest]))
                    )
                    frobenius[n] = float(np.vdot(product[n], product[n]))
            live &= np.isfinite(frobenius)
            product[~live] = 0.0
            working = live & ~zero
            scale = np.where(working, np.sqrt(np.where(working, frobenius, 1.0)), 1.0)
            product /= scale[:, None, None]
            value = np.zeros(count) if tracker is None else 0.5 * np.log10(tracker.norm_squared(product, working))
            with np.errstate(divide="ignore"):
                total, compensation = _kahan(total, compensation, np.log10(scale))
            log10_norm[working, lag - 1] = (value + total)[working]
            log10_norm[zero & live, lag - 1] = -np.inf
    return log10_norm


def _kahan(total: np.ndarray, compensation: np.ndarray, term: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise Kahan-compensated ``total + term``."""
    term = term - compensation
    new_total = total + term
    return new_total, (new_total - total) - term


class _Ritz:
    """``sigma_1(P)^2`` of a stack of products ``P`` ``(N, S, S)`` with ``||P||_F = 1``: a tracked block of
    approximate top left singular vectors, certified values, and exact Gram eigenvalues for the rest."""

    def __init__(self, count: int, size: int) -> None:
        self.block = min(BLOCK, size)
        start = np.random.default_rng(0).standard_normal((size, self.block))
        self.basis = np.broadcast_to(np.linalg.qr(start)[0], (count, size, self.block)).copy()  # U, (N, S, b)
        self.slack = 64 * float(np.finfo(np.float64).eps)  # rounding in ||P||_F^2 - sum(theta), relative
        self.exact = 0  # members answered by the dense eigensolver (for the benchmark's record)

    def norm_squared(self, product: np.ndarray, members: np.ndarray) -> np.ndarray:
        """``sigma_1^2`` of each member's ``product`` (the Frobenius norm is 1), 1.0 where not ``members``."""
        result = np.ones(product.shape[0])
        pending = np.asarray(members, dtype=bool).copy()
        hopeless = np.zeros_like(pending)
        for attempt in range(1 + REFINE):
            indices = np.flatnonzero(pending & ~hopeless)
            if indices.size == 0:
                break
            # Every member is one step further after a call: the first attempt for all, refinements for the rest.
            theta, certified, far = self._iterate(product, indices if attempt else None)
            chosen = indices if attempt else np.arange(product.shape[0])
            done = certified & pending[chosen]
            result[chosen[done]] = theta[done]
            pending[chosen[done]] = False
            hopeless[chosen[far]] = True
        exact = np.flatnonzero(pending)
        if exact.size:
            stacked = product[exact]
            result[exact] = np.maximum(np.linalg.eigvalsh(np.matmul(stacked, stacked.transpose(0, 2, 1)))[:, -1], 0.0)
            self.exact += int(exact.size)
        return result

    def _iterate(self, product: np.ndarray, indices: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rayleigh-Ritz on the tracked block of the members ``indices`` (all for ``None``), then one
        subspace-iteration step ``U <- orth(P P^T U)``; their ``theta_1``, whether it is certified, and whether
        it is so far from it (:data:`HOPELESS`) that :data:`REFINE` more steps would be wasted on it."""
        chosen = slice(None) if indices is None else indices
        basis, matrix = self.basis[chosen], product[chosen]
        image = np.matmul(matrix.transpose(0, 2, 1), basis)  # Y = P^T U, (n, S, b)
        values, vectors = np.linalg.eigh(np.matmul(image.transpose(0, 2, 1), image))  # theta ascending, (n, b)
        theta_1 = values[:, -1]
        tail = np.maximum(1.0 - values.sum(axis=1), 0.0) + self.slack
        ritz = np.matmul(basis, vectors)  # Ritz vectors U C
        forward = np.matmul(matrix, np.matmul(image, vectors))  # P P^T U C, (n, S, b)
        residual = np.linalg.norm(forward[:, :, -1] - theta_1[:, None] * ritz[:, :, -1], axis=1)
        theta_2 = values[:, -2] if self.block > 1 else np.zeros_like(theta_1)
        bound = CERTIFY_RTOL * theta_1
        certified = tail <= bound
        # Kato-Temple with the rigorous lambda_2 <= theta_2 + tail, else with the Ritz gap once the residual
        # is well inside it (the a-posteriori bound of ARPACK-style solvers; engine.spectral uses the same two).
        far = tail > HOPELESS * bound
        for gap in (theta_1 - theta_2 - tail, np.where(residual < 0.1 * (theta_1 - theta_2), theta_1 - theta_2, 0.0)):
            certified |= (gap > 0.0) & (residual * residual <= bound * np.maximum(gap, 0.0))
            far &= residual * residual > HOPELESS * bound * np.maximum(gap, 0.0)
        refreshed, _ = np.linalg.qr(forward)
        usable = np.isfinite(refreshed).all(axis=(1, 2))
        if indices is None:
            self.basis[usable] = refreshed[usable]
        else:
            self.basis[indices[usable]] = refreshed[usable]
        return theta_1, certified, far  # far members are never certified
