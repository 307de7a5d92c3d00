"""Activation functions of the cell equations: SymPy heads and their NumPy twins.

SymPy has ``tanh`` but no logistic sigmoid or ReLU as first-class functions. Writing the sigmoid
as ``1/(1+exp(-x))`` would make every derivative an unreadable ratio of exponentials, so the
sigmoid and ReLU are SymPy functions of their own whose derivatives are given in closed form
(``sigmoid' = sigmoid (1 - sigmoid)``, ``relu' = Heaviside(x, 0)``). :data:`NUMPY_FUNCTIONS` is the
one table that maps them to NumPy for ``lambdify``.
"""

from __future__ import annotations

import sympy

from gradscope.cells import numpy_functions as npfunctions


class sigmoid(sympy.Function):  # noqa: N801 - SymPy function heads are lower case
    """Logistic sigmoid ``1 / (1 + exp(-x))``; its derivative is ``sigmoid(x) (1 - sigmoid(x))``."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        value = sigmoid(self.args[0])
        return value * (1 - value)

    def _latex(self, printer: sympy.printing.latex.LatexPrinter) -> str:
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


class relu(sympy.Function):  # noqa: N801
    """Rectified linear unit ``max(x, 0)``; derivative ``Heaviside(x, 0)`` (0 at 0, as in PyTorch)."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sympy.Heaviside(self.args[0], 0)


#: How ``lambdify`` turns the heads used in cell equations into NumPy (first in its module list).
NUMPY_FUNCTIONS: dict[str, object] = {
    "sigmoid": npfunctions.sigmoid,
    "relu": npfunctions.relu,
    "Heaviside": npfunctions.Heaviside,
}
