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
from typing import TYPE_CHECKING, Protocol

import numpy as np

from gradscope.engine.coefficients import StepCoefficients, step_coefficients
from gradscope.engine.spectral import DEFAULT_BLOCK, SpectralNormTracker, gram_spectral_norm
from gradscope.engine.trajectory import Trajectory
from gradscope.engine.truncation import coupling, strongly_connected, truncate

if TYPE_CHECKING:
    from gradscope.engine.feedback import FeedbackTrajectory

NORMS = ("spectral", "frobenius")
DTYPES = ("float64", "float32")

#: Steps whose coefficients are evaluated in one vectorised call.
CHUNK_STEPS = 512
#: Magnitudes below this (relative to the step's largest coefficient, or to the product's largest entry) are
#: flushed to zero: they cannot change a norm at any reportable precision, and subnormal floats
#: make arithmetic 10-100x slower.
FLUSH_RELATIVE = 1e-250
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
#: lag (``S r^2 + r^3``: under 1 ms at r=128, cheaper than the iteration's thin products there).
EXACT_BELOW = 128


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


class StepOperator(Protocol):
    """What :func:`norm_profile` needs from a cell's Jacobians: ``J_t^T / scale``, one step at a time.

    A trajectory whose Jacobians do not have the coefficient form of :mod:`gradscope.engine.coefficients`
    provides its own operator through a ``step_operator(dtype, extra_rows)`` method.
    Arrays are ``(S, n)`` column blocks in the operator's internal coordinate order (any fixed
    permutation of the state: norms do not depend on it).
    """

    size: int

    def chunk(self, start: int, stop: int) -> object:
        """Prepare steps ``t = start+1 .. stop`` (at most :data:`CHUNK_STEPS` of them)."""
        ...

    def load(self, chunk: object, k: int, scale: float) -> None:
        """Make ``J_t^T / scale`` current, for step ``t = start + k + 1`` of ``chunk``."""
        ...

    def first(self) -> np.ndarray:
        """The current ``J^T / scale`` as a dense ``(S, S)`` array."""
        ...

    def apply(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = (J^T / scale) x``."""
        ...

    def load_transposed_rows(self, y: np.ndarray) -> int:
        """Remember ``((J / scale) y)^T`` ``(n, S)`` for the next :meth:`advance`; returns n."""
        ...

    def advance(self, q: np.ndarray, out: np.ndarray, extra: int = 0) -> np.ndarray | None:
        """``out[:S] = (J^T / scale) q``, and with ``extra`` rows loaded, ``((J / scale) y)^T q`` ``(n, S)``."""
        ...

    def coupling_pattern(self) -> np.ndarray:
        """``(S, S)`` bool, in the operator's order: where ``J_t[i, j]`` can be nonzero (see
        :func:`gradscope.engine.truncation.strongly_connected`); valid once a chunk has been prepared."""
        ...


class CoefficientStepOperator:
    """``J_t^T / scale`` for one step at a time, in the internal state order (``h`` last).

    The hidden-state rows of ``J_t^T``, ``JhT = sum_g W_hg^T diag(D[:, g])`` plus diagonal terms
    ``(H, S)``, are applied in one of two ways, whichever is cheaper for the width of what they
    multiply: assembled explicitly (one memory-bound pass writing ``H x S`` numbers, then one GEMM
    ``(H, S) x (S, n)``), or never formed, as ``[W_h1^T .. W_hG^T] (G H, n)`` after scaling ``x``'s
    rows by the coefficients (a GEMM with ``G H`` instead of ``S`` inner terms). Wide products
    (the first lags) pay for the assembly once per step, and the spectral check's thin blocks of
    that step reuse it; narrow ones (after :mod:`gradscope.engine.truncation`) skip it.

    The assembled rows live in the first H rows of a buffer with ``extra_rows`` more rows, so that
    extra row vectors can ride along in the wide GEMM.
    """

    #: Products with fewer columns than this apply ``JhT`` without assembling it (measured
    #: crossover on 2 cores: about 40 columns for the LSTM, 24 for the GRU at H=256).
    ASSEMBLE_FROM = 32

    def __init__(self, trajectory: Trajectory, dtype: np.dtype, extra_rows: int) -> None:
        params = trajectory.params
        self.trajectory = trajectory
        self.hidden = H = params.hidden_size
        self.components = C = len(trajectory.compiled.cell.state)
        self.size = C * H
        self.dtype = dtype
        self.order = [*range(1, C), 0]  # internal position -> cell component; h last
        blocks = params.recurrent_blocks()  # (G, H, H)
        self.gates = G = blocks.shape[0]
        # WT[g] = W_hg^T, contiguous: JhT[:, a, :] = sum_g WT[g] * D[a, g] broadcasts over rows.
        self.weight_t = np.ascontiguousarray(blocks.transpose(0, 2, 1), dtype=dtype)
        # For the unassembled products: [W_hg[i, j]] as (H, H G) with columns ordered (i, g), so
        # that the per-unit scaled rows (H, G, n) are its right factor without a copy; and the
        # stacked blocks (G H, H).
        self.weight_rows = np.ascontiguousarray(blocks.transpose(2, 1, 0).reshape(H, H * G), dtype=dtype)
        self.weight_column = np.ascontiguousarray(blocks.reshape(G * H, H), dtype=dtype)
        self.rows = np.zeros((H + extra_rows, self.size), dtype=dtype)
        self.hidden_rows = self.rows[:H]
        self.assembled = False
        #: Whether the last product was wide enough to assemble ``JhT`` for (then every thin
        #: product of the step uses the assembled rows too).
        self.wide = True
        self.recurrent = np.zeros((C, G, H), dtype=dtype)
        # The same coefficients per unit, (H, G, C): the left factors of the per-unit scalings.
        self.recurrent_units = np.zeros((H, G, C), dtype=dtype)
        self.direct = np.zeros((C, C, H), dtype=dtype)
        self.direct_mask = np.zeros((C, C), dtype=bool)
        self.recurrent_mask = np.zeros((C, G), dtype=bool)
        # Per internal component b != h: the components a with E[a, b] != 0, as a slice when possible.
        self.sources: list[slice | list[int]] = [slice(0, 0) for _ in range(C - 1)]
        # Internal components a with a direct term E[a, h] on the hidden-state rows.
        self.hidden_sources: list[int] = []
        self.diagonal = np.arange(H)

    def chunk(self, start: int, stop: int) -> StepCoefficients:
        """The coefficients of steps ``start+1 .. stop``, flushed and in the internal order."""
        coefficients = step_coefficients(self.trajectory, start, stop)
        _flush_coefficients(coefficients)
        return self.internal(coefficients)

    def internal(self, coefficients: StepCoefficients) -> StepCoefficients:
        """The coefficients of a chunk with components in the internal order (one copy per chunk)."""
        order = self.order
        self.sources = [
            _as_index(np.flatnonzero(coefficients.direct_mask[order, order[b]])) for b in range(self.components - 1)
        ]
        direct_mask = coefficients.direct_mask[np.ix_(order, order)]
        self.direct_mask = direct_mask
        self.recurrent_mask = coefficients.recurrent_mask[order]
        self.hidden_sources = [int(a) for a in np.flatnonzero(direct_mask[:, self.components - 1])]
        recurrent = np.ascontiguousarray(coefficients.recurrent[:, order], dtype=self.dtype)
        direct = np.ascontiguousarray(coefficients.direct[:, order][:, :, order], dtype=self.dtype)
        return StepCoefficients(
            coefficients.start, coefficients.stop, recurrent, direct, coefficients.recurrent_mask[order], direct_mask
        )

    def load(self, coefficients: StepCoefficients, k: int, scale: float) -> None:
        """Make ``J^T / scale`` current, for step ``t = coefficients.start + k + 1``.

        ``coefficients`` must come from :meth:`internal`.
        """
        inverse = 1.0 / scale
        np.multiply(coefficients.recurrent[k], inverse, out=self.recurrent)
        np.multiply(coefficients.direct[k], inverse, out=self.direct)
        self.assembled = False

    def _assemble(self) -> None:
        """Write ``JhT`` into the first H rows of the buffer (once per step)."""
        if self.assembled:
            return
        C, H = self.components, self.hidden
        blocks = self.hidden_rows.reshape(H, C, H)
        np.einsum("gji,agi->jai", self.weight_t, self.recurrent, out=blocks)
        for a in self.hidden_sources:
            blocks[self.diagonal, a, self.diagonal] += self.direct[a, C - 1]
        self.assembled = True

    def _hidden_rows_product(self, x: np.ndarray, out: np.ndarray) -> None:
        """``out = JhT x`` ``(H, n)`` without assembling ``JhT``: ``sum_g W_hg^T (sum_a D[a, g] x_a)``."""
        C, G, H = self.components, self.gates, self.hidden
        stacked = x.reshape(C, H, -1)
        units = self.recurrent_units
        units[...] = self.recurrent.transpose(2, 1, 0)
        scaled = np.matmul(units, stacked.transpose(1, 0, 2))  # (H, G, n): sum_a D[a, g, i] x[a, i]
        np.matmul(self.weight_rows, scaled.reshape(H * G, -1), out=out)
        for a in self.hidden_sources:
            out += self.direct[a, C - 1][:, None] * stacked[a]

    def first(self) -> np.ndarray:
        """``J^T / scale`` itself, ``(S, S)``: the first lag's ``Q``."""
        H, S = self.hidden, self.size
        self._assemble()
        q = np.zeros((S, S), dtype=self.dtype)
        q[S - H :] = self.hidden_rows
        for b, sources in enumerate(self.sources):
            for a in range(self.components)[sources]:
                q[b * H + self.diagonal, a * H + self.diagonal] = self.direct[a, b]
        return q

    def _diagonal_rows(self, x: np.ndarray, out: np.ndarray) -> None:
        """Rows of ``J^T x`` for the non-hidden components: ``sum_a diag(E[a, b]) x[a]``."""
        H = self.hidden
        stacked = x.reshape(self.components, H, -1)
        for b, sources in enumerate(self.sources):
            rows = out[b * H : (b + 1) * H]
            if sources != slice(0, 0):
                np.einsum("aij,ai->ij", stacked[sources], self.direct[sources, b], out=rows)
            else:
                rows[...] = 0.0

    def _uses_assembly(self, columns: int) -> bool:
        return self.assembled or self.wide or columns >= self.ASSEMBLE_FROM

    def apply(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = (J^T / scale) x`` for ``x`` ``(S, n)``."""
        hidden_out = out[self.size - self.hidden : self.size]
        if self._uses_assembly(x.shape[1]):
            self._assemble()
            np.matmul(self.hidden_rows, x, out=hidden_out)
        else:
            self._hidden_rows_product(x, hidden_out)
        self._diagonal_rows(x, out)
        return out

    def load_transposed_rows(self, y: np.ndarray) -> int:
        """Put ``((J / scale) y)^T`` ``(n, S)`` in the extra rows, for :meth:`advance`; returns n."""
        H, n = self.hidden, y.shape[1]
        rows = self.rows[H : H + n]
        if self._uses_assembly(n):
            self._assemble()
            np.matmul(y[self.size - H :].T, self.hidden_rows, out=rows)
            for b, sources in enumerate(self.sources):
                for a in range(self.components)[sources]:
                    rows[:, a * H : (a + 1) * H] += y[b * H : (b + 1) * H].T * self.direct[a, b]
            return n
        # (J y)_a = sum_g D[a, g] (W_hg y_h) + sum_b E[a, b] y_b: one thin GEMM, no assembly.
        C, G = self.components, self.gates
        projected = (self.weight_column @ y[self.size - H :]).reshape(G, H, n)  # W_hg y_h
        forward = np.einsum("agi,gin->nai", self.recurrent, projected)
        stacked = y.reshape(C, H, n)
        for a, b in zip(*np.nonzero(self.direct_mask), strict=True):
            forward[:, a] += (self.direct[a, b][:, None] * stacked[b]).T
        rows[...] = forward.reshape(n, self.size)
        return n

    def advance(self, q: np.ndarray, out: np.ndarray, extra: int = 0) -> np.ndarray | None:
        """``out[:S] = (J^T / scale) q``; with ``extra = n`` rows loaded by :meth:`load_transposed_rows`
        from ``y``, also returns ``((J / scale) y)^T q`` ``(n, S)``.

        ``out`` must have ``S + n`` rows: for wide ``q`` one GEMM writes rows ``S-H .. S+n`` in one go.
        """
        H, S = self.hidden, self.size
        self.wide = q.shape[1] >= self.ASSEMBLE_FROM
        if not self.wide:
            self._hidden_rows_product(q, out[S - H : S])
            if extra:
                np.matmul(self.rows[H : H + extra], q, out=out[S : S + extra])
        else:
            self._assemble()
            np.matmul(self.rows[: H + extra], q, out=out[S - H : S + extra])
        self._diagonal_rows(q, out)
        return out[S : S + extra] if extra else None

    def coupling_pattern(self) -> np.ndarray:
        """``(S, S)`` bool: where ``J_t[i, j]`` can be nonzero (internal order), from the recurrent
        weights that count (:func:`~gradscope.engine.truncation.coupling`) and the direct diagonal terms."""
        C, H = self.components, self.hidden
        weights = coupling(self.weight_t.transpose(0, 2, 1))  # (G, H, H): W_hg
        pattern = np.zeros((C, H, C, H), dtype=bool)
        for a in range(C):
            pattern[a, :, C - 1, :] = weights[self.recurrent_mask[a]].any(axis=0)
            for b in np.flatnonzero(self.direct_mask[a]):
                pattern[a, self.diagonal, b, self.diagonal] = True
        return pattern.reshape(C * H, C * H)


def _as_index(indices: np.ndarray) -> slice | list[int]:
    """A slice when ``indices`` are consecutive (a view, no copy, when used to index), else a list."""
    if indices.size == 0:
        return slice(0, 0)
    if np.all(np.diff(indices) == 1):
        return slice(int(indices[0]), int(indices[-1]) + 1)
    return [int(i) for i in indices]


def _flush_coefficients(coefficients: StepCoefficients) -> None:
    """Zero coefficients that are negligible against the largest of their step."""
    flush_negligible(coefficients.recurrent)
    flush_negligible(coefficients.direct)


def flush_negligible(array: np.ndarray) -> None:
    """Zero, in place, the entries of ``array`` ``(n, ...)`` below :data:`FLUSH_RELATIVE` times the
    largest of their step (index along axis 0): they cannot change a norm, and subnormal ones would
    slow every product they enter."""
    scale = np.abs(array).reshape(array.shape[0], -1).max(axis=1, initial=0.0)
    array[np.abs(array) < (FLUSH_RELATIVE * scale).reshape(-1, *(1,) * (array.ndim - 1))] = 0.0


def _make_operator(trajectory: Trajectory | FeedbackTrajectory, dtype: np.dtype, extra_rows: int) -> StepOperator:
    """The trajectory's own operator when it has one, else the coefficient-form operator."""
    factory = getattr(trajectory, "step_operator", None)
    if factory is not None:
        return factory(dtype, extra_rows)
    return CoefficientStepOperator(trajectory, dtype, extra_rows)


def norm_profile(
    trajectory: Trajectory | FeedbackTrajectory,
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
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r} (valid: {', '.join(NORMS)})")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (valid: {', '.join(DTYPES)})")
    work = np.dtype(dtype)
    steps = trajectory.steps
    snapshots = {int(k) for k in snapshot_lags}
    if any(not 1 <= k <= steps for k in snapshots):
        raise ValueError(f"snapshot lags must lie in 1..{steps}, got {sorted(snapshots)}")
    singular_values: dict[int, np.ndarray] = {}
    report_every = max(1, steps // 100)
    extra = DEFAULT_BLOCK if norm == "spectral" else 0
    operator = _make_operator(trajectory, work, extra)
    size = operator.size
    schedule = _TruncationSchedule(max(snapshots, default=0)) if truncation else None
    tracker = None
    if norm == "spectral":
        tracker = SpectralNormTracker(size, work, np.random.default_rng(seed))
    log10_norm = np.full(steps, -np.inf)
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
            tracking = tracker is not None and buffers[0].shape[1] - sketched > EXACT_BELOW
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
                kept = truncate(q, TRUNCATE_BELOW[work], minimum_drop=max(MINIMUM_DROP, q.shape[1] // 8))
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
                value = np.log10(spectral_norm(q, tracker, frobenius_squared, z))
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

    def due(self, lag: int) -> bool:
        return lag >= self.next

    def record(self, lag: int, success: bool) -> None:
        self.interval = TRUNCATE_EVERY if success else min(2 * self.interval, TRUNCATE_EVERY_MAX)
        self.next = lag + self.interval


def spectral_norm(
    q: np.ndarray, tracker: SpectralNormTracker, frobenius_squared: float, product: np.ndarray | None = None
) -> float:
    """``sigma_1(Q)`` for ``Q`` ``(S, r)``: from the dense ``(r, r)`` Gram matrix in float64 when
    ``r <= EXACT_BELOW``, else certified by ``tracker`` (see :meth:`SpectralNormTracker.norm`)."""
    if q.shape[1] > EXACT_BELOW:
        return tracker.norm(q, frobenius_squared, product)
    return gram_spectral_norm(q)
