"""What every report shares: the width, the verdicts' colours, number formatting, the charts.

Numbers are formatted from their ``log10`` where they may leave float64's range; the charts
(:class:`ProfileChart`, :class:`Sparkline`) are rich renderables that use ASCII characters when
the console cannot encode Unicode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from gradscope.i18n import N_, _

if TYPE_CHECKING:
    from gradscope.cells.spec import CellSpec

#: The widest a report gets, whatever the terminal.
REPORT_WIDTH = 100
#: Rows of the profile chart of the ``analyze`` report.
CHART_HEIGHT = 8

VERDICT_STYLES = {"vanishing": "bold cyan", "stable": "bold green", "exploding": "bold red"}
#: Eighth blocks, empty to full: one character cell of a chart column.
_BLOCKS = " ▁▂▃▄▅▆▇█"
_ASCII_BLOCKS = " ..--==##"
#: What the symbols of the derived Jacobian blocks stand for (``analyze`` and ``derive``).
#: (In English: translated where they are shown.)
BLOCK_LEGEND = N_(
    "u_g = (W_ig x_t + b_ig) and m_g = (W_hg h_{t-1} + b_hg) are gate g's input and recurrent "
    "projections; W_hg is gate g's block of rows of weight_hh_l0."
)
FEEDBACK_LEGEND = N_(
    "u_g = (W_ig x_t + b_ig) and m_g = W_yg y_{t-1} are gate g's input and recurrent projections "
    "(W_yg: gate g's rows of weight_yh_l0); r = (W_hy h_t + b_y) is the readout (weight_hy_l0, bias_hy_l0), "
    "and its output y is the state."
)


def block_legend(spec: CellSpec) -> str:
    """What the symbols of the derived blocks stand for (the recurrent projection reads ``y`` in a feedback cell),
    in the current language."""
    return _(FEEDBACK_LEGEND if spec.feedback else BLOCK_LEGEND)


def centred(text: str, width: int) -> str:
    """``text.center(width)`` by the width the terminal shows: a CJK character takes two columns."""
    return text.center(width - (cell_len(text) - len(text)))


# ---------------------------------------------------------------------------------------------
# Numbers


def report_lags(steps: int) -> list[int]:
    """The lags a report tabulates: 1, 2, 5, 10, 20, 50, ... up to ``steps``, and ``steps`` itself."""
    lags: list[int] = []
    decade = 1
    while decade <= steps:
        lags += [k for k in (decade, 2 * decade, 5 * decade) if k <= steps]
        decade *= 10
    if not lags or lags[-1] != steps:
        lags.append(steps)
    return lags


def format_power(log10_value: float, digits: int = 3) -> str:
    """``10 ** log10_value`` in scientific notation, like ``f"{x:.2e}"`` but for any exponent.

    Products of Jacobians leave float64's range (1e-308 .. 1e308) after a few thousand steps, so
    the value is never formed: mantissa and exponent come from the logarithm. ``-inf`` is ``"0"``.
    """
    if math.isnan(log10_value):
        return "nan"
    if math.isinf(log10_value):
        return "0" if log10_value < 0 else "inf"
    exponent = math.floor(log10_value)
    mantissa = round(10.0 ** (log10_value - exponent), digits - 1)
    if mantissa >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.{digits - 1}f}e{exponent:+03d}"


def format_log10(log10_value: float) -> str:
    """A ``log10`` norm with two decimals; ``-inf`` (an exactly zero norm) as ``"-inf"``."""
    return f"{log10_value:.2f}" if math.isfinite(log10_value) else ("-inf" if log10_value < 0 else "inf")


def format_rate(rate: float) -> str:
    """The rate per step of ``ln ||P_k||``, signed, three significant digits."""
    return f"{rate:+.3g}" if math.isfinite(rate) else ("-inf" if rate < 0 else "+inf")


def format_axis(log10_value: float) -> str:
    """A chart's axis label: ``log10`` with one decimal, never ``"-0.0"``."""
    text = f"{log10_value:.1f}"
    return "0.0" if text == "-0.0" else text


def format_steps(steps: float) -> str:
    """A number of steps (an e-folding lag), three significant digits; ``inf`` when it never changes."""
    return f"{steps:.3g}" if math.isfinite(steps) else "inf"


# ---------------------------------------------------------------------------------------------
# Charts


def profile_columns(log10_norm: Sequence[float] | np.ndarray, width: int) -> np.ndarray:
    """The profile resampled to ``width`` chart columns, ``(width,)``.

    With more lags than columns, each column is the mean ``log10`` norm over a contiguous bin of
    lags (ignoring exact zeros; NaN when a bin holds nothing but zeros). With fewer lags, each lag
    is repeated over ``width // T`` columns, so the result may be shorter than ``width``.
    """
    values = np.asarray(log10_norm, dtype=np.float64)
    steps = values.size
    if width < 1 or steps == 0:
        return np.empty(0)
    if steps <= width:
        return np.repeat(values, width // steps)
    edges = (np.arange(width + 1) * steps) // width
    columns = np.full(width, np.nan)
    for j in range(width):
        chunk = values[edges[j] : edges[j + 1]]
        finite = chunk[np.isfinite(chunk)]
        if finite.size:
            columns[j] = finite.mean()
    return np.where(np.isinf(columns), np.nan, columns)


def chart_range(*profiles: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """``(low, high)`` of the finite values of all profiles, widened so that ``low < high``."""
    finite = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in profiles])
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return -1.0, 0.0
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    return low, high


