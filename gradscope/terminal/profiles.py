"""The report of ``analyze``: one gradient-norm profile.

The ``analyze`` report is a stack of panels (configuration, derived Jacobian, lag table and
chart, depth, verdict); the verdict is also a word, so no meaning is carried by colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, RenderableType
from rich.constrain import Constrain
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradscope.analysis.describe import model_text, norm_word, verdict_word
from gradscope.compile import BlockFormula, compile_cell
from gradscope.engine.products import TRUNCATE_BELOW
from gradscope.i18n import N_, _, ngettext
from gradscope.terminal.format import (
    BLOCK_LEGEND,
    REPORT_WIDTH,
    VERDICT_STYLES,
    ProfileChart,
    Sparkline,
    block_legend,
    format_axis,
    format_log10,
    format_power,
    format_rate,
    format_steps,
    report_lags,
)

if TYPE_CHECKING:
    from gradscope.analysis.profile import Analysis
    from gradscope.cells.spec import CellSpec

#: Thresholds of the interpretation line: "practically gone" and "huge", in log10.
_SMALL_LOG10 = -6.0
_LARGE_LOG10 = 6.0
_LN10 = math.log(10.0)


def first_lag(analysis: Analysis, below: float | None = None, above: float | None = None) -> int | None:
    """The first lag whose ``log10`` norm is below ``below`` (or above ``above``), None if none is."""
    values = np.asarray(analysis.log10_norm)
    hits = values < below if below is not None else values > above
    indices = np.flatnonzero(hits)
    return int(analysis.lags[indices[0]]) if indices.size else None


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


def jacobian_panel(blocks: Sequence[BlockFormula], state_layout: str, legend: str | None = None) -> Panel:
    """The derived per-step Jacobian, one block per row and one projection term per line.

    ``legend`` says what the symbols stand for (default: :data:`BLOCK_LEGEND`, translated).
    """
    legend = _(BLOCK_LEGEND) if legend is None else legend
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for block in blocks:
        lhs, _equals, rhs = block.text.partition(" = ")
        terms = split_terms(rhs)
        grid.add_row(Text(f"{lhs} ="), Text("\n".join(("+ " if i else "  ") + t for i, t in enumerate(terms))))
    header = Text(
        _("J_t[i, j] = d s_t[i] / d s_{{t-1}}[j] (numerator layout), s = {state}:").format(state=state_layout),
        style="dim",
    )
    return Panel(
        Group(header, grid, Text(legend, style="dim")),
        title=_("Per-step Jacobian, derived by SymPy"),
        title_align="left",
    )


def _source(sources: Mapping[str, str], key: str, fallback: str) -> str:
    return _("from {file}").format(file=sources[key]) if key in sources else fallback


def configuration_panel(analysis: Analysis, spec: CellSpec, sources: Mapping[str, str] | None = None) -> Panel:
    """What was analysed: the cell, its state, sizes, where parameters/inputs came from, the norm."""
    sources = sources or {}
    config = analysis.config
    seed = config.get("seed", "?")
    given = _("given")
    if config.get("params") == "random":
        params = _("random, init {init}, gain {gain}, seed {seed}").format(
            init=config.get("init"), gain=f"{config.get('gain', 1.0):g}", seed=seed
        )
    else:
        params = _source(sources, "params", given)
    model = model_text(config)
    if model:
        params = f"{params}; {model}"
    inputs = (
        _source(sources, "inputs", given)
        if config.get("inputs") == "given"
        else _("{inputs}, seed {seed}").format(inputs=config.get("inputs"), seed=seed)
    )
    names = [f"{component}0" for component in spec.state]
    initial = [f"{name} {_source(sources, name, given)}" for name in names if name in config]
    size = spec.state_size(analysis.hidden_size, analysis.output_size)
    sizes = f"hidden_size H = {analysis.hidden_size}"
    if analysis.output_size is not None:
        sizes = _("the fed-back output, output_size O = {output_size}; {sizes}").format(
            output_size=analysis.output_size, sizes=sizes
        )
    if not initial:
        initial_state = _("zeros")
    elif len(initial) == len(spec.state):
        initial_state = "; ".join(initial)
    else:
        initial_state = _("{given}, rest zeros").format(given="; ".join(initial))
    rows = [
        (_("cell"), f"{analysis.cell}: {_(spec.title)}"),
        (_("state"), _("s = {state}, {size} numbers ({sizes})").format(state=analysis.state, size=size, sizes=sizes)),
        (
            _("sizes"),
            _("hidden_size {hidden_size}, input_size {input_size}, T = {steps} steps").format(
                hidden_size=analysis.hidden_size, input_size=analysis.input_size, steps=analysis.steps
            ),
        ),
        (_("parameters"), params),
        (_("inputs"), inputs),
        (_("initial state"), initial_state),
        (_("norm"), f"{norm_word(analysis.norm)}, {analysis.dtype}"),
    ]
    if 0 < analysis.kept_directions < size:
        tolerance = f"{TRUNCATE_BELOW[np.dtype(analysis.dtype)]:.0e}".replace("e-0", "e-")
        kept = _("{kept} of {size} directions kept (the rest: < {tolerance} of the norm)").format(
            kept=analysis.kept_directions, size=size, tolerance=tolerance
        )
        rows.append((_("products"), kept))
    if analysis.svd_fallbacks:
        note = _("dense eigensolver fallback at {count} lags").format(count=analysis.svd_fallbacks)
        rows.append((_("note"), note))
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
    table.add_column(_("lag k"), justify="right")
    table.add_column(f"||d s_T / d s_{{T-k}}|| ({norm_word(analysis.norm)})", justify="right")
    table.add_column("log10", justify="right")
    for k in lags or report_lags(analysis.steps):
        value = float(analysis.log10_norm[k - 1])
        table.add_row(str(k), format_power(value), format_log10(value))
    return table


def verdict_text(analysis: Analysis) -> Text:
    """The verdict in colour with the rate per step, the e-folding lag and the end-to-end norm."""
    rate, efold = analysis.rate_per_step, analysis.efolding_lag
    word = verdict_word(analysis.verdict).upper()
    text = Text.assemble((word, VERDICT_STYLES.get(analysis.verdict, "bold")), "  ")
    text.append(
        _("rate {rate}/step, e-folding lag {lag} steps").format(rate=format_rate(rate), lag=format_steps(efold))
    )
    if math.isfinite(rate) and rate != 0.0:
        text.append(_(", x10 every {steps} steps").format(steps=format_steps(_LN10 / abs(rate))))
    return text


#: Per verdict: the sentence's start, which side of which level to look for, and the sentence endings
#: for a profile that crosses it (at ``lag``) or never does (after ``steps``, ending at ``final``).
_TRENDS = {
    "vanishing": (
        N_("The gradient shrinks 10x every {decade} steps on average; {tail}"),
        "below",
        _SMALL_LOG10,
        N_("it is below 1e-6 from lag {lag} on, so dependencies longer than that get practically no gradient."),
        N_("after all {steps} steps it is still {final}."),
    ),
    "exploding": (
        N_("The gradient grows 10x every {decade} steps on average; {tail}"),
        "above",
        _LARGE_LOG10,
        N_("it exceeds 1e+06 from lag {lag} on: training on sequences this long needs gradient clipping."),
        N_("after all {steps} steps it is {final}."),
    ),
}


def interpretation(analysis: Analysis) -> str:
    """One sentence saying what the verdict means for this profile."""
    steps, rate = analysis.steps, analysis.rate_per_step
    decade = format_steps(_LN10 / abs(rate)) if math.isfinite(rate) and rate != 0.0 else "inf"
    zeros = np.flatnonzero(np.isneginf(np.asarray(analysis.log10_norm)))
    if analysis.verdict == "vanishing" and zeros.size:
        zero = int(analysis.lags[zeros[0]])
        return _("The gradient is exactly zero from lag {lag} on: s_T does not depend on states that far back.").format(
            lag=zero
        )
    trend = _TRENDS.get(analysis.verdict)
    if trend is not None:
        sentence, side, level, crossed, never = trend
        lag = first_lag(analysis, **{side: level})
        final = format_power(analysis.final_log10_norm)
        tail = _(crossed).format(lag=lag) if lag is not None else _(never).format(steps=steps, final=final)
        return _(sentence).format(decade=decade, tail=tail)
    low, high = analysis.thresholds.vanishing_rate, analysis.thresholds.exploding_rate
    return _(
        "The rate lies in the stable band [{low}, {high}] per step: over {steps} steps the gradient neither "
        "vanishes nor explodes (end to end {final})."
    ).format(low=f"{low:g}", high=f"{high:+g}", steps=steps, final=format_power(analysis.final_log10_norm))


def verdict_panel(analysis: Analysis) -> Panel:
    """The verdict line and its interpretation, framed in the verdict's colour."""
    style = VERDICT_STYLES.get(analysis.verdict, "bold").replace("bold ", "")
    return Panel(
        Group(verdict_text(analysis), Text(interpretation(analysis))),
        title=_("Verdict"),
        title_align="left",
        border_style=style,
    )


