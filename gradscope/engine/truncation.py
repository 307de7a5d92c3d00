"""Dropping the numerically null part of a Jacobian product, with a measured certificate.

As the lag grows, the singular values of ``Q_k = P_k^T`` spread out (gradients vanish or explode
at different rates in different directions): for an LSTM with H=256 at PyTorch initialisation,
256 of the 512 singular values lie within ``1e-12`` of the largest after 25 lags, 63 after 200
and 7 after 1000. The rest cannot change any norm the engine reports, yet dense products keep
multiplying them.

:func:`truncate` finds orthonormal columns ``R`` ``(r, r')`` such that ``X R`` keeps everything of
``X`` ``(S, r)`` but a part ``E = X (I - R R^T)`` with ``||E||_F <= tolerance * sigma_1(X)``. The
products then continue on ``X R``: ``J^T (X R) = (J^T X) R``, and ``X R`` has the same spectral
and Frobenius norms as ``X R R^T``, so the engine never needs ``R`` again (the spectral tracker
rotates its block by it once). ``E`` has its row space orthogonal to the kept part's, so it
changes ``||X||_2`` and ``||X||_F`` only at second order, at most ``(tolerance * kappa)^2 / 2``
relative, now and after any later factors ``A`` (``kappa = ||A|| sigma_1(X) / sigma_1(A X)``):
``||A X v||^2 <= ||A X R||^2 + ||A E||^2`` for unit ``v``.

Whether a dropped part can matter later depends on the Jacobians still to come: it does if they
all but annihilate the kept directions (units that saturate or die) and spare the dropped ones.
:func:`gradscope.engine.products.norm_profile` guards against that twice: networks whose coupling graph
(an edge ``j -> i`` wherever ``J_t[i, j]`` can be nonzero) is not strongly connected
(:func:`strongly_connected`: diagonal or block-diagonal ``W_hh``, pruned networks in disconnected
pieces) always get full products, and random combinations of everything dropped ride along with
the product as a sketch of ``A E``; when it grows past a small fraction of the norm, the profile
is computed again with full products.

``E`` is *measured*, not estimated: the directions come from the eigenvectors of the Gram matrix
``X^T X``, which resolve singular values only down to about ``sqrt(eps) sigma_1``, so the columns
of ``X`` rotated into the Gram's small-eigenvalue band are decomposed again from their own Gram
(where their own scale sets the rounding), band within band, until the band's energy fits in the
budget ``(tolerance * sigma_1)^2``; what is dropped is a set of the last level's columns whose
summed squared norms, computed directly from the columns, fit in that budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Gram eigenvalues below this fraction of the largest are resolved again from their own columns.
#: The band's eigenvectors pick up the directions just above the threshold at about
#: ``eps / RESOLVE_BELOW``, i.e. ``eps / sqrt(RESOLVE_BELOW) * sigma_1`` of mixed-in energy: at 1e-6
#: that is 1e-13, below any tolerance used, so the levels separate the singular values cleanly.
RESOLVE_BELOW = 1e-6

#: Float64 Gram eigenvalues carry absolute errors up to about ``r * eps * lambda_1``: only those
#: below this fraction of the largest (or below the budget) can belong to droppable directions.
GRAM_NOISE = 1e-12


#: Weights below this fraction of the largest count as absent couplings: rounding leaking through
#: them would stay far below what a dropped direction could matter at.
COUPLING_BELOW = 1e-4


def strongly_connected(pattern: np.ndarray) -> bool:
    """Whether the directed graph with an edge ``j -> i`` wherever ``pattern[i, j]`` ``(n, n)`` bool
    reaches every node from every other (breadth-first search from node 0, forwards and backwards)."""
    for adjacency in (pattern, pattern.T):
        reached = np.zeros(pattern.shape[0], dtype=bool)
        reached[0] = True
        frontier = reached.copy()
        while frontier.any():
            frontier = adjacency[:, frontier].any(axis=1) & ~reached
            reached |= frontier
        if not reached.all():
            return False
    return True


def coupling(matrix: np.ndarray) -> np.ndarray:
    """The couplings of a weight matrix that count (:data:`COUPLING_BELOW`), as a bool pattern."""
    magnitude = np.abs(matrix)
    return magnitude > COUPLING_BELOW * magnitude.max(initial=0.0)


def state_coupling(
    weights: np.ndarray, recurrent_mask: np.ndarray, direct_mask: np.ndarray, reads: slice
) -> np.ndarray:
    """``(S, S)`` bool: where ``J_t[i, j]`` can be nonzero, for a state of ``C`` components of ``H`` units.

    Args:
        weights: ``(G, H, R)`` the couplings of each gate's recurrent weights ``W_hg`` that count.
        recurrent_mask: ``(C, G)`` whether component ``a`` has a partial through gate ``g``'s projection.
        direct_mask: ``(C, C)`` whether component ``a`` has a direct (diagonal) partial on component ``b``.
        reads: the ``R`` state entries the recurrent projections read (their columns of ``J_t``): a slice
            or an index array.
    """
    components, hidden = recurrent_mask.shape[0], weights.shape[1]
    size, diagonal = components * hidden, np.arange(hidden)
    pattern = np.zeros((components, hidden, size), dtype=bool)
    for a in range(components):
        pattern[a][:, reads] = weights[recurrent_mask[a]].any(axis=0)
        for b in np.flatnonzero(direct_mask[a]):
            pattern[a, diagonal, b * hidden + diagonal] = True
    return pattern.reshape(size, size)


@dataclass(frozen=True)
class Truncation:
    """The kept part of ``X`` ``(S, r)``: ``columns = X @ rotation``."""

    #: ``(S, r')`` in float64.
    columns: np.ndarray
    #: ``(r, r')``, orthonormal columns.
    rotation: np.ndarray
    #: ``||X - columns @ rotation^T||_F / sigma_1(X)``, as measured (at most the tolerance).
    discarded: float


def truncate(x: np.ndarray, tolerance: float, minimum_drop: int, likely: bool = False) -> Truncation | None:
    """The kept part of ``x`` ``(S, r)`` after dropping at least ``minimum_drop`` directions that
    carry at most ``tolerance * sigma_1(x)`` (Frobenius) together; ``None`` when fewer qualify.

    An unproductive call costs one Gram matrix and one ``eigvalsh`` (which decide whether enough
    directions could be small); a productive one about two ``(S, r) x (r, r)`` products and a
    symmetric eigensolve of size ``r``, plus the same on the ever smaller bands. ``likely`` (the
    last try succeeded) skips the ``eigvalsh``: the first eigensolve with vectors decides instead
    (the same numbers; about a fifth of a productive call at r = 512, three times an unproductive one).
    """
    x64 = np.asarray(x, dtype=np.float64)
    gram = x64.T @ x64
    decomposed = np.linalg.eigh(gram) if likely else None
    values = np.linalg.eigvalsh(gram) if decomposed is None else decomposed[0]
    top = float(values[-1])
    budget = tolerance * tolerance * top
    if not top > 0.0 or np.count_nonzero(values <= max(budget, GRAM_NOISE * top)) < minimum_drop:
        return None
    kept_columns: list[np.ndarray] = []
    kept_rotations: list[np.ndarray] = []
    columns, basis = x64, None  # columns = x @ basis (basis None: the identity)
    while True:
        values, vectors = np.linalg.eigh(gram) if decomposed is None else decomposed  # ascending
        decomposed = None
        rotated = columns @ vectors
        rotation = vectors if basis is None else basis @ vectors
        band = int(np.count_nonzero(values < RESOLVE_BELOW * values[-1]))
        energy = np.einsum("ij,ij->j", rotated, rotated)  # measured, not the Gram's eigenvalues
        if band and energy[:band].sum() > budget:
            # The band's directions are resolved only to about eps * values[-1]: keep what lies
            # above it and decompose the band again from its own columns (its own scale).
            kept_columns.append(rotated[:, band:])
            kept_rotations.append(rotation[:, band:])
            columns, basis = rotated[:, :band], rotation[:, :band]
            gram = columns.T @ columns
            continue
        drop = int(np.searchsorted(np.cumsum(energy), budget, side="right"))
        kept_columns.append(rotated[:, drop:])
        kept_rotations.append(rotation[:, drop:])
        break
    dropped = x64.shape[1] - sum(part.shape[1] for part in kept_columns)
    if dropped < minimum_drop:
        return None
    discarded = float(np.sqrt(energy[:drop].sum() / top))
    return Truncation(
        np.concatenate(kept_columns[::-1], axis=1), np.concatenate(kept_rotations[::-1], axis=1), discarded
    )
