"""The explanation figure: each path's product over the lag beside the full product, and the gates' distributions."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradscope.analysis.explanation import Explanation
from gradscope.figures.style import LAG_LABEL, SERIES_COLOURS, masked, new_grid, profile_label, styled, unit_line
from gradscope.i18n import _


@styled
def explanation_figure(explanation: Explanation, *, axes: list[Axes] | None = None) -> Figure:
    """Left: ``log10`` norm of every path's product alone and of the full product against the lag; right:
    every gate's values over the trajectory as a box plot (5-95 % whiskers, the quantiles the result holds).

    Args:
        explanation: from :func:`gradscope.explain`.
        axes: two axes to draw on instead of a new figure.
    """
    fig, (left, right) = new_grid(2, axes, (11.0, 4.4), sharey=False)
    analysis = explanation.analysis
    left.plot(analysis.lags, masked(analysis.log10_norm), color="black", linewidth=2.2, label=_("full product"))
    for k, path in enumerate(explanation.paths):
        label = f"{path.name}: {path.formula}"
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        left.plot(analysis.lags, masked(path.log10_norm), color=colour, linewidth=1.2, label=label)
    unit_line(left, None)
    finite = [v for v in analysis.log10_norm if v > -1e300]
    if finite:  # paths alone can fall far below the full product: keep the full product readable
        left.set_ylim(bottom=min(finite) - 0.5 * (max(finite) - min(finite)) - 1.0)
    left.set_xlabel(_(LAG_LABEL))
    left.set_ylabel(profile_label(analysis.norm))
    left.set_title(_("Paths of the step Jacobian"))
    left.legend(fontsize="small")
    gates = explanation.gates
    if gates:
        right.boxplot(
            [g.values.reshape(-1) for g in gates],
            whis=(5, 95),
            showfliers=False,
            tick_labels=[f"{g.name} ({g.activation})" for g in gates],
        )
    right.set_title(_("Gates over the trajectory"))
    fig.suptitle(analysis.describe())
    return fig
