"""The README's building blocks: one :class:`Section` per figure, markdown tables and number formatting."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gradscope.analysis import Analysis
    from gradscope.gallery.sizes import GallerySizes


@dataclass
class Section:
    """One figure of the gallery and its README entry.

    Attributes:
        name: the file stem, e.g. ``"profile-rnn"`` (``profile-rnn.png`` and ``profile-rnn.svg``).
        title: the section's heading.
        caption: the text under the figure, its numbers computed.
        figure: the figure; ``None`` once rendered.
        commands: shell commands that reproduce the figure exactly.
        python: Python that reproduces it, where no command draws it; its last line is the figure.
        table: the key numbers, markdown.
    """

    name: str
    title: str
    caption: str
    figure: Figure | None
    commands: list[str] = field(default_factory=list)
    python: str = ""
    table: str = ""


def number(value: float, spec: str) -> str:
    """``value`` formatted with ``spec``, or ``-inf``/``inf``/``n/a`` when not finite."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return format(value, spec)


def log10_text(value: float) -> str:
    """A log10 value for tables: one decimal from 10 on, two below (``-218.4``, ``-4.85``, ``-0.01``)."""
    if not math.isfinite(value):
        return number(value, "")
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None) -> str:
    """A GitHub markdown table; ``align`` is one character per column (``l`` or ``r``; default: the first
    column left, the others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


#: The columns of :func:`analysis_row`.
ANALYSIS_HEADER = ["configuration", "rate / step", "e-folding lag (steps)", "log10 ‖∂s_T/∂s_0‖", "verdict"]


def analysis_row(name: str, analysis: Analysis) -> list[str]:
    """One table row of an analysis under :data:`ANALYSIS_HEADER`: rate, e-folding lag, end-to-end norm, verdict."""
    return [
        name,
        number(analysis.rate_per_step, "+.4f"),
        number(analysis.efolding_lag, ".3g"),
        log10_text(analysis.final_log10_norm),
        analysis.verdict,
    ]


def python_list(values: Sequence[Any]) -> str:
    """``values`` as a Python list literal, ``[8, 16, 32]``."""
    return "[" + ", ".join(repr(v) for v in values) + "]"


def sentence(text: str) -> str:
    """``text`` with its first letter capitalised and the rest untouched (``str.capitalize`` lowers "RNN")."""
    return text[:1].upper() + text[1:]


def cli_sizes(sizes: GallerySizes) -> str:
    """The size and seed options shared by the gallery's commands."""
    return (
        f"--hidden-size {sizes.hidden_size} --input-size {sizes.input_size} --steps {sizes.steps} --seed {sizes.seed}"
    )
