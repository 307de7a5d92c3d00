"""Depth and time: the gradient of a stacked (or bidirectional) network's last output, layer by position."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from gradscope.analysis.profile import Analysis
from gradscope.engine.depth import DepthProfile
from gradscope.figures.profile import profile_figure
from gradscope.figures.style import log10_colorbar, log10_colour_scale, masked, new_grid, styled
from gradscope.i18n import N_, _, ngettext
from gradscope.params.network import DIRECTIONS

#: Cells whose gradient is exactly zero (``log10 = -inf``): ``y_T`` does not depend on that state,
#: e.g. the top reverse direction before the last position. Grey is not on the ``RdBu_r`` map.
UNREACHED_COLOUR = "#8C8C8C"
DEPTH_LABEL = r"$\log_{10}\,\|\partial y_T\,/\,\partial s^{(l)}_t\|_2$"
POSITION_LABEL = N_("input position t")
READS = {"forward": N_("reads t = 1 → T"), "reverse": N_("reads t = T → 1")}
DIRECTION_TITLES = {"forward": N_("forward direction ({reads})"), "reverse": N_("reverse direction ({reads})")}
#: Figure widths (inches) by the number of direction panels, as the other one- and two-panel figures.
DEPTH_WIDTHS = {1: 7.2, 2: 11.0}


def depth_grid(profiles: Sequence[DepthProfile], direction: str) -> np.ndarray:
    """``(L, T)`` ``log10 ||d y_T / d s^{(l, direction)}_t||``: row ``l`` is layer ``l``, column ``t - 1``
    position ``t`` (``-inf`` where the gradient is exactly zero)."""
    rows = sorted((p for p in profiles if p.direction == direction), key=lambda p: p.layer)
    return np.vstack([p.log10_norm for p in rows])


@styled
def depth_figure(analysis: Analysis, *, axes: Sequence[Axes] | None = None, title: str | None = None) -> Figure:
    """Layers by input positions, colour ``log10 ||d y_T / d s^{(l,d)}_t||_2``, one panel per direction.

    ``y_T`` is the network's last output (the top layer's directions concatenated) and
    ``s^{(l,d)}_t`` layer ``l``'s state in direction ``d`` right after it read position ``t``. Layer 0
    (the one that reads the input) is the bottom row. The panels share one colour scale
    (:func:`log10_colour_scale`); cells where the gradient is exactly zero are grey
    (:data:`UNREACHED_COLOUR`), explained in a legend at the bottom of the figure.

    Args:
        analysis: its ``depth_profiles`` (stacked or bidirectional weights, or ``depth_flow=True``)
            are drawn as they are: each panel's image is :func:`depth_grid`, ``(L, T)``.
        axes: one axes per direction (forward, then reverse) instead of a new figure.
        title: replaces the default title (:func:`depth_title`); only drawn on a new figure.
    """
    profiles = analysis.depth_profiles
    if not profiles:
        raise ValueError("depth_figure needs depth profiles: stacked or bidirectional weights, or depth_flow=True")
    directions = [d for d in DIRECTIONS if any(p.direction == d for p in profiles)]
    grids = [depth_grid(profiles, d) for d in directions]
    layers, steps = grids[0].shape
    fig, panels = new_grid(len(directions), axes, (DEPTH_WIDTHS[len(directions)], 4.4), sharey=True)
    values = np.concatenate([g[np.isfinite(g)] for g in grids])
    low, high = (float(values.min()), float(values.max())) if values.size else (-1.0, 0.0)
    cmap, colour_norm, ticks = log10_colour_scale(low, high)
    cmap = cmap.with_extremes(bad=UNREACHED_COLOUR)  # masked (-inf) cells
    for ax, direction, grid in zip(panels, directions, grids, strict=True):
        image = ax.imshow(
            masked(grid),
            origin="lower",  # layer 0 at the bottom, as the network is drawn
            aspect="auto",  # T columns, however many, fill the panel's width
            extent=(0.5, steps + 0.5, -0.5, layers - 0.5),
            cmap=cmap,
            norm=colour_norm,
            interpolation="nearest",
        )
        ax.set_yticks(np.arange(layers))
        ax.set_xlabel(_(POSITION_LABEL))
        ax.set_title(_(DIRECTION_TITLES[direction]).format(reads=_(READS[direction])))
        ax.grid(False)
    for ax in panels[1:]:
        ax.tick_params(labelleft=False)  # the same layers as the first panel
    panels[0].set_ylabel(_("layer l (0 = bottom, reads the input)"))
    log10_colorbar(fig, image, panels if len(panels) > 1 else panels[0], ticks, DEPTH_LABEL)
    if any(np.isneginf(g).any() for g in grids):
        key = Patch(facecolor=UNREACHED_COLOUR, label=_("grey: exactly 0, $y_T$ does not depend on this state"))
        fig.legend(handles=[key], loc="outside lower center", frameon=False)
    if axes is None:
        fig.suptitle(title or depth_title(analysis))
    return fig


def depth_title(analysis: Analysis) -> str:
    """Two lines: cell and structure (``"LSTM, 3 layers, bidirectional: ..."``), then the configuration."""
    structure = ngettext("{count} layer", "{count} layers", analysis.num_layers).format(count=analysis.num_layers)
    structure += _(", bidirectional") if analysis.bidirectional else ""
    heading = _("{cell}, {structure}: gradient of the last output $y_T$ through depth and time").format(
        cell=_(analysis.display_name), structure=structure
    )
    return f"{heading}\n{analysis.describe(with_cell=False)}"


@styled
def profile_depth_figure(analysis: Analysis) -> Figure:
    """:func:`profile_figure` of the top layer's forward recurrence above :func:`depth_figure`'s panels.

    What ``gradscope analyze --plot`` draws for stacked or bidirectional weights: the profile
    ``||d s_T / d s_{T-k}||`` of the top layer's own recurrence (what the verdict describes), and
    under it the gradient of the last output through every layer and direction.

    Args:
        analysis: an analysis with ``depth_profiles``.
    """
    a = analysis
    count = 2 if a.bidirectional else 1
    fig = Figure(figsize=(DEPTH_WIDTHS[count], 8.8), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, count)
    top = fig.add_subplot(grid[0, :])
    bottom = [fig.add_subplot(grid[1, 0])]
    bottom += [fig.add_subplot(grid[1, c], sharey=bottom[0]) for c in range(1, count)]
    # The suptitle names the cell and the configuration; the panel's title says which recurrence it shows.
    recurrence = _("the recurrence of the top layer's forward state s, which the verdict describes")
    profile_figure(a, label=_("top layer, forward"), title=recurrence, ax=top)
    depth_figure(a, axes=bottom)
    fig.suptitle(depth_title(a))
    return fig
