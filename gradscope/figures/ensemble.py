"""Ensemble bands: the pointwise median and quantile band of each ensemble's profiles, on one axes."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from gradscope.analysis.comparison import EnsembleComparison
from gradscope.analysis.describe import describe_config
from gradscope.analysis.ensemble import Ensemble
from gradscope.figures.style import lag_frame, masked, new_axes, rate_text, series_colours, styled
from gradscope.i18n import _


@styled
def ensemble_figure(
    ensembles: Ensemble | EnsembleComparison | Sequence[Ensemble],
    *,
    show_members: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Median and quantile band of one or more ensembles on one axes.

    Args:
        ensembles: one :class:`~gradscope.analysis.ensemble.Ensemble`, several, or the
            :class:`~gradscope.analysis.comparison.EnsembleComparison` of ``gradscope.compare(..., samples=N)``;
            each draws a band (``lower``..``upper``) and its median, labelled with ``Ensemble.label``.
        show_members: also draw every draw's profile, thin and faint.
        title: replaces the default title (the shared configuration).
        ax: draw here instead of on a new figure.
    """
    if isinstance(ensembles, EnsembleComparison):
        ensembles = ensembles.ensembles
    group = [ensembles] if isinstance(ensembles, Ensemble) else list(ensembles)
    if not group:
        raise ValueError("ensemble_figure needs at least one ensemble")
    fig, ax = new_axes(ax)
    cells = [e.cell for e in group]
    keys = cells if len(set(cells)) == len(cells) else [e.label for e in group]
    for e, colour in zip(group, series_colours(keys), strict=True):
        if show_members:
            for row in e.profiles:
                ax.plot(e.lags, masked(row), color=colour, linewidth=0.5, alpha=0.25, zorder=1)
        ax.fill_between(e.lags, masked(e.lower), masked(e.upper), color=colour, alpha=0.25, linewidth=0, zorder=2)
        ax.plot(
            e.lags,
            masked(e.median),
            color=colour,
            label=_("{label}: median, rate {rate}").format(label=_(e.label), rate=rate_text(e.median_rate)),
            zorder=3,
        )
    low, high = (round(100 * q) for q in group[0].quantiles)
    counts = sorted({e.samples for e in group})
    band_label = _("shaded: {low}-{high} % of {draws} draws (pointwise)").format(
        low=low, high=high, draws="/".join(map(str, counts))
    )
    first = group[0]
    lag_frame(ax, first.norm, max(e.steps for e in group))
    if title is None:
        init = describe_config(first.config)
        names = ", ".join(_(e.label) for e in group)
        seeds = (
            _("seeds {first}-{last}").format(first=int(first.seeds[0]), last=int(first.seeds[-1]))
            if first.samples > 1
            else _("seed {seed}").format(seed=first.seeds[0])
        )
        title = (
            _("{names}: median and spread over random weights and inputs").format(names=names)
            + f"\nH={first.hidden_size}, I={first.input_size}, T={first.steps}, {init}, {seeds}"
        )
    ax.set_title(title)
    handles, _labels = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="#999999", alpha=0.35, linewidth=0, label=band_label))
    ax.legend(handles=handles, loc="best")
    return fig
