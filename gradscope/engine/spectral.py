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

When neither meets the tolerance, an iteration warm-started from ``V`` improves the block (a block,
not a single vector, so it does not stall when the top two singular values nearly coincide), two
thin products with ``Q`` per step. Where the spectrum has spread out (``theta_b / theta_1 <=``
:data:`KRYLOV_ABOVE`) that is plain subspace iteration, ``V <- orth(B V)``, which then converges
fast and refreshes the whole block for the next lags. Where the top of the spectrum is flat (an
LSTM's first products: ``sigma_9 / sigma_1 ~ 0.95``, ``sigma_2 / sigma_1 ~ 0.99``), subspace
iteration's rate ``lambda_{b+1} / lambda_1`` is close to 1, so a block Krylov (block Lanczos)
step is taken instead: the search space grows by the residuals ``B X - X Theta`` of the top ``b``
Ritz vectors, with Rayleigh-Ritz on the whole space and a thick restart to the top ``b`` Ritz
vectors when it reaches ``max_dimension``. If that has not certified within ``max_iterations``
steps, the exact dense eigenvalue of ``Q^T Q`` answers (counted in ``fallbacks``): an ``O(S^3)``
solve, and one that slows down badly when the machine's cores are shared, so the iteration is given
enough steps to avoid it at the flat first lags.

Wide products (at least :data:`LANCZOS_FROM` columns: the dense regime, where nothing can be truncated)
take a leaner route in :meth:`SpectralNormTracker.norm`: there a thin product ``Q X`` costs several
times a matrix-vector product per column for blocks of 4 to 16 (measured on this machine's OpenBLAS,
S = 512: 31 us for 1 or 2 columns, 140 to 190 us for 4 to 8, a GEMM 5.5 ms; from about ``720^2``
entries on even a two-column product runs at half the speed of two matrix-vector products), so the
block-Krylov step above with ``b = 8`` spends more on certifying a lag than the lag's own GEMM. The
lean route is Lanczos with one vector a step (:data:`LANCZOS_BLOCK`), started from the previous lag's
top Ritz vector: the projected matrix ``X^T B X`` is accumulated one block column at a time from
``B X_j`` (no Gram of the whole search space per step), the next block is the residual made orthogonal
to the space twice (classical Gram-Schmidt), Ritz values are computed only once the iteration is
expected to be close (from the previous lag's count), and the residual ``||B x - theta x||`` of the top
Ritz vector, read from the Lanczos relation while iterating, is measured explicitly (two matrix-vector
products) before it certifies ``theta`` by the same two bounds as above.
"""

from __future__ import annotations

import numpy as np

#: While the dense fallback keeps answering, the iteration is retried only every this many lags.
RETRY_EVERY = 2

#: Block-Krylov steps while ``theta_b / theta_1`` (about the subspace-iteration rate
#: ``lambda_{b+1} / lambda_1``) is above this; plain subspace iteration below it.
KRYLOV_ABOVE = 0.2

#: Vectors tracked by default (rows reserved in the product GEMM for the free check ``Q^T Y``).
DEFAULT_BLOCK = 8

#: Products at least this wide take the block-Lanczos route (see the module docstring).
LANCZOS_FROM = 256

#: Columns per block of the Lanczos route: one. Two-column blocks take fewer steps but more columns in all
#: (RNN, orthogonal W_hh, gain 1: 11.4 steps, 22.8 columns a lag at H=512, 19.7 and 39.4 at H=1024, against
#: 14.9 and 26.4), each column two matrix-vector passes; a flat LSTM or GRU top costs both the same.
LANCZOS_BLOCK = 1

#: Largest Lanczos search space (columns) before a thick restart to the top :data:`DEFAULT_BLOCK` Ritz vectors.
LANCZOS_DIMENSION = 64

#: Lanczos steps per lag before the dense fallback.
LANCZOS_ITERATIONS = 96

#: Default relative accuracy of ``sigma_1`` by working precision.
DEFAULT_RTOL = {np.dtype(np.float64): 4e-10, np.dtype(np.float32): 1e-5}


class SpectralNormTracker:
    """Spectral norm of ``Q`` at successive lags; see the module docstring.

    Args:
        size: the number of columns of ``Q`` (``S`` at first; :meth:`restrict` follows a
            truncation to fewer).
        dtype: working precision of ``Q``.
        rng: source of the random starting block.
        block: block size ``b`` (clipped to ``S``).
        rtol: relative accuracy of the returned ``sigma_1`` (default by dtype).
        max_iterations: block-Krylov steps per lag before the dense fallback.
        max_dimension: largest block-Krylov search space (columns) before a thick restart
            (clipped to ``S / 2``, but at least ``2b``).
    """

    def __init__(
        self,
        size: int,
        dtype: np.dtype,
        rng: np.random.Generator,
        block: int = DEFAULT_BLOCK,
        rtol: float | None = None,
        max_iterations: int = 24,
        max_dimension: int = 48,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.block = min(block, size)
        self.rtol = DEFAULT_RTOL[self.dtype] if rtol is None else rtol
        self.max_iterations = max_iterations
        self.max_dimension = max(2 * self.block, min(max_dimension, size // 2))
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
        # Lanczos steps the last lag needed: Ritz values are computed from two steps before that.
        self._expected = 4

    def restrict(self, rotation: np.ndarray) -> None:
        """Follow ``Q`` to ``Q R`` for ``R`` ``(r, r')`` with orthonormal columns (a truncation).

        The block is carried over as the orthonormalised ``R^T V`` (the dropped directions carry
        nothing of the top singular vectors to working precision), and ``image`` is reset.
        """
        columns = rotation.shape[1]
        self.basis, _ = np.linalg.qr(rotation.T @ self.basis.astype(np.float64)[:, : self.block])
        self.block = min(self.block, columns)
        self.basis = np.ascontiguousarray(self.basis[:, : self.block], dtype=self.dtype)
        self.max_dimension = max(2 * self.block, min(self.max_dimension, columns // 2))
        self.image = None
        self.free = False
        self._fallback_streak = 0  # a new matrix: give the iteration its chance again

    def norm(self, q: np.ndarray, frobenius_squared: float, product: np.ndarray | None = None) -> float:
        """``sigma_1(Q)`` for ``Q`` ``(S, r)`` with ``||Q||_F^2 = frobenius_squared``.

        Needs ``self.image == Q V`` (set to ``None`` to have it recomputed). ``product``, when
        given, is ``Q^T Q V`` ``(S, b)``, which saves the first thin product. Products at least
        :data:`LANCZOS_FROM` wide take the Lanczos route and use neither (see :meth:`wants_image`).
        """
        if not self.wants_image(q.shape[1]):
            return self._lanczos(q, frobenius_squared)
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
        if np.abs(self.basis.T @ self.basis - np.eye(self.block)).max() > 0.1 * self.rtol:
            # Rotations by Ritz vectors lag after lag let rounding erode V's orthonormality, which
            # Rayleigh-Ritz assumes: start afresh from the same span.
            self.basis, _ = np.linalg.qr(self.basis)
            self.image = q @ self.basis
            values, vectors = np.linalg.eigh(_gram(self.image))
            product = None
        # Work with the Ritz vectors themselves (ascending, as eigh returns them): V <- V C, Y <- Y C.
        rotation = vectors.astype(self.dtype)
        space, space_image = self.basis @ rotation, self.image @ rotation
        space_product = q.T @ space_image if product is None else product @ rotation  # B V, (S, b)
        ritz, ritz_image, ritz_product = space, space_image, space_product  # top b Ritz vectors X, Q X, B X
        for iteration in range(self.max_iterations):
            self.iterations += 1
            if iteration and values[-self.block] <= KRYLOV_ABOVE * values[-1]:
                # The spectrum has spread out: plain subspace iteration, V <- orth(B V), converges
                # fast and refreshes the whole block for the next lags.
                space, _ = np.linalg.qr(ritz_product)
                space_image = q @ space
                space_product = q.T @ space_image
                values, vectors = np.linalg.eigh(_gram(space_image))
            elif iteration:
                if space.shape[1] + self.block > self.max_dimension:
                    # Thick restart: keep the top b Ritz vectors (their images are combinations too).
                    space, space_image, space_product = ritz, ritz_image, ritz_product
                residual = ritz_product - ritz * values[-self.block :].astype(self.dtype)
                extra = _orthonormal_complement(space, residual)
                if extra is None:
                    break
                extra_image = q @ extra
                space = np.concatenate([space, extra], axis=1)
                space_image = np.concatenate([space_image, extra_image], axis=1)
                space_product = np.concatenate([space_product, q.T @ extra_image], axis=1)
                values, vectors = np.linalg.eigh(_gram(space_image))
            if iteration:
                top = vectors[:, -self.block :].astype(self.dtype)
                ritz, ritz_image, ritz_product = space @ top, space_image @ top, space_product @ top
            self.basis, self.image = ritz, ritz_image
            theta_1 = values[-1]
            # values holds every Ritz value of the (orthonormal) search space, so by Cauchy
            # interlacing the tail bounds what all of them miss together.
            tail = max(frobenius_squared - values.sum(), 0.0) + slack
            theta_2 = values[-2] if values.size > 1 else 0.0
            rho = float(np.linalg.norm(ritz_product[:, -1] - theta_1 * ritz[:, -1]))
            if tail <= tolerance * theta_1 or _kato_temple(theta_1, theta_2, tail, rho, tolerance):
                self._fallback_streak = 0
                return float(np.sqrt(theta_1))
        return self._dense(q)

    def wants_image(self, width: int) -> bool:
        """Whether :meth:`norm` of a product ``width`` columns wide reads ``image`` and ``product``
        (the caller can skip preparing them for the Lanczos route)."""
        return width < LANCZOS_FROM

    def _lanczos(self, q: np.ndarray, frobenius_squared: float) -> float:
        """``sigma_1(Q)`` by block Lanczos on ``B = Q^T Q`` with :data:`LANCZOS_BLOCK` columns per block,
        started from the top Ritz vectors in ``basis``; leaves the top ``block`` Ritz vectors there.

        The basis ``X`` ``(r, m)`` is kept orthonormal (each new block is the residual of ``B X_j``
        made orthogonal to ``X`` twice, then QR), and ``T = X^T B X`` is filled one block column at
        a time from ``X^T B X_j`` (both Gram-Schmidt passes' coefficients: ``T`` is the projection to
        rounding). Ritz values of ``T`` are lower bounds of the top eigenvalues (Cauchy); the two
        certificates are those of the block-Krylov route, with the top Ritz vector's ``theta`` and
        residual measured directly from ``Q`` once the Lanczos relation says they will pass.
        """
        if self._fallback_streak and self._fallback_streak % RETRY_EVERY:
            return self._dense(q)
        width, step = q.shape[1], min(LANCZOS_BLOCK, q.shape[1])
        dimension = max(min(LANCZOS_DIMENSION, width // 2), self.block + step)
        tolerance = 2.0 * self.rtol  # on sigma^2
        slack = self._rounding * frobenius_squared
        space = np.zeros((width, dimension + step), dtype=self.dtype)  # X, orthonormal columns
        projected = np.zeros((dimension + step, dimension + step))  # T = X^T B X, float64
        current, _ = _thin_qr(self.basis[:, -step:].astype(self.dtype))
        used = 0  # columns of space in use
        check_from = max(1, self._expected - 2)
        values = vectors = None
        for iteration in range(LANCZOS_ITERATIONS):
            self.iterations += 1
            space[:, used : used + step] = current
            product = (q @ current).T @ q  # (B X_j)^T, (step, r): two matrix-vector passes over Q
            filled = used + step
            basis = space[:, :filled]
            coefficients = product @ basis  # (X^T B X_j)^T
            residual = product.T - basis @ coefficients.T
            correction = residual.T @ basis  # the second Gram-Schmidt pass
            residual -= basis @ correction.T
            block_column = (coefficients + correction).astype(np.float64)
            projected[used:filled, :filled] = block_column
            projected[:filled, used:filled] = block_column.T
            if step > 1:
                diagonal = projected[used:filled, used:filled]
                projected[used:filled, used:filled] = 0.5 * (diagonal + diagonal.T)
            used = filled
            current, beta = _thin_qr(residual)
            exhausted = False
            smallest = abs(float(beta[0, 0])) if step == 1 else float(np.abs(np.diag(beta)).min())
            if smallest <= 1e-8 * float(np.abs(block_column).max()):
                # (Nearly) rank-deficient residual: Householder's extra columns need not be orthogonal
                # to the space; make them so, or the space is invariant (its Ritz values are exact).
                complement = _orthonormal_complement(space[:, :used], current)
                exhausted = complement is None
                current = current if complement is None else complement
            if iteration + 1 < check_from and used + step <= dimension and not exhausted:
                continue
            values, vectors = np.linalg.eigh(projected[:used, :used])
            theta_1 = values[-1]
            tail = max(frobenius_squared - values.sum(), 0.0) + slack
            theta_2 = values[-2] if values.size > 1 else 0.0
            # The Lanczos relation B X = X T + X_next beta E^T: the top Ritz vector's residual.
            estimate = float(np.linalg.norm(beta.astype(np.float64) @ vectors[used - step : used, -1]))
            if tail <= tolerance * theta_1 or _kato_temple(theta_1, theta_2, tail, estimate, 0.5 * tolerance):
                sigma = self._certify(q, space[:, :used], values, vectors, frobenius_squared, slack, tolerance)
                if sigma is not None:
                    self._expected = iteration + 1
                    self._fallback_streak = 0
                    return sigma
            if exhausted:
                break
            if used + step > dimension:
                # Thick restart: the top Ritz vectors span the new space (T becomes diagonal on them);
                # the next block, orthogonal to the old space, stays orthogonal to the new one.
                keep = self.block
                space[:, :keep] = space[:, :used] @ vectors[:, -keep:].astype(self.dtype)
                projected[...] = 0.0
                projected[np.arange(keep), np.arange(keep)] = values[-keep:]
                used = keep
        self._expected = LANCZOS_ITERATIONS
        return self._dense(q)

    def _certify(
        self,
        q: np.ndarray,
        space: np.ndarray,
        values: np.ndarray,
        vectors: np.ndarray,
        frobenius_squared: float,
        slack: float,
        tolerance: float,
    ) -> float | None:
        """``sigma_1`` from the Lanczos space if it certifies with ``theta`` and the residual measured
        from ``Q`` (and the space checked orthonormal, which the bounds assume), else ``None``;
        leaves the top ``block`` Ritz vectors in ``basis``."""
        used = space.shape[1]
        bound = 16 * float(np.finfo(self.dtype).eps) * np.sqrt(space.shape[0])
        if np.abs(space.T @ space - np.eye(used)).max() > bound:
            return None
        keep = min(self.block, used)
        ritz = space @ vectors[:, -keep:].astype(self.dtype)  # ascending, the top one last
        top = ritz[:, -1] / np.linalg.norm(ritz[:, -1])
        image = q @ top
        theta_1 = float(image.astype(np.float64) @ image)  # the Rayleigh quotient, measured
        residual = float(np.linalg.norm((image @ q).astype(np.float64) - theta_1 * top))
        theta_2 = values[-2] if values.size > 1 else 0.0
        tail = max(frobenius_squared - values[:-1].sum() - max(theta_1, values[-1]), 0.0) + slack
        if not (tail <= tolerance * theta_1 or _kato_temple(theta_1, theta_2, tail, residual, tolerance)):
            return None
        if keep < self.block:
            others = self.basis[:, : self.block - keep].astype(self.dtype)
            ritz = np.linalg.qr(np.concatenate([ritz[:, ::-1], others], axis=1))[0][:, ::-1]
        self.basis = np.ascontiguousarray(ritz, dtype=self.dtype)
        self.image = None
        self.free = False
        return float(np.sqrt(theta_1))

    def _dense(self, q: np.ndarray) -> float:
        """The exact answer from a dense symmetric eigensolver (backward stable: ``sigma_1^2`` to rounding)."""
        self.fallbacks += 1
        self._fallback_streak += 1
        return gram_spectral_norm(q)


def _thin_qr(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q R = block`` ``(S, n)``: for one or two columns by Gram-Schmidt with a second pass (about a
    fifth of ``numpy.linalg.qr``'s call overhead, which the Lanczos route pays every step); a zero
    column becomes zero (the caller then completes the basis), wider blocks go to Householder."""
    if block.shape[1] > 2:
        return np.linalg.qr(block)
    columns = np.empty_like(block)
    factor = np.zeros((block.shape[1], block.shape[1]), dtype=block.dtype)
    first = block[:, 0]
    norm = float(np.sqrt(first @ first))
    factor[0, 0] = norm
    columns[:, 0] = first / norm if norm > 0 else 0.0
    if block.shape[1] == 2:
        second = block[:, 1].copy()
        for _ in range(2):
            overlap = float(columns[:, 0] @ second)
            factor[0, 1] += overlap
            second -= overlap * columns[:, 0]
        norm = float(np.sqrt(second @ second))
        factor[1, 1] = norm
        columns[:, 1] = second / norm if norm > 0 else 0.0
    return columns, factor


def _kato_temple(theta_1: float, theta_2: float, tail: float, residual: float, tolerance: float) -> bool:
    """Whether ``lambda_1 <= theta_1 (1 + tolerance)`` follows from Kato-Temple, with the rigorous
    ``lambda_2 <= theta_2 + tail`` or, once the residual is well inside the Ritz gap, with that gap (the
    a-posteriori criterion of ARPACK-style solvers)."""
    ritz_gap = theta_1 - theta_2
    for gap in (ritz_gap - tail, ritz_gap if residual < 0.1 * ritz_gap else 0.0):
        if gap > 0 and residual * residual <= tolerance * theta_1 * gap:
            return True
    return False


def gram_spectral_norm(q: np.ndarray) -> float:
    """``sigma_1(Q)`` of ``Q`` ``(S, r)`` from the dense ``(r, r)`` Gram matrix in float64 (a
    backward-stable symmetric eigensolve: ``sigma_1^2`` to rounding); ``O(S r^2 + r^3)``."""
    q64 = q.astype(np.float64, copy=False)
    return float(np.sqrt(max(np.linalg.eigvalsh(q64.T @ q64)[-1], 0.0)))


def _orthonormal_complement(space: np.ndarray, block: np.ndarray) -> np.ndarray | None:
    """An orthonormal basis ``(S, n)`` of ``block`` ``(S, b)`` made orthogonal to ``space`` ``(S, m)``.

    Classical Gram-Schmidt twice, then Householder QR for the block itself, and all of it once more
    if needed: Householder's factor is orthonormal even when ``block`` is (numerically) rank
    deficient, but its extra columns need not be orthogonal to ``space``. Rayleigh-Ritz gives
    rigorous lower bounds only on an orthonormal basis, so the result is checked, and ``None``
    returned if it is not one.
    """
    bound = 16 * float(np.finfo(block.dtype).eps) * np.sqrt(space.shape[0])
    for _ in range(2):
        for _ in range(2):
            block = block - space @ (space.T @ block)
        block, _ = np.linalg.qr(block)
        if np.abs(space.T @ block).max() <= bound:
            return block if np.abs(block.T @ block - np.eye(block.shape[1])).max() <= bound else None
    return None


def _gram(y: np.ndarray) -> np.ndarray:
    """``Y^T Y`` in float64 (small, ``(b, b)``)."""
    y64 = y.astype(np.float64, copy=False)
    return y64.T @ y64
