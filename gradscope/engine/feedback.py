"""Forward pass and per-step Jacobians of a cell that feeds its output back (Jordan network).

Per step, with ``m_g = W_yg y_{t-1}`` and ``u_g = W_ig x_t + b_ig`` (chunks of ``weight_yh_l0`` and
``weight_ih_l0``), the hidden stage gives ``h_t`` and the readout ``y_t = rho(r_t)``,
``r_t = W_hy h_t + b_y``. The state is ``y`` (length O), and the chain rule through both stages
gives (numerator layout, ``J_t[i, j] = d y_t[i] / d y_{t-1}[j]``, ``O x O``)

    J_t = diag(rho'(r_t)) W_hy sum_g diag(d h_t / d m_g) W_yg,

with the elementwise partials derived by SymPy (:func:`gradscope.symbolic.derivation.derive`). The
trajectory provides :meth:`FeedbackTrajectory.step_operator`, through which
:func:`gradscope.engine.products.norm_profile` multiplies these dense factors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.compile.compiled import CompiledCell, PartialKey
from gradscope.engine.products import flush_negligible
from gradscope.engine.truncation import coupling
from gradscope.params.readout import FeedbackParams


@dataclass(frozen=True)
class FeedbackCoefficients:
    """The two stages' elementwise partials for steps ``t = start+1 .. stop`` (n of them).

    Attributes:
        hidden: ``(n, G, H)``; ``hidden[k, g]`` is ``d h_t / d m_g``.
        readout: ``(n, O)``; ``d y_t / d r``.
    """

    start: int
    stop: int
    hidden: np.ndarray
    readout: np.ndarray


@dataclass(frozen=True)
class FeedbackTrajectory:
    """A feedback cell's forward pass over ``T`` steps.

    Attributes:
        compiled: the cell it ran.
        params: its parameters.
        inputs: ``(T, I)``.
        states: ``(T + 1, O)``; ``states[0]`` is ``y_0``, ``states[t]`` is ``y_t``.
        hidden: ``(T, H)``; row ``t - 1`` is ``h_t``.
        input_projection: ``(T, G, H)``; ``u_g = W_ig x_t + b_ig`` for step t in row ``t - 1``.
        readout_projection: ``(T, O)``; ``r_t = W_hy h_t + b_y`` in row ``t - 1``.
    """

    compiled: CompiledCell
    params: FeedbackParams
    inputs: np.ndarray
    states: np.ndarray
    hidden: np.ndarray
    input_projection: np.ndarray
    readout_projection: np.ndarray

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[0])

    def recurrent_projection(self, start: int, stop: int) -> np.ndarray:
        """``m_g = W_yg y_{t-1}`` for steps ``t = start+1 .. stop``, shape ``(stop - start, G, H)``."""
        m = self.states[start:stop] @ self.params.weight_yh.T
        return m.reshape(stop - start, self.compiled.spec.num_gates, self.params.hidden_size)

    def state_vectors(self) -> np.ndarray:
        """The states ``y_t``, shape ``(T + 1, O)``."""
        return self.states

    def coefficients(self, start: int, stop: int) -> FeedbackCoefficients:
        """Evaluate both stages' derived partials for steps ``t = start+1 .. stop`` in one call each."""
        u = self.input_projection[start:stop]
        partials = self.compiled.state_partials(u, self.recurrent_projection(start, stop), _no_state(u))
        readout = self.compiled.readout_partial(self.readout_projection[start:stop])
        return FeedbackCoefficients(start, stop, _by_gate(self.compiled.spec, partials, u.shape), np.array(readout))

    def input_coefficients(self, start: int, stop: int) -> np.ndarray:
        """``d h_t / d u_g`` for steps ``t = start+1 .. stop``, shape ``(stop - start, G, H)``."""
        u = self.input_projection[start:stop]
        partials = self.compiled.input_partials(u, self.recurrent_projection(start, stop), _no_state(u))
        return _by_gate(self.compiled.spec, partials, u.shape)

    def step_operator(self, dtype: np.dtype, extra_rows: int) -> FeedbackStepOperator:
        """The :class:`~gradscope.engine.products.StepOperator` for :func:`~gradscope.engine.products.norm_profile`."""
        return FeedbackStepOperator(self, dtype, extra_rows)


def _no_state(u: np.ndarray) -> np.ndarray:
    """The empty previous-state argument of a stateless hidden stage, ``(..., 0, H)``."""
    return np.zeros((*u.shape[:-2], 0, u.shape[-1]))


