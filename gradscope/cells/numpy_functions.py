"""NumPy implementations of the activation heads that lambdified cell code calls by name.

Kept free of SymPy so that the shipped generated code (:mod:`gradscope.compile.generated`) imports
quickly; :data:`gradscope.cells.activations.NUMPY_FUNCTIONS` maps the SymPy heads to these.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic sigmoid: ``0.5 (1 + tanh(x / 2))`` never takes ``exp`` of a large number."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def Heaviside(x: np.ndarray, at_zero: float = 0.0) -> np.ndarray:  # noqa: N802 - SymPy's name
    """Step function; ``at_zero`` is its value at 0 (``Heaviside(x, 0)`` is ReLU's derivative in PyTorch)."""
    return np.heaviside(x, at_zero)
