"""Forward pass: the states a cell visits for a given input sequence, for any cell.

A step reads the input projections ``u_g = W_ig x_t + b_ig`` and the recurrent projections
``m_g = W_hg r_{t-1} + b_hg``, where ``r_{t-1}`` is what the recurrence reads: the previous hidden
state ``h_{t-1}`` (or the components the cell names in ``reads``), or, for a cell that feeds its
output back, the previous output ``y_{t-1}``. The per-unit stage gives the new components; a
cell with a readout then maps its hidden stage ``h_t`` to the new state ``y_t = rho(W_hy h_t + b_y)``.
A gate whose projection reads a quantity of the step (Cho's GRU) projects it instead:
``m_g = W_hg q_t + b_hg``, ``q_t`` computed from the other projections first.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.compile.compiled import CompiledCell
from gradscope.errors import DivergenceError
from gradscope.params.layer import LayerParams


@functools.lru_cache(maxsize=64)
def read_index(spec: CellSpec, hidden_size: int, output_size: int | None = None) -> slice | np.ndarray:
    """Where the recurrence's input ``r`` lies in the state vector ``s``: a slice when it is contiguous
    (cached: the forward pass asks once a step; an index array returned is shared, never write to it)."""
    if spec.feedback:
        return slice(0, spec.state_size(hidden_size, output_size))
    starts = [spec.state.index(c) * hidden_size for c in spec.read_components]
    index = np.concatenate([np.arange(start, start + hidden_size) for start in starts])
    if np.all(np.diff(index) == 1):
        return slice(int(index[0]), int(index[-1]) + 1)
    index.setflags(write=False)
    return index


@dataclass(frozen=True)
class Trajectory:
    """A cell's forward pass over ``T`` steps.

    Attributes:
        compiled: the cell it ran.
        params: its parameters (one layer, one direction).
        inputs: ``(T, input_size)``.
        states: ``(T + 1, S)`` state vectors; ``states[0]`` is the initial state, ``states[t]`` is
            ``s_t = [h_t; c_t; ...]`` (components in the cell's order), or ``y_t`` for a cell with a readout.
        input_projection: ``(T, G, H)``; row ``t - 1`` holds ``u_g = W_ig x_t + b_ig`` for step t.
        hidden: ``(T, H)``, a readout cell's hidden stage ``h_t`` in row ``t - 1``; ``None`` otherwise.
        readout_projection: ``(T, O)``, ``W_hy h_t + b_y`` in row ``t - 1`` for a readout cell; else ``None``.
    """

    compiled: CompiledCell
    params: LayerParams
    inputs: np.ndarray
    states: np.ndarray
    input_projection: np.ndarray
    hidden: np.ndarray | None = None
    readout_projection: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def spec(self) -> CellSpec:
        return self.compiled.spec

    @property
    def components(self) -> np.ndarray:
        """The states per component, ``(T + 1, C, H)`` (``C = 0`` for a readout cell: its state is not per unit)."""
        if self.spec.feedback:
            return np.zeros((self.steps + 1, 0, self.params.hidden_size))
        return self.states.reshape(self.steps + 1, len(self.spec.state), self.params.hidden_size)

    def read(self, start: int, stop: int) -> np.ndarray:
        """What the recurrence reads at steps ``t = start+1 .. stop``: ``r_{t-1}``, ``(stop - start, R)``."""
        return self.states[start:stop, read_index(self.spec, self.params.hidden_size, self.params.output_size)]

    def recurrent_projection(self, start: int, stop: int) -> np.ndarray:
        """``m_g = W_hg r_{t-1} + b_hg`` for steps ``t = start+1 .. stop``, shape ``(stop - start, G, H)``
        (an inner gate's ``W_hg q_t + b_hg``)."""
        with np.errstate(over="ignore", invalid="ignore"):
            m = self.read(start, stop) @ self.params.weight_hh.T + self.params.bias_hh
        m = m.reshape(stop - start, self.spec.num_gates, self.params.hidden_size)
        if not np.isfinite(m).all():  # once per block: cheap next to the product that made it
            bad = int(np.argmax(~np.isfinite(m).reshape(stop - start, -1).all(axis=1)))
            gate = self.spec.gates[int(np.argmax(~np.isfinite(m[bad]).all(axis=1)))]
            raise DivergenceError(
                f"{self.spec.name}: the recurrent projection m_{gate} = W_h{gate} s + b_h{gate} overflows float64 "
                f"at step {start + bad + 1} (the weights are too large); use smaller weights or gain"
            )
        if self.spec.inner_gates:
            project_inner(self.compiled, self.params, self.input_projection[start:stop], m, self.components[start:stop])
        return m

    def inner_reads(self, start: int, stop: int) -> np.ndarray:
        """What the inner gates project at steps ``t = start+1 .. stop``, ``q_t``, ``(stop - start, L, H)``."""
        m = self.recurrent_projection(start, stop)
        return self.compiled.inner_reads(
            self.input_projection[start:stop], m, self.components[start:stop], self.params.vectors
        )

    def state_vectors(self) -> np.ndarray:
        """The states as vectors ``s_t``, shape ``(T + 1, S)``."""
        return self.states


def inner_indices(spec: CellSpec) -> list[int]:
    """The chunk indices of the gates whose projection reads a quantity of the step."""
    return [spec.gates.index(gate) for gate in spec.inner_gates]


def project_inner(
    compiled: CompiledCell, params: LayerParams, u: np.ndarray, m: np.ndarray, previous: np.ndarray
) -> None:
    """Overwrite, in ``m`` ``(..., G, H)``, the inner gates' projections with ``W_hg q_t + b_hg``, where
    ``q_t`` comes from the other projections (``u`` ``(..., G, H)``, ``previous`` ``(..., C, H)``)."""
    q = compiled.inner_reads(u, m, previous, params.vectors)  # (..., L, H)
    blocks = params.recurrent_blocks()
    hidden = params.hidden_size
    for position, k in enumerate(inner_indices(compiled.spec)):
        m[..., k, :] = q[..., position, :] @ blocks[k].T + params.bias_hh[k * hidden : (k + 1) * hidden]


def step(
    compiled: CompiledCell, params: LayerParams, input_projection: np.ndarray, state: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One step from ``s_{t-1}`` ``(S,)`` with step t's input projection ``u`` ``(G, H)``: ``(s_t, h_t, r_t)``,
    where ``h_t`` and ``r_t = W_hy h_t + b_y`` are a readout cell's hidden stage and readout projection
    (``None`` for other cells)."""
    spec = compiled.spec
    hidden = params.hidden_size
    reads = read_index(spec, hidden, params.output_size)
    m = (params.weight_hh @ state[reads] + params.bias_hh).reshape(spec.num_gates, hidden)
    if not spec.feedback:
        previous = state.reshape(len(spec.state), hidden)
        if spec.inner_gates:
            project_inner(compiled, params, input_projection, m, previous)
        return compiled.update(input_projection, m, previous, params.vectors).reshape(-1), None, None
    assert params.weight_out is not None and params.bias_out is not None
    h = compiled.update(input_projection, m, np.zeros((0, hidden)))[0]
    r = params.weight_out @ h + params.bias_out
    return compiled.readout(r), h, r


def run_forward(
    compiled: CompiledCell, params: LayerParams, inputs: np.ndarray, initial_state: np.ndarray
) -> Trajectory:
    """Run the cell over ``inputs`` ``(T, input_size)`` from ``initial_state`` ``(S,)``; all float64."""
    spec = compiled.spec
    steps, hidden, gates = inputs.shape[0], params.hidden_size, spec.num_gates
    with np.errstate(over="ignore", invalid="ignore"):
        input_projection = (inputs @ params.weight_ih.T + params.bias_ih).reshape(steps, gates, hidden)
    if not np.isfinite(input_projection).all():
        bad = int(np.argmax(~np.isfinite(input_projection).reshape(steps, -1).all(axis=1)))
        raise DivergenceError(
            f"{spec.name}: the input projection W_ih x + b_ih overflows float64 at step {bad + 1}; "
            "use smaller inputs or weights"
        )
    states = np.empty((steps + 1, initial_state.size))
    states[0] = initial_state.reshape(-1)
    hiddens = np.empty((steps, hidden)) if spec.feedback else None
    readout = np.empty((steps, states.shape[1])) if spec.feedback else None
    checked = 1  # states[1:checked] are known to be finite
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is found below, once per block
        for t in range(steps):
            if hiddens is None:
                states[t + 1] = step(compiled, params, input_projection[t], states[t])[0]
            else:
                states[t + 1], hiddens[t], readout[t] = step(compiled, params, input_projection[t], states[t])
            if (t + 1) % CHECK_EVERY == 0 or t + 1 == steps:
                _check_block(spec, states, checked, t + 2)
                checked = t + 2
    if hiddens is None:
        return Trajectory(compiled, params, inputs, states, input_projection)
    return Trajectory(compiled, params, inputs, states, input_projection, hiddens, readout)


#: Steps of the forward pass between two checks that the states are finite.
CHECK_EVERY = 64


def _check_block(spec: CellSpec, states: np.ndarray, start: int, stop: int) -> None:
    """A :class:`DivergenceError` naming the first step in ``states[start:stop]`` whose state is not finite."""
    block = states[start:stop]
    if np.isfinite(block).all():
        return
    bad = int(np.argmax(~np.isfinite(block).all(axis=1)))
    step_number = start + bad
    size = block.shape[1] // max(len(spec.state), 1) if not spec.feedback else block.shape[1]
    column = int(np.argmax(~np.isfinite(block[bad])))
    component = spec.state[column // size] if not spec.feedback else "y"
    raise DivergenceError(
        f"{spec.name}: the forward pass overflows at step {step_number}: the state {component} is not finite "
        f"(float64 overflow); the states are finite up to step {step_number - 1}, so --steps {step_number - 1} "
        "or fewer, or smaller weights or gain, can be analysed"
        if step_number > 1
        else f"{spec.name}: the forward pass overflows at step 1: the state {component} is not finite (float64 "
        "overflow); use smaller weights or gain"
    )
