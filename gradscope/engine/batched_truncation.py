"""Dropping the numerically null directions of a stack of products at once, with a measured certificate.

The batch's counterpart of :func:`gradscope.engine.truncation.truncate`, for products kept as rows
``P`` ``(w, S)`` (``P = Q^T``: a direction of ``Q``'s columns is a combination of ``P``'s rows). One stacked
SVD ``P = U diag(sigma) V^T`` of all the members due a try resolves singular values to about ``eps sigma_1``,
far below the ``1e-12 sigma_1`` that decides what may go, so one level suffices (the one-at-a-time path
decomposes Gram matrices, which resolve only ``sqrt(eps) sigma_1``, band within band). What is dropped is
*measured*, not estimated: the rows ``U^T P`` are formed, and the last of them (the smallest singular
values) are dropped while their summed squared norms, computed from the rows themselves, fit in the budget
``(tolerance sigma_1)^2``. The products continue on the kept rows ``U_keep^T P``, which have the norms of
``U_keep U_keep^T P``; the dropped part's row space is orthogonal to theirs, so every later norm changes at
second order only (see :mod:`gradscope.engine.truncation`).

Each member's result depends on its rows alone (the SVD and the products work slice by slice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KeptRows:
    """The kept part of one member's ``P`` ``(w, S)``: ``rows = rotation^T P``."""

    #: ``(w', S)``.
    rows: np.ndarray
    #: ``(w, w')``, orthonormal columns.
    rotation: np.ndarray


def truncate_rows(products: np.ndarray, tolerance: float, minimum_drop: int) -> list[KeptRows | None]:
    """For each of ``products`` ``(n, w, S)``: its kept rows after dropping at least ``minimum_drop``
    directions that carry at most ``tolerance * sigma_1`` (Frobenius) together, or ``None`` when fewer qualify
    (or its rows are not finite)."""
    count, width = products.shape[0], products.shape[1]
    if count == 0:
        return []
    finite = np.isfinite(products).all(axis=(1, 2))
    safe = np.where(finite[:, None, None], products, 0.0)
    left, sigma, _ = np.linalg.svd(safe, full_matrices=False)  # left (n, w, w), sigma descending
    rotated = np.matmul(left.transpose(0, 2, 1), safe)  # U^T P: row j along the j-th singular direction
    energy = np.einsum("nij,nij->ni", rotated, rotated)  # measured, not the singular values
    budget = tolerance * tolerance * sigma[:, 0] ** 2
    smallest_first = np.cumsum(energy[:, ::-1], axis=1)  # [n, j]: the energy of the last j + 1 rows
    drops = np.count_nonzero(smallest_first <= budget[:, None], axis=1)
    kept: list[KeptRows | None] = []
    for n in range(count):
        drop = int(drops[n])
        if not finite[n] or not sigma[n, 0] > 0.0 or drop < minimum_drop:
            kept.append(None)
        else:
            keep = width - drop
            kept.append(KeptRows(rotated[n, :keep], left[n, :, :keep]))
    return kept
