"""Terminal reports as rich renderables: built here, printed by the command line.

Every public function takes results (an :class:`~gradscope.analysis.Analysis`, a cell's
:class:`~gradscope.cellspec.CellSpec`, ...) and returns a rich renderable or a string; nothing
here prints, reads files or computes gradients. The reports fit an 80-column terminal, adapt to a
wider one up to :data:`REPORT_WIDTH`, use ASCII characters when the console cannot encode
Unicode, and carry no meaning in colour alone (the verdict is also a word).

Only :func:`derivation_pretty`, :func:`derivation_latex` and :func:`derivation_markdown` use
SymPy, imported inside them, so that the ``analyze`` report starts without it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.constrain import Constrain
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradscope.compiled import BlockFormula, CompiledCell, compile_cell

if TYPE_CHECKING:
    import sympy

    from gradscope.analysis import Analysis
    from gradscope.cellspec import CellSpec
    from gradscope.ensemble import Ensemble
    from gradscope.lyapunov import LyapunovSpectrum
    from gradscope.sweep import SweepResult
    from gradscope.symbolic import Derivation, ReadoutBlock
    from gradscope.verification import Verification

#: The widest a report gets, whatever the terminal.
REPORT_WIDTH = 100
#: Rows of the profile chart of the ``analyze`` report.
CHART_HEIGHT = 8

VERDICT_STYLES = {"vanishing": "bold cyan", "stable": "bold green", "exploding": "bold red"}
#: Eighth blocks, empty to full: one character cell of a chart column.
_BLOCKS = " ▁▂▃▄▅▆▇█"
_ASCII_BLOCKS = " ..--==##"
#: Thresholds of the interpretation line: "practically gone" and "huge", in log10.
_SMALL_LOG10 = -6.0
_LARGE_LOG10 = 6.0
_LN10 = math.log(10.0)
_BLOCK_LEGEND = (
    "u_g = (W_ig x_t + b_ig) and m_g = (W_hg h_{t-1} + b_hg) are gate g's input and recurrent "
    "projections; W_hg is gate g's block of rows of weight_hh_l0."
)
_FEEDBACK_LEGEND = (
    "u_g = (W_ig x_t + b_ig) and m_g = W_yg y_{t-1} are gate g's input and recurrent projections "
    "(W_yg: gate g's rows of weight_yh_l0); r = (W_hy h_t + b_y) is the readout (weight_hy_l0, bias_hy_l0), "
    "and its output y is the state."
)


def block_legend(spec: CellSpec) -> str:
    """What the symbols of the derived blocks stand for (the recurrent projection reads ``y`` in a feedback cell)."""
    return _FEEDBACK_LEGEND if spec.feedback else _BLOCK_LEGEND


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


def first_lag(analysis: Analysis, below: float | None = None, above: float | None = None) -> int | None:
    """The first lag whose ``log10`` norm is below ``below`` (or above ``above``), None if none is."""
    values = np.asarray(analysis.log10_norm)
    hits = values < below if below is not None else values > above
    indices = np.flatnonzero(hits)
    return int(analysis.lags[indices[0]]) if indices.size else None


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
        last, caption = str(self.log10_norm.size), "lag k"
        gap = max(1, width - 1 - len(last))
        middle = caption.center(gap) if gap > len(caption) + 2 else " " * gap
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


# ---------------------------------------------------------------------------------------------
# The analyze report


def split_terms(expression: str) -> list[str]:
    """Split ``"a + f(b + c) + d"`` at its top-level ``" + "`` only: ``["a", "f(b + c)", "d"]``."""
    terms, depth, start, index = [], 0, 0, 0
    while index < len(expression):
        char = expression[index]
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and expression.startswith(" + ", index):
            terms.append(expression[start:index])
            start = index = index + 3
            continue
        index += 1
    terms.append(expression[start:])
    return terms


def jacobian_panel(blocks: Sequence[BlockFormula], state_layout: str, legend: str = _BLOCK_LEGEND) -> Panel:
    """The derived per-step Jacobian, one block per row and one projection term per line."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for block in blocks:
        lhs, _, rhs = block.text.partition(" = ")
        terms = split_terms(rhs)
        grid.add_row(Text(f"{lhs} ="), Text("\n".join(("+ " if i else "  ") + t for i, t in enumerate(terms))))
    header = Text(
        f"J_t[i, j] = d s_t[i] / d s_{{t-1}}[j] (numerator layout), s = {state_layout}:",
        style="dim",
    )
    return Panel(
        Group(header, grid, Text(legend, style="dim")),
        title="Per-step Jacobian, derived by SymPy",
        title_align="left",
    )


def _source(sources: Mapping[str, str], key: str, fallback: str) -> str:
    return f"from {sources[key]}" if key in sources else fallback


