"""Results' configurations in words, for titles, legends and captions: ``"Gaussian init, gain 1.5"``.

The words are in the current language (:mod:`gradscope.i18n`); a result's JSON never holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradscope.compile.cache import compile_cell
from gradscope.errors import UnknownCellError
from gradscope.i18n import N_, _

#: How each random initialisation is named in titles.
INIT_TITLES = {
    "pytorch": N_("PyTorch default init"),
    "gaussian": N_("Gaussian init"),
    "orthogonal": N_("orthogonal init"),
}
#: The verdicts in words (the JSON keeps the English word as its value, in every language).
VERDICT_WORDS = {"vanishing": N_("vanishing"), "stable": N_("stable"), "exploding": N_("exploding")}
#: The matrix norms in words.
NORM_WORDS = {"spectral": N_("spectral"), "frobenius": N_("frobenius")}


def init_text(init: str, gain: float = 1.0) -> str:
    """``"PyTorch default init"``, ``"Gaussian init, gain 1.5"``, ..."""
    title = _(INIT_TITLES[init]) if init in INIT_TITLES else _("{init} init").format(init=init)
    return title if float(gain) == 1.0 else _("{init}, gain {gain}").format(init=title, gain=f"{float(gain):g}")


def describe_config(config: Mapping[str, Any]) -> str:
    """How a result got its parameters: the init (and gain) of random ones, or ``"given weights"``."""
    if config.get("params") == "random":
        return init_text(str(config.get("init", "pytorch")), float(config.get("gain", 1.0)))
    return _("given weights")


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
