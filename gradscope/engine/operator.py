"""``J_t^T / scale``, one step at a time, applied without ever forming more than it must.

Internally the state components are reordered so that those the recurrence reads come last (``h``
for every PyTorch cell; norms do not depend on the order of coordinates): then the rows of
``J^T`` that the weights fill (``R`` of them: ``sum_g W_hg^T diag(D[:, g])`` plus diagonal terms)
and the ``b`` extra rows that give the spectral-norm check ``Q^T Y`` for free (see
:mod:`gradscope.engine.spectral`) are one contiguous block, written by a single GEMM. The other
components' rows are diagonal (the LSTM's ``c``).

A cell that feeds its output back has one hidden stage and a readout in front of it,
``J^T = (sum_g W_yg^T diag(D_g)) W_hy^T diag(rho')``: every row is a read row, and the ``O x O``
factor is always assembled (one ``O x H x O`` GEMM per step: the state is the output, usually small).

A cell with a gate whose projection reads a quantity of the step (Cho's GRU) uses ``W_hn K_t`` for
that gate's block (:func:`~gradscope.engine.coefficients.inner_weights`, one ``H x H x R`` GEMM per
step) and always assembles its read rows.
"""

from __future__ import annotations

import numpy as np

from gradscope.engine.coefficients import InnerCoefficients, StepCoefficients, inner_weights, step_coefficients
from gradscope.engine.trajectory import Trajectory
from gradscope.engine.truncation import coupling, state_coupling

#: Magnitudes below this (relative to the step's largest coefficient, or to the product's largest entry) are
#: flushed to zero: they cannot change a norm at any reportable precision, and subnormal floats
#: make arithmetic 10-100x slower.
FLUSH_RELATIVE = 1e-250


def flush_negligible(array: np.ndarray) -> None:
    """Zero, in place, the entries of ``array`` ``(n, ...)`` below :data:`FLUSH_RELATIVE` times the
    largest of their step (index along axis 0): they cannot change a norm, and subnormal ones would
    slow every product they enter."""
    scale = np.abs(array).reshape(array.shape[0], -1).max(axis=1, initial=0.0)
    array[np.abs(array) < (FLUSH_RELATIVE * scale).reshape(-1, *(1,) * (array.ndim - 1))] = 0.0


def _as_index(indices: np.ndarray) -> slice | list[int]:
    """A slice when ``indices`` are consecutive (a view, no copy, when used to index), else a list."""
    if indices.size == 0:
        return slice(0, 0)
    if np.all(np.diff(indices) == 1):
        return slice(int(indices[0]), int(indices[-1]) + 1)
    return [int(i) for i in indices]


