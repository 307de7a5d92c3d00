"""gradscope: exact, symbolic-to-numeric analysis of gradients through time in recurrent cells.

SymPy derives the per-step Jacobian ``J_t = d s_t / d s_{t-1}`` of a cell, NumPy multiplies the
Jacobians through time without overflow and measures ``||d s_T / d s_{T-k}||`` at every lag k.

>>> import gradscope
>>> result = gradscope.analyze("lstm", hidden_size=16, steps=50)
>>> result.verdict in {"vanishing", "stable", "exploding"}
True

The SymPy side (:mod:`gradscope.cells`, :mod:`gradscope.symbolic`) is imported on first use of
``Cell``, ``CELLS``, ``get_cell``, ``derive``, ``Derivation`` or ``JacobianBlock``, so that
``import gradscope`` and the command line start quickly.
"""

from __future__ import annotations

import importlib
from typing import Any

from gradscope._version import __version__
from gradscope.analysis import SCHEMA, Analysis, analyze
from gradscope.cellspec import ALL_CELL_NAMES, CELL_NAMES, CellSpec
from gradscope.errors import (
    ConfigError,
    GradscopeError,
    NonFiniteError,
    ParameterError,
    ShapeError,
    UnknownCellError,
)
from gradscope.summary import Thresholds

_LAZY = {
    "CELLS": "gradscope.cells",
    "Cell": "gradscope.cells",
    "get_cell": "gradscope.cells",
    "Derivation": "gradscope.symbolic",
    "JacobianBlock": "gradscope.symbolic",
    "derive": "gradscope.symbolic",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gradscope' has no attribute {name!r}")


__all__ = [
    "ALL_CELL_NAMES",
    "CELLS",
    "CELL_NAMES",
    "SCHEMA",
    "Analysis",
    "Cell",
    "CellSpec",
    "ConfigError",
    "Derivation",
    "GradscopeError",
    "JacobianBlock",
    "NonFiniteError",
    "ParameterError",
    "ShapeError",
    "Thresholds",
    "UnknownCellError",
    "__version__",
    "analyze",
    "derive",
    "get_cell",
]
