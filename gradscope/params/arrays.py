"""The checks every parameter, size and option goes through: one function per concept."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gradscope.errors import ConfigError, NonFiniteError, ParameterError, ShapeError


def check_size(name: str, value: object) -> int:
    """``value`` as a positive ``int``, or a :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ConfigError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_count(name: str, value: object) -> int:
    """``value`` as a non-negative ``int`` (a seed, a number of steps to skip), or a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_scale(name: str, value: object) -> float:
    """``value`` as a finite ``float >= 0`` (a gain, an input scale), or a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a :class:`ConfigError` listing them."""
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r} (valid: {', '.join(choices)})")
    return str(value)


def as_float_array(name: str, value: object, dtype: type = np.float64) -> np.ndarray:
    """``value`` (NumPy array, nested list or CPU tensor) as a finite float array, or a clear error."""
    if hasattr(value, "detach"):  # a torch.Tensor: no torch import needed
        value = value.detach().cpu().numpy()
    if np.iscomplexobj(value):  # np.asarray(..., float) would drop the imaginary part with only a warning
        raise ParameterError(f"{name}: complex values cannot be represented (the imaginary part would be lost)")
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"{name}: cannot be read as a float array ({error})") from error
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise NonFiniteError(f"{name}: contains {bad} NaN or infinite value{'s' if bad != 1 else ''}")
    return array


def check_shape(name: str, array: np.ndarray, expected: tuple[int, ...]) -> None:
    if array.shape != expected:
        raise ShapeError(f"{name}: expected shape {expected}, got {array.shape}")
