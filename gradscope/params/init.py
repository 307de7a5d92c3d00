"""Random parameters, reproducible from a seed: PyTorch's default and the other inits, and the gate biases.

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

Update-gate bias (PyTorch's GRU, gate order ``r, z, n``; chunk ``z`` is rows ``H:2H``)
-----------------------------------------------------------------------------------
PyTorch's GRU is ``h' = (1 - z) * n + z * h``: ``z`` is the share of ``h_{t-1}`` it *keeps*, the role
the forget gate plays in the LSTM. ``update_bias`` is the effective ``b_z = bias_ih[H:2H] +
bias_hh[H:2H]``, written like the forget-gate bias (``bias_hh[H:2H] = 0``); so a *larger* value
keeps more of ``h_{t-1}`` (``b_z -> +inf``: ``h' = h``). Chrono for the GRU follows the same
principle in this convention: ``b_z ~ log(U(1, T_max - 1))`` (``z = sigmoid(b_z)`` keeps ``h`` for
about ``exp(b_z) + 1`` steps, as ``f`` keeps ``c``), nothing else changed.
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
INITS = ("pytorch", "gaussian", "orthogonal", "identity", "xavier", "chrono")
#: The cells chrono initialisation sets the gate biases of (their keep gate: LSTM ``f``, GRU ``z``).
CHRONO_CELLS = ("lstm", "gru")
#: LSTM gate chunks in PyTorch's order ``i, f, g, o``.
LSTM_INPUT_GATE = 0
LSTM_FORGET_GATE = 1
#: GRU gate chunk ``z`` in PyTorch's order ``r, z, n``.
GRU_UPDATE_GATE = 1
#: Second seed word of the independent stream chrono initialisation draws from.
CHRONO_STREAM = 0xC4


def check_init(init: str, gain: float) -> float:
    """``gain`` as a float, after checking it and the ``init`` name; :class:`ConfigError` otherwise."""
    check_choice("init", init, INITS)
    return check_scale("gain", gain)


def check_init_fits(cell: CellSpec, init: str) -> None:
    """:class:`ConfigError` naming ``init`` when it cannot draw ``cell``'s parameters (chrono: LSTM and GRU
    only; xavier: a recurrent *matrix*, not IndRNN's per-unit vector)."""
    if init == "chrono" and cell.name not in CHRONO_CELLS:
        raise ConfigError(
            f"init chrono sets the keep gate's bias of the lstm (f) or the gru (z); the {cell.name} cell has none"
        )
    if init == "xavier" and cell.recurrent.kind == "per-unit":
        raise ConfigError(
            f"init xavier needs a recurrent weight matrix; the {cell.name} cell's is per-unit (a vector): "
            "use gaussian, orthogonal or identity"
        )


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
    * ``"identity"``: IRNN (Le, Jaitly & Hinton 2015, meant for the ReLU RNN): each ``W_hg`` is ``gain * I``
      and every bias zero; the input weights PyTorch's default.
    * ``"xavier"``: the whole stored recurrent weight ``(G*H, R)`` is Glorot uniform, as
      ``torch.nn.init.xavier_uniform_(weight_hh_l0, gain)``: ``U(-a, a)``, ``a = gain * sqrt(6 / (R + G*H))``
      (fan-in R, fan-out G*H); the rest PyTorch's default.
    * ``"chrono"``: PyTorch's default times ``gain``; the caller then sets chrono's gate biases
      (:func:`set_forget_bias`, :func:`set_update_bias`; :func:`gradscope.make_problem` does).

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
    check_init_fits(cell, init)
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
            if init in ("pytorch", "chrono"):
                drawn = {name: gain * value for name, value in drawn.items()}
            elif names.recurrent_weight in drawn:
                redraw_recurrent(cell, drawn, names.recurrent_weight, hidden_size, init, gain, rng)
            if init == "identity":  # IRNN: no biases either (Le et al. 2015)
                drawn |= {name: np.zeros_like(value) for name, value in drawn.items() if name.startswith("bias")}
            params |= {name + suffix: value for name, value in drawn.items()}
    return params


def redraw_recurrent(
    cell: CellSpec,
    drawn: dict[str, np.ndarray],
    name: str,
    hidden_size: int,
    init: str,
    gain: float,
    rng: np.random.Generator,
) -> None:
    """Replace the stored recurrent weight ``drawn[name]`` for ``init`` (not ``"pytorch"``), in place."""
    if init == "xavier":
        drawn[name] = xavier_uniform(drawn[name].shape, gain, rng)
    elif cell.recurrent.kind == "per-unit":
        draw_per_unit(drawn[name], init, gain, rng)
    else:
        draw_recurrent_blocks(drawn[name].reshape(cell.num_gates, hidden_size, -1), init, gain, rng)