def configuration_panel(analysis: Analysis, spec: CellSpec, sources: Mapping[str, str] | None = None) -> Panel:
    """What was analysed: the cell, its state, sizes, where parameters/inputs came from, the norm."""
    sources = sources or {}
    config = analysis.config
    seed = config.get("seed", "?")
    if config.get("params") == "random":
        params = f"random, init {config.get('init')}, gain {config.get('gain', 1.0):g}, seed {seed}"
    else:
        params = _source(sources, "params", "given")
    inputs = (
        _source(sources, "inputs", "given")
        if config.get("inputs") == "given"
        else f"{config.get('inputs')}, seed {seed}"
    )
    names = [f"{component}0" for component in spec.state]
    initial = [f"{name} {_source(sources, name, 'given')}" for name in names if name in config]
    size = spec.state_size(analysis.hidden_size, analysis.output_size)
    sizes = f"hidden_size H = {analysis.hidden_size}"
    if analysis.output_size is not None:
        sizes = f"the fed-back output, output_size O = {analysis.output_size}; {sizes}"
    rows = [
        ("cell", f"{analysis.cell}: {spec.title}"),
        ("state", f"s = {analysis.state}, {size} numbers ({sizes})"),
        ("sizes", f"hidden_size {analysis.hidden_size}, input_size {analysis.input_size}, T = {analysis.steps} steps"),
        ("parameters", params),
        ("inputs", inputs),
        ("initial state", "; ".join(initial) + ("" if len(initial) == len(spec.state) else ", rest zeros")),
        ("norm", f"{analysis.norm}, {analysis.dtype}"),
    ]
    if not initial:
        rows[5] = ("initial state", "zeros")
    if analysis.svd_fallbacks:
        rows.append(("note", f"dense eigensolver fallback at {analysis.svd_fallbacks} lags"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, Text(value))
    title = Text.assemble(("gradscope analyze", "bold"), f": {analysis.cell}")
    return Panel(grid, title=title, title_align="left")


def lag_table(analysis: Analysis, lags: Sequence[int] | None = None) -> Table:
    """``||d s_T / d s_{T-k}||`` at :func:`report_lags`: scientific notation and ``log10``."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("lag k", justify="right")
    table.add_column(f"||d s_T / d s_{{T-k}}|| ({analysis.norm})", justify="right")
    table.add_column("log10", justify="right")
    for k in lags or report_lags(analysis.steps):
        value = float(analysis.log10_norm[k - 1])
        table.add_row(str(k), format_power(value), format_log10(value))
    return table


def verdict_text(analysis: Analysis) -> Text:
    """The verdict in colour with the rate per step, the e-folding lag and the end-to-end norm."""
    rate, efold = analysis.rate_per_step, analysis.efolding_lag
    text = Text.assemble((analysis.verdict.upper(), VERDICT_STYLES.get(analysis.verdict, "bold")), "  ")
    text.append(f"rate {format_rate(rate)}/step, e-folding lag {format_steps(efold)} steps")
    if math.isfinite(rate) and rate != 0.0:
        text.append(f", x10 every {format_steps(_LN10 / abs(rate))} steps")
    return text


def interpretation(analysis: Analysis) -> str:
    """One sentence saying what the verdict means for this profile."""
    steps, rate = analysis.steps, analysis.rate_per_step
    decade = format_steps(_LN10 / abs(rate)) if math.isfinite(rate) and rate != 0.0 else "inf"
    zeros = np.flatnonzero(np.isneginf(np.asarray(analysis.log10_norm)))
    if analysis.verdict == "vanishing" and zeros.size:
        zero = int(analysis.lags[zeros[0]])
        return f"The gradient is exactly zero from lag {zero} on: s_T does not depend on states that far back."
    if analysis.verdict == "vanishing":
        lag = first_lag(analysis, below=_SMALL_LOG10)
        tail = (
            f"it is below 1e-6 from lag {lag} on, so dependencies longer than that get practically no gradient."
            if lag is not None
            else f"after all {steps} steps it is still {format_power(analysis.final_log10_norm)}."
        )
        return f"The gradient shrinks 10x every {decade} steps on average; {tail}"
    if analysis.verdict == "exploding":
        lag = first_lag(analysis, above=_LARGE_LOG10)
        tail = (
            f"it exceeds 1e+06 from lag {lag} on: training on sequences this long needs gradient clipping."
            if lag is not None
            else f"after all {steps} steps it is {format_power(analysis.final_log10_norm)}."
        )
        return f"The gradient grows 10x every {decade} steps on average; {tail}"
    low, high = analysis.thresholds.vanishing_rate, analysis.thresholds.exploding_rate
    return (
        f"The rate lies in the stable band [{low:g}, {high:+g}] per step: over {steps} steps the gradient neither "
        f"vanishes nor explodes (end to end {format_power(analysis.final_log10_norm)})."
    )


def verdict_panel(analysis: Analysis) -> Panel:
    """The verdict line and its interpretation, framed in the verdict's colour."""
    style = VERDICT_STYLES.get(analysis.verdict, "bold").replace("bold ", "")
    return Panel(
        Group(verdict_text(analysis), Text(interpretation(analysis))),
        title="Verdict",
        title_align="left",
        border_style=style,
    )


def profile_panel(analysis: Analysis) -> Panel:
    """The lag table above the chart of the whole profile."""
    style = VERDICT_STYLES.get(analysis.verdict, "").replace("bold ", "")
    chart = ProfileChart(np.asarray(analysis.log10_norm), style=style)
    caption = Text(f"log10 ||d s_T / d s_{{T-k}}|| for every lag k = 1..{analysis.steps}:", style="dim")
    return Panel(
        Group(lag_table(analysis), Text(""), caption, chart), title="Gradient norm through time", title_align="left"
    )


def depth_panel(analysis: Analysis) -> Panel:
    """Layer-by-time summary of ``depth_profiles``: log10 ||d y_T / d s^{(l,d)}_t|| at a few positions t.

    One row per layer and direction (top layer first, as the network is drawn), a table at
    log-spaced distances from the end of the sequence and a sparkline over every position.
    """
    steps = analysis.steps
    positions = sorted({steps + 1 - k for k in report_lags(steps)})
    profiles = sorted(analysis.depth_profiles, key=lambda p: (-p.layer, p.direction))
    finite = [p.log10_norm[np.isfinite(p.log10_norm)] for p in profiles]
    values = np.concatenate([f for f in finite if f.size]) if any(f.size for f in finite) else np.zeros(1)
    low, high = float(values.min()), float(values.max())
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("layer", justify="right", no_wrap=True)
    for t in positions[-6:]:
        table.add_column(f"t={t}", justify="right", no_wrap=True)
    for profile in profiles:
        label = f"{profile.layer} {profile.direction[:3]}"
        table.add_row(label, *(format_log10(profile.log10_norm[t - 1]) for t in positions[-6:]))
    lines = Table.grid(padding=(0, 1))
    lines.add_column(style="bold", no_wrap=True)
    lines.add_column()
    for profile in profiles:
        lines.add_row(f"{profile.layer} {profile.direction[:3]}", Sparkline(np.asarray(profile.log10_norm), low, high))
    body = Group(
        Text(
            f"log10 ||d y_T / d s_t|| for every layer (0 = bottom) and direction; y_T = output[-1], "
            f"{analysis.num_layers} layer{'s' if analysis.num_layers > 1 else ''}"
            f"{', bidirectional' if analysis.bidirectional else ''}",
            style="dim",
        ),
        table,
        Text(
            f"over t = 1..{steps}, one scale: {format_axis(high)} (full) to {format_axis(low)}; blank = 0", style="dim"
        ),
        lines,
    )
    return Panel(body, title="Gradient through depth and time", title_align="left")


def analysis_report(
    analysis: Analysis, compiled: CompiledCell | None = None, sources: Mapping[str, str] | None = None
) -> RenderableType:
    """The full ``analyze`` report: configuration, derived Jacobian, lag table and chart, verdict.

    Args:
        analysis: the result to report.
        compiled: the cell (for its title and derived Jacobian blocks); looked up by name if None.
        sources: file names the parameters, inputs, ``h0``, ``c0`` came from (keys ``"params"``,
            ``"inputs"``, ``"h0"``, ``"c0"``), shown in the configuration.
    """
    compiled = compiled or compile_cell(analysis.cell)
    return Constrain(
        Group(
            configuration_panel(analysis, compiled.spec, sources),
            jacobian_panel(compiled.blocks, analysis.state, block_legend(compiled.spec)),
            profile_panel(analysis),
            *([depth_panel(analysis)] if analysis.depth_profiles else []),
            verdict_panel(analysis),
        ),
        width=REPORT_WIDTH,
    )


def summary_line(analysis: Analysis) -> Text:
    """The result in one line (for ``--quiet``)."""
    text = Text(f"{analysis.cell}: ")
    text.append(analysis.verdict, style=VERDICT_STYLES.get(analysis.verdict, "bold"))
    text.append(
        f", rate {format_rate(analysis.rate_per_step)}/step, e-folding lag {format_steps(analysis.efolding_lag)} "
        f"steps, ||d s_T / d s_0|| = {format_power(analysis.final_log10_norm)}"
    )
    return text


# ---------------------------------------------------------------------------------------------
# compare and cells


def _shared_settings(analyses: Sequence[Analysis]) -> str:
    first = analyses[0]
    config = first.config
    origin = (
        f"init {config.get('init')}, gain {config.get('gain', 1.0):g}" if config.get("params") == "random" else "given"
    )
    return (
        f"hidden_size {first.hidden_size}, input_size {first.input_size}, T = {first.steps} steps, "
        f"seed {config.get('seed')}, {origin}, {first.norm} norm, {first.dtype}"
    )


def comparison_table(analyses: Sequence[Analysis]) -> Table:
    """``log10 ||d s_T / d s_{T-k}||`` of each cell at the same lags, then each cell's verdict."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("lag k", justify="right", no_wrap=True)
    for analysis in analyses:
        table.add_column(analysis.cell, justify="right")
    steps = min(a.steps for a in analyses)
    for k in report_lags(steps):
        table.add_row(str(k), *(format_log10(float(a.log10_norm[k - 1])) for a in analyses))
    table.add_section()
    table.add_row("verdict", *(Text(a.verdict, style=VERDICT_STYLES.get(a.verdict, "bold")) for a in analyses))
    table.add_row("rate/step", *(format_rate(a.rate_per_step) for a in analyses))
    table.add_row("e-fold lag", *(format_steps(a.efolding_lag) for a in analyses))
    return table


def comparison_report(analyses: Sequence[Analysis]) -> RenderableType:
    """The ``compare`` report: shared settings, the side-by-side table, one sparkline per cell."""
    if not analyses:
        raise ValueError("comparison_report needs at least one analysis")
    low, high = chart_range(*(a.log10_norm for a in analyses))
    lines = Table.grid(padding=(0, 1))
    lines.add_column(style="bold", no_wrap=True)
    lines.add_column()
    for analysis in analyses:
        style = VERDICT_STYLES.get(analysis.verdict, "").replace("bold ", "")
        lines.add_row(analysis.cell, Sparkline(np.asarray(analysis.log10_norm), low, high, style=style))
    caption = Text(
        f"log10 norm over k = 1..T, one scale: {format_axis(high)} (full) to {format_axis(low)}", style="dim"
    )
    body = Group(
        Text(_shared_settings(analyses), style="dim"),
        Text(""),
        Text("log10 ||d s_T / d s_{T-k}||", style="bold"),
        comparison_table(analyses),
        Text(""),
        caption,
        lines,
    )
    title = Text.assemble(("gradscope compare", "bold"), f": {', '.join(a.cell for a in analyses)}")
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


def cells_table(specs: Sequence[CellSpec]) -> Table:
    """The available cells, one row each: name, state, gates (PyTorch chunk order), description."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("cell", no_wrap=True, style="bold")
    table.add_column("state s", no_wrap=True)
    table.add_column("gates", no_wrap=True)
    table.add_column("description")
    for spec in specs:
        table.add_row(spec.name, Text(spec.state_layout), ", ".join(spec.gates), Text(spec.title))
    return table


# ---------------------------------------------------------------------------------------------
# derive (SymPy, imported on use)


def _equations(derivation: Derivation) -> list[tuple[object, object]]:
    """The cell's named quantities, then each state update that is not just a named quantity."""
    import sympy

    cell = derivation.cell
    equations = [(symbol, expression) for symbol, expression in cell.definitions]
    named = {symbol for symbol, _ in equations}
    if cell.readout is not None:
        hidden = sympy.Symbol("h_t")
        if cell.updates[0] not in named:
            equations.append((hidden, cell.updates[0]))
        equations.append((sympy.Symbol(f"{cell.state[0]}_t"), cell.readout.output))
        return equations
    for component, update in zip(cell.state, cell.updates, strict=True):
        if update not in named:
            equations.append((sympy.Symbol(f"{component}_t"), update))
    return equations


def _pictures(items: Sequence[tuple[str, object]], unicode: bool) -> list[str]:
    """SymPy's 2-D pictures of ``prefix + expression``, baselines aligned, one string per item."""
    from sympy.printing.pretty.pretty import PrettyPrinter
    from sympy.printing.pretty.pretty_symbology import pretty_use_unicode
    from sympy.printing.pretty.stringpict import prettyForm, stringPict

    # Symbols consult SymPy's global unicode flag, not the printer's setting (as sympy.pretty does).
    previous = pretty_use_unicode(unicode)
    try:
        printer = PrettyPrinter({"use_unicode": unicode, "wrap_line": False})
        return [
            prettyForm(*stringPict.next(prettyForm(prefix), printer._print(expression))).render(wrap_line=False)
            for prefix, expression in items
        ]
    finally:
        pretty_use_unicode(previous)


def derivation_pretty(derivation: Derivation, unicode: bool = True) -> RenderableType:
    """The cell's equations and Jacobian blocks as SymPy pretty-printed text.

    The 2-D pictures are ``no_wrap`` Text: print with ``crop=False`` so that a narrow terminal
    wraps them rather than rich cutting them. ``unicode=False`` gives ASCII only.
    """
    import sympy

    from gradscope.symbolic import ReadoutBlock

    cell = derivation.cell
    equations = [("  ", sympy.Eq(symbol, expression, evaluate=False)) for symbol, expression in _equations(derivation)]
    d = "∂" if unicode else "d"
    blocks: list[tuple[str, object]] = []
    for block in derivation.blocks:
        lhs = f"  {d}{block.row}_t/{d}{block.col}_{{t-1}} = "
        if isinstance(block, ReadoutBlock):
            blocks.append((lhs, _readout_term(block)))
            continue
        terms = [
            sympy.Function("diag")(c) * sympy.Symbol(f"W_h{g}", commutative=False) for g, c in block.projection_terms
        ]
        if block.diagonal != 0:
            terms.append(sympy.Function("diag")(block.diagonal))
        for index, term in enumerate(terms or [sympy.Integer(0)]):
            blocks.append((lhs if index == 0 else " " * (len(lhs) - 2) + "+ ", term))

    def pictures(items: list[tuple[str, object]]) -> list[Text]:
        return [Text(picture, no_wrap=True, overflow="ignore") for picture in _pictures(items, unicode)]

    return Group(
        Text.assemble((f"{cell.name}", "bold"), f": {cell.title}"),
        Text(cell.reference, style="dim"),
        Text(f"state s = {cell.state_layout}, gates {', '.join(cell.gates)}"),
        Text(""),
        Text("Equations (one unit):", style="bold"),
        *pictures(equations),
        Text(block_legend(cell.spec), style="dim"),
        Text(""),
        Text("Per-step Jacobian blocks:", style="bold"),
        *pictures(blocks),
    )


def _readout_term(block: ReadoutBlock) -> sympy.Expr:
    """``diag(rho') W_hy (sum_g diag(D_g) W_yg)`` as a non-commutative SymPy product, for pretty printing."""
    import sympy

    # Non-commutative heads keep the factors in the order of the matrix product.
    diag = sympy.Function("diag", commutative=False)
    inner = sympy.Add(*(diag(c) * sympy.Symbol(f"W_y{g}", commutative=False) for g, c in block.hidden_terms))
    return diag(block.readout) * sympy.Symbol("W_hy", commutative=False) * inner


def _projections_latex(derivation: Derivation) -> str:
    """The projections the equations are written in, as LaTeX."""
    if derivation.cell.readout is not None:
        return "u_g = W_{ig} x_t + b_{ig}, m_g = W_{yg} y_{t-1}, r = W_{hy} h_t + b_y"
    return "u_g = W_{ig} x_t + b_{ig}, m_g = W_{hg} h_{t-1} + b_{hg}"


def _projections_markdown(derivation: Derivation) -> str:
    if derivation.cell.readout is not None:
        return "With the projections $u_g = W_{ig} x_t + b_{ig}$, $m_g = W_{yg} y_{t-1}$ and $r = W_{hy} h_t + b_y$:"
    return "With gate $g$'s projections $u_g = W_{ig} x_t + b_{ig}$ and $m_g = W_{hg} h_{t-1} + b_{hg}$:"


def derivation_latex(derivation: Derivation) -> str:
    """The equations and the Jacobian blocks as two LaTeX ``aligned`` environments, with ``%`` comments."""
    import sympy

    cell = derivation.cell
    equations = " \\\\\n".join(f"{sympy.latex(s)} &= {sympy.latex(e)}" for s, e in _equations(derivation))
    return (
        f"% gradscope derive {cell.name}: {cell.title}\n"
        f"% {cell.reference}\n"
        f"% {_projections_latex(derivation)} (gate g's projections)\n"
        f"% Equations (one unit)\n\\begin{{aligned}}\n{equations}\n\\end{{aligned}}\n\n"
        f"% Per-step Jacobian, numerator layout, s = {cell.state_layout}\n{derivation.latex()}\n"
    )


def derivation_markdown(derivation: Derivation) -> str:
    """The cell, its equations and its Jacobian blocks as Markdown with ``$...$`` LaTeX."""
    import sympy

    cell = derivation.cell
    lines = [
        f"# `{cell.name}`: {cell.title}",
        "",
        f"{cell.reference}",
        "",
        "| | |",
        "|---|---|",
        f"| state | $s = {cell.state_layout}$ |",
        f"| gates | {', '.join(cell.gates)} (PyTorch chunk order) |",
        "",
        "## Equations (one unit)",
        "",
        _projections_markdown(derivation),
        "",
    ]
    lines += [f"- ${sympy.latex(s)} = {sympy.latex(e)}$" for s, e in _equations(derivation)]
    lines += [
        "",
        r"## Per-step Jacobian $J_t = \partial s_t / \partial s_{t-1}$",
        "",
        r"Numerator layout, $J_t[i, j] = \partial s_t[i] / \partial s_{t-1}[j]$, derived by SymPy:",
        "",
    ]
    lines += [f"- ${block.latex()}$" for block in derivation.blocks]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Ensembles (analyze --samples, compare --samples)


def quantile_text(probability: float) -> str:
    """A quantile level as a percentage: ``0.1`` -> ``"10 %"``."""
    return f"{100.0 * probability:g} %"


def band_text(quantiles: Sequence[float]) -> str:
    """A quantile band as a percentage range: ``(0.1, 0.9)`` -> ``"10-90 %"``."""
    low, high = quantiles
    return f"{100.0 * low:g}-{100.0 * high:g} %"


def verdict_counts_text(ensemble: Ensemble) -> Text:
    """How many draws got each verdict, in the verdicts' colours, e.g. ``30 vanishing, 2 stable``."""
    parts = [(count, verdict) for verdict, count in ensemble.verdict_counts().items() if count]
    text = Text()
    for index, (count, verdict) in enumerate(parts):
        text.append(", " if index else "")
        text.append(f"{count} {verdict}", style=VERDICT_STYLES.get(verdict, "bold").replace("bold ", ""))
    return text


def rate_band_text(ensemble: Ensemble) -> str:
    """The ``quantiles`` band of the draws' rates per step, e.g. ``-0.0312 .. -0.0101``."""
    with np.errstate(invalid="ignore"):  # a draw whose norm reached exactly zero has the rate -inf
        bounds = np.quantile(ensemble.rates, ensemble.quantiles)
    low, high = (float(q) if not math.isnan(q) else -math.inf for q in bounds)
    return f"{format_rate(low)} .. {format_rate(high)}"


def _ensemble_settings(ensembles: Sequence[Ensemble]) -> str:
    first = ensembles[0]
    config = first.config
    seeds = f"seeds {first.seeds[0]}-{first.seeds[-1]}" if first.samples > 1 else f"seed {first.seeds[0]}"
    origin = (
        f"init {config.get('init')}, gain {config.get('gain', 1.0):g}"
        if config.get("params") == "random"
        else "given parameters"
    )
    draws = "/".join(str(n) for n in sorted({e.samples for e in ensembles}))
    return (
        f"{draws} random draws of weights and inputs ({seeds}); hidden_size {first.hidden_size}, "
        f"input_size {first.input_size}, T = {first.steps} steps, {origin}, {first.norm} norm, {first.dtype}"
    )


def ensemble_table(ensembles: Sequence[Ensemble]) -> Table:
    """``log10 ||d s_T / d s_{T-k}||`` at :func:`report_lags`: the pointwise median and quantile band.

    One ensemble gets a column each for the median and the two quantiles; several get one column
    each, the median above its band ``lower..upper`` (so that four cells fit 80 columns).
    """
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("lag k", justify="right", no_wrap=True)
    single = len(ensembles) == 1
    if single:
        for header in ("median", *(quantile_text(q) for q in ensembles[0].quantiles)):
            table.add_column(header, justify="right", no_wrap=True)
    else:
        for ensemble in ensembles:
            table.add_column(ensemble.cell, justify="right", no_wrap=True)
    steps = min(e.steps for e in ensembles)
    for k in report_lags(steps):
        if single:
            e = ensembles[0]
            table.add_row(str(k), *(format_log10(float(v[k - 1])) for v in (e.median, e.lower, e.upper)))
            continue
        entries = [
            Text.assemble(
                format_log10(float(e.median[k - 1])),
                (f"\n{format_log10(float(e.lower[k - 1]))}..{format_log10(float(e.upper[k - 1]))}", "dim"),
            )
            for e in ensembles
        ]
        table.add_row(str(k), *entries)
    return table


def ensemble_summary_table(ensembles: Sequence[Ensemble]) -> Table:
    """Per ensemble: the number of draws, the median rate per step, the rates' band and the verdict counts."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("cell", no_wrap=True, style="bold")
    table.add_column("draws", justify="right", no_wrap=True)
    table.add_column("median rate/step", justify="right", no_wrap=True)
    table.add_column(f"rate {band_text(ensembles[0].quantiles)}", justify="right", no_wrap=True)
    table.add_column("verdicts")
    for e in ensembles:
        table.add_row(e.cell, str(e.samples), format_rate(e.median_rate), rate_band_text(e), verdict_counts_text(e))
    return table


def ensemble_report(ensembles: Ensemble | Sequence[Ensemble], command: str = "analyze") -> RenderableType:
    """The ``--samples`` report: shared settings, the median profile with its band, rates and verdict counts.

    Args:
        ensembles: one ensemble, or several (one per cell) sharing sizes and seeds.
        command: the command named in the title (``"analyze"`` or ``"compare"``).
    """
    group = [ensembles] if not isinstance(ensembles, Sequence) else list(ensembles)
    if not group:
        raise ValueError("ensemble_report needs at least one ensemble")
    body = Group(
        Text(_ensemble_settings(group), style="dim"),
        Text(""),
        Text(f"log10 ||d s_T / d s_{{T-k}}||: pointwise median and {band_text(group[0].quantiles)} band", style="bold"),
        *([] if len(group) == 1 else [Text("each entry: the median, and below it the band lower..upper", style="dim")]),
        ensemble_table(group),
        Text(""),
        ensemble_summary_table(group),
    )
    title = Text.assemble((f"gradscope {command} --samples", "bold"), f": {', '.join(e.cell for e in group)}")
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


def ensemble_summary_line(ensemble: Ensemble) -> Text:
    """One ensemble in one line (for ``--quiet``)."""
    text = Text(f"{ensemble.cell}: {ensemble.samples} draws, median rate {format_rate(ensemble.median_rate)}/step ")
    text.append(f"({band_text(ensemble.quantiles)}: {rate_band_text(ensemble)}), ")
    text.append_text(verdict_counts_text(ensemble))
    text.append(f", median ||d s_T / d s_0|| = {format_power(float(ensemble.median[-1]))}")
    return text


# ---------------------------------------------------------------------------------------------
# verify


def format_error(value: float) -> str:
    """An error in scientific notation with three significant digits; ``nan``/``inf`` spelled out."""
    return f"{value:.2e}" if math.isfinite(value) else str(value)


#: Short names of the references, so that the ``verify`` table fits 80 columns.
_REFERENCE_NAMES = {"finite differences": "finite diff."}


def verification_table(verification: Verification) -> Table:
    """One row per check: cell, what, against what, max abs and rel error, tolerance, ok/FAIL.

    The error columns are the maxima over all entries (and time steps); the relative error is the
    absolute one divided by the largest entry of the reference. Fits 80 columns.
    """
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 1, 0, 0))
    table.add_column("cell", no_wrap=True, style="bold")
    table.add_column("check")
    table.add_column("against", no_wrap=True)
    table.add_column("abs err", justify="right", no_wrap=True)
    table.add_column("rel err", justify="right", no_wrap=True)
    table.add_column("tol.", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    previous = None
    for row in verification.rows:
        if previous is not None and row.cell != previous:
            table.add_section()
        result = Text("ok", style="green") if row.passed else Text("FAIL", style="bold red")
        table.add_row(
            row.cell if row.cell != previous else "",
            row.check,
            _REFERENCE_NAMES.get(row.against, row.against),
            format_error(row.max_abs_err),
            format_error(row.max_rel_err),
            f"{row.tolerance:.0e}",
            result,
        )
        previous = row.cell
    return table


def verification_summary(verification: Verification) -> Text:
    """The outcome in one line: all checks passed, or how many failed and which."""
    total, failures = len(verification.rows), verification.failures
    if not failures:
        return Text.assemble(("PASSED", "bold green"), f"  all {total} checks within their tolerance")
    failed = "; ".join(f"{row.cell} {row.check} vs {row.against}" for row in failures)
    return Text.assemble(
        ("FAILED", "bold red"), f"  {len(failures)} of {total} checks exceed their tolerance: {failed}"
    )


def verification_report(verification: Verification, torch_skipped: bool = False) -> RenderableType:
    """The ``verify`` report: the problem's sizes, the table of checks, the outcome and a note on PyTorch.

    Args:
        verification: the result of :func:`gradscope.verification.verify`.
        torch_skipped: the autograd checks were turned off (``--no-torch``) rather than unavailable.
    """
    settings = verification.settings
    sizes = ", ".join(f"{key} {value}" for key, value in settings.items())
    if verification.torch_version is not None:
        note = Text(f"Autograd reference: PyTorch {verification.torch_version}, float64.", style="dim")
    elif torch_skipped:
        note = Text("PyTorch autograd checks skipped (--no-torch): finite differences only.", style="dim")
    else:
        note = Text(
            "note: PyTorch is not installed, so only finite differences were checked "
            "(pip install torch==2.13.0 adds the autograd checks).",
            style="yellow",
        )
    body = Group(
        Text(
            f"Random problem: {sizes}. Errors: the largest |gradscope - reference| over all entries (abs err), "
            "divided by the largest |reference| entry (rel err); a check passes when rel err <= tol.",
            style="dim",
        ),
        Text(""),
        verification_table(verification),
        Text(""),
        verification_summary(verification),
        note,
    )
    title = Text.assemble(
        ("gradscope verify", "bold"), f": {', '.join(dict.fromkeys(r.cell for r in verification.rows))}"
    )
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


# ---------------------------------------------------------------------------------------------
# report (the gallery)


def gallery_summary(paths: Sequence[Path], out_dir: Path) -> RenderableType:
    """What ``gradscope report`` wrote: the folder, the README and each figure with its formats."""
    figures: dict[str, list[str]] = {}
    others: list[str] = []
    for path in paths:
        relative = path.relative_to(out_dir) if path.is_relative_to(out_dir) else path
        if relative.suffix.lower() in (".png", ".svg", ".pdf"):
            figures.setdefault(str(relative.with_suffix("")), []).append(relative.suffix.lower())
        else:
            others.append(str(relative))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True, style="dim")
    for stem, suffixes in figures.items():
        grid.add_row(stem, " ".join(suffixes))
    readme = out_dir / "README.md"
    lead = Text(f"Gallery written to {out_dir}: {len(paths)} files, {len(figures)} figures")
    if "README.md" in others:
        lead.append(f"; open {readme}")
    return Group(lead, grid)


def gallery_summary_line(paths: Sequence[Path], out_dir: Path) -> Text:
    """What ``gradscope report`` wrote, in one line (for ``--quiet``)."""
    return Text(f"{len(paths)} files written to {out_dir}")


# ---------------------------------------------------------------------------------------------
# sweep and lyapunov (issue 7)


def _value_text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def sweep_table(result: SweepResult) -> Table:
    """One row per grid point: the swept values, the median rate per step and its 10-90 % band over
    samples, the mean-field theory rate (tanh RNN only) and the verdict counts."""
    spec = result.spec
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name in spec.value_columns:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("median rate/step", justify="right", no_wrap=True)
    if spec.samples > 1:
        table.add_column("rate 10-90 %", justify="right", no_wrap=True)
    theory = result.theory_rate()
    if theory is not None:
        table.add_column("theory", justify="right", no_wrap=True)
    table.add_column("verdicts")
    rates = result.by_grid("rate_per_step")  # (P, S), NaN where a norm reached exactly zero
    verdicts = result.column("verdict").reshape(-1, int(spec.samples))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(rates, axis=1)
        lower, upper = np.nanquantile(rates, (0.1, 0.9), axis=1)
    for p, point in enumerate(result.grid()):
        cells: list[str | Text] = [_value_text(point[name]) for name in spec.value_columns]
        cells.append(format_rate(float(medians[p])))
        if spec.samples > 1:
            cells.append(f"{format_rate(float(lower[p]))} .. {format_rate(float(upper[p]))}")
        if theory is not None:
            cells.append(format_rate(float(theory[p * int(spec.samples)])))
        counts = Text()
        for verdict in ("vanishing", "stable", "exploding"):
            n = int(np.sum(verdicts[p] == verdict))
            if n:
                counts.append(", " if counts.plain else "")
                counts.append(f"{n} {verdict}", style=VERDICT_STYLES[verdict].replace("bold ", ""))
        cells.append(counts)
        table.add_row(*cells)
    return table


def sweep_settings(result: SweepResult) -> str:
    """The fixed settings of a sweep, one line."""
    spec = result.spec
    fixed = ", ".join(f"{k} {_value_text(v)}" for k, v in spec.fixed().items() if v is not None)
    return (
        f"{len(result.rows)} tasks: {len(result.grid())} grid points x {spec.samples} samples (base seed {spec.seed}); "
        f"{fixed}; {spec.norm} norm, {spec.dtype}"
    )


def sweep_report(result: SweepResult) -> RenderableType:
    """The ``sweep`` report: settings, then one line per grid point (rates in natural log per step)."""
    body = Group(
        Text(sweep_settings(result), style="dim"),
        Text(""),
        Text("rate per step of ln ||d s_T / d s_{T-k}|| (natural log)", style="bold"),
        sweep_table(result),
    )
    title = Text.assemble(("gradscope sweep", "bold"), f": {result.spec.cell_name}")
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


def sweep_summary_line(result: SweepResult) -> Text:
    """A sweep in one line (for ``--quiet``)."""
    verdicts = result.column("verdict")
    counts = ", ".join(
        f"{int(np.sum(verdicts == v))} {v}" for v in ("vanishing", "stable", "exploding") if np.any(verdicts == v)
    )
    axes = ", ".join(f"{a.name} ({len(a.values)})" for a in result.spec.axes)
    return Text(f"{result.spec.cell_name}: swept {axes}, {len(result.rows)} tasks: {counts}")


def lyapunov_table(spectrum: LyapunovSpectrum) -> Table:
    """The top exponents, descending: value (natural log per step), standard error and drift."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in ("i", "lambda_i /step", "std. error", "drift", "e-folding (steps)"):
        table.add_column(header, justify="right", no_wrap=True)
    for i, (value, error, drift) in enumerate(
        zip(spectrum.exponents, spectrum.standard_error, spectrum.drift, strict=True), start=1
    ):
        value, error, drift = float(value), float(error), float(drift)
        efold = 1.0 / abs(value) if math.isfinite(value) and value != 0 else math.inf
        table.add_row(
            str(i),
            f"{value:+.5f}" if math.isfinite(value) else format_rate(value),
            f"{error:.2g}" if math.isfinite(error) else "-",
            f"{drift:+.2g}" if math.isfinite(drift) else "-",
            format_steps(efold),
        )
    return table


def lyapunov_report(spectrum: LyapunovSpectrum) -> RenderableType:
    """The ``lyapunov`` report: settings and the exponent table."""
    config = spectrum.config
    origin = (
        f"init {config.get('init')}, gain {config.get('gain', 1.0):g}, seed {config.get('seed', 0)}"
        if config.get("params") == "random"
        else "given parameters"
    )
    settings = (
        f"state {spectrum.state}, hidden_size {spectrum.hidden_size}, input_size {spectrum.input_size}, "
        f"T = {spectrum.steps} steps ({spectrum.transient} transient, {spectrum.averaged_steps} averaged), {origin}"
    )
    body = Group(
        Text(settings, style="dim"),
        Text(""),
        Text("Lyapunov exponents by the QR (Benettin) method, natural log per step, descending", style="bold"),
        lyapunov_table(spectrum),
        Text(""),
        Text("drift: estimate over the second half of the averaged steps minus the first half", style="dim"),
    )
    title = Text.assemble(("gradscope lyapunov", "bold"), f": {spectrum.cell}")
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


def lyapunov_summary_line(spectrum: LyapunovSpectrum) -> Text:
    """The spectrum in one line (for ``--quiet``)."""
    return Text(
        f"{spectrum.cell}: lambda_1 = {spectrum.top:+.5f}/step (s.e. {spectrum.convergence:.2g}), "
        f"{spectrum.exponents.size} exponents over {spectrum.averaged_steps} steps"
    )
