"""The paths of the step Jacobian and the product through time of each, alone and removed.

Every cell's step Jacobian is a sum of terms (see :mod:`gradscope.engine.coefficients`),

    J_t = sum_g [sum_a diag(D[a, g]) W_hg]  +  sum_{a, b} diag(E[a, b]),

one *path* per gate ``g`` (through its recurrent block ``W_hg``, every row the gate reaches; an inner
gate's block is ``W_hg K_t``) and one per direct pair ``b_{t-1} -> a_t`` that is not identically zero
(the LSTM's carousel ``c -> c = diag(f_t)``, the GRU's leak ``h -> h = diag(z_t)``). The paths are read
from the compiled cell's coefficients, so every cell gradscope derives has them.

For each path, :func:`path_profiles` measures

* ``alone``: ``log10 ||J^p_T ... J^p_{T-k+1}||`` at every lag, the product of that path's terms only. For a
  direct self-path ``a -> a`` it is exact, ``max_i |prod_t E[a, a]_t[i]|``; a direct path between two
  different components is nilpotent (``-inf`` from lag 2 on);
* ``ablated``: ``log10`` of the full product with that path removed from every factor.

Products are dense ``(S, S)`` and rescaled every step (the norm machinery of
:mod:`gradscope.engine.products`: the scale is kept in ``log10``), ``O(T S^3)`` per path: meant for the
sizes one explains (H up to a few hundred).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gradscope.engine.coefficients import StepCoefficients, assemble, step_coefficients
from gradscope.engine.spectral import SpectralNormTracker
from gradscope.engine.trajectory import Trajectory
from gradscope.errors import DivergenceError


@dataclass(frozen=True)
class Path:
    """One term of the step Jacobian.

    Attributes:
        kind: ``"recurrent"`` (through gate ``gate``'s block ``W_h<gate>``) or ``"direct"``
            (``diag(d target_t / d source_{t-1})``).
        gate: the gate (recurrent paths), else ``""``.
        source, target: the state components a direct path joins, else ``""``.
    """

    kind: str
    gate: str = ""
    source: str = ""
    target: str = ""

    @property
    def name(self) -> str:
        """``"W_hf"`` for a recurrent path, ``"c->c"`` for a direct one (the JSON key)."""
        return f"W_h{self.gate}" if self.kind == "recurrent" else f"{self.source}->{self.target}"

    @property
    def diagonal(self) -> bool:
        """A direct path from a component to itself: ``diag(E[a, a])``, whose product is exact."""
        return self.kind == "direct" and self.source == self.target


def cell_paths(coefficients: StepCoefficients, trajectory: Trajectory) -> tuple[Path, ...]:
    """The paths that are not identically zero: one per gate, then the direct pairs (rows, columns order)."""
    spec = trajectory.spec
    rows = ("h",) if spec.feedback else spec.state
    paths = [Path("recurrent", gate=g) for k, g in enumerate(spec.gates) if coefficients.recurrent_mask[:, k].any()]
    for a, b in zip(*np.nonzero(coefficients.direct_mask), strict=True):
        paths.append(Path("direct", source=rows[int(b)], target=rows[int(a)]))
    return tuple(paths)


def _masked(coefficients: StepCoefficients, trajectory: Trajectory, paths: tuple[Path, ...]) -> StepCoefficients:
    """The coefficients with only ``paths`` kept (every other term zero)."""
    spec = trajectory.spec
    rows = ("h",) if spec.feedback else spec.state
    recurrent = np.zeros_like(coefficients.recurrent)
    direct = np.zeros_like(coefficients.direct)
    for path in paths:
        if path.kind == "recurrent":
            g = spec.gates.index(path.gate)
            recurrent[:, :, g] = coefficients.recurrent[:, :, g]
        else:
            a, b = rows.index(path.target), rows.index(path.source)
            direct[:, a, b] = coefficients.direct[:, a, b]
    return dataclasses.replace(coefficients, recurrent=recurrent, direct=direct)


def dense_product_profile(coefficients: StepCoefficients, trajectory: Trajectory) -> np.ndarray:
    """``log10 ||J_T ... J_{T-k+1}||_2`` for ``k = 1..T`` of the Jacobians ``coefficients`` give, ``(T,)``.

    The product grows from the back (``P_k = P_{k-1} J_{T-k+1}``), divided by its Frobenius norm every
    step with ``log10`` of the scale kept apart; ``-inf`` once it is exactly zero. The norm of each lag's
    product comes from a :class:`~gradscope.engine.spectral.SpectralNormTracker` warm-started from the
    previous lag's top singular vectors (certified to its float64 tolerance, a dense eigensolve where it
    cannot certify): a dense ``(S, S)`` eigensolve at every lag cost most of ``explain``'s time.
    """
    steps = trajectory.steps
    values = np.full(steps, -np.inf)
    product: np.ndarray | None = None
    log10_scale = 0.0
    tracker: SpectralNormTracker | None = None
    for lag in range(1, steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            jacobian = assemble(coefficients, steps - lag, trajectory)
        # Each factor is divided by its largest entry (its log10 kept with the product's): a Jacobian
        # near float64's limit (a gain of 1e308) would make product @ jacobian overflow although both are finite.
        largest = float(np.abs(jacobian).max())
        if not np.isfinite(largest):
            raise DivergenceError(
                f"{trajectory.spec.name}: the step Jacobian J_t is not finite at step {steps - lag + 1} "
                "(float64 overflow); use smaller weights or gain"
            )
        if largest == 0.0:
            break
        jacobian = jacobian / largest
        log10_scale += np.log10(largest)
        product = jacobian if product is None else product @ jacobian
        frobenius = float(np.linalg.norm(product))
        if not frobenius > 0.0:
            break
        if tracker is None:
            tracker = SpectralNormTracker(product.shape[0], np.dtype(np.float64), np.random.default_rng(0))
        tracker.image = None  # Q = P^T changed by a whole factor: Y = Q V is recomputed (one thin product)
        values[lag - 1] = np.log10(tracker.norm(product.T, frobenius * frobenius)) + log10_scale
        log10_scale += np.log10(frobenius)
        product = product / frobenius
    return values


def diagonal_profile(values: np.ndarray) -> np.ndarray:
    """``log10 max_i |prod_{t=T-k+1..T} d_t[i]|`` for ``k = 1..T`` of a diagonal path ``d`` ``(T, H)``, exactly."""
    with np.errstate(divide="ignore"):
        logs = np.log10(np.abs(values))
    return np.cumsum(logs[::-1], axis=0).max(axis=1)


@dataclass(frozen=True)
class PathProfiles:
    """Each path's products through time.

    Attributes:
        paths: the paths (:func:`cell_paths` order).
        alone: ``(P, T)`` ``log10`` norm of each path's product alone.
        ablated: ``(P, T)`` ``log10`` norm of the full product with that path removed.
        coefficients: the steps' coefficients ``t = 1..T`` (the gates' derivatives), for the quantities.
    """

    paths: tuple[Path, ...]
    alone: np.ndarray
    ablated: np.ndarray
    coefficients: StepCoefficients


def path_profiles(trajectory: Trajectory) -> PathProfiles:
    """The products of every path alone and of the full product without it (spectral norm, float64)."""
    coefficients = step_coefficients(trajectory, 0, trajectory.steps)
    paths = cell_paths(coefficients, trajectory)
    rows = ("h",) if trajectory.spec.feedback else trajectory.spec.state
    alone, ablated = [], []
    for path in paths:
        if path.diagonal:
            a = rows.index(path.source)
            alone.append(diagonal_profile(coefficients.direct[:, a, a]))
        else:
            alone.append(dense_product_profile(_masked(coefficients, trajectory, (path,)), trajectory))
        others = tuple(p for p in paths if p != path)
        ablated.append(dense_product_profile(_masked(coefficients, trajectory, others), trajectory))
    shape = (len(paths), trajectory.steps)
    return PathProfiles(paths, np.array(alone).reshape(shape), np.array(ablated).reshape(shape), coefficients)
