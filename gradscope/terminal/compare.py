"""The reports of ``compare`` (several profiles side by side) and ``cells`` (the cells there are)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, RenderableType
from rich.constrain import Constrain
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradscope.analysis.describe import model_text, norm_word, verdict_word
from gradscope.i18n import _
from gradscope.terminal.format import (
    REPORT_WIDTH,
    VERDICT_STYLES,
    Sparkline,
    chart_range,
    format_axis,
    format_log10,
    format_rate,
    format_steps,
    report_lags,
)

if TYPE_CHECKING:
    from gradscope.analysis.profile import Analysis
    from gradscope.cells.spec import CellSpec


def _shared_settings(analyses: Sequence[Analysis]) -> str:
    first = analyses[0]
    config = first.config
    origin = (
        _("init {init}, gain {gain}").format(init=config.get("init"), gain=f"{config.get('gain', 1.0):g}")
        if config.get("params") == "random"
        else _("given")
    )
    models = "; ".join(f"{a.cell}: {model_text(a.config)}" for a in analyses if model_text(a.config))
    origin = f"{origin}; {models}" if models else origin
    return _(
        "hidden_size {hidden_size}, input_size {input_size}, T = {steps} steps, seed {seed}, {origin}, "
        "{norm} norm, {dtype}"
    ).format(
        hidden_size=first.hidden_size,
        input_size=first.input_size,
        steps=first.steps,
        seed=config.get("seed"),
        origin=origin,
        norm=norm_word(first.norm),
        dtype=first.dtype,
    )


def comparison_table(analyses: Sequence[Analysis]) -> Table:
    """``log10 ||d s_T / d s_{T-k}||`` of each cell at the same lags, then each cell's verdict."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(_("lag k"), justify="right", no_wrap=True)
    for analysis in analyses:
        table.add_column(analysis.cell, justify="right")
    steps = min(a.steps for a in analyses)
    for k in report_lags(steps):
        table.add_row(str(k), *(format_log10(float(a.log10_norm[k - 1])) for a in analyses))
    table.add_section()
    verdicts = (Text(verdict_word(a.verdict), style=VERDICT_STYLES.get(a.verdict, "bold")) for a in analyses)
    table.add_row(_("verdict"), *verdicts)
    table.add_row(_("rate/step"), *(format_rate(a.rate_per_step) for a in analyses))
    table.add_row(_("e-fold lag"), *(format_steps(a.efolding_lag) for a in analyses))
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
        _("log10 norm over k = 1..T, one scale: {high} (full) to {low}").format(
            high=format_axis(high), low=format_axis(low)
        ),
        style="dim",
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
    table.add_column(_("cell"), no_wrap=True, style="bold")
    table.add_column(_("state s"), no_wrap=True)
    table.add_column(_("gates"), no_wrap=True)
    table.add_column(_("description"))
    for spec in specs:
        table.add_row(spec.name, Text(spec.state_layout), ", ".join(spec.gates), Text(_(spec.title)))
    return table


#: What :mod:`gradscope.terminal` re-exports from this module.


#: What :mod:`gradscope.terminal` re-exports from this module.
__all__ = [
    "cells_table",
    "comparison_report",
    "comparison_table",
]
