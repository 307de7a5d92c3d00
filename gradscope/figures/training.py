"""Gradient flow over training: the profiles of a run's checkpoints as a heat map (training step x lag) above
the rate per step and the reach against the training step."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gradscope.analysis.describe import cell_title
from gradscope.figures.depth import UNREACHED_COLOUR
from gradscope.figures.style import (
    LAG_LABEL,
    REFERENCE_COLOUR,
    SERIES_COLOURS,
    log10_colorbar,
    log10_colour_scale,
    masked,
    profile_label,
    styled,
)
from gradscope.i18n import N_, _
from gradscope.studies.training import TrainingSeries

STEP_LABEL = N_("training step")
REACH_COLOUR = "black"


def step_edges(steps: np.ndarray) -> np.ndarray:
    """``(N + 1,)`` cell edges around each training step: midway between neighbours, half a spacing beyond
    the ends (one step: +-0.5). Steps must be strictly increasing."""
    steps = np.asarray(steps, dtype=np.float64)
    if steps.size == 1:
        return np.array([steps[0] - 0.5, steps[0] + 0.5])
    middle = (steps[:-1] + steps[1:]) / 2.0
    return np.concatenate([[steps[0] - (middle[0] - steps[0])], middle, [steps[-1] + (steps[-1] - middle[-1])]])


@styled
def training_figure(series: TrainingSeries, *, title: str | None = None) -> Figure:
    """Top: ``log10 ||d s_T / d s_{T-k}||`` of every checkpoint, training step across, lag up (one column per
    checkpoint, :func:`~gradscope.figures.style.log10_colour_scale`), with the reach drawn over it. Below, on
    the same step axis: the rate per step and the reach (steps to fall by a factor e, at most T).

    Args:
        series: its ``log10_norms`` ``(N, T)`` are drawn as they are (column ``n`` is checkpoint ``n``), with
            ``steps`` ``(N,)``, ``rates`` ``(N,)`` and ``reaches`` ``(N,)``.
        title: replaces the default title (cell and sizes).
    """
    grid = series.log10_norms
    lags, steps = series.lags, series.steps
    positions = steps.astype(np.float64)
    if steps.size > 1 and np.any(np.diff(steps) <= 0):  # repeated steps (a log beside checkpoints): by position
        positions = np.arange(steps.size, dtype=np.float64)
    fig = Figure(figsize=(7.6, 8.4), layout="constrained")
    FigureCanvasAgg(fig)
    heat, rate_ax, reach_ax = fig.subplots(3, 1, sharex=True, height_ratios=(2.2, 1.0, 1.0))
    finite = grid[np.isfinite(grid)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 0.0)
    cmap, colour_norm, ticks = log10_colour_scale(low, high)
    cmap = cmap.with_extremes(bad=UNREACHED_COLOUR)
    lag_edges = np.arange(lags.size + 1, dtype=np.float64) + 0.5
    image = heat.pcolormesh(step_edges(positions), lag_edges, masked(grid.T), cmap=cmap, norm=colour_norm)
    heat.plot(positions, series.reaches, color=REACH_COLOUR, marker="o", markersize=3, linewidth=1.4, label=_("reach"))
    heat.set_ylabel(_(LAG_LABEL))
    heat.set_ylim(0.5, lags.size + 0.5)
    heat.legend(loc="upper right", frameon=True)
    heat.grid(False)
    log10_colorbar(fig, image, heat, ticks, profile_label(str(series.run["norm"])))

    rate_ax.plot(positions, series.rates, color=SERIES_COLOURS[0], marker="o", markersize=3)
    rate_ax.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1)
    for bound in (series.thresholds.vanishing_rate, series.thresholds.exploding_rate):
        rate_ax.axhline(bound, color=REFERENCE_COLOUR, linestyle="--", linewidth=0.8)
    rate_ax.set_ylabel(_("rate per step (ln)"))
    reach_ax.plot(positions, series.reaches, color=SERIES_COLOURS[1], marker="o", markersize=3)
    reach_ax.axhline(float(lags.size), color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1)
    reach_ax.set_ylim(0.0, lags.size * 1.05)
    reach_ax.set_ylabel(_("reach (steps)"))
    reach_ax.set_xlabel(_(STEP_LABEL))
    if positions is not steps and not np.array_equal(positions, steps):
        reach_ax.set_xticks(positions, [str(s) for s in steps])
    run = series.run
    heading = _("{cell}: gradient flow over training").format(cell=_(cell_title(str(run["cell"]))))
    sizes = f"H={run['hidden_size']}, I={run['input_size']}, T={run['steps']}"
    fig.suptitle(title or f"{heading}\n{sizes}")
    return fig