def draw_recurrent_blocks(blocks: np.ndarray, init: str, gain: float, rng: np.random.Generator) -> None:
    """Redraw the recurrent blocks ``(G, rows, cols)`` in place, one after another, for ``init``.

    ``"gaussian"``: ``N(0, gain^2 / cols)`` (variance over the fan-in); ``"orthogonal"``: ``gain``
    times :func:`haar_semi_orthogonal`; ``"identity"``: ``gain`` times the ``(rows, cols)`` identity (no draw).
    """
    _, rows, cols = blocks.shape
    for g in range(blocks.shape[0]):
        if init == "identity":
            blocks[g] = gain * np.eye(rows, cols)
        elif init == "gaussian":
            blocks[g] = rng.normal(0.0, gain / np.sqrt(cols), size=(rows, cols))
        else:
            blocks[g] = gain * haar_semi_orthogonal(rows, cols, rng)


def draw_per_unit(weights: np.ndarray, init: str, gain: float, rng: np.random.Generator) -> None:
    """Redraw per-unit recurrent weights ``(G*H,)`` in place: ``"gaussian"`` ``N(0, gain^2)`` (the fan-in
    is 1), ``"orthogonal"`` ``+-gain`` with random signs (a diagonal orthogonal matrix times ``gain``:
    every singular value is ``gain``, as for the full matrices), ``"identity"`` all ``gain`` (no draw)."""
    if init == "identity":
        weights[...] = gain
    elif init == "gaussian":
        weights[...] = rng.normal(0.0, gain, size=weights.shape)
    else:
        weights[...] = gain * rng.choice((-1.0, 1.0), size=weights.shape)


def xavier_uniform(shape: tuple[int, ...], gain: float, rng: np.random.Generator) -> np.ndarray:
    """Glorot uniform ``(rows, cols)`` as ``torch.nn.init.xavier_uniform_``: ``U(-a, a)``,
    ``a = gain * sqrt(6 / (cols + rows))`` (fan-in ``cols``, fan-out ``rows``)."""
    rows, cols = shape
    bound = gain * math.sqrt(6.0 / (rows + cols))
    return rng.uniform(-bound, bound, size=shape)


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
    """Chrono initialisation's keep-gate bias ``b = log(U(1, T_max - 1))``, ``(H,)`` (LSTM b_f, GRU b_z).

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


def set_update_bias(
    params: Mapping[str, np.ndarray],
    update_bias: float | str,
    *,
    t_max: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """A copy of GRU ``params`` with the effective update-gate bias set (see the module docstring).

    Args:
        params: PyTorch-named GRU parameters with ``bias_ih_l0`` and ``bias_hh_l0`` ``(3H,)``.
        update_bias: the effective bias ``b_z`` (a number, the same for every unit; larger keeps more of
            ``h_{t-1}``, since ``h' = (1 - z) * n + z * h``) or ``"chrono"`` (``b_z = log(U(1, T_max - 1))``).
        t_max: chrono's ``T_max`` (required for ``"chrono"``).
        rng: chrono's random stream (required for ``"chrono"``).

    Returns:
        New arrays: ``bias_ih[H:2H] = b_z``, ``bias_hh[H:2H] = 0``; everything else unchanged.
    """
    out = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    if "bias_ih_l0" not in out or "bias_hh_l0" not in out:
        raise ConfigError("an update-gate bias needs a GRU with biases (bias_ih_l0 and bias_hh_l0)")
    hidden = out["weight_hh_l0"].shape[1]
    if out["bias_ih_l0"].shape != (3 * hidden,):
        shape = out["bias_ih_l0"].shape
        raise ConfigError(f"update_bias applies to the GRU (3 gates), got bias_ih_l0 of shape {shape}")
    z = slice(GRU_UPDATE_GATE * hidden, (GRU_UPDATE_GATE + 1) * hidden)
    if update_bias == "chrono":
        if t_max is None or rng is None:
            raise ConfigError("chrono initialisation needs t_max and a random generator")
        out["bias_ih_l0"][z], out["bias_hh_l0"][z] = chrono_forget_bias(hidden, t_max, rng), 0.0
        return out
    if isinstance(update_bias, str) or not math.isfinite(float(update_bias)):
        raise ConfigError(f"update_bias must be a finite number or 'chrono', got {update_bias!r}")
    out["bias_ih_l0"][z], out["bias_hh_l0"][z] = float(update_bias), 0.0
    return out
