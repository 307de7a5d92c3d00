"""Forward pass: the states a cell visits for a given input sequence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradscope.compile.compiled import CompiledCell
from gradscope.params.layer import CellParams


@dataclass(frozen=True)
class Trajectory:
    """A cell's forward pass over ``T`` steps.

    Attributes:
        compiled: the cell it ran.
        params: its parameters.
        inputs: ``(T, input_size)``.
        states: ``(T + 1, C, H)``; ``states[0]`` is the initial state, ``states[t]`` is ``s_t``
            with components in the cell's order (``h``, then ``c`` for the LSTM).
        input_projection: ``(T, G, H)``; row ``t - 1`` holds ``u_g = W_ig x_t + b_ig`` for step t.
    """

    compiled: CompiledCell
    params: CellParams
    inputs: np.ndarray
    states: np.ndarray
    input_projection: np.ndarray

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[0])

    def recurrent_projection(self, start: int, stop: int) -> np.ndarray:
        """``m_g = W_hg h_{t-1} + b_hg`` for steps ``t = start+1 .. stop``, shape ``(stop - start, G, H)``."""
        h = self.states[start:stop, 0, :]
        m = h @ self.params.weight_hh.T + self.params.bias_hh
        return m.reshape(stop - start, self.compiled.cell.num_gates, self.params.hidden_size)

    def state_vectors(self) -> np.ndarray:
        """The states as vectors ``s_t = [h_t; c_t]``, shape ``(T + 1, S)``."""
        return self.states.reshape(self.states.shape[0], -1)


def run_forward(
    compiled: CompiledCell, params: CellParams, inputs: np.ndarray, initial_state: np.ndarray
) -> Trajectory:
    """Run the cell over ``inputs`` ``(T, input_size)`` from ``initial_state`` ``(C, H)``; all float64."""
    steps, hidden = inputs.shape[0], params.hidden_size
    gates = compiled.cell.num_gates
    input_projection = (inputs @ params.weight_ih.T + params.bias_ih).reshape(steps, gates, hidden)
    states = np.empty((steps + 1, *initial_state.shape))
    states[0] = initial_state
    weight_hh, bias_hh = params.weight_hh, params.bias_hh
    for t in range(steps):
        m = (weight_hh @ states[t, 0] + bias_hh).reshape(gates, hidden)
        states[t + 1] = compiled.update(input_projection[t], m, states[t])
    return Trajectory(compiled, params, inputs, states, input_projection)
