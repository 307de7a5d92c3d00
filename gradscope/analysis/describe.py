"""Results' configurations in words, for titles, legends and captions: ``"Gaussian init, gain 1.5"``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradscope.compile.cache import compile_cell
from gradscope.errors import UnknownCellError

#: How each random initialisation is named in titles.
INIT_TITLES = {"pytorch": "PyTorch default init", "gaussian": "Gaussian init", "orthogonal": "orthogonal init"}


def init_text(init: str, gain: float = 1.0) -> str:
    """``"PyTorch default init"``, ``"Gaussian init, gain 1.5"``, ..."""
    return INIT_TITLES.get(init, f"{init} init") + ("" if float(gain) == 1.0 else f", gain {float(gain):g}")


def describe_config(config: Mapping[str, Any]) -> str:
    """How a result got its parameters: the init (and gain) of random ones, or ``"given weights"``."""
    if config.get("params") == "random":
        return init_text(str(config.get("init", "pytorch")), float(config.get("gain", 1.0)))
    return "given weights"


def cell_title(cell: str) -> str:
    """A cell's display name by its name (``"tanh RNN"``, ``"LSTM"``); the name itself when it is not registered."""
    try:
        return compile_cell(cell).spec.display_name
    except UnknownCellError:
        return cell
