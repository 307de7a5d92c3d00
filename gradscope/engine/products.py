"""Norms of the Jacobian products through time, ``P_k = d s_T / d s_{T-k}``, at every lag.

``P_k = J_T J_{T-1} ... J_{T-k+1}`` is built from the back, one factor per lag, as its transpose
``Q_k = P_k^T = J_{T-k+1}^T Q_{k-1}``: then every update is one GEMM ``(H, S) x (S, S)`` for the
hidden-state rows plus diagonal scalings for the other components' rows (the LSTM's ``c``),
because ``J_t`` depends on ``c_{t-1}`` only through diagonal blocks. Each factor is divided by the
previous product's Frobenius norm, so ``Q`` keeps a norm of about 1 and ``log10`` of what was
divided out is accumulated separately: no overflow, underflow or subnormal arithmetic at any
``T``. Memory is ``O(S^2 + T*H)``: Jacobians are assembled from their coefficients one step at a
time, and the coefficients are evaluated in chunks of :data:`CHUNK_STEPS` steps.

As the lag grows the singular values of ``Q`` spread out, and most of its directions soon carry
nothing a float64 norm can see: every :data:`TRUNCATE_EVERY` lags :mod:`gradscope.engine.truncation`
drops those that carry less than :data:`TRUNCATE_BELOW` of ``sigma_1`` together (measured, and a
second-order change to every later norm), and the products continue on ``Q``'s remaining ``r``
columns at ``r / S`` of the cost, with :data:`SKETCH_COLUMNS` random combinations of what was
dropped riding along to show whether it ever comes to matter (then: full products again).
Products narrower than :data:`EXACT_BELOW` get their spectral norm from the dense ``(r, r)``
Gram matrix; wider ones from :mod:`gradscope.engine.spectral`.

Internally the state components are reordered with ``h`` last (norms do not depend on the order
of coordinates): then the hidden-state rows of ``Q`` and the ``b`` extra rows that give the
spectral-norm check ``Q^T Y`` for free (see :mod:`gradscope.engine.spectral`) are one contiguous block,
written by a single GEMM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from gradscope.engine.operator import FLUSH_RELATIVE, StepOperator
from gradscope.engine.spectral import DEFAULT_BLOCK, SpectralNormTracker, gram_spectral_norm
from gradscope.engine.trajectory import Trajectory
from gradscope.engine.truncation import strongly_connected, truncate
from gradscope.errors import ConfigError

NORMS = ("spectral", "frobenius")
DTYPES = ("float64", "float32")

#: Steps whose coefficients are evaluated in one vectorised call.
CHUNK_STEPS = 512
#: Lags between flushes of the product's negligible entries (see :data:`~gradscope.engine.operator.FLUSH_RELATIVE`).
FLUSH_EVERY = 16

#: Truncation drops directions carrying at most this fraction of ``sigma_1`` (Frobenius, together).
TRUNCATE_BELOW = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}
#: Lags between truncation tries while they succeed, and the longest interval after failures.
TRUNCATE_EVERY = 16
TRUNCATE_EVERY_MAX = 256
#: A truncation must drop at least this many directions (and an eighth of the width) to be worth it.
MINIMUM_DROP = 4
#: After a truncation, this many random combinations ``E Omega`` of the dropped part ride along as
#: extra columns of the product. ``||A E Omega||_F^2`` is an unbiased estimate of ``||A E||_F^2``
#: (chi-squared with 8 degrees of freedom at worst): when it exceeds :data:`SKETCH_ALARM` of the
#: norm, the profile is computed again with full products. A dropped part that could change a
#: norm by 1e-10 relative (``||A E|| >= 1.4e-5 sigma_1``) goes unnoticed only if the sketch
#: underestimates it 140-fold: probability below 1e-16.
SKETCH_COLUMNS = 8
SKETCH_ALARM = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-5}
#: Products at most this narrow get their spectral norm from the dense ``(r, r)`` Gram matrix each
#: lag (``S r^2 + r^3``): below about 64 columns that is cheaper than the iteration's calls; above,
#: the symmetric eigensolve's ``r^3`` (0.1 ms at r=64, 0.4 ms at 128) costs more than certifying
#: (measured on 2 cores, LSTM H=128..256). float32 keeps the Gram up to twice this width, where its
#: iteration would certify only to its 1e-5 tolerance and the Gram answers to rounding.
EXACT_BELOW = 64


@dataclass(frozen=True)
class NormProfile:
    """``log10 ||P_k||`` for ``k = 1..T`` (``-inf`` where the product is exactly zero)."""

    log10_norm: np.ndarray  # (T,), entry k-1 is lag k
    norm: str
    dtype: str
    #: Lags where the certified iteration gave up and a dense eigensolver answered (spectral only).
    svd_fallbacks: int = 0
    #: ``log10`` of all S singular values of ``P_k``, descending, for each requested snapshot lag k.
    singular_values: dict[int, np.ndarray] = field(default_factory=dict)
    #: Directions of the product still carried at the last lag (S unless truncations dropped some).
    directions: int = 0


def check_norm(norm: object) -> str:
    """``norm`` if it is one of :data:`NORMS`, else a :class:`~gradscope.errors.ConfigError` listing them."""
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r} (valid: {', '.join(NORMS)})")
    return str(norm)


def check_dtype(dtype: object) -> str:
    """``dtype`` if it is one of :data:`DTYPES`, else a :class:`~gradscope.errors.ConfigError` listing them."""
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r} (valid: {', '.join(DTYPES)})")
    return str(dtype)


def norm_profile(
    trajectory: Trajectory,
    norm: str = "spectral",
    dtype: str = "float64",
    seed: int = 0,
    snapshot_lags: Iterable[int] = (),
    progress: Callable[[int, int], None] | None = None,
    truncation: bool = True,
) -> NormProfile:
    """``log10 ||d s_T / d s_{T-k}||`` for every lag ``k = 1..T``.

    Args:
        trajectory: the forward pass (float64).
        norm: ``"spectral"`` (largest singular value, certified to 4e-10 relative in float64;
            see :mod:`gradscope.engine.spectral`) or ``"frobenius"``.
        dtype: working precision of the products, ``"float64"`` or ``"float32"`` (about twice as
            fast; rounding of about 1e-7 per step accumulates to 1e-5 .. 1e-3 relative over
            hundreds of lags of exploding or chaotic networks).
        seed: seeds the spectral iteration's random start (results do not depend on it beyond
            the tolerance).
        snapshot_lags: lags k at which to keep every singular value of ``P_k`` (a dense SVD each).
        progress: called as ``progress(lags_done, T)`` about a hundred times over the run.
        truncation: drop directions of the product that carry less than
            :data:`TRUNCATE_BELOW` of its norm together (see :mod:`gradscope.engine.truncation`: a
            second-order change; only where the state's coupling graph is strongly connected,
            never before the last snapshot lag, and undone if a sketch of the dropped part shows
            it growing to matter). Off, every product is the full ``(S, S)`` one.

    Returns:
        A :class:`NormProfile`; ``log10_norm[k - 1]`` is ``log10 ||P_k||``.
    """
    work = np.dtype(check_dtype(dtype))
    check_norm(norm)
    steps = trajectory.steps
    snapshots = {int(k) for k in snapshot_lags}
    if any(not 1 <= k <= steps for k in snapshots):
        raise ValueError(f"snapshot lags must lie in 1..{steps}, got {sorted(snapshots)}")
    singular_values: dict[int, np.ndarray] = {}
    report_every = max(1, steps // 100)
    extra = DEFAULT_BLOCK if norm == "spectral" else 0
    operator = StepOperator(trajectory, work, extra)
    size = operator.size
    schedule = _TruncationSchedule(max(snapshots, default=0)) if truncation else None
    tracker = None
    if norm == "spectral":
        tracker = SpectralNormTracker(size, work, np.random.default_rng(seed))
    log10_norm = np.full(steps, -np.inf)
    exact_below = EXACT_BELOW * (2 if work == np.float32 else 1)
    # Q_k (S, r) as r columns (r = S until a truncation), then the sketch's SKETCH_COLUMNS columns
    # once there has been one: rows S.. hold the free check's products.
    buffers = [np.zeros((size + extra, size), dtype=work) for _ in range(2)]
    sketch_rng = np.random.default_rng([seed, 1])
    sketched = 0  # columns of the buffers that hold the sketch of what truncations dropped

    log10_scale = 0.0  # log10 of everything divided out of Q so far (Kahan-summed: T can be 1e5+)
    compensation = 0.0
    scale = 1.0  # divides the next factor
    lag = 0
    for stop in range(steps, 0, -CHUNK_STEPS):
        start = max(0, stop - CHUNK_STEPS)
        coefficients = operator.chunk(start, stop)
        if lag == 0 and schedule is not None and not strongly_connected(operator.coupling_pattern()):
            schedule = None  # a reducible network keeps its blocks exact in floating point: full products
        for k in range(stop - start - 1, -1, -1):
            operator.load(coefficients, k, scale)
            log10_scale, compensation = _kahan_add(log10_scale, compensation, float(np.log10(scale)))
            lag += 1
            z = None
            width = buffers[0].shape[1] - sketched
            tracking = tracker is not None and width > exact_below and tracker.wants_image(width)
            if lag == 1:
                buffers[0][:size] = operator.first()
            else:
                image = None
                if tracking and tracker.image is not None:
                    image = operator.apply(tracker.image, np.empty_like(tracker.image))
                # The free check Q^T Y rides along in the GEMM, unless the Frobenius bound is
                # certifying on its own (it keeps doing so once the spectrum has spread out).
                wanted = image is not None and not tracker.free
                extra_rows = operator.load_transposed_rows(image) if wanted else 0
                z_rows = operator.advance(buffers[1][:size], buffers[0], extra_rows)
                z = None if z_rows is None else z_rows.T[: z_rows.shape[1] - sketched]
                if tracking:
                    tracker.image = image
            q = buffers[0][:size, : buffers[0].shape[1] - sketched]  # the kept columns of Q
            if lag % FLUSH_EVERY == 0:
                current = np.abs(buffers[0][:size])
                buffers[0][:size][current < FLUSH_RELATIVE * current.max(initial=0.0)] = 0.0
            frobenius_squared = float(np.vdot(q, q))
            if not 0.0 < frobenius_squared < np.inf and np.all(np.isfinite(q)) and np.any(q):
                # A factor so small (or large) that ||Q||_F^2 under- or overflows although Q
                # does not: divide by the largest entry first, and account for it.
                largest = float(np.max(np.abs(q)))
                buffers[0][:size] /= largest
                log10_scale, compensation = _kahan_add(log10_scale, compensation, float(np.log10(largest)))
                frobenius_squared = float(np.vdot(q, q))
            if not frobenius_squared > 0.0:
                if not np.isfinite(frobenius_squared):
                    raise FloatingPointError(f"non-finite Jacobian product at lag {lag}")
                if sketched:
                    # Exactly zero after a truncation: what was dropped may not be. Start again
                    # with full products (a zero is final only if they reach it too).
                    return norm_profile(trajectory, norm, dtype, seed, snapshots, progress, truncation=False)
                zero = np.full(size, -np.inf)
                singular_values |= {k: zero for k in snapshots if k >= lag}
                if progress is not None:
                    progress(steps, steps)
                return _finished(log10_norm, norm, dtype, tracker, singular_values, q)
            if schedule is not None and schedule.due(lag):
                drop = max(MINIMUM_DROP, q.shape[1] // 8)
                kept = truncate(q, TRUNCATE_BELOW[work], minimum_drop=drop, likely=schedule.succeeded)
                schedule.record(lag, kept is not None)
                if kept is not None:
                    # The sketch: random combinations of everything dropped so far, E Omega.
                    omega = sketch_rng.standard_normal((q.shape[1], SKETCH_COLUMNS)) / np.sqrt(SKETCH_COLUMNS)
                    dropped = q @ omega - kept.columns @ (kept.rotation.T @ omega)  # (x - x R R^T) Omega
                    if sketched:
                        dropped += buffers[0][:size, -sketched:]
                    width, sketched = kept.columns.shape[1], SKETCH_COLUMNS
                    buffers = [np.zeros((size + extra, width + sketched), dtype=work) for _ in range(2)]
                    buffers[0][:size, :width] = kept.columns
                    buffers[0][:size, width:] = dropped
                    q, z = buffers[0][:size, :width], None
                    frobenius_squared = float(np.vdot(q, q))
                    if tracker is not None:
                        tracker.restrict(kept.rotation)
            if tracker is None:
                value = 0.5 * np.log10(frobenius_squared)
            else:
                value = np.log10(spectral_norm(q, tracker, frobenius_squared, z, exact_below))
            if sketched:
                sketch = buffers[0][:size, -sketched:]
                if np.sqrt(float(np.vdot(sketch, sketch))) > SKETCH_ALARM[work] * 10.0**value:
                    # What was dropped has grown to matter (the kept directions were all but
                    # annihilated): start again with full products.
                    return norm_profile(trajectory, norm, dtype, seed, snapshots, progress, truncation=False)
            log10_norm[lag - 1] = value + log10_scale
            if lag in snapshots:
                with np.errstate(divide="ignore"):
                    sigma = np.linalg.svd(q.astype(np.float64), compute_uv=False)
                    singular_values[lag] = np.log10(sigma) + log10_scale
            if progress is not None and (lag % report_every == 0 or lag == steps):
                progress(lag, steps)
            scale = float(np.sqrt(frobenius_squared))
            buffers.reverse()
    return _finished(
        log10_norm, norm, dtype, tracker, singular_values, buffers[1][:size, : buffers[1].shape[1] - sketched]
    )


def _kahan_add(total: float, compensation: float, term: float) -> tuple[float, float]:
    """``total + term`` with Kahan compensation (``log10`` of the scales over ``T`` up to 1e5+ lags)."""
    term -= compensation
    new_total = total + term
    return new_total, (new_total - total) - term


def _finished(
    log10_norm: np.ndarray,
    norm: str,
    dtype: str,
    tracker: SpectralNormTracker | None,
    singular_values: dict[int, np.ndarray],
    last: np.ndarray,
) -> NormProfile:
    """The profile, with the fallback count and the width of the ``last`` product."""
    fallbacks = tracker.fallbacks if tracker is not None else 0
    return NormProfile(log10_norm, norm, dtype, fallbacks, singular_values, directions=last.shape[1])


class _TruncationSchedule:
    """When to try a truncation: every :data:`TRUNCATE_EVERY` lags while they succeed, backing
    off to twice the interval after each unproductive try (up to :data:`TRUNCATE_EVERY_MAX`), so
    that products whose spectrum stays flat (an orthogonal ``W_hh``) pay little for the tries."""

    def __init__(self, after: int) -> None:
        self.interval = TRUNCATE_EVERY
        self.next = after + TRUNCATE_EVERY
        #: Whether the last try dropped directions (the next one then likely does too).
        self.succeeded = True

    def due(self, lag: int) -> bool:
        return lag >= self.next

    def record(self, lag: int, success: bool) -> None:
        self.succeeded = success
        self.interval = TRUNCATE_EVERY if success else min(2 * self.interval, TRUNCATE_EVERY_MAX)
        self.next = lag + self.interval


def spectral_norm(
    q: np.ndarray,
    tracker: SpectralNormTracker,
    frobenius_squared: float,
    product: np.ndarray | None = None,
    exact_below: int | None = None,
) -> float:
    """``sigma_1(Q)`` for ``Q`` ``(S, r)``: from the dense ``(r, r)`` Gram matrix in float64 when
    ``r <= exact_below`` (default :data:`EXACT_BELOW`), else certified by ``tracker`` (see
    :meth:`SpectralNormTracker.norm`)."""
    if q.shape[1] > (EXACT_BELOW if exact_below is None else exact_below):
        return tracker.norm(q, frobenius_squared, product)
    return gram_spectral_norm(q)
