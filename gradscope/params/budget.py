"""The memory budget: sizes, steps and the arrays a file declares are checked against it before anything is
allocated or decompressed, so that a huge ``--hidden-size`` or a small file that expands to gigabytes is a
one-line error saying what would be needed, not a ``MemoryError`` half-way.

The budget is ``GRADSCOPE_MEMORY_BUDGET`` (bytes, or with a unit: ``512M``, ``8G``), else half the
physical memory (else 8 GiB where that cannot be read).
"""

from __future__ import annotations

import math
import os

from gradscope.errors import ConfigError

#: The environment variable that sets the budget.
BUDGET_ENV = "GRADSCOPE_MEMORY_BUDGET"
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_FALLBACK = 8 * 1024**3


def memory_budget() -> int:
    """The budget in bytes: :data:`BUDGET_ENV`, else half the physical memory."""
    text = os.environ.get(BUDGET_ENV, "").strip().upper().removesuffix("B").removesuffix("I")
    if text:
        unit = text[-1] if text[-1] in _UNITS else ""
        number = text[: -1 if unit else None]
        try:
            value = float(number) * _UNITS[unit]
        except ValueError:
            raise ConfigError(f"{BUDGET_ENV}={os.environ[BUDGET_ENV]!r}: expected bytes such as 4G or 512M") from None
        if not 0 < value < math.inf:
            raise ConfigError(f"{BUDGET_ENV}={os.environ[BUDGET_ENV]!r}: must be a positive, finite number of bytes")
        return int(value)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2
    except (ValueError, OSError, AttributeError):
        return _FALLBACK


def format_bytes(count: float) -> str:
    """``"3.2 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} PiB"  # pragma: no cover


def check_budget(what: str, needed: float) -> None:
    """A :class:`ConfigError` naming ``what`` and the bytes it needs when that exceeds the budget."""
    budget = memory_budget()
    if needed > budget:
        raise ConfigError(
            f"{what} would need about {format_bytes(needed)} of memory, over the budget of {format_bytes(budget)} "
            f"(set {BUDGET_ENV} to change it)"
        )


def problem_bytes(
    hidden_size: int,
    input_size: int,
    steps: int,
    gates: int,
    components: int,
    num_layers: int = 1,
    directions: int = 1,
    output_size: int = 0,
) -> float:
    """Bytes a problem holds, float64: every layer's and direction's weights ``G H (H + width)`` (``width`` the
    input size in the first layer, ``D H`` above it), its forward pass ``2 T (S + G H + width)`` (states,
    projections, inputs) and a few ``S x S`` product matrices, ``S = components * H``; a cell that feeds its
    output back (Jordan's) adds its readout ``2 O H`` and its fed-back state ``y`` (``S = O``)."""
    hidden, state, length = int(hidden_size), int(components) * int(hidden_size), int(steps)
    layers, directions, output = int(num_layers), int(directions), int(output_size)
    if output:
        state = output

    def layer(width: int) -> int:
        return gates * hidden * (hidden + width) + 2 * length * (state + gates * hidden + width)

    # The first layer reads the inputs, the L - 1 above it the D H outputs below (a closed form: L may be huge).
    per_direction = layer(int(input_size)) + (layers - 1) * layer(directions * hidden)
    return 8.0 * (directions * per_direction + 4 * state * state + 2 * output * (hidden + length))


def check_problem_size(
    hidden_size: int,
    input_size: int,
    steps: int,
    gates: int,
    components: int,
    num_layers: int = 1,
    directions: int = 1,
    output_size: int = 0,
) -> None:
    """Check a problem's arrays (:func:`problem_bytes`) against the budget before any is drawn or read; the
    message names the sizes and what they would need."""
    needed = problem_bytes(hidden_size, input_size, steps, gates, components, num_layers, directions, output_size)
    structure = f", {num_layers} layers" if num_layers > 1 else ""
    structure += ", bidirectional" if directions > 1 else ""
    structure += f", output size {output_size}" if output_size else ""
    check_budget(f"hidden size {hidden_size}, input size {input_size}, {steps} steps{structure}", needed)
