"""gradscope: exact, symbolic-to-numeric analysis of gradients through time in recurrent cells.

SymPy derives the per-step Jacobian ``J_t = d s_t / d s_{t-1}`` of a cell, NumPy multiplies the
Jacobians through time without overflow and measures ``||d s_T / d s_{T-k}||`` at every lag k.

>>> import gradscope
>>> result = gradscope.analyze("lstm", hidden_size=16, steps=50)
>>> result.verdict in {"vanishing", "stable", "exploding"}
True

The SymPy side (:mod:`gradscope.cells.builtin`, :mod:`gradscope.symbolic.derivation`) is imported on first use of
``Cell``, ``CELLS``, ``get_cell``, ``derive``, ``Derivation`` or ``JacobianBlock``, so that
``import gradscope`` and the command line start quickly.
"""

from __future__ import annotations

import importlib
from typing import Any

from gradscope._version import __version__
from gradscope.analysis.analyze import SCHEMA, Analysis, analyze
from gradscope.analysis.summary import Thresholds
from gradscope.cells.spec import ALL_CELL_NAMES, CELL_NAMES, CellSpec
from gradscope.errors import (
    ConfigError,
    GradscopeError,
    NonFiniteError,
    ParameterError,
    ShapeError,
    UnknownCellError,
)

_LAZY = {
    "CELLS": "gradscope.cells.builtin",
    "Cell": "gradscope.cells.builtin",
    "get_cell": "gradscope.cells.builtin",
    "Derivation": "gradscope.symbolic.derivation",
    "JacobianBlock": "gradscope.symbolic.derivation",
    "derive": "gradscope.symbolic.derivation",
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
