"""A whole recurrent module's parameters: one layer, or PyTorch's stacked and bidirectional networks.

``torch.nn.RNN/LSTM/GRU(input_size, hidden_size, num_layers, bidirectional)`` names its parameters
``weight_ih_l{l}``, ``weight_hh_l{l}``, ``bias_ih_l{l}``, ``bias_hh_l{l}`` and the same with the
suffix ``_reverse``; layer ``l > 0`` reads the concatenated outputs of the layer below, so its
``weight_ih`` is ``(G*H, D*H)``. :func:`validate_params` is the one validation of any of them; a
single layer is a network of one layer and one direction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gradscope.cells.spec import CellSpec
from gradscope.errors import ParameterError, ShapeError
from gradscope.params.layer import LayerParams, layout, projection_error, validate_layer

DIRECTIONS = ("forward", "reverse")
_NAME = re.compile(r"^([a-z][a-z0-9_]*?)_l(\d+)(_reverse)?$")
_LAYERED = re.compile(r"_l[1-9]\d*(_reverse)?$|_reverse$")


@dataclass(frozen=True)
class NetworkParams:
    """Validated parameters of a network: ``layers[l][d]`` is layer ``l``, direction ``d`` (0 forward, 1 reverse)."""

    layers: tuple[tuple[LayerParams, ...], ...]
    bidirectional: bool = False

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def stacked(self) -> bool:
        """More than one layer, or two directions."""
        return self.num_layers > 1 or self.bidirectional

    @property
    def first(self) -> LayerParams:
        """Layer 0, forward: its shapes give the sizes."""
        return self.layers[0][0]

    @property
    def top(self) -> LayerParams:
        """The top layer's forward direction, whose own recurrence a profile of the network follows."""
        return self.layers[-1][0]

    @property
    def hidden_size(self) -> int:
        return self.first.hidden_size

    @property
    def input_size(self) -> int:
        return self.first.input_size

    @property
    def output_size(self) -> int | None:
        return self.first.output_size

    def as_dict(self) -> dict[str, object]:
        """Every parameter under PyTorch's names (``weight_ih_l0``, ..., ``bias_hh_l1_reverse``)."""
        out: dict[str, object] = {}
        for layer, row in enumerate(self.layers):
            for direction, params in enumerate(row):
                out |= params.as_dict(layer_suffix(layer, direction))
        return out


def layer_suffix(layer: int, direction: int) -> str:
    """PyTorch's parameter-name suffix: ``"_l1"`` for layer 1 forward, ``"_l1_reverse"`` for its reverse direction."""
    return f"_l{layer}" + ("_reverse" if direction else "")


def is_stacked(params: Mapping[str, object]) -> bool:
    """Whether ``params`` names more than layer 0 forward (``_l1``..., or ``_reverse``)."""
    return any((m := _NAME.match(name)) and (m.group(2) != "0" or m.group(3)) for name in params)


def validate_params(spec: CellSpec, params: Mapping[str, object]) -> NetworkParams:
    """Check names, shapes and values of a network's ``params``; ``num_layers`` and ``bidirectional``
    come from the names, every size from the shapes.

    Raises:
        ParameterError: unknown or missing names, missing layers or directions, LSTM projections
            (``weight_hr_l*``, ``proj_size > 0``), layered names for a cell that feeds its output back.
        ShapeError: a shape that does not fit, e.g. a layer's input width that does not match the layer below.
    """
    if not isinstance(params, Mapping):
        raise ParameterError(
            f"params must be a mapping of PyTorch parameter names to arrays, got {type(params).__name__}"
        )
    if spec.feedback:
        layered = sorted(n for n in params if _LAYERED.search(n))
        if layered:
            raise ParameterError(
                f"{spec.name} parameters: unexpected {', '.join(layered)}; stacked or bidirectional "
                f"{spec.name} networks are not supported (one layer, one direction: names ending in _l0)"
            )
    if spec.feedback or not is_stacked(params):
        return NetworkParams(((validate_layer(spec, params),),))
    return _validate_stacked(spec, params)


def _validate_stacked(spec: CellSpec, params: Mapping[str, object]) -> NetworkParams:
    groups: dict[tuple[int, int], dict[str, object]] = {}
    unknown = []
    names = layout(spec)
    known = {*names.weights, *names.biases, *names.vectors, "weight_hr"}
    for name, value in params.items():
        match = _NAME.match(name)
        if match is None or match.group(1) not in known:
            unknown.append(name)
            continue
        kind, layer, reverse = match.group(1), int(match.group(2)), bool(match.group(3))
        if kind == "weight_hr":
            raise projection_error(name)
        groups.setdefault((layer, int(reverse)), {})[name] = value
    if unknown:
        raise ParameterError(f"unexpected parameter names: {', '.join(sorted(unknown))}")
    layers = sorted({layer for layer, _ in groups})
    if layers != list(range(len(layers))):
        raise ParameterError(f"layers must be numbered 0..L-1 without gaps, found layers {layers}")
    bidirectional = any(direction for _, direction in groups)
    directions = 2 if bidirectional else 1
    checked: list[tuple[LayerParams, ...]] = []
    for layer in layers:
        row = []
        for direction in range(directions):
            suffix = layer_suffix(layer, direction)
            if (layer, direction) not in groups:
                raise ParameterError(
                    f"missing parameters for layer {layer} {DIRECTIONS[direction]} (weight_ih{suffix}, ...)"
                )
            row.append(validate_layer(spec, groups[layer, direction], suffix))
        checked.append(tuple(row))
    hidden = checked[0][0].hidden_size
    if len({p.has_bias for row in checked for p in row}) > 1:
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
            width = checked[0][0].input_size if layer == 0 else directions * hidden
            if p.hidden_size != hidden or p.input_size != width:
                raise ShapeError(
                    f"weight_ih{layer_suffix(layer, direction)}: expected input width {width} and hidden size "
                    f"{hidden}, got shape {p.weight_ih.shape} with hidden size {p.hidden_size}"
                )
    return NetworkParams(tuple(checked), bidirectional)
