"""Stacked and bidirectional networks: gradient flow through depth and time.

PyTorch's ``torch.nn.RNN/LSTM/GRU(input_size, hidden_size, num_layers, bidirectional)``: layer
``l > 0`` reads the concatenated outputs ``[h^{(l-1, forward)}_t; h^{(l-1, reverse)}_t]`` of the
layer below; the reverse direction consumes positions ``T, T-1, ..., 1``. Parameters are named
``weight_ih_l{l}``, ``weight_hh_l{l}``, ``bias_ih_l{l}``, ``bias_hh_l{l}`` and the same with the
suffix ``_reverse``.

:func:`depth_profiles` measures, for every layer ``l``, direction ``d`` and input position ``t``
(1-based), ``||d y_T / d s^{(l,d)}_t||_2``, where ``y_T`` is the model's output at the last
position (``output[-1]``: the top layer's directions concatenated, ``[forward; reverse]``) and
``s^{(l,d)}_t`` is that layer's and direction's state right after it consumed position ``t``.
Reverse-mode accumulation of the ``(Y, S)`` matrices ``d y_T / d s`` (``Y = D H``), with every
matrix stored as ``mantissa * 10**exponent`` so that no product overflows or underflows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradscope.cellspec import CellSpec
from gradscope.compiled import CompiledCell
from gradscope.errors import ConfigError, ParameterError, ShapeError
from gradscope.jacobians import assemble, step_coefficients
from gradscope.params import CellParams, as_float_array, init_params, projection_error, validate_params
from gradscope.trajectory import Trajectory, run_forward

DIRECTIONS = ("forward", "reverse")
_NAME = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


@dataclass(frozen=True)
class StackedParams:
    """Validated parameters of a stacked, possibly bidirectional, network.

    ``layers[l][d]`` holds layer ``l``'s parameters for direction ``d`` (0 forward, 1 reverse)
    under the single-layer names (``weight_ih`` ``(G*H, I_l)`` with ``I_0 = input_size`` and
    ``I_l = D*H`` above).
    """

    layers: tuple[tuple[CellParams, ...], ...]
    bidirectional: bool

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def hidden_size(self) -> int:
        return self.layers[0][0].hidden_size

    @property
    def input_size(self) -> int:
        return self.layers[0][0].input_size


def is_stacked(params: Mapping[str, object]) -> bool:
    """Whether ``params`` names more than layer 0 forward (``_l1``..., or ``_reverse``)."""
    return any((m := _NAME.match(name)) and (m.group(2) != "0" or m.group(3)) for name in params)


def layer_suffix(layer: int, direction: int) -> str:
    """PyTorch's parameter-name suffix: ``"_l1"`` for layer 1 forward, ``"_l1_reverse"`` for its reverse direction."""
    return f"_l{layer}" + ("_reverse" if direction else "")


