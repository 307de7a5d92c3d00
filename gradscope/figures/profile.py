"""The profile figure: ``log10 ||d s_T / d s_{T-k}||`` against the lag, with its fitted rate and Pascanu's bound."""

from __future__ import annotations

import numpy as np
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

#: The bound's span (decades) beyond which the measured curve gets its own zoomed inset, relative to its span.
INSET_RATIO = 4.0


def needs_inset(analysis: Analysis) -> bool:
    """Whether Pascanu's bound spans more than :data:`INSET_RATIO` times the decades the measured profile does,
    so that on one scale the measured curve would look flat (an exploding RNN: the bound grows far faster)."""
    bound = analysis.pascanu_bound
    finite = analysis.log10_norm[np.isfinite(analysis.log10_norm)]
    if bound is None or finite.size < 2:
        return False
    measured = max(float(np.ptp(finite)), 1e-3)
    return float(np.ptp(bound.log10)) > INSET_RATIO * measured


@styled
def profile_figure(
    analysis: Analysis,
    *,
    label: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    inset: bool | None = None,
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
        inset: also draw the measured curve and its fit on their own scale in an inset (upper left), so
            that they stay readable beside a much steeper bound; default :func:`needs_inset`.
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
    if inset if inset is not None else needs_inset(a):
        _zoom(ax, a, colour, fit)
    heading = _("{label}: gradient norm through time ({verdict})").format(label=label, verdict=verdict_word(a.verdict))
    ax.set_title(f"{heading}\n{title or a.describe(with_cell=False)}")
    if ax.child_axes:  # the inset sits upper left, above the steep bound: the legend goes between the curves
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.12))
    else:
        ax.legend(loc="best")
    return fig


def _zoom(ax: Axes, a: Analysis, colour: str, fit: np.ndarray | None) -> Axes:
    """The measured profile (and its fitted line) alone, on its own y scale, inset in ``ax``'s upper left."""
    zoom = ax.inset_axes((0.08, 0.5, 0.4, 0.38))
    zoom.plot(a.lags, masked(a.log10_norm), color=colour, zorder=3)
    if fit is not None:
        zoom.plot(a.lags, fit, color=REFERENCE_COLOUR, linestyle="--", linewidth=1.0, zorder=4)
    zoom.set_xlim(0, a.steps + 1)
    zoom.set_title(_("measured, on its own scale"), fontsize=8)
    zoom.tick_params(labelsize=7)
    return zoom
