"""The initial state of a problem: zeros, with the given ``h0``, ``c0`` or ``y0`` in place, checked once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.errors import ConfigError, ShapeError
from gradscope.params.arrays import as_float_array, check_shape
from gradscope.params.network import NetworkParams


def initial_state(spec: CellSpec, network: NetworkParams, options: Mapping[str, Any], config: dict) -> np.ndarray:
    """``(L*D, S)``: zeros, with ``h0``/``c0`` (or a feedback cell's ``y0``) where given, recorded in ``config``.

    One layer takes ``(H,)`` or PyTorch's ``(1, H)``; a stacked network PyTorch's ``(L*D, H)``.
    A component the cell does not have is refused, naming the cell and its state.
    """
    hidden, count = network.hidden_size, network.num_layers * network.num_directions
    if spec.feedback:
        return _initial_output(spec, network, options, config)[None]
    states = np.zeros((count, len(spec.state), hidden))
    for name in ("h0", "c0", "y0"):  # by component name: coRNN's state [y; z] takes y0
        value = options.get(name)
        if value is None:
            continue
        component = name[0]
        if component not in spec.state:
            where = "" if network.stacked else f" (state: {spec.state_layout})"
            raise ConfigError(f"{name} given, but the {spec.name} cell has no {component!r} state{where}")
        if network.stacked:
            array = as_float_array(name, value)
            if array.shape != (count, hidden):
                raise ShapeError(
                    f"{name}: expected shape ({count}, {hidden}) (num_layers * directions, H), got {array.shape}"
                )
            states[:, spec.state.index(component)] = array
        else:
            states[0, spec.state.index(component)] = _state_vector(name, value, hidden)
        config[name] = "given"
    return states.reshape(count, -1)


def _initial_output(spec: CellSpec, network: NetworkParams, options: Mapping[str, Any], config: dict) -> np.ndarray:
    """``y_0`` ``(O,)`` of a feedback cell (zeros by default); ``h0``/``c0`` are refused, naming ``y0``."""
    size = network.output_size or 0
    for name in ("h0", "c0"):
        if options.get(name) is not None:
            raise ConfigError(
                f"{name} given, but the {spec.name} cell's state is its output y: pass y0 ({size},) instead"
            )
    if options.get("y0") is None:
        return np.zeros(size)
    config["y0"] = "given"
    return _state_vector("y0", options["y0"], size)


def _state_vector(name: str, value: object, size: int) -> np.ndarray:
    """An initial state component ``(size,)``, also accepted as PyTorch's ``(1, size)``."""
    array = as_float_array(name, value)
    check_shape(name, array.reshape(-1) if array.ndim == 2 and array.shape[0] == 1 else array, (size,))
    return array.reshape(-1)
