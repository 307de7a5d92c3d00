"""Per-step Jacobians ``J_t = d s_t / d s_{t-1}`` from the derived partials (numerator layout).

The numeric half of the route described in :mod:`gradscope.symbolic.derivation`: the lambdified per-unit
partials, evaluated on whole blocks of time steps, are the coefficients of

    d a_t / d h_{t-1} = sum_g diag(D[a, g]) W_hg + diag(E[a, h]),   d a_t / d b_{t-1} = diag(E[a, b]) (b != h).

:func:`step_coefficients` returns those coefficients for a range of steps (``O(n C G H)``
memory); :func:`dense_jacobians` builds full matrices and is meant for small problems and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradscope.engine.trajectory import Trajectory


@dataclass(frozen=True)
class StepCoefficients:
    """Jacobian coefficients for steps ``t = start+1 .. stop`` (n = stop - start of them).

    Attributes:
        recurrent: ``(n, C, G, H)``; ``recurrent[k, a, g]`` is ``d a_t / d m_g`` (zero where the
            derivative is identically zero; see ``recurrent_mask``).
        direct: ``(n, C, C, H)``; ``direct[k, a, b]`` is the direct ``d a_t / d b_{t-1}``.
        recurrent_mask: ``(C, G)`` bool, the (row, gate) pairs that are not identically zero.
        direct_mask: ``(C, C)`` bool, likewise for ``direct``.
    """

    start: int
    stop: int
    recurrent: np.ndarray
    direct: np.ndarray
    recurrent_mask: np.ndarray
    direct_mask: np.ndarray


def step_coefficients(trajectory: Trajectory, start: int, stop: int) -> StepCoefficients:
    """Evaluate the derived partials for steps ``t = start+1 .. stop`` in one vectorised call."""
    compiled = trajectory.compiled
    cell = compiled.cell
    n, hidden = stop - start, trajectory.params.hidden_size
    components = {name: k for k, name in enumerate(cell.state)}
    gates = {name: k for k, name in enumerate(cell.gates)}
    partials = compiled.state_partials(
        trajectory.input_projection[start:stop],
        trajectory.recurrent_projection(start, stop),
        trajectory.states[start:stop],
    )
    recurrent = np.zeros((n, len(components), len(gates), hidden))
    direct = np.zeros((n, len(components), len(components), hidden))
    recurrent_mask = np.zeros((len(components), len(gates)), dtype=bool)
    direct_mask = np.zeros((len(components), len(components)), dtype=bool)
    for (kind, row, other), value in partials.items():
        if kind == "m":
            recurrent[:, components[row], gates[other]] = value
            recurrent_mask[components[row], gates[other]] = True
        else:
            direct[:, components[row], components[other]] = value
            direct_mask[components[row], components[other]] = True
    return StepCoefficients(start, stop, recurrent, direct, recurrent_mask, direct_mask)


def assemble(
    coefficients_recurrent: np.ndarray, coefficients_direct: np.ndarray, weight_blocks: np.ndarray
) -> np.ndarray:
    """Dense ``J`` for one step, ``(C*H, C*H)``.

    From ``recurrent`` ``(C, G, H)``, ``direct`` ``(C, C, H)`` and the blocks ``W_hg`` ``(G, H, H)``.
    """
    components, _, hidden = coefficients_recurrent.shape
    jacobian = np.zeros((components, hidden, components, hidden))
    # Hidden-state columns: sum_g diag(D[a, g]) W_hg.
    jacobian[:, :, 0, :] = np.einsum("agi,gij->aij", coefficients_recurrent, weight_blocks)
    diagonal = np.arange(hidden)
    for a in range(components):
        for b in range(components):
            jacobian[a, diagonal, b, diagonal] += coefficients_direct[a, b]
    return jacobian.reshape(components * hidden, components * hidden)


def dense_jacobians(trajectory: Trajectory) -> np.ndarray:
    """All ``J_t`` for ``t = 1..T`` as one ``(T, S, S)`` array: ``J[t-1] = d s_t / d s_{t-1}``.

    Holds ``T S^2`` floats: for small problems, tests and teaching. The analysis never calls it.
    """
    coefficients = step_coefficients(trajectory, 0, trajectory.steps)
    blocks = trajectory.params.recurrent_blocks()
    return np.stack(
        [assemble(coefficients.recurrent[k], coefficients.direct[k], blocks) for k in range(trajectory.steps)]
    )
