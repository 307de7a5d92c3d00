"""The profile figure: ``log10 ||d s_T / d s_{T-k}||`` against the lag, with its fitted rate and Pascanu's bound."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradscope.analysis.describe import verdict_word
from gradscope.analysis.profile import Analysis
from gradscope.figures.style import (
    BOUND_COLOUR,
    CELL_COLOURS,
    LAG_LABEL,
    REFERENCE_COLOUR,
    SERIES_COLOURS,
    masked,
    new_axes,
    profile_label,
    rate_text,
    styled,
    unit_line,
)
from gradscope.i18n import _


@styled
def profile_figure(
    analysis: Analysis, *, label: str | None = None, title: str | None = None, ax: Axes | None = None
) -> Figure:
    """``log10 ||d s_T / d s_{T-k}||`` against the lag k, with ``||.|| = 1``, the fitted rate and,
    for the plain RNN, Pascanu's bound (:attr:`~gradscope.analysis.profile.Analysis.pascanu_bound`).

    Args:
        analysis: from :func:`gradscope.analyze`; the profile is drawn from its log10 values, so
            vanishing and exploding profiles both draw at any T.
        label: the profile's name in the legend (default: the cell's display name).
        title: the second title line (default: the configuration,
            :meth:`~gradscope.analysis.profile.Analysis.describe`).
        ax: draw here instead of on a new figure.
    """
    fig, ax = new_axes(ax)
    a = analysis
    label = label or _(a.display_name)
    fit, bound = a.fitted_log10, a.pascanu_bound
    colour = CELL_COLOURS.get(a.cell, SERIES_COLOURS[0])
    ax.plot(a.lags, masked(a.log10_norm), color=colour, label=_("{label}: measured").format(label=label), zorder=3)
    unit_line(ax)
    if fit is not None:
        ax.plot(
            a.lags,
            fit,
            color=REFERENCE_COLOUR,
            linestyle="--",
            linewidth=1.1,
            label=_("fitted rate {rate} (e-folding {lag} steps)").format(
                rate=rate_text(a.rate_per_step), lag=f"{a.efolding_lag:.3g}"
            ),
            zorder=4,
        )
    if bound is not None:
        ax.plot(
            a.lags,
            bound.log10,
            color=BOUND_COLOUR,
            linestyle="-.",
            linewidth=1.5,
            label=_("Pascanu bound {bound}, {factor} = {value}").format(
                bound=r"$(\gamma\,\sigma_{\max}(W_{hh}))^k$",
                factor=r"$\gamma\,\sigma_{\max}$",
                value=f"{bound.factor:.3g}",
            ),
            zorder=2,
        )
    ax.set_xlabel(_(LAG_LABEL))
    ax.set_ylabel(profile_label(a.norm))
    ax.set_xlim(0, a.steps + 1)
    heading = _("{label}: gradient norm through time ({verdict})").format(label=label, verdict=verdict_word(a.verdict))
    ax.set_title(f"{heading}\n{title or a.describe(with_cell=False)}")
    ax.legend(loc="best")
    return fig
