"""Cells as data: the light interface (:class:`CellSpec`, the names) and, on first use, the SymPy equations.

:mod:`~gradscope.cells.spec` needs no SymPy; :class:`Cell`, :data:`CELLS` and :func:`get_cell`
(in :mod:`~gradscope.cells.cell` and :mod:`~gradscope.cells.builtin`) import it when first asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from gradscope.cells.spec import ALIASES, ALL_CELL_NAMES, CELL_NAMES, FEEDBACK_CELL_NAMES, CellSpec, resolve_name

_SYMPY_SIDE = {
    "Cell": "gradscope.cells.cell",
    "Readout": "gradscope.cells.cell",
    "u": "gradscope.cells.cell",
    "m": "gradscope.cells.cell",
    "prev": "gradscope.cells.cell",
    "now": "gradscope.cells.cell",
    "readout_projection": "gradscope.cells.cell",
    "CELLS": "gradscope.cells.builtin",
    "get_cell": "gradscope.cells.builtin",
}


def __getattr__(name: str) -> Any:
    if name in _SYMPY_SIDE:
        return getattr(importlib.import_module(_SYMPY_SIDE[name]), name)
    raise AttributeError(f"module 'gradscope.cells' has no attribute {name!r}")


__all__ = [
    "ALIASES",
    "ALL_CELL_NAMES",
    "CELLS",
    "CELL_NAMES",
    "FEEDBACK_CELL_NAMES",
    "Cell",
    "CellSpec",
    "Readout",
    "get_cell",
    "m",
    "now",
    "prev",
    "readout_projection",
    "resolve_name",
    "u",
]
