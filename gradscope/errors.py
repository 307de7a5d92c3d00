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
    """A formula string that is not in the formula language; the message names the offending token."""
