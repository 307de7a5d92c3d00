"""``sigma_1^2`` of a stack of square products, one tracked block of approximate singular vectors each.

The batch (:mod:`gradscope.engine.batched_profiles`) uses it for the members whose product still has every
direction (no truncation yet, or a spectrum too flat to drop any): there the exact Gram eigenvalue costs
``S^3`` a lag. Each member keeps a block of ``b`` approximate top left singular vectors ``U`` (one
subspace-iteration step per lag, so they follow the converging top subspace), with Rayleigh-Ritz values
``theta`` of ``P P^T`` on ``span(U)`` and two rigorous certificates, as in :mod:`gradscope.engine.spectral`:
``lambda_1 <= theta_1 + tail`` (Cauchy interlacing, ``tail = ||P||_F^2 - sum theta``) and Kato-Temple with
``lambda_2 <= theta_2 + tail``. A member that certifies to neither within :data:`CERTIFY_RTOL` after
:data:`REFINE` more steps gets the exact eigenvalue of its Gram matrix (``eigvalsh`` over the stack of such
members). Every stacked call works slice by slice: a member's numbers never depend on its batch-mates.
"""

from __future__ import annotations

import numpy as np

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
#: After a lag its certificates failed, a member skips the iteration (straight to the exact eigenvalue) for
#: 1, 2, 4, ... lags, up to this many: while the top of the spectrum is still clustered (the first tens of
#: lags of a GRU) every attempt would fail, and an attempt costs half an exact eigensolve.
BACKOFF_MAX = 16


def gram_top_eigenvalues(rows: np.ndarray) -> np.ndarray:
    """``sigma_1^2`` of each ``rows`` ``(n, w, S)`` from its ``(w, w)`` Gram matrix (``eigvalsh`` over the
    stack, backward stable: to rounding), ``(n,)``."""
    if rows.shape[0] == 0:
        return np.zeros(0)
    gram = np.matmul(rows, rows.transpose(0, 2, 1))
    return np.maximum(np.linalg.eigvalsh(gram)[:, -1], 0.0)


class StackedRitz:
    """``sigma_1(P)^2`` of square products ``P`` ``(S, S)`` with ``||P||_F = 1``, for members ``0..N-1``."""

    def __init__(self, count: int, size: int) -> None:
        self.block = min(BLOCK, size)
        start = np.random.default_rng(0).standard_normal((size, self.block))
        self.basis = np.broadcast_to(np.linalg.qr(start)[0], (count, size, self.block)).copy()  # U, (N, S, b)
        self.slack = 64 * float(np.finfo(np.float64).eps)  # rounding in ||P||_F^2 - sum(theta), relative
        self.exact = 0  # member-lags answered by the dense eigensolver (for the benchmark's record)
        self.wait = np.zeros(count, dtype=int)  # lags each member skips the iteration for
        self.backoff = np.ones(count, dtype=int)

    def norm_squared(self, product: np.ndarray, ids: np.ndarray, members: np.ndarray) -> np.ndarray:
        """``sigma_1^2`` ``(n,)`` of ``product`` ``(n, S, S)``, the products of members ``ids`` ``(n,)``;
        1.0 where not ``members`` ``(n,)`` bool (their rows are zero; their blocks advance all the same)."""
        result = np.ones(product.shape[0])
        pending = np.asarray(members, dtype=bool).copy()
        waiting = self.wait[ids] > 0
        self.wait[ids[waiting]] -= 1
        hopeless = waiting.copy()
        for attempt in range(1 + REFINE):
            # Every member is one step further after a call: the first attempt for all, refinements for the rest.
            chosen = np.flatnonzero(~waiting if attempt == 0 else pending & ~hopeless)
            if chosen.size == 0:
                break
            whole = chosen.size == product.shape[0]
            theta, certified, far = self._iterate(product if whole else product[chosen], ids[chosen])
            done = certified & pending[chosen]
            result[chosen[done]] = theta[done]
            pending[chosen[done]] = False
            hopeless[chosen[far]] = True
        failed = ids[pending & ~waiting]
        self.backoff[failed] = np.minimum(2 * self.backoff[failed], BACKOFF_MAX)
        self.wait[failed] = self.backoff[failed] // 2
        self.backoff[ids[~pending & ~waiting & np.asarray(members, dtype=bool)]] = 1
        exact = np.flatnonzero(pending)
        if exact.size:
            result[exact] = gram_top_eigenvalues(product[exact])
            self.exact += int(exact.size)
        return result

    def _iterate(self, matrix: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rayleigh-Ritz on the tracked blocks of members ``ids`` (products ``matrix``), then one
        subspace-iteration step ``U <- orth(P P^T U)``; their ``theta_1``, whether it is certified, and whether
        it is so far from it (:data:`HOPELESS`) that :data:`REFINE` more steps would be wasted on it."""
        basis = self.basis[ids]
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
        self.basis[ids[usable]] = refreshed[usable]
        return theta_1, certified, far  # far members are never certified
