"""JSON documents: the one number encoder every result's ``to_dict`` uses, and the keys they open with.

JSON has no infinities or NaN: an exactly zero norm (``log10 = -inf``), an exploding one past
float64's range, or an exponent that could not be estimated is ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

from gradscope._version import __version__


class SizedResult(Protocol):
    """A result of one cell at one size: what its document's first keys name."""

    @property
    def cell(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def input_size(self) -> int: ...
    @property
    def steps(self) -> int: ...


def sized_header(schema: str, result: SizedResult) -> dict[str, Any]:
    """The keys a one-cell document opens with: schema, version, cell, state layout and sizes."""
    return {
        "schema": schema,
        "gradscope_version": __version__,
        "cell": result.cell,
        "state": result.state,
        "hidden_size": result.hidden_size,
        "input_size": result.input_size,
        "steps": result.steps,
    }


def json_number(value: float) -> float | None:
    """``value`` as a JSON number, ``None`` where it is not finite."""
    number = float(value)
    return number if math.isfinite(number) else None


def json_numbers(values: Iterable[float]) -> list[float | None]:
    """Each value as :func:`json_number`."""
    return [json_number(v) for v in values]
