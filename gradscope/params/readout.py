"""Parameters of a cell that feeds its output back (Jordan network), under PyTorch-style names.

The hidden stage reads the input and the previous *output* ``y_{t-1}``; a readout turns the hidden
vector into the output ``y_t``, which is the state. One layer, one direction:

* ``weight_ih_l0`` ``(G*H, I)`` = ``W_xh`` and ``bias_ih_l0`` ``(G*H,)`` = ``b_h``, the hidden stage's input projection;
* ``weight_yh_l0`` ``(G*H, O)`` = ``W_yh``, the recurrent weight (it reads ``y_{t-1}``; no bias of its own);
* ``weight_hy_l0`` ``(O, H)`` = ``W_hy`` and ``bias_hy_l0`` ``(O,)`` = ``b_y``, the readout.

The biases are both present or both absent (``bias=False``). G is the number of gates of the
hidden stage (1 for the Jordan network). Stacked or bidirectional feedback networks (``_l1``,
``_reverse`` names) are out of scope: the output of one layer is not the state of the next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.errors import ParameterError, ShapeError
from gradscope.params.layer import as_float_array, check_init, check_shape, draw_recurrent_blocks

WEIGHT_NAMES = ("weight_ih_l0", "weight_yh_l0", "weight_hy_l0")
BIAS_NAMES = ("bias_ih_l0", "bias_hy_l0")
_LAYERED = re.compile(r"_l[1-9]\d*(_reverse)?$|_reverse$")


@dataclass(frozen=True)
class FeedbackParams:
    """Validated float64 parameters of a feedback cell; missing biases are zeros (``bias=False``)."""

    weight_ih: np.ndarray  # (G*H, I)
    weight_yh: np.ndarray  # (G*H, O)
    weight_hy: np.ndarray  # (O, H)
    bias_ih: np.ndarray  # (G*H,)
    bias_hy: np.ndarray  # (O,)
    has_bias: bool = True

    @property
    def hidden_size(self) -> int:
        return int(self.weight_hy.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.weight_ih.shape[1])

    @property
    def output_size(self) -> int:
        return int(self.weight_hy.shape[0])

    def recurrent_blocks(self) -> np.ndarray:
        """``weight_yh`` as ``(G, H, O)``: block ``g`` is ``W_yg``."""
        return self.weight_yh.reshape(-1, self.hidden_size, self.output_size)

    def as_dict(self) -> dict[str, np.ndarray]:
        """The ``state_dict``-style mapping (biases left out when ``has_bias`` is false)."""
        out = {"weight_ih_l0": self.weight_ih, "weight_yh_l0": self.weight_yh, "weight_hy_l0": self.weight_hy}
        if self.has_bias:
            out |= {"bias_ih_l0": self.bias_ih, "bias_hy_l0": self.bias_hy}
        return out


def expected_feedback_shapes(
    cell: CellSpec, hidden_size: int, input_size: int, output_size: int, bias: bool = True
) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of a feedback cell, in draw order."""
    rows = cell.num_gates * hidden_size
    shapes = {
        "weight_ih_l0": (rows, input_size),
        "weight_yh_l0": (rows, output_size),
        "weight_hy_l0": (output_size, hidden_size),
    }
    if bias:
        shapes |= {"bias_ih_l0": (rows,), "bias_hy_l0": (output_size,)}
    return shapes


def _check_names(cell: CellSpec, names: set[str]) -> None:
    layered = sorted(n for n in names if _LAYERED.search(n))
    if layered:
        raise ParameterError(
            f"{cell.name} parameters: unexpected {', '.join(layered)}; stacked or bidirectional "
            f"{cell.name} networks are not supported (one layer, one direction: names ending in _l0)"
        )
    missing = [n for n in WEIGHT_NAMES if n not in names]
    present_bias = [n for n in BIAS_NAMES if n in names]
    if len(present_bias) == 1:
        missing.append(next(n for n in BIAS_NAMES if n not in names))
    if missing:
        raise ParameterError(
            f"{cell.name} parameters: missing {', '.join(missing)} (got {', '.join(sorted(names)) or 'nothing'})"
        )
    unexpected = sorted(names - set(WEIGHT_NAMES) - set(BIAS_NAMES))
    if unexpected:
        hint = ""
        if "weight_hh_l0" in unexpected:
            hint = "; the recurrent weight of a feedback cell is weight_yh_l0 (G*H, O): it reads the previous output"
        raise ParameterError(f"{cell.name} parameters: unexpected {', '.join(unexpected)}{hint}")


