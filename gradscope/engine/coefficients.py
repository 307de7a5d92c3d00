"""Per-step Jacobians ``J_t = d s_t / d s_{t-1}`` from the derived partials (numerator layout).

The numeric half of the route described in :mod:`gradscope.symbolic.derivation`: the lambdified
per-unit partials, evaluated on whole blocks of time steps, are the coefficients of

    d a_t / d r_{t-1} = sum_g diag(D[a, g]) W_hg + diag(E[a, .]),   d a_t / d b_{t-1} = diag(E[a, b]) (b not read),

for state components ``a`` and ``b``, where ``r`` is what the recurrence reads (``h``, or the
components the cell's ``reads`` names). A cell that feeds its output back (state ``y``) has one
component, its stateless hidden stage, and a readout ``rho'(W_hy h_t + b_y)`` in front:

    J_t = diag(rho'_t) W_hy sum_g diag(D[h, g]) W_yg.

:func:`step_coefficients` returns those coefficients for a range of steps (``O(n C G H)``
memory); :func:`dense_jacobians` builds full matrices and is meant for small problems and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradscope.compile.compiled import PartialKey
from gradscope.engine.trajectory import Trajectory, read_index


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
    """

    start: int
    stop: int
    recurrent: np.ndarray
    direct: np.ndarray
    recurrent_mask: np.ndarray
    direct_mask: np.ndarray
    readout: np.ndarray | None = None


def _by_component(
    trajectory: Trajectory, partials: dict[PartialKey, np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The partials as ``(n, C, G, H)`` / ``(n, C, C, H)`` arrays with their masks (``C = 1`` for a readout cell)."""
    spec, hidden = trajectory.spec, trajectory.params.hidden_size
    rows = ("h",) if spec.feedback else spec.state
    components = {name: k for k, name in enumerate(rows)}
    gates = {name: k for k, name in enumerate(spec.gates)}
    recurrent = np.zeros((n, len(rows), len(gates), hidden))
    direct = np.zeros((n, len(rows), len(rows), hidden))
    recurrent_mask = np.zeros((len(rows), len(gates)), dtype=bool)
    direct_mask = np.zeros((len(rows), len(rows)), dtype=bool)
    for (kind, row, other), value in partials.items():
        if kind in ("m", "u"):
            recurrent[:, components[row], gates[other]] = value
            recurrent_mask[components[row], gates[other]] = True
        else:
            direct[:, components[row], components[other]] = value
            direct_mask[components[row], components[other]] = True
    return recurrent, direct, recurrent_mask, direct_mask


def step_coefficients(trajectory: Trajectory, start: int, stop: int) -> StepCoefficients:
    """Evaluate the derived partials for steps ``t = start+1 .. stop`` in one vectorised call."""
    compiled = trajectory.compiled
    partials = compiled.state_partials(
        trajectory.input_projection[start:stop],
        trajectory.recurrent_projection(start, stop),
        trajectory.components[start:stop],
    )
    arrays = _by_component(trajectory, partials, stop - start)
    readout = None
    if trajectory.readout_projection is not None:
        readout = np.array(compiled.readout_partial(trajectory.readout_projection[start:stop]))
    return StepCoefficients(start, stop, *arrays, readout=readout)


def input_coefficients(trajectory: Trajectory, start: int, stop: int) -> np.ndarray:
    """``d a_t / d u_g`` for steps ``t = start+1 .. stop``, ``(n, C, G, H)`` (``C = 1``, the hidden
    stage, for a readout cell): ``d s_t / d x_t = sum_g diag(d s / d u_g) W_ig``, through the readout if any."""
    partials = trajectory.compiled.input_partials(
        trajectory.input_projection[start:stop],
        trajectory.recurrent_projection(start, stop),
        trajectory.components[start:stop],
    )
    return _by_component(trajectory, partials, stop - start)[0]


def assemble(coefficients: StepCoefficients, k: int, trajectory: Trajectory) -> np.ndarray:
    """Dense ``J`` for step ``t = coefficients.start + k + 1``, ``(S, S)``."""
    params = trajectory.params
    blocks = params.recurrent_blocks()  # (G, H, R)
    recurrent, direct = coefficients.recurrent[k], coefficients.direct[k]
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
