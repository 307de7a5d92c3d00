"""The report of ``explain``: the paths, the gates, the why and the suggestions."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradscope.analysis.describe import verdict_word
from gradscope.i18n import N_, _
from gradscope.terminal.format import VERDICT_STYLES, format_log10, format_rate, format_steps

if TYPE_CHECKING:
    from gradscope.analysis.explanation import Explanation

__all__ = ["explanation_report", "explanation_summary_line"]

#: The roles of paths in words (the JSON keeps the English word).
ROLE_WORDS = {"carousel": N_("carousel"), "leak": N_("leak")}


def _share(value: float) -> str:
    return f"{100.0 * value:.0f} %" if math.isfinite(value) else "n/a"


#: Narrower than this (columns), the paths table leaves out its "term of J_t" column and lists the terms
#: under it: at 80 columns the formulas wrapped four lines a row.
TERMS_COLUMN_WIDTH = 110


def _paths_table(explanation: Explanation, with_terms: bool = True) -> Table:
    analysis = explanation.analysis
    lags = sorted({min(10, analysis.steps), analysis.steps})
    table = Table(title=_("Paths of the step Jacobian"), title_justify="left")
    table.add_column(_("path"), no_wrap=True)
    if with_terms:
        table.add_column(_("term of J_t"))
    for lag in lags:
        table.add_column(_("log10 at lag {lag}").format(lag=lag), justify="right")
    table.add_column(_("rate/step"), justify="right")
    table.add_column(_("e-folding lag"), justify="right")
    table.add_column(_("share"), justify="right")
    for path in explanation.paths:
        role = f" ({_(ROLE_WORDS[path.role])})" if path.role in ROLE_WORDS else ""
        table.add_row(
            path.name + role,
            *((path.formula,) if with_terms else ()),
            *(format_log10(path.log10_norm[lag - 1]) for lag in lags),
            format_rate(path.rate_per_step),
            format_steps(path.efolding_lag),
            _share(path.share),
        )
    table.add_row(
        Text(_("full product"), style="bold"),
        *(("J_t",) if with_terms else ()),
        *(format_log10(analysis.log10_norm[lag - 1]) for lag in lags),
        format_rate(analysis.rate_per_step),
        format_steps(analysis.efolding_lag),
        "100 %",
    )
    caption = _("share: 1 - ||P_T without the path|| / ||P_T|| at the longest lag T = {steps}").format(
        steps=analysis.steps
    )
    if not with_terms:
        terms = "; ".join(f"{path.name} = {path.formula}" for path in explanation.paths)
        caption += "\n" + _("terms of J_t: {terms}").format(terms=terms)
    if any(np.isneginf(path.log10_norm[lag - 1]) for path in explanation.paths for lag in lags):
        # A bridge between two parts of the state (c->h) is nilpotent alone, and a factor that is zero at one
        # step (d c_1/d a_f = c_0 = 0) zeroes every longer product: exact zeros, not underflow.
        caption += "\n" + _(
            "-inf: the path's product alone is exactly zero at that lag (it needs other paths between its "
            "steps, or one of its factors is zero at some step); its share still says what it carries"
        )
    table.caption = caption
    if "\n" in caption:
        table.caption_justify = "left"  # notes of several lines read as a paragraph, not a centred poem
    return table


class _PathsTable:
    """The paths table at the width it is drawn at (rich asks each renderable with the console's options)."""

    def __init__(self, explanation: Explanation) -> None:
        self.explanation = explanation

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield _paths_table(self.explanation, with_terms=options.max_width >= TERMS_COLUMN_WIDTH)


def _gates_table(explanation: Explanation) -> Table | Text:
    if not explanation.gates:
        return Text(
            _(
                "No definition of this cell is a single sigmoid, tanh or ReLU, so it has no gates to show; "
                "sigma_max(W_hh) = {sigma}"
            ).format(sigma=f"{explanation.sigma_max_hh:.3g}")
        )
    table = Table(title=_("Gates over the trajectory"), title_justify="left")
    table.add_column(_("gate"), no_wrap=True)
    table.add_column(_("activation"))
    for label in ("5 %", "25 %", _("median"), "75 %", "95 %"):
        table.add_column(label, justify="right")
    table.add_column(_("saturated"), justify="right")
    for gate in explanation.gates:
        table.add_row(
            gate.name,
            gate.activation,
            *(f"{value:.2f}" for value in gate.quantiles.values()),
            _share(gate.saturated_fraction),
        )
    caption = _("saturated: derivative below 0.05; sigma_max(W_hh) = {sigma}").format(
        sigma=f"{explanation.sigma_max_hh:.3g}"
    )
    if math.isfinite(explanation.pascanu_factor):
        caption += "; " + _("Pascanu's gamma sigma_max = {factor}").format(factor=f"{explanation.pascanu_factor:.3g}")
    table.caption = caption
    return table


#: What each suggested change does, in words, by the option it changes (and its direction where it matters).
CHANGE_WORDS = {
    "forget_bias": N_("forget gates f nearer 1: the carousel keeps more of c per step"),
    "update_bias": N_("update gates z nearer 1: the leak keeps more of h per step"),
    "gain up": N_("larger recurrent weights, nearer the edge where products neither shrink nor grow"),
    "gain down": N_("smaller recurrent weights"),
    "orthogonal": N_("orthogonal recurrent blocks: every singular value equals the gain"),
    "identity": N_("identity recurrent weights (IRNN)"),
    "hidden_size": N_("another hidden size H: the default init scales input weights and biases by 1/sqrt(H)"),
}


def _change_words(explanation: Explanation, changes: dict) -> str:
    """What a suggestion's change does, in the current language."""
    if "init" in changes:
        key = str(changes["init"])
    elif "gain" in changes:
        key = "gain up" if changes["gain"] > float(explanation.analysis.config.get("gain", 1.0)) else "gain down"
    else:
        key = next(iter(changes))
    return _(CHANGE_WORDS[key]) if key in CHANGE_WORDS else ""


def _suggestions_table(explanation: Explanation) -> Table:
    table = Table(title=_("What would change it (rerun and measured)"), title_justify="left")
    table.add_column(_("add to the command"), no_wrap=True)
    table.add_column(_("what it changes"))
    table.add_column(_("rate/step"), justify="right")
    table.add_column(_("e-folding lag"), justify="right")
    table.add_column(_("verdict"))
    for suggestion in explanation.suggestions:
        table.add_row(
            " ".join(suggestion.arguments),
            _change_words(explanation, suggestion.changes),
            format_rate(suggestion.rate_per_step),
            format_steps(suggestion.efolding_lag),
            Text(verdict_word(suggestion.verdict), style=VERDICT_STYLES.get(suggestion.verdict, "")),
        )
    return table


def explanation_report(explanation: Explanation) -> Group:
    """The ``explain`` report: the paths, the gates, the why in words and the measured suggestions."""
    why = Text("\n").join(Text(f"{k}. {sentence}") for k, sentence in enumerate(explanation.why(), start=1))
    analysis = explanation.analysis
    parts: list = [Text(analysis.describe(), style="bold")]
    if analysis.num_layers > 1 or analysis.bidirectional:
        parts.append(Text(_("Measured on the top layer's forward direction, the recurrence the profile follows.")))
    parts += [
        _PathsTable(explanation),
        _gates_table(explanation),
        Panel(why, title=_("Why"), title_align="left"),
    ]
    if explanation.suggestions:
        parts.append(_suggestions_table(explanation))
    return Group(*parts)


def explanation_summary_line(explanation: Explanation) -> Text:
    """One line for ``--quiet``: the verdict and the path that carries the gradient."""
    analysis = explanation.analysis
    carrier = explanation.carrier
    line = _("{cell}: {verdict}, rate {rate}/step; carried by {path}").format(
        cell=analysis.cell,
        verdict=verdict_word(analysis.verdict),
        rate=format_rate(analysis.rate_per_step),
        path=carrier.name if carrier is not None else "-",
    )
    return Text(line)