def profile_panel(analysis: Analysis) -> Panel:
    """The lag table above the chart of the whole profile."""
    style = VERDICT_STYLES.get(analysis.verdict, "").replace("bold ", "")
    chart = ProfileChart(np.asarray(analysis.log10_norm), style=style)
    caption = Text(
        _("log10 ||d s_T / d s_{{T-k}}|| for every lag k = 1..{steps}:").format(steps=analysis.steps), style="dim"
    )
    return Panel(
        Group(lag_table(analysis), Text(""), caption, chart), title=_("Gradient norm through time"), title_align="left"
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
    table.add_column(_("layer"), justify="right", no_wrap=True)
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
    layers = ngettext(
        "log10 ||d y_T / d s_t|| for every layer (0 = bottom) and direction; y_T = output[-1], {count} layer",
        "log10 ||d y_T / d s_t|| for every layer (0 = bottom) and direction; y_T = output[-1], {count} layers",
        analysis.num_layers,
    ).format(count=analysis.num_layers)
    scale = _("over t = 1..{steps}, one scale: {high} (full) to {low}; blank = 0").format(
        steps=steps, high=format_axis(high), low=format_axis(low)
    )
    body = Group(
        Text(layers + (_(", bidirectional") if analysis.bidirectional else ""), style="dim"),
        table,
        Text(scale, style="dim"),
        lines,
    )
    return Panel(body, title=_("Gradient through depth and time"), title_align="left")


def analysis_report(analysis: Analysis, sources: Mapping[str, str] | None = None) -> RenderableType:
    """The full ``analyze`` report: configuration, derived Jacobian, lag table and chart, verdict.

    Args:
        analysis: the result to report (its problem's cell gives the title and the derived Jacobian blocks).
        sources: file names the parameters, inputs, ``h0``, ``c0`` came from (keys ``"params"``,
            ``"inputs"``, ``"h0"``, ``"c0"``), shown in the configuration.
    """
    compiled = analysis.problem.compiled if analysis.problem is not None else compile_cell(analysis.cell)
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
    text.append(verdict_word(analysis.verdict), style=VERDICT_STYLES.get(analysis.verdict, "bold"))
    text.append(
        _(", rate {rate}/step, e-folding lag {lag} steps, ||d s_T / d s_0|| = {norm}").format(
            rate=format_rate(analysis.rate_per_step),
            lag=format_steps(analysis.efolding_lag),
            norm=format_power(analysis.final_log10_norm),
        )
    )
    return text


#: What :mod:`gradscope.terminal` re-exports from this module.
__all__ = [
    "analysis_report",
    "configuration_panel",
    "depth_panel",
    "first_lag",
    "interpretation",
    "jacobian_panel",
    "lag_table",
    "profile_panel",
    "split_terms",
    "summary_line",
    "verdict_panel",
    "verdict_text",
]
