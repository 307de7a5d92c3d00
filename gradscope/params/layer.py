"""One layer's parameters under PyTorch's names and shapes, for any cell, and their one validation.

A layer of a one-stage cell (RNN, LSTM, GRU, ...) has ``weight_ih_l0`` ``(G*H, I)``,
``weight_hh_l0`` ``(G*H, R)`` and, unless the model was built with ``bias=False``, ``bias_ih_l0``
and ``bias_hh_l0`` ``(G*H,)``: G gates (1 RNN, 3 GRU, 4 LSTM), chunks in the cell's gate order,
and R the length of what the recurrence reads (H for the hidden state ``h``).

A cell that feeds its output back (Jordan network, state ``y`` of size O) names its recurrent
weight after what it reads, ``weight_yh_l0`` ``(G*H, O)``, has no recurrent bias, and adds the
readout ``weight_hy_l0`` ``(O, H)`` and ``bias_hy_l0`` ``(O,)``. Both kinds are one
:class:`LayerParams`; the cell's :class:`Layout` says which names it uses.

Cells defined by files may store their recurrent weight otherwise (:mod:`gradscope.params.recurrent`:
per-unit ``(G*H,)``, none at all, or a matrix used as ``W - W^T - gamma I``) and have per-unit
parameter vectors (peepholes: ``weight_peephole_i_l0`` ``(H,)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.errors import ParameterError, ShapeError
from gradscope.params.arrays import as_float_array, check_shape
from gradscope.params.recurrent import stored_shape, used_weight


@dataclass(frozen=True)
class Layout:
    """The PyTorch-style base names (no ``_l0`` suffix) of a cell's parameters, by role; ``None``: none."""

    spec: CellSpec
    recurrent_weight: str | None = "weight_hh"
    recurrent_bias: str | None = "bias_hh"
    readout_weight: str | None = None
    readout_bias: str | None = None

    @property
    def weights(self) -> tuple[str, ...]:
        """Weight names in draw order: input, recurrent, readout."""
        return tuple(n for n in ("weight_ih", self.recurrent_weight, self.readout_weight) if n is not None)

    @property
    def biases(self) -> tuple[str, ...]:
        """Bias names (all present or all absent), in draw order."""
        return tuple(n for n in ("bias_ih", self.recurrent_bias, self.readout_bias) if n is not None)

    @property
    def vectors(self) -> tuple[str, ...]:
        """The per-unit parameter vectors' names (always present), in draw order."""
        return self.spec.vectors

    def shapes(
        self, hidden_size: int, input_size: int, output_size: int | None = None, bias: bool = True
    ) -> dict[str, tuple[int, ...]]:
        """Base names and shapes, in draw order (weights, biases, then the per-unit vectors)."""
        rows = self.spec.num_gates * hidden_size
        read = self.spec.read_size(hidden_size, output_size)
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (rows, input_size)}
        recurrent = stored_shape(self.spec, hidden_size, read)
        if self.recurrent_weight is not None and recurrent is not None:
            shapes[self.recurrent_weight] = recurrent
        if self.readout_weight is not None:
            shapes[self.readout_weight] = (read, hidden_size)
        if bias:
            shapes["bias_ih"] = (rows,)
            if self.recurrent_bias is not None:
                shapes[self.recurrent_bias] = (rows,)
            if self.readout_bias is not None:
                shapes[self.readout_bias] = (read,)
        for name in self.vectors:
            shapes[name] = (hidden_size,)
        return shapes


def layout(spec: CellSpec) -> Layout:
    """The names a cell's parameters take: PyTorch's, plus the readout of a cell that feeds its output back."""
    if spec.feedback:
        return Layout(
            spec, recurrent_weight="weight_yh", recurrent_bias=None, readout_weight="weight_hy", readout_bias="bias_hy"
        )
    if spec.recurrent.kind == "none":
        return Layout(spec, recurrent_weight=None, recurrent_bias=None)
    return Layout(spec)


def expected_shapes(
    cell: CellSpec, hidden_size: int, input_size: int, bias: bool = True, output_size: int | None = None
) -> dict[str, tuple[int, ...]]:
    """Layer 0's PyTorch parameter names and shapes for ``cell``, in draw order."""
    shapes = layout(cell).shapes(hidden_size, input_size, output_size, bias)
    return {f"{name}_l0": shape for name, shape in shapes.items()}