def init_stacked_params(
    cell: CellSpec, hidden_size: int, input_size: int, num_layers: int, bidirectional: bool, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """PyTorch-named parameters of a stacked (and bidirectional) network at PyTorch's default initialisation.

    Layer by layer with :func:`gradscope.params.init_params`: layer ``l``'s ``weight_ih_l{l}`` is
    ``(G*H, input_size)`` for ``l = 0`` and ``(G*H, D*H)`` above, ``D`` = 2 for a bidirectional
    network. Draw order: layers bottom up, forward before reverse.
    """
    directions = 2 if bidirectional else 1
    params: dict[str, np.ndarray] = {}
    for layer in range(num_layers):
        width = input_size if layer == 0 else directions * hidden_size
        for direction in range(directions):
            for name, value in init_params(cell, hidden_size, width, rng).items():
                params[name.replace("_l0", layer_suffix(layer, direction))] = value
    return params


def validate_stacked(spec: CellSpec, params: Mapping[str, object]) -> StackedParams:
    """Detect ``num_layers`` and ``bidirectional`` from the names and check every shape.

    Raises:
        ParameterError: unknown names, missing layers or directions, LSTM projections
            (``weight_hr_l*``, ``proj_size > 0``), which are refused.
        ShapeError: a layer's input width that does not match the layer below.
    """
    groups: dict[tuple[int, int], dict[str, object]] = {}
    unknown = []
    for name, value in params.items():
        match = _NAME.match(name)
        if match is None:
            unknown.append(name)
            continue
        kind, layer, reverse = match.group(1), int(match.group(2)), bool(match.group(3))
        if kind == "weight_hr":
            raise projection_error(name)
        groups.setdefault((layer, int(reverse)), {})[f"{kind}_l0"] = value
    if unknown:
        raise ParameterError(f"unexpected parameter names: {', '.join(sorted(unknown))}")
    layers = sorted({layer for layer, _ in groups})
    if layers != list(range(len(layers))):
        raise ParameterError(f"layers must be numbered 0..L-1 without gaps, found layers {layers}")
    bidirectional = any(direction for _, direction in groups)
    directions = 2 if bidirectional else 1
    checked: list[tuple[CellParams, ...]] = []
    for layer in layers:
        row = []
        for direction in range(directions):
            suffix = layer_suffix(layer, direction)
            if (layer, direction) not in groups:
                raise ParameterError(
                    f"missing parameters for layer {layer} {DIRECTIONS[direction]} (weight_ih{suffix}, ...)"
                )
            try:
                row.append(validate_params(spec, groups[layer, direction]))
            except ParameterError as error:
                raise type(error)(str(error).replace("_l0", suffix)) from error
        checked.append(tuple(row))
    hidden = checked[0][0].hidden_size
    biased = {p.has_bias for row in checked for p in row}
    if len(biased) > 1:
        missing = [
            f"bias_ih{layer_suffix(layer, direction)}"
            for layer, row in enumerate(checked)
            for direction, p in enumerate(row)
            if not p.has_bias
        ]
        raise ParameterError(
            f"missing {', '.join(missing)} (and bias_hh): PyTorch models have biases in every layer or in none"
        )
    for layer, row in enumerate(checked):
        for direction, p in enumerate(row):
            suffix = layer_suffix(layer, direction)
            width = checked[0][0].input_size if layer == 0 else directions * hidden
            if p.hidden_size != hidden or p.input_size != width:
                raise ShapeError(
                    f"weight_ih{suffix}: expected input width {width} and hidden size {hidden}, "
                    f"got shape {p.weight_ih.shape} with hidden size {p.hidden_size}"
                )
    return StackedParams(tuple(checked), bidirectional)


def initial_states(spec: CellSpec, stacked: StackedParams, h0: object | None, c0: object | None) -> np.ndarray:
    """Initial states ``(L*D, C, H)`` from PyTorch-shaped ``h0``/``c0`` ``(L*D, H)`` (zeros by default)."""
    count, hidden = stacked.num_layers * stacked.num_directions, stacked.hidden_size
    states = np.zeros((count, len(spec.state), hidden))
    for name, value in (("h0", h0), ("c0", c0)):
        if value is None:
            continue
        component = name[0]
        if component not in spec.state:
            raise ConfigError(f"{name} given, but the {spec.name} cell has no {component!r} state")
        array = as_float_array(name, value)
        if array.shape != (count, hidden):
            raise ShapeError(
                f"{name}: expected shape ({count}, {hidden}) (num_layers * directions, H), got {array.shape}"
            )
        states[:, spec.state.index(component)] = array
    return states


def stacked_forward(
    compiled: CompiledCell, stacked: StackedParams, inputs: np.ndarray, initial: np.ndarray
) -> list[list[Trajectory]]:
    """Forward passes ``[layer][direction]``; each trajectory is in its own processing order.

    The reverse direction's trajectory consumes ``inputs[::-1]``: its state after processing step
    ``k`` is the state right after consuming position ``T + 1 - k``.
    """
    runs: list[list[Trajectory]] = []
    layer_input = inputs
    for layer, row in enumerate(stacked.layers):
        runs.append([])
        outputs = []
        for direction, params in enumerate(row):
            sequence = layer_input if direction == 0 else layer_input[::-1]
            run = run_forward(compiled, params, np.ascontiguousarray(sequence), initial[layer * len(row) + direction])
            runs[-1].append(run)
            hidden = run.states[1:, 0, :]
            outputs.append(hidden if direction == 0 else hidden[::-1])
        layer_input = np.concatenate(outputs, axis=1)
    return runs


def model_output(runs: list[list[Trajectory]]) -> np.ndarray:
    """``output`` as PyTorch returns it: the top layer's hidden states, directions concatenated, ``(T, D*H)``."""
    top = runs[-1]
    parts = [top[0].states[1:, 0, :]]
    if len(top) > 1:
        parts.append(top[1].states[1:, 0, :][::-1])
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class DepthProfile:
    """``log10 ||d y_T / d s^{(layer, direction)}_t||_2`` for positions ``t = 1..T`` (``-inf`` where zero)."""

    layer: int
    direction: str
    time: np.ndarray  # (T,) ints 1..T
    log10_norm: np.ndarray  # (T,)

    def to_dict(self) -> dict[str, object]:
        return {
            "layer": self.layer,
            "direction": self.direction,
            "time": [int(t) for t in self.time],
            "log10_norm": [float(v) if np.isfinite(v) else None for v in self.log10_norm],
        }


def _add(a: np.ndarray, a_exp: float, b: np.ndarray, b_exp: float) -> tuple[np.ndarray, float]:
    """``a * 10**a_exp + b * 10**b_exp`` as ``(mantissa, exponent)``; the smaller term is rescaled."""
    if not np.isfinite(b_exp) or not np.any(b):
        return a, a_exp
    if not np.isfinite(a_exp) or not np.any(a):
        return b, b_exp
    if a_exp >= b_exp:
        return a + b * 10.0 ** (b_exp - a_exp), a_exp
    return a * 10.0 ** (a_exp - b_exp) + b, b_exp


def _normalise(matrix: np.ndarray, exponent: float) -> tuple[np.ndarray, float]:
    """Move the matrix's order of magnitude into the exponent (largest entry in [1, 10))."""
    largest = float(np.max(np.abs(matrix))) if matrix.size and np.isfinite(exponent) else 0.0
    if largest == 0.0:
        return np.zeros_like(matrix), -np.inf
    shift = float(np.floor(np.log10(largest)))
    return matrix * 10.0 ** (-shift), exponent + shift


def depth_profiles(compiled: CompiledCell, stacked: StackedParams, runs: list[list[Trajectory]]) -> list[DepthProfile]:
    """Gradient norms of the last output with respect to every layer's and direction's states.

    Returns one :class:`DepthProfile` per (layer, direction), layers bottom to top, forward first.
    """
    spec = compiled.spec
    hidden, components = stacked.hidden_size, len(spec.state)
    size = components * hidden
    directions = stacked.num_directions
    steps = runs[0][0].steps
    outputs = directions * hidden  # Y
    profiles: dict[tuple[int, int], np.ndarray] = {}

    # Gradients of y_T with respect to each layer's input at every position, (T, Y, width), one
    # exponent per position. For the top layer this is d y_T / d [h^{(top, fwd)}; h^{(top, rev)}].
    upstream = np.zeros((steps, outputs, outputs))
    upstream_exponent = np.full(steps, -np.inf)
    upstream[steps - 1], upstream_exponent[steps - 1] = np.eye(outputs), 0.0
    for layer in range(stacked.num_layers - 1, -1, -1):
        width = runs[layer][0].inputs.shape[1]
        below = np.zeros((steps, outputs, width))
        below_exponent = np.full(steps, -np.inf)
        for direction in range(directions):
            run = runs[layer][direction]
            coefficients = step_coefficients(run, 0, steps)
            input_partials = compiled.input_partials(
                run.input_projection, run.recurrent_projection(0, steps), run.states[:steps]
            )
            weight_blocks = run.params.recurrent_blocks()
            input_blocks = run.params.weight_ih.reshape(spec.num_gates, hidden, width)
            log10_norm = np.full(steps, -np.inf)
            gradient, exponent = np.zeros((outputs, size)), -np.inf  # d y_T / d s after processing step k
            for k in range(steps, 0, -1):
                position = k if direction == 0 else steps + 1 - k  # the position step k consumed
                if k < steps and np.isfinite(exponent):
                    jacobian = assemble(coefficients.recurrent[k], coefficients.direct[k], weight_blocks)
                    gradient, exponent = _normalise(gradient @ jacobian, exponent)
                # This direction's output h at this position feeds the layer above (or is part of y_T).
                from_above = np.zeros((outputs, size))
                from_above[:, :hidden] = upstream[position - 1][:, direction * hidden : (direction + 1) * hidden]
                gradient, exponent = _normalise(*_add(gradient, exponent, from_above, upstream_exponent[position - 1]))
                if not np.isfinite(exponent):
                    continue
                log10_norm[position - 1] = np.log10(np.linalg.norm(gradient, 2)) + exponent
                if layer > 0:
                    # d s_k / d x_position = sum_g diag(d s / d u_g) W_ig, (S, width).
                    input_jacobian = np.zeros((components, hidden, width))
                    for (_, row, gate), values in input_partials.items():
                        input_jacobian[spec.state.index(row)] += (
                            values[k - 1][:, None] * input_blocks[spec.gates.index(gate)]
                        )
                    contribution = gradient @ input_jacobian.reshape(size, width)
                    below[position - 1], below_exponent[position - 1] = _add(
                        below[position - 1], below_exponent[position - 1], contribution, exponent
                    )
            profiles[layer, direction] = log10_norm
        upstream, upstream_exponent = below, below_exponent
    time = np.arange(1, steps + 1)
    return [
        DepthProfile(layer, DIRECTIONS[direction], time, profiles[layer, direction])
        for layer in range(stacked.num_layers)
        for direction in range(directions)
    ]