def validate_feedback_params(cell: CellSpec, params: Mapping[str, object]) -> FeedbackParams:
    """Check names, shapes and values of a feedback cell's ``params``; sizes come from the shapes.

    H and O from ``weight_hy_l0`` ``(O, H)``, the input size from ``weight_ih_l0``.
    """
    if not isinstance(params, Mapping):
        raise ParameterError(
            f"params must be a mapping of PyTorch-style parameter names to arrays, got {type(params).__name__}"
        )
    names = set(params)
    _check_names(cell, names)
    arrays = {name: as_float_array(name, params[name]) for name in sorted(names)}
    readout, weight_ih = arrays["weight_hy_l0"], arrays["weight_ih_l0"]
    if readout.ndim != 2:
        raise ShapeError(f"weight_hy_l0: expected shape (output_size, hidden_size), got {readout.shape}")
    output, hidden = readout.shape
    if weight_ih.ndim != 2:
        raise ShapeError(
            f"weight_ih_l0: expected shape ({cell.num_gates * hidden}, input_size) "
            f"(hidden_size {hidden} from weight_hy_l0), got {weight_ih.shape}"
        )
    has_bias = "bias_ih_l0" in names
    for name, shape in expected_feedback_shapes(cell, hidden, weight_ih.shape[1], output, has_bias).items():
        check_shape(name, arrays[name], shape)
    return FeedbackParams(
        weight_ih=weight_ih,
        weight_yh=arrays["weight_yh_l0"],
        weight_hy=readout,
        bias_ih=arrays.get("bias_ih_l0", np.zeros(cell.num_gates * hidden)),
        bias_hy=arrays.get("bias_hy_l0", np.zeros(output)),
        has_bias=has_bias,
    )


def init_feedback_params(
    cell: CellSpec,
    hidden_size: int,
    input_size: int,
    output_size: int,
    rng: np.random.Generator,
    init: str = "pytorch",
    gain: float = 1.0,
) -> dict[str, np.ndarray]:
    """Random parameters of a feedback cell, reproducible from ``rng``.

    * ``"pytorch"``: every weight and bias ``U(-k, k)``, ``k = 1/sqrt(H)``, times ``gain``.
    * ``"gaussian"``: each recurrent block ``W_yg`` ``(H, O)`` is ``N(0, gain^2 / O)`` (variance over
      its fan-in, the O outputs it reads); the rest PyTorch's default.
    * ``"orthogonal"``: each ``W_yg`` is ``gain`` times a Haar-random semi-orthogonal ``(H, O)``
      matrix (orthonormal columns when ``H >= O``, orthonormal rows otherwise, so that every
      singular value is ``gain``); the rest PyTorch's default.

    Draw order: ``weight_ih``, ``weight_yh``, ``weight_hy``, ``bias_ih``, ``bias_hy`` from PyTorch's
    uniform law, then the replacement recurrent blocks.
    """
    gain = check_init(init, gain)
    bound = 1.0 / np.sqrt(hidden_size)
    shapes = expected_feedback_shapes(cell, hidden_size, input_size, output_size)
    params = {name: rng.uniform(-bound, bound, size=shape) for name, shape in shapes.items()}
    if init == "pytorch":
        return {name: gain * value for name, value in params.items()}
    draw_recurrent_blocks(params["weight_yh_l0"].reshape(cell.num_gates, hidden_size, output_size), init, gain, rng)
    return params
