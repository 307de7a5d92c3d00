"""The gradscope error family.

Every error a user can cause derives from :class:`GradscopeError`, so the CLI can turn all of
them into one clean line on stderr and exit code 2. Each also derives from the built-in
exception a Python user would expect (``ValueError``, ``KeyError`` is avoided on purpose since
its ``str`` adds quotes), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class GradscopeError(Exception):
    """Base class of every error caused by bad input to gradscope."""


class UnknownCellError(GradscopeError, ValueError):
    """A cell name that is not registered."""


class ParameterError(GradscopeError, ValueError):
    """Missing, unexpected or malformed parameters (names, shapes, dtypes)."""


class ShapeError(ParameterError):
    """An array whose shape is not the expected one."""


class NonFiniteError(GradscopeError, ValueError):
    """NaN or infinity in an input array."""


class ConfigError(GradscopeError, ValueError):
    """An invalid option value (sizes, steps, norm, dtype, init, ...)."""


class CheckpointError(GradscopeError, ValueError):
    """A checkpoint file that cannot be read, or that holds no (or several) recurrent modules."""


class FormulaError(GradscopeError, ValueError):
    """A formula string that is not in the formula language; the message names the offending token.

    Where the problem is one place of the formula, ``reason`` says what is wrong there (one line),
    ``expression`` is the formula, ``position`` the offset of the offending token in it (-1: none),
    and ``where`` which formula of a cell it is (``"equation of c"``), when it is one.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        expression: str | None = None,
        position: int = -1,
        where: str = "",
    ) -> None:
        super().__init__(message)
        self.reason = reason if reason is not None else message
        self.expression = expression
        self.position = position
        self.where = where


class CellFileError(ConfigError):
    """A cell file (TOML) that cannot be read or does not define a cell; the message names the file and the key."""


class CellCheckError(ConfigError):
    """A cell whose derived derivatives disagree with finite differences of its own update, or are not finite."""


class DivergenceError(NonFiniteError):
    """A value computed on the way (a state of the forward pass, a projection, a Jacobian, an exponent) that is
    not finite: the message names the cell, the step and the quantity, and what can still be analysed."""
