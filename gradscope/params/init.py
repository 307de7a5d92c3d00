"""Random parameters, reproducible from a seed: PyTorch's default and the other inits, and the forget-gate bias.

Forget-gate bias (LSTM, gate order ``i, f, g, o``; chunk ``f`` is rows ``H:2H``)
-------------------------------------------------------------------------------
PyTorch has two bias vectors, ``bias_ih_l0`` and ``bias_hh_l0``, and they *add*: the forget gate
sees ``b_f = bias_ih[H:2H] + bias_hh[H:2H]``. ``forget_bias`` here is always that effective sum:
it is written into ``bias_ih[H:2H]`` and ``bias_hh[H:2H]`` is set to zero. (Filling both vectors
with 1, a common PyTorch recipe, gives an effective bias of 2.)

Chrono initialisation (C. Tallec, Y. Ollivier, "Can recurrent neural networks warp time?", ICLR
2018, arXiv:1804.11188): ``b_f ~ log(U(1, T_max - 1))`` per unit and ``b_i = -b_f``, so that unit ``j``
forgets on a time scale of about ``exp(b_f[j])`` steps, spread up to ``T_max``. Here: effective
``b_f`` in ``bias_ih[H:2H]``, effective ``b_i = -b_f`` in ``bias_ih[0:H]``, and
``bias_hh[0:2H] = 0``. The uniform draws come from their own stream,
``numpy.random.default_rng([seed, CHRONO_STREAM])``, so they do not depend on ``T``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.errors import ConfigError
from gradscope.params.arrays import check_choice, check_scale
from gradscope.params.layer import layout
from gradscope.params.network import layer_suffix

#: Random initialisations understood by :func:`init_params`.
INITS = ("pytorch", "gaussian", "orthogonal")
#: LSTM gate chunks in PyTorch's order ``i, f, g, o``.
LSTM_INPUT_GATE = 0
LSTM_FORGET_GATE = 1
#: Second seed word of the independent stream chrono initialisation draws from.
CHRONO_STREAM = 0xC4


def check_init(init: str, gain: float) -> float:
    """``gain`` as a float, after checking it and the ``init`` name; :class:`ConfigError` otherwise."""
    check_choice("init", init, INITS)
    return check_scale("gain", gain)


def init_params(
    cell: CellSpec,
    hidden_size: int,
    input_size: int,
    rng: np.random.Generator,
    init: str = "pytorch",
    gain: float = 1.0,
    *,
    output_size: int | None = None,
    num_layers: int = 1,
    bidirectional: bool = False,
) -> dict[str, np.ndarray]:
    """Random parameters under PyTorch's names, reproducible from ``rng``.

    * ``"pytorch"``: every weight and bias ``U(-k, k)`` with ``k = 1/sqrt(H)`` (PyTorch's default), times ``gain``.
    * ``"gaussian"``: each recurrent block ``W_hg`` ``N(0, gain^2 / R)`` (variance over its fan-in R, the
      length of what it reads); the rest PyTorch's default.
    * ``"orthogonal"``: each ``W_hg`` is ``gain`` times a Haar-random (semi-)orthogonal matrix, so that
      every singular value is ``gain``; the rest PyTorch's default.

    For a cell that stores its recurrent weight otherwise (:mod:`gradscope.params.recurrent`) the init
    draws what is stored: per-unit weights ``U(-k, k)`` times ``gain``, ``N(0, gain^2)``, or ``+-gain``;
    a structured matrix (``W - W^T - gamma I``) is drawn as a full one and then combined. Per-unit
    parameter vectors (peepholes) follow the biases, ``U(-k, k)`` (times ``gain`` for ``"pytorch"``).

    ``output_size`` is O of a cell that feeds its output back (default H). Layers are drawn bottom up,
    forward before reverse; within a layer (part of the reproducibility contract) the weights, then
    the biases, in :meth:`~gradscope.params.layer.Layout.shapes` order, all from PyTorch's uniform
    law, then the replacement recurrent blocks.
    """
    gain = check_init(init, gain)
    names = layout(cell)
    directions = 2 if bidirectional else 1
    params: dict[str, np.ndarray] = {}
    for layer in range(num_layers):
        width = input_size if layer == 0 else directions * hidden_size
        for direction in range(directions):
            suffix = layer_suffix(layer, direction)
            bound = 1.0 / np.sqrt(hidden_size)
            shapes = names.shapes(hidden_size, width, output_size)
            drawn = {name: rng.uniform(-bound, bound, size=shape) for name, shape in shapes.items()}
            if init == "pytorch":
                drawn = {name: gain * value for name, value in drawn.items()}
            elif names.recurrent_weight in drawn and cell.recurrent.kind == "per-unit":
                draw_per_unit(drawn[names.recurrent_weight], init, gain, rng)
            elif names.recurrent_weight in drawn:
                recurrent = drawn[names.recurrent_weight]
                draw_recurrent_blocks(recurrent.reshape(cell.num_gates, hidden_size, -1), init, gain, rng)
            params |= {name + suffix: value for name, value in drawn.items()}
    return params


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


def draw_per_unit(weights: np.ndarray, init: str, gain: float, rng: np.random.Generator) -> None:
    """Redraw per-unit recurrent weights ``(G*H,)`` in place: ``"gaussian"`` ``N(0, gain^2)`` (the fan-in
    is 1), ``"orthogonal"`` ``+-gain`` with random signs (a diagonal orthogonal matrix times ``gain``:
    every singular value is ``gain``, as for the full matrices)."""
    if init == "gaussian":
        weights[...] = rng.normal(0.0, gain, size=weights.shape)
    else:
        weights[...] = gain * rng.choice((-1.0, 1.0), size=weights.shape)


def haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed random orthogonal ``(n, n)`` matrix (QR of a Gaussian, signs fixed)."""
    return haar_semi_orthogonal(n, n, rng)


def haar_semi_orthogonal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random ``(rows, cols)`` matrix with orthonormal columns (or rows, when ``rows < cols``)."""
    tall = (max(rows, cols), min(rows, cols))
    q, r = np.linalg.qr(rng.standard_normal(tall))
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def chrono_forget_bias(hidden_size: int, t_max: int, rng: np.random.Generator) -> np.ndarray:
    """Chrono initialisation's forget-gate bias ``b_f = log(U(1, T_max - 1))``, ``(H,)``.

    Tallec & Ollivier (2018); the input-gate bias is then ``b_i = -b_f``.
    """
    if isinstance(t_max, bool) or not isinstance(t_max, (int, np.integer)) or t_max < 3:
        raise ConfigError(f"chrono initialisation needs an integer t_max >= 3, got {t_max!r}")
    return np.log(rng.uniform(1.0, t_max - 1.0, size=hidden_size))


def set_forget_bias(
    params: Mapping[str, np.ndarray],
    forget_bias: float | str,
    *,
    t_max: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """A copy of LSTM ``params`` with the effective forget-gate bias set (see the module docstring).

    Args:
        params: PyTorch-named LSTM parameters with ``bias_ih_l0`` and ``bias_hh_l0`` ``(4H,)``.
        forget_bias: the effective bias ``b_f`` (a number, the same for every unit) or ``"chrono"``.
        t_max: chrono's ``T_max`` (required for ``"chrono"``).
        rng: chrono's random stream (required for ``"chrono"``).

    Returns:
        New arrays: ``bias_ih[H:2H] = b_f``, ``bias_hh[H:2H] = 0``; for chrono also
        ``bias_ih[0:H] = -b_f``, ``bias_hh[0:H] = 0``. Everything else is unchanged.
    """
    out = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    if "bias_ih_l0" not in out or "bias_hh_l0" not in out:
        raise ConfigError("a forget-gate bias needs an LSTM with biases (bias_ih_l0 and bias_hh_l0)")
    hidden = out["weight_hh_l0"].shape[1]
    if out["bias_ih_l0"].shape != (4 * hidden,):
        shape = out["bias_ih_l0"].shape
        raise ConfigError(f"forget_bias applies to the LSTM (4 gates), got bias_ih_l0 of shape {shape}")
    f = slice(LSTM_FORGET_GATE * hidden, (LSTM_FORGET_GATE + 1) * hidden)
    i = slice(LSTM_INPUT_GATE * hidden, (LSTM_INPUT_GATE + 1) * hidden)
    if forget_bias == "chrono":
        if t_max is None or rng is None:
            raise ConfigError("chrono initialisation needs t_max and a random generator")
        b_f = chrono_forget_bias(hidden, t_max, rng)
        out["bias_ih_l0"][f], out["bias_hh_l0"][f] = b_f, 0.0
        out["bias_ih_l0"][i], out["bias_hh_l0"][i] = -b_f, 0.0
        return out
    if isinstance(forget_bias, str) or not math.isfinite(float(forget_bias)):
        raise ConfigError(f"forget_bias must be a finite number or 'chrono', got {forget_bias!r}")
    out["bias_ih_l0"][f], out["bias_hh_l0"][f] = float(forget_bias), 0.0
    return out