@dataclass(frozen=True)
class LayerParams:
    """Validated float64 parameters of one layer and direction; absent biases are zeros.

    ``weight_hh`` is the recurrent weight whatever its name (``weight_yh_l0`` for a cell that feeds
    its output back), as the projections use it: the stacked blocks ``W_hg`` ``(G*H, R)`` (for a
    structured weight, built from ``stored_hh``, what is stored; :mod:`gradscope.params.recurrent`);
    ``weight_out`` and ``bias_out`` are that cell's readout, ``None`` otherwise; ``vectors`` the
    per-unit parameter vectors ``(P, H)`` in the cell's order (``P = 0`` for PyTorch's cells).
    """

    layout: Layout
    weight_ih: np.ndarray  # (G*H, I)
    weight_hh: np.ndarray  # (G*H, R)
    bias_ih: np.ndarray  # (G*H,)
    bias_hh: np.ndarray  # (G*H,)
    has_bias: bool = True
    weight_out: np.ndarray | None = None  # (O, H)
    bias_out: np.ndarray | None = None  # (O,)
    vectors: np.ndarray | None = None  # (P, H)
    stored_hh: np.ndarray | None = None  # weight_hh_l0 as stored, where that differs from weight_hh

    @property
    def unit_vectors(self) -> np.ndarray:
        """The per-unit parameter vectors, ``(P, H)`` (``(0, H)`` when the cell has none)."""
        return self.vectors if self.vectors is not None else np.zeros((0, self.hidden_size))

    @property
    def hidden_size(self) -> int:
        return int(self.weight_ih.shape[0] // self.layout.spec.num_gates)

    @property
    def input_size(self) -> int:
        return int(self.weight_ih.shape[1])

    @property
    def output_size(self) -> int | None:
        """O, for a cell that feeds its output back; else ``None``."""
        return None if self.weight_out is None else int(self.weight_out.shape[0])

    @property
    def read_size(self) -> int:
        """R, the length of what the recurrent projections read."""
        return int(self.weight_hh.shape[1])

    def recurrent_blocks(self) -> np.ndarray:
        """``weight_hh`` as ``(G, H, R)``: block ``g`` is ``W_hg``."""
        return self.weight_hh.reshape(-1, self.hidden_size, self.read_size)

    def as_dict(self, suffix: str = "_l0") -> dict[str, np.ndarray]:
        """The PyTorch ``state_dict``-style mapping (biases left out when ``has_bias`` is false)."""
        names = self.layout
        values: dict[str, np.ndarray | None] = {"weight_ih": self.weight_ih}
        if names.recurrent_weight is not None:
            values[names.recurrent_weight] = self.weight_hh if self.stored_hh is None else self.stored_hh
        if names.readout_weight is not None:
            values[names.readout_weight] = self.weight_out
        if self.has_bias:
            values["bias_ih"] = self.bias_ih
            if names.recurrent_bias is not None:
                values[names.recurrent_bias] = self.bias_hh
            if names.readout_bias is not None:
                values[names.readout_bias] = self.bias_out
        for name, vector in zip(names.vectors, self.unit_vectors, strict=True):
            values[name] = vector
        return {name + suffix: value for name, value in values.items()}


def projection_error(name: str) -> ParameterError:
    """The error for LSTM projection weights (``weight_hr_l*``, PyTorch's ``proj_size > 0``)."""
    return ParameterError(
        f"{name}: LSTM with proj_size > 0 is not supported (the projected hidden state changes the "
        "Jacobian's shape); export a model built with proj_size=0"
    )


def _check_names(cell: CellSpec, names: set[str], names_of: Layout, suffix: str) -> bool:
    """Missing and unexpected names, with hints; returns whether the biases are present."""
    weights = [n + suffix for n in names_of.weights + names_of.vectors]
    biases = [n + suffix for n in names_of.biases]
    missing = [n for n in weights if n not in names]
    present_bias = [n for n in biases if n in names]
    if present_bias and len(present_bias) < len(biases):
        missing += [n for n in biases if n not in names]
    if missing:
        raise ParameterError(
            f"{cell.name} parameters: missing {', '.join(missing)} (got {', '.join(sorted(names)) or 'nothing'})"
        )
    unexpected = sorted(names - set(weights) - set(biases))
    for name in unexpected:
        if name.startswith("weight_hr_l"):
            raise projection_error(name)
    if unexpected:
        hint = ""
        if cell.feedback and f"weight_hh{suffix}" in unexpected:
            hint = "; the recurrent weight of a feedback cell is weight_yh_l0 (G*H, O): it reads the previous output"
        elif names_of.recurrent_weight is None and f"weight_hh{suffix}" in unexpected:
            hint = f"; the {cell.name} cell has no recurrent weight (its equations use no m_g)"
        elif any(n.endswith("_reverse") or "_l1" in n for n in unexpected):
            hint = "; only single-layer, unidirectional cells are analysed (layer 0)"
        raise ParameterError(f"{cell.name} parameters: unexpected {', '.join(unexpected)}{hint}")
    return bool(present_bias)


def validate_layer(cell: CellSpec, params: Mapping[str, object], suffix: str = "_l0") -> LayerParams:
    """Check names, shapes and values of one layer's ``params`` (names ending in ``suffix``).

    Sizes are taken from the shapes: H from the recurrent weight ``(G*H, R)`` (and O and H from the
    readout ``(O, H)`` of a cell that feeds its output back), the input size from ``weight_ih``.
    Biases are all present or all absent.
    """
    if not isinstance(params, Mapping):
        raise ParameterError(
            f"params must be a mapping of PyTorch parameter names to arrays, got {type(params).__name__}"
        )
    names_of = layout(cell)
    has_bias = _check_names(cell, set(params), names_of, suffix)
    arrays = {name[: -len(suffix)]: as_float_array(name, params[name]) for name in sorted(params)}
    weight_ih = arrays["weight_ih"]
    recurrent = arrays.get(names_of.recurrent_weight or "")
    G = cell.num_gates
    if recurrent is None or cell.recurrent.kind == "per-unit":
        output, hidden, origin = None, _hidden_from_unit_shapes(cell, arrays, suffix), ""
    elif cell.feedback:
        readout = arrays["weight_hy"]
        if readout.ndim != 2:
            raise ShapeError(f"weight_hy{suffix}: expected shape (output_size, hidden_size), got {readout.shape}")
        output, hidden = readout.shape
        origin = f" (hidden_size {hidden} from weight_hy{suffix})"
    else:
        reads = len(cell.read_components)
        if recurrent.ndim != 2 or recurrent.shape[0] % G or recurrent.shape[1] * G != recurrent.shape[0] * reads:
            columns = "H" if reads == 1 else f"{reads}*H"
            raise ShapeError(
                f"weight_hh{suffix}: expected shape ({G}*H, {columns}) for {cell.name} "
                f"({G} gate{'s' if G > 1 else ''}: {', '.join(cell.gates)}), got {recurrent.shape}"
            )
        output, hidden, origin = None, recurrent.shape[0] // G, ""
    if weight_ih.ndim != 2:
        raise ShapeError(f"weight_ih{suffix}: expected shape ({G * hidden}, input_size){origin}, got {weight_ih.shape}")
    for name, shape in names_of.shapes(hidden, weight_ih.shape[1], output, has_bias).items():
        check_shape(name + suffix, arrays[name], shape)
    rows = np.zeros(G * hidden)
    read = cell.read_size(hidden, output)
    used = used_weight(cell, recurrent, hidden, read)
    return LayerParams(
        layout=names_of,
        weight_ih=weight_ih,
        weight_hh=used,
        bias_ih=arrays.get("bias_ih", rows),
        bias_hh=arrays.get(names_of.recurrent_bias or "", rows),
        has_bias=has_bias,
        weight_out=arrays.get("weight_hy"),
        bias_out=arrays.get("bias_hy", np.zeros(output)) if output is not None else None,
        vectors=np.stack([arrays[name] for name in names_of.vectors]) if names_of.vectors else None,
        stored_hh=None if cell.recurrent.plain else recurrent,
    )


def _hidden_from_unit_shapes(cell: CellSpec, arrays: Mapping[str, np.ndarray], suffix: str) -> int:
    """H of a cell without a recurrent matrix: from per-unit ``weight_hh`` ``(G*H,)``, else ``weight_ih``."""
    G = cell.num_gates
    name = "weight_hh" if "weight_hh" in arrays else "weight_ih"
    array = arrays[name]
    if array.ndim < 1 or array.shape[0] % G or array.shape[0] == 0 or (name == "weight_hh" and array.ndim != 1):
        expected = f"({G}*H,)" if name == "weight_hh" else f"({G}*H, input_size)"
        what = "per-unit recurrent weights, " if name == "weight_hh" else ""
        raise ShapeError(
            f"{name}{suffix}: expected shape {expected} for {cell.name} ({what}gates {', '.join(cell.gates)}), "
            f"got {array.shape}"
        )
    return array.shape[0] // G