class StepOperator:
    """``J_t^T / scale`` for one step at a time, in the internal state order (read components last).

    The read rows of ``J_t^T`` (``R`` of them) are applied in one of two ways, whichever is cheaper
    for the width of what they multiply: assembled explicitly (one memory-bound pass writing
    ``R x S`` numbers, then one GEMM ``(R, S) x (S, n)``), or never formed, as ``[W_h1^T .. W_hG^T]``
    ``(R, G H)`` times ``x``'s rows scaled by the coefficients (a GEMM with ``G H`` instead of ``S``
    inner terms). Wide products (the first lags) pay for the assembly once per step, and the
    spectral check's thin blocks of that step reuse it; narrow ones (after
    :mod:`gradscope.engine.truncation`) skip it.

    The assembled rows live in the first R rows of a buffer with ``extra_rows`` more rows, so that
    extra row vectors can ride along in the wide GEMM.
    """

    #: Products with fewer columns than this apply the read rows without assembling them (measured
    #: crossover on 2 cores: about 40 columns for the LSTM, 24 for the GRU at H=256).
    ASSEMBLE_FROM = 32

    def __init__(self, trajectory: Trajectory, dtype: np.dtype, extra_rows: int) -> None:
        params, spec = trajectory.params, trajectory.spec
        self.trajectory = trajectory
        self.hidden = H = params.hidden_size
        self.dtype = dtype
        self.readout = spec.feedback
        blocks = params.recurrent_blocks()  # (G, H, R)
        self.gates = G = blocks.shape[0]
        self.reads = R = blocks.shape[2]
        if self.readout:
            assert params.weight_out is not None
            C, read = 1, [0]
            self.size = R
            self.readout_t = np.ascontiguousarray(params.weight_out.T)  # W_hy^T, (H, O), float64
            self.weight_blocks = blocks  # (G, H, O), float64
            self.order = [0]
        else:
            C = len(spec.state)
            read = [spec.state.index(c) for c in spec.read_components]
            self.size = C * H
            self.order = [k for k in range(C) if k not in read] + read  # internal position -> cell component
        self.components = C
        self.read_count = len(read)  # components read, last in the internal order
        # Inner gates (a projection of a quantity of the step): their blocks change every step.
        self.inner = bool(spec.inner_gates)
        self.blocks = blocks  # (G, H, R), float64
        self.inner_coefficients: StepCoefficients | None = None
        self.inner_masks: InnerCoefficients | None = None
        self.inner_step = 0
        # WT[g] = W_hg^T, contiguous: the read rows' blocks sum_g WT[g] * D[a, g] broadcast over rows.
        self.weight_t = np.ascontiguousarray(blocks.transpose(0, 2, 1), dtype=dtype)
        # For the unassembled products: [W_hg[i, j]] as (R, H G) with columns ordered (i, g), so
        # that the per-unit scaled rows (H, G, n) are its right factor without a copy; and the
        # stacked blocks (G H, R).
        self.weight_rows = np.ascontiguousarray(blocks.transpose(2, 1, 0).reshape(R, H * G), dtype=dtype)
        self.weight_column = np.ascontiguousarray(blocks.reshape(G * H, R), dtype=dtype)
        self.rows = np.zeros((R + extra_rows, self.size), dtype=dtype)
        self.read_block = self.rows[:R]
        self.assembled = False
        #: Whether the last product was wide enough to assemble the read rows for (then every thin
        #: product of the step uses the assembled rows too).
        self.wide = True
        self.recurrent = np.zeros((C, G, H), dtype=dtype)
        # The same coefficients per unit, (H, G, C): the left factors of the per-unit scalings.
        self.recurrent_units = np.zeros((H, G, C), dtype=dtype)
        self.direct = np.zeros((C, C, H), dtype=dtype)
        self.readout_partial = np.zeros(R)  # rho' of the step (readout cells)
        self.direct_mask = np.zeros((C, C), dtype=bool)
        self.recurrent_mask = np.zeros((C, G), dtype=bool)
        # Per internal non-read component b: the components a with E[a, b] != 0, as a slice when possible.
        self.sources: list[slice | list[int]] = [slice(0, 0) for _ in range(C - self.read_count)]
        # Per read component p (internal position C - read_count + p): the components a with E[a, b] != 0.
        self.read_sources: list[list[int]] = [[] for _ in range(self.read_count)]
        self.diagonal = np.arange(H)

    def component_rows(self, component: str) -> slice:
        """The internal rows of a state component (``"h"``: the last H rows for every PyTorch cell)."""
        position = self.order.index(self.trajectory.spec.state.index(component))
        return slice(position * self.hidden, (position + 1) * self.hidden)

    def chunk(self, start: int, stop: int) -> StepCoefficients:
        """The coefficients of steps ``start+1 .. stop``, flushed and in the internal order."""
        coefficients = step_coefficients(self.trajectory, start, stop)
        flush_negligible(coefficients.recurrent)
        flush_negligible(coefficients.direct)
        if coefficients.readout is not None:
            flush_negligible(coefficients.readout)
        return self.internal(coefficients)

    def internal(self, coefficients: StepCoefficients) -> StepCoefficients:
        """The coefficients of a chunk with components in the internal order (one copy per chunk)."""
        order, C, first_read = self.order, self.components, self.components - self.read_count
        direct_mask = coefficients.direct_mask[np.ix_(order, order)]
        self.sources = [_as_index(np.flatnonzero(direct_mask[:, b])) for b in range(first_read)]
        self.read_sources = [[int(a) for a in np.flatnonzero(direct_mask[:, b])] for b in range(first_read, C)]
        self.direct_mask = direct_mask
        self.recurrent_mask = coefficients.recurrent_mask[order]
        inner = coefficients.inner.reordered(order) if coefficients.inner is not None else None
        self.inner_masks = inner  # the coupling pattern reads which partials of q can be nonzero
        recurrent = np.ascontiguousarray(coefficients.recurrent[:, order], dtype=self.dtype)
        direct = np.ascontiguousarray(coefficients.direct[:, order][:, :, order], dtype=self.dtype)
        return StepCoefficients(
            coefficients.start,
            coefficients.stop,
            recurrent,
            direct,
            self.recurrent_mask,
            direct_mask,
            coefficients.readout,
            inner,
        )

    def load(self, coefficients: StepCoefficients, k: int, scale: float) -> None:
        """Make ``J^T / scale`` current, for step ``t = coefficients.start + k + 1``.

        ``coefficients`` must come from :meth:`internal`.
        """
        inverse = 1.0 / scale
        if coefficients.readout is not None:
            # A readout cell's scale rides on its readout partials (one number per output).
            self.recurrent[...] = coefficients.recurrent[k]
            self.readout_partial = coefficients.readout[k] / scale
        else:
            np.multiply(coefficients.recurrent[k], inverse, out=self.recurrent)
            np.multiply(coefficients.direct[k], inverse, out=self.direct)
        if self.inner:
            self.inner_coefficients, self.inner_step = coefficients, k
        self.assembled = False

    def _assemble(self) -> None:
        """Write the read rows of ``J^T`` into the first R rows of the buffer (once per step)."""
        if self.assembled:
            return
        C, H = self.components, self.hidden
        if self.readout:
            inner = np.einsum("gi,gio->io", self.recurrent[0], self.weight_blocks)  # sum_g diag(D_g) W_yg, (H, O)
            self.read_block[...] = inner.T @ (self.readout_t * self.readout_partial)
            self.assembled = True
            return
        blocks = self.read_block.reshape(self.reads, C, H)
        if C == 1 and self.gates == 1:
            # One path (the RNN): W_h^T diag(D) is a broadcast product, a plain pass over R x H
            # numbers (einsum's generic loop takes about 1.3x as long at H=512..1024).
            np.multiply(self._step_weight_t()[0], self.recurrent[0, 0], out=self.read_block)
        else:
            np.einsum("gji,agi->jai", self._step_weight_t(), self.recurrent, out=blocks)
        first_read = C - self.read_count
        for p, sources in enumerate(self.read_sources):
            rows = blocks[p * H : (p + 1) * H]
            for a in sources:
                rows[self.diagonal, a, self.diagonal] += self.direct[a, first_read + p]
        self.assembled = True

    def _step_weight_t(self) -> np.ndarray:
        """``W_hg^T`` ``(G, R, H)`` of the current step: the weights, with ``(W_hn K_t)^T`` for inner gates."""
        if not self.inner:
            return self.weight_t
        assert self.inner_coefficients is not None and self.inner_coefficients.inner is not None
        inner = self.inner_coefficients.inner
        weight_t = self.weight_t.copy()
        through = inner_weights(inner, self.blocks, self.inner_step)  # (L, H, R)
        weight_t[list(inner.gates)] = through.transpose(0, 2, 1)
        return weight_t

    def _read_rows_product(self, x: np.ndarray, out: np.ndarray) -> None:
        """``out = (read rows of J^T) x`` ``(R, n)`` without assembling them: ``sum_g W_hg^T (sum_a D[a, g] x_a)``."""
        C, G, H = self.components, self.gates, self.hidden
        stacked = x.reshape(C, H, -1)
        units = self.recurrent_units
        units[...] = self.recurrent.transpose(2, 1, 0)
        scaled = np.matmul(units, stacked.transpose(1, 0, 2))  # (H, G, n): sum_a D[a, g, i] x[a, i]
        np.matmul(self.weight_rows, scaled.reshape(H * G, -1), out=out)
        first_read = C - self.read_count
        for p, sources in enumerate(self.read_sources):
            for a in sources:
                out[p * H : (p + 1) * H] += self.direct[a, first_read + p][:, None] * stacked[a]

    def first(self) -> np.ndarray:
        """``J^T / scale`` itself, ``(S, S)``: the first lag's ``Q``."""
        H, R, S = self.hidden, self.reads, self.size
        self._assemble()
        q = np.zeros((S, S), dtype=self.dtype)
        q[S - R :] = self.read_block
        for b, sources in enumerate(self.sources):
            for a in range(self.components)[sources]:
                q[b * H + self.diagonal, a * H + self.diagonal] = self.direct[a, b]
        return q

    def _diagonal_rows(self, x: np.ndarray, out: np.ndarray) -> None:
        """Rows of ``J^T x`` for the components not read: ``sum_a diag(E[a, b]) x[a]``."""
        if not self.sources:  # every row is a read row (a readout cell, or a cell that reads its whole state)
            return
        H = self.hidden
        stacked = x.reshape(-1, H, x.shape[1])
        for b, sources in enumerate(self.sources):
            rows = out[b * H : (b + 1) * H]
            if sources != slice(0, 0):
                np.einsum("aij,ai->ij", stacked[sources], self.direct[sources, b], out=rows)
            else:
                rows[...] = 0.0

    def _uses_assembly(self, columns: int) -> bool:
        return self.readout or self.inner or self.assembled or self.wide or columns >= self.ASSEMBLE_FROM

    def apply(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = (J^T / scale) x`` for ``x`` ``(S, n)``."""
        read_out = out[self.size - self.reads : self.size]
        if self._uses_assembly(x.shape[1]):
            self._assemble()
            np.matmul(self.read_block, x, out=read_out)
        else:
            self._read_rows_product(x, read_out)
        self._diagonal_rows(x, out)
        return out

    def load_transposed_rows(self, y: np.ndarray) -> int:
        """Put ``((J / scale) y)^T`` ``(n, S)`` in the extra rows, for :meth:`advance`; returns n."""
        H, R, S, n = self.hidden, self.reads, self.size, y.shape[1]
        rows = self.rows[R : R + n]
        if self._uses_assembly(n):
            self._assemble()
            np.matmul(y[S - R :].T, self.read_block, out=rows)
            for b, sources in enumerate(self.sources):
                for a in range(self.components)[sources]:
                    rows[:, a * H : (a + 1) * H] += y[b * H : (b + 1) * H].T * self.direct[a, b]
            return n
        # (J y)_a = sum_g D[a, g] (W_hg y_r) + sum_b E[a, b] y_b: one thin GEMM, no assembly.
        projected = (self.weight_column @ y[S - R :]).reshape(self.gates, H, n)  # W_hg y_r
        forward = np.einsum("agi,gin->nai", self.recurrent, projected)
        stacked = y.reshape(self.components, H, n)
        for a, b in zip(*np.nonzero(self.direct_mask), strict=True):
            forward[:, a] += (self.direct[a, b][:, None] * stacked[b]).T
        rows[...] = forward.reshape(n, S)
        return n

    def advance(self, q: np.ndarray, out: np.ndarray, extra: int = 0) -> np.ndarray | None:
        """``out[:S] = (J^T / scale) q``; with ``extra = n`` rows loaded by :meth:`load_transposed_rows`
        from ``y``, also returns ``((J / scale) y)^T q`` ``(n, S)``.

        ``out`` must have ``S + n`` rows: for wide ``q`` one GEMM writes rows ``S-R .. S+n`` in one go.
        """
        R, S = self.reads, self.size
        self.wide = self.readout or self.inner or q.shape[1] >= self.ASSEMBLE_FROM
        if not self.wide:
            self._read_rows_product(q, out[S - R : S])
            if extra:
                np.matmul(self.rows[R : R + extra], q, out=out[S : S + extra])
        else:
            self._assemble()
            np.matmul(self.rows[: R + extra], q, out=out[S - R : S + extra])
        self._diagonal_rows(q, out)
        return out[S : S + extra] if extra else None

    def coupling_pattern(self) -> np.ndarray:
        """``(S, S)`` bool: where ``J_t[i, j]`` can be nonzero (internal order), from the recurrent
        weights that count (:func:`~gradscope.engine.truncation.coupling`) and the direct diagonal terms;
        valid once a chunk has been prepared."""
        weights = coupling(self.weight_t.transpose(0, 2, 1))  # (G, H, R): W_hg
        if self.inner_masks is not None:
            inner = self.inner_masks  # W_hn K_t can couple where W_hn (sum_g W_hg + I) does
            for position, n in enumerate(inner.gates):
                through = weights[inner.recurrent_mask[position]].any(axis=0)
                if inner.direct_mask[position].any():
                    through = through | np.eye(self.hidden, dtype=bool)
                weights[n] = (weights[n].astype(float) @ through.astype(float)) > 0
        if self.readout:
            readout = coupling(self.readout_t.T).astype(float)  # W_hy (O, H)
            return (readout @ weights.any(axis=0).astype(float)) > 0
        return state_coupling(weights, self.recurrent_mask, self.direct_mask, slice(self.size - self.reads, self.size))
