"""gradscope: exact, symbolic-to-numeric analysis of gradients through time in recurrent cells.

SymPy derives the per-step Jacobian ``J_t = d s_t / d s_{t-1}`` of a cell, NumPy multiplies the
Jacobians through time without overflow and measures ``||d s_T / d s_{T-k}||`` at every lag k.

>>> import gradscope
>>> result = gradscope.analyze("lstm", hidden_size=16, steps=50)
>>> result.verdict in {"vanishing", "stable", "exploding"}
True

Every command has its function here, returning the frozen result its figure takes:
:func:`analyze`, :func:`explain`, :func:`compare`, :func:`analyze_ensemble`, :func:`lyapunov`, :func:`sweep`,
:func:`derive`, :func:`check_formula`, :func:`verify`, :func:`build_gallery`, :func:`analyze_checkpoints`
(``gradscope training``, over :class:`Checkpoint` values); :func:`make_problem`
builds the :class:`Problem` they all take. The SymPy side (``Cell``, ``CELLS``, ``get_cell``,
``derive``, ``Derivation``, ``JacobianBlock``, ``check_formula``) and the sweeps are imported on first use, so that
``import gradscope`` and the command line start quickly. Inside Jupyter every result shows its
report and figure (:mod:`gradscope.notebook`; ``%load_ext gradscope`` elsewhere in IPython). The packages,
one per layer, are described in ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

from gradscope._version import __version__
from gradscope.analysis import (
    SCHEMA,
    Analysis,
    Comparison,
    Ensemble,
    EnsembleComparison,
    Explanation,
    LyapunovSpectrum,
    Problem,
    Thresholds,
    analyze,
    analyze_ensemble,
    compare,
    explain,
    lyapunov,
    make_problem,
)
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
    "Cell": "gradscope.cells.cell",
    "get_cell": "gradscope.cells.builtin",
    "Derivation": "gradscope.symbolic.derivation",
    "JacobianBlock": "gradscope.symbolic.derivation",
    "derive": "gradscope.symbolic.derivation",
    "check_formula": "gradscope.testing.formula_check",
    "load_cell": "gradscope.cells.file",
    "read_cell_file": "gradscope.cells.file",
    "CellFileError": "gradscope.errors",
    "sweep": "gradscope.studies.sweeps",
    "SweepResult": "gradscope.studies.sweep_result",
    "analyze_checkpoints": "gradscope.studies.training",
    "Checkpoint": "gradscope.studies.training",
    "TrainingSeries": "gradscope.studies.training",
    "verify": "gradscope.testing.verification",
    "build_gallery": "gradscope.gallery",
}


#: Modules of the former flat layout that earlier documentation named, and where they live now.
MOVED = {
    "gradscope.ensemble": "gradscope.analysis.ensemble",
    "gradscope.checkpoints": "gradscope.files.checkpoints",
    "gradscope.products": "gradscope.engine.products",
    "gradscope.codegen": "gradscope.compile.codegen",
}


def __getattr__(name: str) -> Any:
    """The SymPy-side and study names, imported on first use; the former flat modules, with a warning."""
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    if f"gradscope.{name}" in MOVED:
        return importlib.import_module(f"gradscope.{name}")
    raise AttributeError(f"module 'gradscope' has no attribute {name!r}")


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import gradscope.products`` keeps working: the module is the one at its new path, with a warning."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> Any:
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: Any) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module was executed at its new path."""


sys.meta_path.append(_MovedModules())


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gradscope``: results show their report and figure in this IPython (see :mod:`gradscope.notebook`)."""
    from gradscope.notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext gradscope``: results show as plain objects again."""
    from gradscope.notebook import unload_ipython_extension as unload

    unload(ipython)


# Inside a running IPython (a Jupyter kernel) results show themselves at once. The check costs nothing
# elsewhere: a script that never imported IPython never imports it here, nor gradscope.notebook.
if "IPython" in sys.modules:
    from gradscope.notebook import activate as _activate_notebook

    _activate_notebook()


__all__ = [
    "ALL_CELL_NAMES",
    "CELLS",
    "CELL_NAMES",
    "SCHEMA",
    "Analysis",
    "Cell",
    "CellFileError",
    "CellSpec",
    "Checkpoint",
    "Comparison",
    "ConfigError",
    "Derivation",
    "Ensemble",
    "EnsembleComparison",
    "Explanation",
    "GradscopeError",
    "JacobianBlock",
    "LyapunovSpectrum",
    "NonFiniteError",
    "ParameterError",
    "Problem",
    "ShapeError",
    "SweepResult",
    "Thresholds",
    "TrainingSeries",
    "UnknownCellError",
    "__version__",
    "analyze",
    "analyze_checkpoints",
    "analyze_ensemble",
    "build_gallery",
    "check_formula",
    "compare",
    "derive",
    "explain",
    "get_cell",
    "load_cell",
    "lyapunov",
    "make_problem",
    "read_cell_file",
    "sweep",
    "verify",
]
