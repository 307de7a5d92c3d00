"""Singular-value spectra: every singular value of ``P_k`` at each snapshot lag, relative to the largest."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from gradscope.analysis.comparison import Comparison
from gradscope.analysis.describe import describe_config
from gradscope.analysis.profile import Analysis
from gradscope.analysis.spectra import relative_spectrum, resolution_floor
from gradscope.figures.style import REFERENCE_COLOUR, masked, new_grid, styled
from gradscope.i18n import _


@styled
def spectrum_figure(
    analyses: Comparison | Sequence[Analysis],
    *,
    labels: Sequence[str] | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """All singular values of ``P_k`` at each snapshot lag, relative to the largest: one panel per analysis.

    Draws ``log10(sigma_i / sigma_1)`` against the index i for each lag, the one-decade line
    (``sigma_1 / 10``) that :func:`gradscope.analysis.spectra.surviving_directions` counts against, and
    shades the float64 resolution floor: values below it are rounding noise and are not drawn. The
    absolute scale ``sigma_1 = ||P_k||`` is the profile's.

    Args:
        analyses: results of :func:`gradscope.analyze` run with ``snapshot_lags``.
        labels: panel titles (default: the cells' names).
        axes: one axes per analysis instead of a new figure.
    """
    if isinstance(analyses, Comparison):
        analyses = analyses.analyses
    if not analyses:
        raise ValueError("spectrum_figure needs at least one analysis")
    names = list(labels) if labels is not None else [_(a.display_name) for a in analyses]
    for a, name in zip(analyses, names, strict=True):
        if not a.singular_values:
            raise ValueError(f"{name}: the analysis has no singular values (run analyze with snapshot_lags)")
    fig, panels = new_grid(len(analyses), axes, (3.4 * len(analyses) + 0.6, 4.6), sharey=True)
    bottom = min(resolution_floor(a) for a in analyses) - 1.0
    lag_sets = {tuple(sorted(a.singular_values)) for a in analyses}
    shared_legend = axes is None and len(lag_sets) == 1
    for a, name, ax in zip(analyses, names, panels, strict=True):
        lags = sorted(a.singular_values)
        colours = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, len(lags)))
        size = len(a.singular_values[lags[0]])
        index = np.arange(1, size + 1)
        ax.axhspan(bottom, resolution_floor(a), color="#BBBBBB", alpha=0.35, linewidth=0, zorder=0)
        ax.axhline(-1.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, zorder=1)
        for k, colour in zip(lags, colours, strict=True):
            ax.plot(
                index, masked(relative_spectrum(a, k, resolved_only=True)), color=colour, label=f"k = {k}", zorder=2
            )
        if a.state == "[h; c]" and size == 2 * a.hidden_size:
            _mark_carousel(ax, a.hidden_size, bottom)
        ax.set_ylim(bottom, 0.5)
        ax.set_xlim(0.5, size + 0.5)
        ax.set_xlabel(_("singular value index i (of {size})").format(size=size))
        ax.set_title(_("{name} (state {state})").format(name=name, state=a.state))
        handles, _labels = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, label=r"$\sigma_1 / 10$"),
            Patch(facecolor="#BBBBBB", alpha=0.35, linewidth=0, label=_("below float64 resolution (not drawn)")),
        ]
        if not shared_legend:
            ax.legend(handles=handles, loc="lower left", fontsize=8)
    if shared_legend:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    panels[0].set_ylabel(r"$\log_{10}\,[\sigma_i(P_k)\,/\,\sigma_1(P_k)]$")
    if axes is None:
        first = analyses[0]
        config = first.config
        init = describe_config(config)
        fig.suptitle(
            _(
                r"Singular values of $P_k = \partial s_T / \partial s_{{T-k}}$ relative to the largest:"
                " how many directions survive"
            ).format()
            + f"\nH={first.hidden_size}, I={first.input_size}, T={first.steps}, {init}, "
            + _("seed {seed}").format(seed=config.get("seed", 0))
        )
    return fig


def _mark_carousel(ax: Axes, hidden: int, bottom: float) -> None:
    """The LSTM's split at index H: the first H directions are the cell-state carousel's (``dc_t/dc_{t-1} =
    diag(f_t)``), the other H go through ``h`` and ``W_hh`` (see :func:`gradscope.analysis.spectra.spectrum_split`)."""
    ax.axvline(hidden + 0.5, color=REFERENCE_COLOUR, linestyle="--", linewidth=0.9, zorder=1)
    y = bottom + 0.06 * (0.5 - bottom)
    ax.text(hidden, y, _("carousel (c)") + " ", ha="right", va="bottom", fontsize=8, color=REFERENCE_COLOUR)
    ax.text(hidden + 1, y, " " + _("through h, W_hh"), ha="left", va="bottom", fontsize=8, color=REFERENCE_COLOUR)
