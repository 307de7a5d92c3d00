"""Cell parameters under PyTorch's names and shapes: validation and reproducible random draws.

A single-layer, unidirectional cell has ``weight_ih_l0`` ``(G*H, input_size)``, ``weight_hh_l0``
``(G*H, H)`` and, unless the model was built with ``bias=False``, ``bias_ih_l0`` and ``bias_hh_l0``
``(G*H,)``; G is the number of gates (1 RNN, 3 GRU, 4 LSTM), chunks in PyTorch's gate order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.errors import ConfigError, NonFiniteError, ParameterError, ShapeError

#: Random initialisations understood by :func:`init_params`.
INITS = ("pytorch", "gaussian", "orthogonal")

WEIGHT_NAMES = ("weight_ih_l0", "weight_hh_l0")


def projection_error(name: str) -> ParameterError:
    """The error for LSTM projection weights (``weight_hr_l*``, PyTorch's ``proj_size > 0``)."""
    return ParameterError(
        f"{name}: LSTM with proj_size > 0 is not supported (the projected hidden state changes the "
        "Jacobian's shape); export a model built with proj_size=0"
    )


BIAS_NAMES = ("bias_ih_l0", "bias_hh_l0")


@dataclass(frozen=True)
class CellParams:
    """Validated float64 parameters of one cell; missing biases are zeros (``bias=False``)."""

    weight_ih: np.ndarray  # (G*H, I)
    weight_hh: np.ndarray  # (G*H, H)
    bias_ih: np.ndarray  # (G*H,)
    bias_hh: np.ndarray  # (G*H,)
    has_bias: bool = True

    @property
    def hidden_size(self) -> int:
        return int(self.weight_hh.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.weight_ih.shape[1])

    def recurrent_blocks(self) -> np.ndarray:
        """``weight_hh`` as ``(G, H, H)``: block ``g`` is ``W_hg``."""
        return self.weight_hh.reshape(-1, self.hidden_size, self.hidden_size)

    def as_dict(self) -> dict[str, np.ndarray]:
        """The PyTorch ``state_dict``-style mapping (biases left out when ``has_bias`` is false)."""
        out = {"weight_ih_l0": self.weight_ih, "weight_hh_l0": self.weight_hh}
        if self.has_bias:
            out |= {"bias_ih_l0": self.bias_ih, "bias_hh_l0": self.bias_hh}
        return out


def check_size(name: str, value: object) -> int:
    """``value`` as a positive ``int``, or a :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ConfigError(f"{name} must be >= 1, got {value}")
    return int(value)


def expected_shapes(cell: CellSpec, hidden_size: int, input_size: int, bias: bool = True) -> dict[str, tuple[int, ...]]:
    """PyTorch parameter names and shapes for ``cell``."""
    rows = cell.num_gates * hidden_size
    shapes = {"weight_ih_l0": (rows, input_size), "weight_hh_l0": (rows, hidden_size)}
    if bias:
        shapes |= {"bias_ih_l0": (rows,), "bias_hh_l0": (rows,)}
    return shapes


def as_float_array(name: str, value: object, dtype: type = np.float64) -> np.ndarray:
    """``value`` (NumPy array, nested list or CPU tensor) as a finite float array, or a clear error."""
    if hasattr(value, "detach"):  # a torch.Tensor: no torch import needed
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"{name}: cannot be read as a float array ({error})") from error
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise NonFiniteError(f"{name}: contains {bad} NaN or infinite value{'s' if bad != 1 else ''}")
    return array


def check_shape(name: str, array: np.ndarray, expected: tuple[int, ...]) -> None:
    if array.shape != expected:
        raise ShapeError(f"{name}: expected shape {expected}, got {array.shape}")


def validate_params(cell: CellSpec, params: Mapping[str, object]) -> CellParams:
    """Check names, shapes and values of ``params`` and return them as :class:`CellParams`.

    Sizes are taken from the shapes: H from ``weight_hh_l0`` (``(G*H, H)``), the input size
    from ``weight_ih_l0``. Biases are both present or both absent.
    """
    if not isinstance(params, Mapping):
        raise ParameterError(
            f"params must be a mapping of PyTorch parameter names to arrays, got {type(params).__name__}"
        )
    names = set(params)
    missing = [n for n in WEIGHT_NAMES if n not in names]
    present_bias = [n for n in BIAS_NAMES if n in names]
    if len(present_bias) == 1:
        missing.append(next(n for n in BIAS_NAMES if n not in names))
    if missing:
        raise ParameterError(
            f"{cell.name} parameters: missing {', '.join(missing)} (got {', '.join(sorted(names)) or 'nothing'})"
        )
    unexpected = sorted(names - set(WEIGHT_NAMES) - set(BIAS_NAMES))
    for name in unexpected:
        if name.startswith("weight_hr_l"):
            raise projection_error(name)
    if unexpected:
        hint = ""
        if any(n.endswith("_reverse") or "_l1" in n for n in unexpected):
            hint = "; only single-layer, unidirectional cells are analysed (layer 0)"
        raise ParameterError(f"{cell.name} parameters: unexpected {', '.join(unexpected)}{hint}")

    arrays = {name: as_float_array(name, params[name]) for name in sorted(names)}
    weight_hh = arrays["weight_hh_l0"]
    if (
        weight_hh.ndim != 2
        or weight_hh.shape[0] % cell.num_gates
        or weight_hh.shape[0] != cell.num_gates * weight_hh.shape[1]
    ):
        raise ShapeError(
            f"weight_hh_l0: expected shape ({cell.num_gates}*H, H) for {cell.name} "
            f"({cell.num_gates} gate{'s' if cell.num_gates > 1 else ''}: {', '.join(cell.gates)}), "
            f"got {weight_hh.shape}"
        )
    hidden_size = weight_hh.shape[1]
    weight_ih = arrays["weight_ih_l0"]
    if weight_ih.ndim != 2:
        raise ShapeError(
            f"weight_ih_l0: expected shape ({cell.num_gates * hidden_size}, input_size), got {weight_ih.shape}"
        )
    for name, shape in expected_shapes(cell, hidden_size, weight_ih.shape[1], bias=bool(present_bias)).items():
        check_shape(name, arrays[name], shape)
    zeros = np.zeros(cell.num_gates * hidden_size)
    return CellParams(
        weight_ih=arrays["weight_ih_l0"],
        weight_hh=weight_hh,
        bias_ih=arrays.get("bias_ih_l0", zeros),
        bias_hh=arrays.get("bias_hh_l0", zeros),
        has_bias=bool(present_bias),
    )


def init_params(
    cell: CellSpec,
    hidden_size: int,
    input_size: int,
    rng: np.random.Generator,
    init: str = "pytorch",
    gain: float = 1.0,
) -> dict[str, np.ndarray]:
    """Random parameters, reproducible from ``rng``.

    * ``"pytorch"``: every weight and bias ``U(-k, k)`` with ``k = 1/sqrt(H)`` (PyTorch's default), times ``gain``.
    * ``"gaussian"``: each recurrent block ``W_hg`` ``N(0, gain^2 / H)``; the rest PyTorch's default.
    * ``"orthogonal"``: each ``W_hg`` is ``gain`` times a Haar-random orthogonal matrix; the rest PyTorch's default.

    Draw order (part of the reproducibility contract): ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``, all from PyTorch's uniform law, then the replacement recurrent blocks.
    """
    gain = check_init(init, gain)
    bound = 1.0 / np.sqrt(hidden_size)
    shapes = expected_shapes(cell, hidden_size, input_size)
    params = {name: rng.uniform(-bound, bound, size=shape) for name, shape in shapes.items()}
    if init == "pytorch":
        return {name: gain * value for name, value in params.items()}
    draw_recurrent_blocks(params["weight_hh_l0"].reshape(cell.num_gates, hidden_size, hidden_size), init, gain, rng)
    return params


def check_init(init: str, gain: float) -> float:
    """``gain`` as a float, after checking it and the ``init`` name; :class:`ConfigError` otherwise."""
    if init not in INITS:
        raise ConfigError(f"unknown init {init!r} (valid: {', '.join(INITS)})")
    gain = float(gain)
    if not np.isfinite(gain) or gain < 0:
        raise ConfigError(f"gain must be a finite number >= 0, got {gain}")
    return gain


def draw_recurrent_blocks(blocks: np.ndarray, init: str, gain: float, rng: np.random.Generator) -> None:
    """Redraw the recurrent blocks ``(G, rows, cols)`` in place, one after another, for ``init``.

    ``"gaussian"``: ``N(0, gain^2 / cols)`` (variance over the fan-in); ``"orthogonal"``: ``gain``
    times :func:`haar_semi_orthogonal`.
    """
    _, rows, cols = blocks.shape
    for g in range(blocks.shape[0]):
        if init == "gaussian":
            blocks[g] = rng.normal(0.0, gain / np.sqrt(cols), size=(rows, cols))
        else:
            blocks[g] = gain * haar_semi_orthogonal(rows, cols, rng)


def haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed random orthogonal ``(n, n)`` matrix (QR of a Gaussian, signs fixed)."""
    return haar_semi_orthogonal(n, n, rng)


def haar_semi_orthogonal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random ``(rows, cols)`` matrix with orthonormal columns (or rows, when ``rows < cols``)."""
    tall = (max(rows, cols), min(rows, cols))
    q, r = np.linalg.qr(rng.standard_normal(tall))
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T