def column_levels(columns: np.ndarray, height: int, low: float, high: float) -> np.ndarray:
    """How many eighths of ``height`` rows each column fills: 0 for NaN, at least 1 otherwise."""
    full = height * 8
    scaled = np.clip((columns - low) / (high - low), 0.0, 1.0) * full
    levels = np.clip(np.rint(np.nan_to_num(scaled, nan=0.0)), 1, full).astype(int)
    return np.where(np.isnan(columns), 0, levels)


def chart_rows(levels: np.ndarray, height: int, ascii_only: bool = False) -> list[str]:
    """The chart's rows of characters, top first, from :func:`column_levels`."""
    blocks = _ASCII_BLOCKS if ascii_only else _BLOCKS
    rows = []
    for row in range(height):
        filled = np.clip(levels - (height - 1 - row) * 8, 0, 8)
        rows.append("".join(blocks[int(n)] for n in filled))
    return rows


@dataclass(frozen=True)
class ProfileChart:
    """A block-character area chart of ``log10 ||P_k||`` against the lag ``k = 1..T``.

    A rich renderable: it takes the width it is given (minus its axis labels), at most one column
    per lag group. ``low``/``high`` fix the vertical range (default: the profile's own range).
    """

    log10_norm: np.ndarray
    height: int = CHART_HEIGHT
    style: str = ""
    low: float | None = None
    high: float | None = None

    def _range(self) -> tuple[float, float]:
        low, high = chart_range(self.log10_norm)
        return (low if self.low is None else self.low), (high if self.high is None else self.high)

    def _labels(self) -> tuple[str, str]:
        low, high = (format_axis(v) for v in self._range())
        width = max(len(low), len(high))
        return high.rjust(width), low.rjust(width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        label = len(self._labels()[0]) + 2
        return Measurement(label + 10, min(options.max_width, label + max(self.log10_norm.size, 10)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        top_label, bottom_label = self._labels()
        margin = len(top_label) + 2
        ascii_only = options.ascii_only
        columns = profile_columns(self.log10_norm, max(1, options.max_width - margin))
        low, high = self._range()
        rows = chart_rows(column_levels(columns, self.height, low, high), self.height, ascii_only)
        tick, axis, corner, rule = ("|", "|", "+", "-") if ascii_only else ("┤", "│", "└", "─")
        labels = {0: top_label, self.height - 1: bottom_label}
        for index, row in enumerate(rows):
            label = labels.get(index, "")
            line = Text(f"{label.rjust(len(top_label))} {tick if label else axis}")
            line.append(row, style=self.style)
            yield line
        width = columns.size
        yield Text(" " * (margin - 1) + corner + rule * width)
        # x axis: lag 1 under the first column, T under the last, the caption centred when it fits.
        last, caption = str(self.log10_norm.size), _("lag k")
        gap = max(1, width - 1 - len(last))
        middle = centred(caption, gap) if gap > cell_len(caption) + 2 else " " * gap
        yield Text(" " * margin + "1" + middle + last)


def sparkline(log10_norm: np.ndarray, width: int, low: float, high: float, ascii_only: bool = False) -> str:
    """A one-row chart of a profile (``width`` characters at most), on a given vertical range."""
    columns = profile_columns(log10_norm, width)
    return chart_rows(column_levels(columns, 1, low, high), 1, ascii_only)[0]


@dataclass(frozen=True)
class Sparkline:
    """:func:`sparkline` as a renderable that fills the width it is given (up to ``max_width``)."""

    log10_norm: np.ndarray
    low: float
    high: float
    style: str = ""
    max_width: int = 60

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(8, min(options.max_width, self.max_width, max(self.log10_norm.size, 8)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = min(options.max_width, self.max_width)
        yield Text(sparkline(self.log10_norm, width, self.low, self.high, options.ascii_only), style=self.style)


#: What :mod:`gradscope.terminal` re-exports from this module.
__all__ = [
    "CHART_HEIGHT",
    "REPORT_WIDTH",
    "VERDICT_STYLES",
    "ProfileChart",
    "Sparkline",
    "block_legend",
    "centred",
    "chart_range",
    "chart_rows",
    "column_levels",
    "format_axis",
    "format_log10",
    "format_power",
    "format_rate",
    "format_steps",
    "profile_columns",
    "report_lags",
    "sparkline",
]
