"""Certified spectral norms of a slowly changing sequence of matrices.

Successive products ``P_k`` differ by one Jacobian factor, and the top right singular subspace of
``Q_k = P_k^T`` (the top left singular subspace of ``P_k``) converges as ``k`` grows (Oseledets).
:class:`SpectralNormTracker` keeps an orthonormal block ``V`` ``(S, b)`` of such vectors and
``Y = Q V``, which the caller updates with the same cheap structured map that updates ``Q``. With
``B = Q^T Q``, Rayleigh-Ritz on ``span(V)`` gives ``theta_1 >= ... >= theta_b``, and by Cauchy
interlacing ``theta_i <= lambda_i(B) = sigma_i(Q)^2``; since ``sum_i lambda_i = ||Q||_F^2``, the
Frobenius *tail* ``tau = ||Q||_F^2 - sum_i theta_i`` bounds what the block misses. Two rigorous
certificates for ``lambda_1`` follow, tried in order of cost:

1. ``lambda_1 <= theta_1 + tau`` (free: needs only ``Y``);
2. Kato-Temple: ``lambda_2 <= alpha = theta_2 + tau``, so if ``theta_1 > alpha`` then
   ``lambda_1 <= theta_1 + rho^2 / (theta_1 - alpha)``, with ``rho`` the residual of the top Ritz
   pair (one thin product ``Q^T Y``). While ``tau`` is still larger than the Ritz gap (early
   lags, flat spectra) the same bound is used with the Ritz gap ``theta_1 - theta_2`` once ``rho``
   is well inside it: the a-posteriori criterion of Lanczos/ARPACK-style solvers.

When neither meets the tolerance, block subspace iteration, warm-started from ``V``, improves the
block (a block, not a single vector, so it does not stall when the top two singular values nearly
coincide). If that has not certified within ``max_iterations``, the exact dense eigenvalue of
``Q^T Q`` answers (counted in ``fallbacks``); this happens at the first few lags, where the
singular values are still clustered.
"""

from __future__ import annotations

import numpy as np

#: While the dense fallback keeps answering, the iteration is retried only every this many lags.
RETRY_EVERY = 2

#: Default relative accuracy of ``sigma_1`` by working precision.
DEFAULT_RTOL = {np.dtype(np.float64): 4e-10, np.dtype(np.float32): 1e-5}


class SpectralNormTracker:
    """Spectral norm of ``Q`` at successive lags; see the module docstring.

    Args:
        size: ``S``; the matrices are ``(S, S)``.
        dtype: working precision of ``Q``.
        rng: source of the random starting block.
        block: block size ``b`` (clipped to ``S``).
        rtol: relative accuracy of the returned ``sigma_1`` (default by dtype).
        max_iterations: subspace iterations per lag before the dense fallback.
    """

    def __init__(
        self,
        size: int,
        dtype: np.dtype,
        rng: np.random.Generator,
        block: int = 8,
        rtol: float | None = None,
        max_iterations: int = 10,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.block = min(block, size)
        self.rtol = DEFAULT_RTOL[self.dtype] if rtol is None else rtol
        self.max_iterations = max_iterations
        # Rounding in ||Q||_F^2 - sum(theta) relative to ||Q||_F^2.
        self._rounding = 64 * float(np.finfo(self.dtype).eps)
        start, _ = np.linalg.qr(rng.standard_normal((size, self.block)))
        self.basis = np.ascontiguousarray(start, dtype=self.dtype)  # V, (S, b)
        #: ``Y = Q V`` ``(S, b)``, kept current by the caller; ``None`` until the first lag.
        self.image: np.ndarray | None = None
        self.fallbacks = 0
        self.iterations = 0
        #: Whether the last lag was certified by the free Frobenius bound; then the next lag most
        #: likely is too, and the caller can skip preparing ``product``.
        self.free = False
        # Consecutive lags answered by the dense fallback. While the singular values stay clustered
        # (e.g. an LSTM whose forget gates are all near 1) the iteration cannot certify, so it is
        # only retried every RETRY_EVERY lags instead of being run to its cap each time (a failed try
        # costs some thin products; the dense answer one O(S^3) solve).
        self._fallback_streak = 0

    def norm(self, q: np.ndarray, frobenius_squared: float, product: np.ndarray | None = None) -> float:
        """``sigma_1(Q)`` for ``Q`` ``(S, S)`` with ``||Q||_F^2 = frobenius_squared``.

        Needs ``self.image == Q V`` (set to ``None`` to have it recomputed). ``product``, when
        given, is ``Q^T Q V`` ``(S, b)``, which saves the first thin product.
        """
        if self.image is None:
            self.image = q @ self.basis
        tolerance = 2.0 * self.rtol  # on sigma^2: (1 + rtol)^2 - 1
        slack = self._rounding * frobenius_squared
        values, vectors = np.linalg.eigh(_gram(self.image))
        self.free = frobenius_squared - values.sum() + slack <= tolerance * values[-1]
        if self.free:
            self._fallback_streak = 0
            return float(np.sqrt(values[-1]))
        if self._fallback_streak and self._fallback_streak % RETRY_EVERY:
            return self._dense(q)
        for iteration in range(self.max_iterations):
            self.iterations += 1
            if iteration:
                values, vectors = np.linalg.eigh(_gram(self.image))
            z = q.T @ self.image if product is None else product  # B V, (S, b)
            product = None
            theta_1 = values[-1]
            tail = max(frobenius_squared - values.sum(), 0.0) + slack
            if tail <= tolerance * theta_1:
                self._fallback_streak = 0
                return float(np.sqrt(theta_1))
            theta_2 = values[-2] if values.size > 1 else 0.0
            top = vectors[:, -1].astype(self.dtype)
            rho = float(np.linalg.norm(z @ top - theta_1 * (self.basis @ top)))
            # Kato-Temple with the rigorous lambda_2 <= theta_2 + tail, else with the Ritz gap
            # once the residual is well inside it (the a-posteriori bound of ARPACK-style solvers).
            for gap in (theta_1 - theta_2 - tail, theta_1 - theta_2 if rho < 0.1 * (theta_1 - theta_2) else 0.0):
                if gap > 0 and rho * rho <= tolerance * theta_1 * gap:
                    self._fallback_streak = 0
                    return float(np.sqrt(theta_1))
            self.basis, _ = np.linalg.qr(z)
            self.image = q @ self.basis
        return self._dense(q)

    def _dense(self, q: np.ndarray) -> float:
        """The exact answer from a dense symmetric eigensolver (backward stable: ``sigma_1^2`` to rounding)."""
        self.fallbacks += 1
        self._fallback_streak += 1
        q64 = q.astype(np.float64, copy=False)
        return float(np.sqrt(max(np.linalg.eigvalsh(q64.T @ q64)[-1], 0.0)))


def _gram(y: np.ndarray) -> np.ndarray:
    """``Y^T Y`` in float64 (small, ``(b, b)``)."""
    y64 = y.astype(np.float64, copy=False)
    return y64.T @ y64
