"""Results' configurations in words, for titles, legends and captions: ``"Gaussian init, gain 1.5"``.

The words are in the current language (:mod:`gradscope.i18n`); a result's JSON never holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradscope.compile.cache import compile_cell
from gradscope.errors import UnknownCellError
from gradscope.i18n import N_, _, ngettext

#: How each random initialisation is named in titles.
INIT_TITLES = {
    "pytorch": N_("PyTorch default init"),
    "gaussian": N_("Gaussian init"),
    "orthogonal": N_("orthogonal init"),
    "identity": N_("identity init (IRNN)"),
    "xavier": N_("Xavier uniform init"),
    "chrono": N_("chrono init"),
}
#: The keep gates' bias options and their symbols (LSTM forget gate, GRU update gate).
GATE_BIAS_SYMBOLS = {"forget_bias": "b_f", "update_bias": "b_z"}
#: The verdicts in words (the JSON keeps the English word as its value, in every language).
VERDICT_WORDS = {"vanishing": N_("vanishing"), "stable": N_("stable"), "exploding": N_("exploding")}
#: The matrix norms in words.
NORM_WORDS = {"spectral": N_("spectral"), "frobenius": N_("frobenius")}


def init_text(init: str, gain: float = 1.0) -> str:
    """``"PyTorch default init"``, ``"Gaussian init, gain 1.5"``, ..."""
    title = _(INIT_TITLES[init]) if init in INIT_TITLES else _("{init} init").format(init=init)
    return title if float(gain) == 1.0 else _("{init}, gain {gain}").format(init=title, gain=f"{float(gain):g}")


def describe_config(config: Mapping[str, Any]) -> str:
    """How a result got its parameters: the init (and gain) of random ones, or ``"given weights"``, then the
    model options that changed them (:func:`model_text`): ``"PyTorch default init, b_f = 2, 2 layers"``."""
    if config.get("params") == "random":
        origin = init_text(str(config.get("init", "pytorch")), float(config.get("gain", 1.0)))
    else:
        origin = _("given weights")
    extra = model_text(config)
    return f"{origin}, {extra}" if extra else origin


def model_text(config: Mapping[str, Any]) -> str:
    """The keep gate's bias and the structure a result's ``config`` records, in words; ``""`` when none.

    ``"b_f = 2"``, ``"chrono b_z, T_max = 400"`` (``"T_max = 400"`` alone after ``init chrono``), ``"2 layers,
    bidirectional"``.
    """
    parts = []
    for option, symbol in GATE_BIAS_SYMBOLS.items():
        value = config.get(option)
        if value == "chrono" and config.get("init") == "chrono":
            parts.append(f"T_max = {config.get('t_max')}")
        elif value == "chrono":
            parts.append(_("chrono {symbol}, T_max = {t_max}").format(symbol=symbol, t_max=config.get("t_max")))
        elif value is not None:
            parts.append(f"{symbol} = {float(value):g}")
    layers = int(config.get("num_layers", 1))
    if layers > 1:
        parts.append(ngettext("{count} layer", "{count} layers", layers).format(count=layers))
    if config.get("bidirectional"):
        parts.append(_("bidirectional"))
    return ", ".join(parts)


def verdict_word(verdict: str) -> str:
    """``"vanishing"``, ``"stable"`` or ``"exploding"`` in the current language (any other word as it is)."""
    return _(VERDICT_WORDS[verdict]) if verdict in VERDICT_WORDS else verdict


def norm_word(norm: str) -> str:
    """``"spectral"`` or ``"frobenius"`` in the current language (a norm as the report names it)."""
    return _(NORM_WORDS[norm]) if norm in NORM_WORDS else norm


def cell_title(cell: str) -> str:
    """A cell's display name by its name (``"tanh RNN"``, ``"LSTM"``); the name itself when it is not registered."""
    try:
        return compile_cell(cell).spec.display_name
    except UnknownCellError:
        return cell
