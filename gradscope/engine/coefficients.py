"""Per-step Jacobians ``J_t = d s_t / d s_{t-1}`` from the derived partials (numerator layout).

The numeric half of the route described in :mod:`gradscope.symbolic.derivation`: the lambdified
per-unit partials, evaluated on whole blocks of time steps, are the coefficients of

    d a_t / d r_{t-1} = sum_g diag(D[a, g]) W_hg + diag(E[a, .]),   d a_t / d b_{t-1} = diag(E[a, b]) (b not read),

for state components ``a`` and ``b``, where ``r`` is what the recurrence reads (``h``, or the
components the cell's ``reads`` names). A cell that feeds its output back (state ``y``) has one
component, its stateless hidden stage, and a readout ``rho'(W_hy h_t + b_y)`` in front:

    J_t = diag(rho'_t) W_hy sum_g diag(D[h, g]) W_yg.

A gate ``n`` whose projection reads a quantity ``q_t`` of the step (Cho's GRU) contributes
``diag(D[a, n]) W_hn K_t`` instead of ``diag(D[a, n]) W_hn``, with ``K_t = d q_t / d r_{t-1} =
sum_g diag(Q[g]) W_hg + diag(Q_r)`` (:class:`InnerCoefficients`): a product of two structured factors.

:func:`step_coefficients` returns those coefficients for a range of steps (``O(n C G H)``
memory); :func:`dense_jacobians` builds full matrices and is meant for small problems and tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from gradscope.compile.compiled import PartialKey
from gradscope.engine.trajectory import Trajectory, inner_indices, read_index


@dataclass(frozen=True)
class InnerCoefficients:
    """The partials of what the inner gates read, ``q_l`` (``L`` of them, ``spec.inner_gates`` order),
    for ``n`` steps.

    Attributes:
        recurrent: ``(n, L, G, H)``, ``d q_l / d m_g`` (zero for the inner gates themselves).
        direct: ``(n, L, C, H)``, ``d q_l / d b_{t-1}`` (only read components can be nonzero).
        inputs: ``(n, L, G, H)``, ``d q_l / d u_g``.
        recurrent_mask, direct_mask: ``(L, G)`` and ``(L, C)``: the pairs not identically zero.
        gates: the inner gates' chunk indices, ``(L,)``.
    """

    recurrent: np.ndarray
    direct: np.ndarray
    inputs: np.ndarray
    recurrent_mask: np.ndarray
    direct_mask: np.ndarray
    gates: tuple[int, ...]

    def reordered(self, order: list[int]) -> InnerCoefficients:
        """The same with the state components in ``order`` (the operator's internal order)."""
        return InnerCoefficients(
            self.recurrent,
            np.ascontiguousarray(self.direct[:, :, order]),
            self.inputs,
            self.recurrent_mask,
            self.direct_mask[:, order],
            self.gates,
        )


@dataclass(frozen=True)
class StepCoefficients:
    """Jacobian coefficients for steps ``t = start+1 .. stop`` (n = stop - start of them).

    Attributes:
        recurrent: ``(n, C, G, H)``; ``recurrent[k, a, g]`` is ``d a_t / d m_g`` (zero where the
            derivative is identically zero; see ``recurrent_mask``). For a readout cell ``C = 1``:
            ``d h_t / d m_g`` of its hidden stage.
        direct: ``(n, C, C, H)``; ``direct[k, a, b]`` is the direct ``d a_t / d b_{t-1}`` (zero for a readout cell).
        recurrent_mask: ``(C, G)`` bool, the (row, gate) pairs that are not identically zero.
        direct_mask: ``(C, C)`` bool, likewise for ``direct``.
        readout: ``(n, O)`` ``d y_t / d (W_hy h_t + b_y)`` of a readout cell; ``None`` otherwise.
        inner: the partials of what the inner gates read (``None`` for a cell without such gates);
            ``recurrent[:, a, n]`` of an inner gate n multiplies ``W_hn K_t``, not ``W_hn``.
    """

    start: int
    stop: int
    recurrent: np.ndarray
    direct: np.ndarray
    recurrent_mask: np.ndarray
    direct_mask: np.ndarray
    readout: np.ndarray | None = None
    inner: InnerCoefficients | None = None


def _by_component(
    trajectory: Trajectory, partials: dict[PartialKey, np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The partials as ``(n, C, G, H)`` / ``(n, C, C, H)`` arrays with their masks (``C = 1`` for a readout cell)."""
    spec = trajectory.spec
    rows = ("h",) if spec.feedback else spec.state
    return partials_by_component(rows, spec.gates, partials, (n,), trajectory.params.hidden_size)


def partial_masks(
    rows: Sequence[str], gates: Sequence[str], keys: Iterable[PartialKey]
) -> tuple[np.ndarray, np.ndarray]:
    """``(C, G)`` / ``(C, C)`` bool: the (row, gate) pairs with a recurrent partial among ``keys``, and the
    (row, component) pairs with a direct one; ``rows`` are the state's components (``h`` for a readout cell)."""
    components = {name: k for k, name in enumerate(rows)}
    gate_index = {name: k for k, name in enumerate(gates)}
    recurrent_mask = np.zeros((len(rows), len(gates)), dtype=bool)
    direct_mask = np.zeros((len(rows), len(rows)), dtype=bool)
    for kind, row, other in keys:
        if kind in ("m", "u"):
            recurrent_mask[components[row], gate_index[other]] = True
        else:
            direct_mask[components[row], components[other]] = True
    return recurrent_mask, direct_mask


def partials_by_component(
    rows: Sequence[str],
    gates: Sequence[str],
    partials: dict[PartialKey, np.ndarray],
    leading: tuple[int, ...],
    hidden: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The partials (each ``(*leading, H)`` or broadcastable to it) as ``recurrent`` ``(*leading, C, G, H)``
    and ``direct`` ``(*leading, C, C, H)``, zero where there is none, with their :func:`partial_masks`."""
    components = {name: k for k, name in enumerate(rows)}
    gate_index = {name: k for k, name in enumerate(gates)}
    recurrent = np.zeros((*leading, len(rows), len(gates), hidden))
    direct = np.zeros((*leading, len(rows), len(rows), hidden))
    for (kind, row, other), value in partials.items():
        if kind in ("m", "u"):
            recurrent[..., components[row], gate_index[other], :] = value
        else:
            direct[..., components[row], components[other], :] = value
    return (recurrent, direct, *partial_masks(rows, gates, partials))


def compiled_arguments(trajectory: Trajectory, start: int, stop: int) -> tuple[np.ndarray, ...]:
    """The compiled functions' arguments for steps ``t = start+1 .. stop``: ``(u, m, prev, vectors)``."""
    return (
        trajectory.input_projection[start:stop],
        trajectory.recurrent_projection(start, stop),
        trajectory.components[start:stop],
        trajectory.params.vectors,
    )


def step_coefficients(trajectory: Trajectory, start: int, stop: int) -> StepCoefficients:
    """Evaluate the derived partials for steps ``t = start+1 .. stop`` in one vectorised call."""
    compiled = trajectory.compiled
    arguments = compiled_arguments(trajectory, start, stop)
    partials = compiled.state_partials(*arguments)
    arrays = _by_component(trajectory, partials, stop - start)
    readout = None
    if trajectory.readout_projection is not None:
        readout = np.array(compiled.readout_partial(trajectory.readout_projection[start:stop]))
    inner = _inner_coefficients(trajectory, arguments, stop - start) if trajectory.spec.inner_gates else None
    return StepCoefficients(start, stop, *arrays, readout=readout, inner=inner)


def _inner_coefficients(trajectory: Trajectory, arguments: tuple[np.ndarray, ...], n: int) -> InnerCoefficients:
    spec, hidden = trajectory.spec, trajectory.params.hidden_size
    inner = {gate: k for k, gate in enumerate(spec.inner_gates)}
    gates = {name: k for k, name in enumerate(spec.gates)}
    components = {name: k for k, name in enumerate(spec.state)}
    L, G, C = len(inner), len(gates), len(components)
    recurrent, inputs = np.zeros((n, L, G, hidden)), np.zeros((n, L, G, hidden))
    direct = np.zeros((n, L, C, hidden))
    recurrent_mask, direct_mask = np.zeros((L, G), dtype=bool), np.zeros((L, C), dtype=bool)
    for (kind, gate, other), value in trajectory.compiled.inner_partials(*arguments).items():
        if kind == "m":
            recurrent[:, inner[gate], gates[other]] = value
            recurrent_mask[inner[gate], gates[other]] = True
        elif kind == "u":
            inputs[:, inner[gate], gates[other]] = value
        elif kind == "s":
            direct[:, inner[gate], components[other]] = value
            direct_mask[inner[gate], components[other]] = True
    return InnerCoefficients(recurrent, direct, inputs, recurrent_mask, direct_mask, tuple(inner_indices(spec)))


def input_coefficients(trajectory: Trajectory, start: int, stop: int) -> np.ndarray:
    """``d a_t / d u_g`` for steps ``t = start+1 .. stop``, ``(n, C, G, H)`` (``C = 1``, the hidden
    stage, for a readout cell): ``d s_t / d x_t = sum_g diag(d s / d u_g) W_ig``, through the readout if
    any (plus, for a cell with inner gates, :func:`inner_input_jacobian`)."""
    partials = trajectory.compiled.input_partials(*compiled_arguments(trajectory, start, stop))
    return _by_component(trajectory, partials, stop - start)[0]


def inner_weights(coefficients: InnerCoefficients, blocks: np.ndarray, k: int) -> np.ndarray:
    """``W_hn K_t`` ``(L, H, R)`` of every inner gate n at step ``k`` of a chunk, ``K_t = d q / d r_{t-1}``.

    ``blocks`` are the recurrent blocks ``(G, H, R)``; ``K_t = sum_g diag(Q[g]) W_hg + diag(Q_r)``
    (one read component: ``R = H``).
    """
    read = np.einsum("lgi,gir->lir", coefficients.recurrent[k], blocks)  # sum_g diag(Q[g]) W_hg
    read += np.einsum("lci,ir->lir", coefficients.direct[k], np.eye(blocks.shape[1]))  # + diag(Q_r)
    return np.einsum("lij,ljr->lir", blocks[list(coefficients.gates)], read)


def inner_input_jacobian(
    coefficients: InnerCoefficients, recurrent: np.ndarray, blocks: np.ndarray, input_blocks: np.ndarray, k: int
) -> np.ndarray:
    """The inner gates' share of ``d s_t / d x_t`` at step ``k`` of a chunk, ``(C, H, I)``:
    ``sum_n diag(D[a, n]) W_hn sum_g diag(d q_n / d u_g) W_ig`` (``recurrent`` ``(n, C, G, H)``, the
    chunk's, and ``input_blocks`` ``(G, H, I)``)."""
    through = np.einsum("lgi,giw->liw", coefficients.inputs[k], input_blocks)  # d q / d x, (L, H, I)
    projected = np.einsum("lij,ljw->liw", blocks[list(coefficients.gates)], through)  # W_hn d q / d x
    return np.einsum("ali,liw->aiw", recurrent[k][:, list(coefficients.gates)], projected)


def assemble(coefficients: StepCoefficients, k: int, trajectory: Trajectory) -> np.ndarray:
    """Dense ``J`` for step ``t = coefficients.start + k + 1``, ``(S, S)``."""
    params = trajectory.params
    blocks = params.recurrent_blocks()  # (G, H, R)
    recurrent, direct = coefficients.recurrent[k], coefficients.direct[k]
    if coefficients.inner is not None:  # inner gates multiply W_hn K_t, not W_hn
        gates = list(coefficients.inner.gates)
        through = inner_weights(coefficients.inner, blocks, k)  # (L, H, R)
        blocks = blocks.copy()
        blocks[gates] = through
    inner = np.einsum("agi,gir->air", recurrent, blocks)  # sum_g diag(D[a, g]) W_hg, (C, H, R)
    if coefficients.readout is not None:
        assert params.weight_out is not None
        return (coefficients.readout[k][:, None] * params.weight_out) @ inner[0]  # diag(rho') W_hy (...), (O, O)
    components, hidden = recurrent.shape[0], params.hidden_size
    size = components * hidden
    jacobian = np.zeros((size, size))
    jacobian[:, read_index(trajectory.spec, hidden)] = inner.reshape(size, -1)
    diagonal = np.arange(hidden)
    blocked = jacobian.reshape(components, hidden, components, hidden)
    for a in range(components):
        for b in range(components):
            blocked[a, diagonal, b, diagonal] += direct[a, b]
    return jacobian


def dense_jacobians(trajectory: Trajectory) -> np.ndarray:
    """All ``J_t`` for ``t = 1..T`` as one ``(T, S, S)`` array: ``J[t-1] = d s_t / d s_{t-1}``.

    Holds ``T S^2`` floats: for small problems, tests and teaching. The analysis never calls it.
    """
    coefficients = step_coefficients(trajectory, 0, trajectory.steps)
    return np.stack([assemble(coefficients, k, trajectory) for k in range(trajectory.steps)])
