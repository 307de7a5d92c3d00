"""The values of a cell's gates, compiled: every named quantity that is a sigmoid, tanh or ReLU of something.

A gate here is a definition of the cell whose whole expression is one activation applied to an
argument (the LSTM's ``i, f, g, o``, the GRU's ``r, z, n``, the RNN's ``h``); its value and its
activation's derivative tell how open it is and whether it saturates. Found in the cell's equations
(any cell gradscope derives: built-in, zoo, files) and lambdified once per cell and process through
the one ``lambdify`` site, :func:`gradscope.compile.codegen.lambdify_expressions`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gradscope.cells.cell import Cell

#: The activations whose gates are reported, by SymPy head name.
ACTIVATIONS = ("sigmoid", "tanh", "relu")


@dataclass(frozen=True)
class GateFunctions:
    """The gates of a cell and one function giving their pre-activations.

    Attributes:
        names: the gates' names (``"f"`` for the definition ``f_t``), in definition order.
        activations: each gate's activation, one of :data:`ACTIVATIONS`.
        arguments_function: ``(u_g..., m_g..., prev_c..., vectors...) -> [argument of each gate]``.
    """

    names: tuple[str, ...]
    activations: tuple[str, ...]
    arguments_function: Callable[..., object]

    def arguments(self, u: np.ndarray, m: np.ndarray, prev: np.ndarray, vectors: np.ndarray | None) -> np.ndarray:
        """The gates' pre-activations ``(..., K, H)`` from ``u``, ``m`` ``(..., G, H)`` and ``prev`` ``(..., C, H)``."""
        shape = (*np.broadcast_shapes(u.shape[:-2], m.shape[:-2], prev.shape[:-2]), u.shape[-1])
        values = [u[..., k, :] for k in range(u.shape[-2])] + [m[..., k, :] for k in range(m.shape[-2])]
        values += [prev[..., k, :] for k in range(prev.shape[-2])]
        values += [] if vectors is None else list(vectors)
        if not self.names:  # a cell none of whose definitions is one activation (JANET, coRNN): no gates
            return np.empty((*shape[:-1], 0, shape[-1]))
        results = self.arguments_function(*values)
        return np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), shape) for v in results], axis=-2)


@functools.cache
def gate_functions(cell: Cell) -> GateFunctions:
    """The gates of ``cell`` (a :class:`~gradscope.cells.Cell`), compiled once per cell and process."""
    import sympy

    from gradscope.compile.codegen import lambdify_expressions
    from gradscope.symbolic.derivation import derive, expand

    names, activations, expressions = [], [], []
    for symbol, definition in cell.definitions:
        head = type(definition).__name__ if isinstance(definition, sympy.Function) else ""
        if head in ACTIVATIONS and len(definition.args) == 1:
            names.append(str(symbol).removesuffix("_t"))
            activations.append(head)
            expressions.append(expand(cell, definition.args[0]))
    arguments = derive(cell).arguments
    function = lambdify_expressions(arguments, expressions) if expressions else (lambda *_: [])
    return GateFunctions(tuple(names), tuple(activations), function)
