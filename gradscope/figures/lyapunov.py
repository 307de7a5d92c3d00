"""The Lyapunov spectrum: exponent index against ``lambda_i``, with its errors, theory, and running estimates."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradscope.analysis.describe import cell_title, describe_config
from gradscope.analysis.lyapunov_spectrum import LyapunovSpectrum
from gradscope.figures.style import (
    CELL_COLOURS,
    OKABE_ITO,
    REFERENCE_COLOUR,
    SERIES_COLOURS,
    masked,
    minus,
    new_grid,
    styled,
)
from gradscope.i18n import _

THEORY_COLOUR = REFERENCE_COLOUR


@styled
def lyapunov_figure(
    spectrum: LyapunovSpectrum,
    *,
    theory: np.ndarray | None = None,
    theory_label: str | None = None,
    top_theory: float | None = None,
    show_running: bool = True,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """The Lyapunov spectrum (exponent index i against ``lambda_i``, natural log per step) with its
    standard errors and the zero line; optionally the running estimates against averaged steps.

    Args:
        spectrum: a :class:`~gradscope.analysis.lyapunov_spectrum.LyapunovSpectrum`: ``exponents`` ``(K,)``,
            ``standard_error`` ``(K,)``, ``running_steps`` ``(M,)``, ``running`` ``(M, K)``, and the
            theory it holds where it applies (``theory``, ``top_theory``), drawn unless replaced here.
        theory: ``(K,)`` a prediction to overlay instead of the spectrum's own (e.g.
            :func:`gradscope.analysis.theory.newman_spectrum`).
        theory_label: the legend entry of ``theory``.
        top_theory: a prediction of ``lambda_1`` alone instead of the spectrum's own (e.g. the mean-field rate
            of the random tanh RNN, :func:`~gradscope.analysis.theory.tanh_rnn_mean_field_rate`), a dashed
            horizontal line on both panels.
        show_running: add a right panel with the running estimates (up to 8 exponents drawn).
        title: replaces the default title.
        axes: one axes (spectrum only) or two (spectrum, running) instead of a new figure.
    """
    theory = spectrum.theory if theory is None else theory
    theory_label = spectrum.theory_label if theory_label is None else theory_label
    top_theory = spectrum.top_theory if top_theory is None else top_theory
    count = 2 if show_running else 1
    fig, panels = new_grid(count, axes, (11.0, 4.4) if show_running else (7.2, 4.4), sharey=False)
    ax = panels[0]
    values = np.asarray(spectrum.exponents, dtype=np.float64)
    errors = np.asarray(spectrum.standard_error, dtype=np.float64)
    index = np.arange(1, values.size + 1)
    colour = CELL_COLOURS.get(spectrum.cell, SERIES_COLOURS[0])
    ax.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, zorder=1, label=r"$\lambda = 0$")
    ax.errorbar(
        index,
        masked(values),
        yerr=np.where(np.isfinite(errors), errors, 0.0),
        color=colour,
        marker="o",
        markersize=3.5,
        capsize=2,
        label=_("QR (Benettin) estimate ± s.e."),
        zorder=3,
    )
    if theory is not None:
        ax.plot(
            index,
            masked(np.asarray(theory, dtype=np.float64)),
            color=THEORY_COLOUR,
            linestyle="--",
            label=theory_label,
            zorder=4,
        )
    top_style = {"color": OKABE_ITO["bluish green"], "linestyle": "--", "linewidth": 1.3, "zorder": 4}
    if top_theory is not None:
        label = _("mean-field {symbol} = {value}").format(symbol="$\\lambda_1$", value=minus(f"{top_theory:+.4f}"))
        ax.axhline(top_theory, label=label, **top_style)
    ax.set_xlabel(_("exponent index i (top {count} of state {state})").format(count=values.size, state=spectrum.state))
    ax.set_ylabel(_(r"$\lambda_i$ (natural log per step)"))
    ax.set_xlim(0.5, values.size + 0.5)
    ax.legend(loc="best")
    if show_running:
        run_ax = panels[1]
        shown = min(values.size, 8)
        colours = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, shown))
        steps = np.asarray(spectrum.running_steps)
        for i in range(shown):
            run_ax.plot(steps, masked(spectrum.running[:, i]), color=colours[i], label=f"$\\lambda_{{{i + 1}}}$")
        run_ax.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, zorder=1)
        if top_theory is not None:
            run_ax.axhline(top_theory, **top_style)
        run_ax.set_xlabel(_("averaged steps"))
        run_ax.set_ylabel(_("running estimate"))
        run_ax.set_title(_("convergence"))
        run_ax.legend(loc="best", fontsize=8, ncol=2)
    if title is None:
        title = _(
            "{cell}: Lyapunov spectrum, H={hidden_size}, I={input_size}, T={steps} (transient {transient}), {origin}"
        ).format(
            cell=_(cell_title(spectrum.cell)),
            hidden_size=spectrum.hidden_size,
            input_size=spectrum.input_size,
            steps=spectrum.steps,
            transient=spectrum.transient,
            origin=describe_config(spectrum.config),
        )
    (fig.suptitle if show_running and axes is None else ax.set_title)(title)
    return fig