def _by_gate(spec: CellSpec, partials: Mapping[PartialKey, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The hidden stage's partials ``d h_t / d u_g`` or ``/ d m_g`` as one ``(..., G, H)`` array (zeros where none)."""
    out = np.zeros(shape)
    for (_, _, gate), value in partials.items():
        out[..., spec.gates.index(gate), :] = value
    return out


def feedback_step(
    compiled: CompiledCell, params: FeedbackParams, u: np.ndarray, y_prev: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step from ``y_{t-1}`` ``(O,)`` and ``u`` ``(G, H)``: ``(h_t, r_t, y_t)``."""
    m = (params.weight_yh @ y_prev).reshape(compiled.spec.num_gates, params.hidden_size)
    h = compiled.update(u, m, np.zeros((0, params.hidden_size)))[0]
    r = params.weight_hy @ h + params.bias_hy
    return h, r, compiled.readout(r)


def run_feedback_forward(
    compiled: CompiledCell, params: FeedbackParams, inputs: np.ndarray, initial_output: np.ndarray
) -> FeedbackTrajectory:
    """Run a feedback cell over ``inputs`` ``(T, I)`` from ``y_0`` = ``initial_output`` ``(O,)``; all float64."""
    steps, gates, hidden = inputs.shape[0], compiled.spec.num_gates, params.hidden_size
    input_projection = (inputs @ params.weight_ih.T + params.bias_ih).reshape(steps, gates, hidden)
    states = np.empty((steps + 1, params.output_size))
    states[0] = initial_output
    hiddens = np.empty((steps, hidden))
    readout = np.empty((steps, params.output_size))
    for t in range(steps):
        hiddens[t], readout[t], states[t + 1] = feedback_step(compiled, params, input_projection[t], states[t])
    return FeedbackTrajectory(compiled, params, inputs, states, hiddens, input_projection, readout)


def feedback_jacobians(trajectory: FeedbackTrajectory) -> np.ndarray:
    """All ``J_t = d y_t / d y_{t-1}`` for ``t = 1..T`` as ``(T, O, O)``: for small problems and tests."""
    coefficients = trajectory.coefficients(0, trajectory.steps)
    params = trajectory.params
    inner = np.einsum("tgi,gio->tio", coefficients.hidden, params.recurrent_blocks())  # (T, H, O)
    outer = coefficients.readout[:, :, None] * params.weight_hy  # diag(rho') W_hy, (T, O, H)
    return outer @ inner


class FeedbackStepOperator:
    """``J_t^T / scale`` ``(O, O)``, dense, one step at a time (see :class:`gradscope.engine.products.StepOperator`).

    ``J_t^T = (sum_g diag(D_g) W_yg)^T (diag(rho') W_hy)^T`` is formed by one ``O x H x O`` GEMM per
    step into the first O rows of a buffer with ``extra_rows`` more rows, so that the spectral
    check's row vectors ride along in the product GEMM of :meth:`advance`.
    """

    def __init__(self, trajectory: FeedbackTrajectory, dtype: np.dtype, extra_rows: int) -> None:
        params = trajectory.params
        self.trajectory = trajectory
        self.size = params.output_size
        self.weight_blocks = params.recurrent_blocks()  # (G, H, O)
        self.readout_t = np.ascontiguousarray(params.weight_hy.T)  # (H, O)
        self.rows = np.zeros((self.size + extra_rows, self.size), dtype=dtype)
        self.current = self.rows[: self.size]

    def chunk(self, start: int, stop: int) -> FeedbackCoefficients:
        """The partials of steps ``start+1 .. stop``, negligible ones flushed to zero."""
        coefficients = self.trajectory.coefficients(start, stop)
        flush_negligible(coefficients.hidden)
        flush_negligible(coefficients.readout)
        return coefficients

    def load(self, chunk: FeedbackCoefficients, k: int, scale: float) -> None:
        """Form ``J_t^T / scale`` for step ``t = chunk.start + k + 1`` (in float64, stored in the working dtype)."""
        inner = np.einsum("gi,gio->io", chunk.hidden[k], self.weight_blocks)  # sum_g diag(D_g) W_yg, (H, O)
        outer_t = self.readout_t * (chunk.readout[k] / scale)  # (diag(rho') W_hy)^T / scale, (H, O)
        self.current[...] = inner.T @ outer_t

    def first(self) -> np.ndarray:
        """``J^T / scale`` itself, ``(O, O)``."""
        return self.current.copy()

    def apply(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = (J^T / scale) x`` for ``x`` ``(O, n)``."""
        return np.matmul(self.current, x, out=out)

    def load_transposed_rows(self, y: np.ndarray) -> int:
        """Put ``((J / scale) y)^T = y^T (J^T / scale)`` ``(n, O)`` in the extra rows; returns n."""
        n = y.shape[1]
        np.matmul(y.T, self.current, out=self.rows[self.size : self.size + n])
        return n

    def advance(self, q: np.ndarray, out: np.ndarray, extra: int = 0) -> np.ndarray | None:
        """``out[:O] = (J^T / scale) q`` and, with ``extra`` rows loaded, ``((J / scale) y)^T q`` from one GEMM."""
        np.matmul(self.rows[: self.size + extra], q, out=out[: self.size + extra])
        return out[self.size : self.size + extra] if extra else None

    def coupling_pattern(self) -> np.ndarray:
        """``(O, O)`` bool: where ``J_t = diag(.) W_hy diag(.) W_yh`` can be nonzero."""
        readout = coupling(self.readout_t.T).astype(float)  # W_hy (O, H)
        recurrent = coupling(self.weight_blocks).any(axis=0).astype(float)  # W_yh over gates (H, O)
        return (readout @ recurrent) > 0
