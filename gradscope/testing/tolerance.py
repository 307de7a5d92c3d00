"""Tolerances of the BPTT checks: one table, by the dtype of the gradient checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """An entry passes when ``|actual - expected| <= atol + rtol * |expected|``."""

    rtol: float
    atol: float


#: Default tolerances, by the dtype of the gradient being checked (the one table). The reference is
#: exact, so these only allow for the rounding of a correct implementation in that precision.
#: ``atol`` is absolute: for losses of a very different scale than O(1), pass your own.
DEFAULT_TOLERANCES: Mapping[str, Tolerance] = MappingProxyType(
    {
        "float64": Tolerance(rtol=1e-7, atol=1e-10),
        "float32": Tolerance(rtol=1e-4, atol=1e-6),
        "float16": Tolerance(rtol=1e-2, atol=1e-3),
        "bfloat16": Tolerance(rtol=5e-2, atol=1e-2),
    }
)


def default_tolerance(dtype: object) -> Tolerance:
    """The :data:`DEFAULT_TOLERANCES` row for ``dtype`` (a name or NumPy dtype); float64's for others."""
    try:
        name = dtype if isinstance(dtype, str) else str(np.dtype(dtype))  # type: ignore[call-overload]
    except TypeError:
        name = str(dtype).removeprefix("torch.")
    return DEFAULT_TOLERANCES.get(name, DEFAULT_TOLERANCES["float64"])
