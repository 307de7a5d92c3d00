"""Numbers in JSON documents: the one encoder every result's ``to_dict`` uses.

JSON has no infinities or NaN: an exactly zero norm (``log10 = -inf``), an exploding one past
float64's range, or an exponent that could not be estimated is ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def json_number(value: float) -> float | None:
    """``value`` as a JSON number, ``None`` where it is not finite."""
    number = float(value)
    return number if math.isfinite(number) else None


def json_numbers(values: Iterable[float]) -> list[float | None]:
    """Each value as :func:`json_number`."""
    return [json_number(v) for v in values]
