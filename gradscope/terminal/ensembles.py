"""The ``--samples`` reports of ``analyze`` and ``compare``: many random draws per cell, summarised."""

from __future__ import annotations

import math
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
from gradscope.terminal.format import REPORT_WIDTH, VERDICT_STYLES, format_log10, format_power, format_rate, report_lags

if TYPE_CHECKING:
    from gradscope.analysis.ensemble import Ensemble


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
        style = VERDICT_STYLES.get(verdict, "bold").replace("bold ", "")
        text.append(f"{count} {verdict_word(verdict)}", style=style)
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
    seeds = (
        _("seeds {first}-{last}").format(first=first.seeds[0], last=first.seeds[-1])
        if first.samples > 1
        else _("seed {seed}").format(seed=first.seeds[0])
    )
    origin = (
        _("init {init}, gain {gain}").format(init=config.get("init"), gain=f"{config.get('gain', 1.0):g}")
        if config.get("params") == "random"
        else _("given parameters")
    )
    models = "; ".join(f"{e.cell}: {model_text(e.config)}" for e in ensembles if model_text(e.config))
    origin = f"{origin}; {models}" if models else origin
    draws = "/".join(str(n) for n in sorted({e.samples for e in ensembles}))
    return _(
        "{draws} random draws of weights and inputs ({seeds}); hidden_size {hidden_size}, "
        "input_size {input_size}, T = {steps} steps, {origin}, {norm} norm, {dtype}"
    ).format(
        draws=draws,
        seeds=seeds,
        hidden_size=first.hidden_size,
        input_size=first.input_size,
        steps=first.steps,
        origin=origin,
        norm=norm_word(first.norm),
        dtype=first.dtype,
    )


def ensemble_table(ensembles: Sequence[Ensemble]) -> Table:
    """``log10 ||d s_T / d s_{T-k}||`` at :func:`report_lags`: the pointwise median and quantile band.

    One ensemble gets a column each for the median and the two quantiles; several get one column
    each, the median above its band ``lower..upper`` (so that four cells fit 80 columns).
    """
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(_("lag k"), justify="right", no_wrap=True)
    single = len(ensembles) == 1
    if single:
        for header in (_("median"), *(quantile_text(q) for q in ensembles[0].quantiles)):
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
    table.add_column(_("cell"), no_wrap=True, style="bold")
    table.add_column(_("draws"), justify="right", no_wrap=True)
    table.add_column(_("median rate/step"), justify="right", no_wrap=True)
    table.add_column(_("rate {band}").format(band=band_text(ensembles[0].quantiles)), justify="right", no_wrap=True)
    table.add_column(_("verdicts"))
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
    heading = _("log10 ||d s_T / d s_{{T-k}}||: pointwise median and {band} band").format(
        band=band_text(group[0].quantiles)
    )
    layout = _("each entry: the median, and below it the band lower..upper")
    body = Group(
        Text(_ensemble_settings(group), style="dim"),
        Text(""),
        Text(heading, style="bold"),
        *([] if len(group) == 1 else [Text(layout, style="dim")]),
        ensemble_table(group),
        Text(""),
        ensemble_summary_table(group),
    )
    title = Text.assemble((f"gradscope {command} --samples", "bold"), f": {', '.join(e.cell for e in group)}")
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


def ensemble_summary_line(ensemble: Ensemble) -> Text:
    """One ensemble in one line (for ``--quiet``)."""
    draws = _("{cell}: {count} draws, median rate {rate}/step ")
    text = Text(draws.format(cell=ensemble.cell, count=ensemble.samples, rate=format_rate(ensemble.median_rate)))
    text.append(f"({band_text(ensemble.quantiles)}: {rate_band_text(ensemble)}), ")
    text.append_text(verdict_counts_text(ensemble))
    text.append(_(", median ||d s_T / d s_0|| = {norm}").format(norm=format_power(float(ensemble.median[-1]))))
    return text


#: What :mod:`gradscope.terminal` re-exports from this module.
__all__ = [
    "band_text",
    "ensemble_report",
    "ensemble_summary_line",
    "ensemble_summary_table",
    "ensemble_table",
    "quantile_text",
    "rate_band_text",
    "verdict_counts_text",
]
