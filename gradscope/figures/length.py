"""Sequence length: how the end-to-end gradient and the rate change as the sequence grows."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradscope.analysis.describe import describe_config
from gradscope.figures.style import (
    LENGTH_LABEL,
    REFERENCE_COLOUR,
    masked,
    new_grid,
    profile_label,
    series_colours,
    styled,
    unit_line,
)
from gradscope.i18n import _
from gradscope.studies.length import LengthStudy


@styled
def length_figure(study: LengthStudy, *, axes: Sequence[Axes] | None = None, title: str | None = None) -> Figure:
    """How ``||d s_T / d s_0||`` (left) and the rate per step (right) change as T grows.

    Draws the median over the study's seeds, and the full range over seeds as a band when there
    are several.

    Args:
        study: from :func:`gradscope.studies.length.length_study`.
        axes: two axes instead of a new figure.
        title: replaces the default title.
    """
    fig, (left, right) = new_grid(2, axes, (10.0, 4.4), sharey=False)
    # A configuration labelled with its cell's display name gets the cell's own colour.
    keys = [
        p.spec.name if name == p.spec.display_name else name
        for p, name in zip(study.problems, study.labels, strict=True)
    ]
    colours = series_colours(keys)
    finals, rates = study.median_final(), study.median_rate()
    for v, (name, colour) in enumerate(zip(study.labels, colours, strict=True)):
        for ax, median, values in ((left, finals[v], study.final_log10_norm[v]), (right, rates[v], study.rates[v])):
            ax.plot(study.lengths, masked(median), color=colour, marker="o", markersize=4, label=name)
            if study.seeds.size > 1:
                ax.fill_between(
                    study.lengths,
                    masked(values.min(axis=0)),
                    masked(values.max(axis=0)),
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                )
    unit_line(left)
    right.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, zorder=1)
    left.set_ylabel(profile_label("spectral", start="0"))
    right.set_ylabel(_(r"rate per step (fit of $\ln\|P_k\|$, k = 1..T)"))
    for ax in (left, right):
        ax.set_xlabel(_(LENGTH_LABEL))
    left.set_title(_(r"End-to-end gradient $\|\partial s_T / \partial s_0\|$"))
    right.set_title(_("Fitted rate per step"))
    if axes is None:
        handles, _labels = left.get_legend_handles_labels()
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4))
    else:
        left.legend(loc="best")
    if axes is None:
        if title is None:
            s = study.problems[0]
            seeds = (
                _("median of {count} seeds (band: min-max)").format(count=study.seeds.size)
                if study.seeds.size > 1
                else _("seed {seed}").format(seed=study.seeds[0])
            )
            title = (
                _("How the gradient through the whole sequence changes with its length T")
                + f"\nH={s.hidden_size}, I={s.input_size}, {describe_config(s.config)}, {seeds}"
            )
        fig.suptitle(title)
    return fig
