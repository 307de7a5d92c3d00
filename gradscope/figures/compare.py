"""Cell comparison: several profiles on one axes, each with its rate and verdict."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradscope.analysis.comparison import Comparison
from gradscope.analysis.describe import describe_config, verdict_word
from gradscope.analysis.profile import Analysis
from gradscope.figures.style import lag_frame, masked, new_axes, rate_text, series_colours, styled
from gradscope.i18n import _


@styled
def compare_figure(
    analyses: Comparison | Sequence[Analysis],
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Several profiles on one axes (cells, or variants of one cell), each with its rate and verdict.

    Args:
        analyses: the :class:`~gradscope.analysis.comparison.Comparison` of :func:`gradscope.compare`, or
            results of :func:`gradscope.analyze` (normally with the same sizes and seed).
        labels: legend names (default: the cells' names).
        title: replaces the default title (the shared sizes and seed).
        ax: draw here instead of on a new figure.
    """
    if isinstance(analyses, Comparison):
        analyses = analyses.analyses
    if not analyses:
        raise ValueError("compare_figure needs at least one analysis")
    names = list(labels) if labels is not None else [_(a.display_name) for a in analyses]
    if len(names) != len(analyses):
        raise ValueError(f"{len(analyses)} analyses but {len(names)} labels")
    fig, ax = new_axes(ax)
    keys = [a.cell for a in analyses] if labels is None else names
    for a, name, colour in zip(analyses, names, series_colours(keys), strict=True):
        label = f"{name}: {rate_text(a.rate_per_step)}, {verdict_word(a.verdict)}"
        ax.plot(a.lags, masked(a.log10_norm), color=colour, label=label)
    first = analyses[0]
    lag_frame(ax, first.norm, max(a.steps for a in analyses))
    if title is None:
        config = first.config
        init = describe_config(config)
        title = (
            _("Cell comparison: gradient norm through time, same sizes and seed")
            + f"\nH={first.hidden_size}, I={first.input_size}, T={first.steps}, {init}, "
            + _("seed {seed}").format(seed=config.get("seed", 0))
        )
    ax.set_title(title)
    ax.legend(loc="best")
    return fig
