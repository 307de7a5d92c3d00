"""Gradient flow over training: the profiles of a run's checkpoints as a heat map (training step x lag) above
the rate per step and the reach against the training step."""

from __future__ import annotations

from collections.abc import Sequence

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


def _positions(series: TrainingSeries) -> np.ndarray:
    """Where each checkpoint sits on the step axis: its step, or its position when steps repeat."""
    steps = series.steps
    if steps.size > 1 and np.any(np.diff(steps) <= 0):  # repeated steps (a log beside checkpoints): by position
        return np.arange(steps.size, dtype=np.float64)
    return steps.astype(np.float64)


@styled
def training_figure(
    series: TrainingSeries | Sequence[TrainingSeries], *, labels: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Top: ``log10 ||d s_T / d s_{T-k}||`` of every checkpoint, training step across, lag up (one column per
    checkpoint, :func:`~gradscope.figures.style.log10_colour_scale`), with the reach drawn over it. Below, on
    the same step axis: the rate per step and the reach (steps to fall by a factor e, at most T).

    Args:
        series: one run, or several (e.g. an RNN and an LSTM trained alike): one heat map each, side by side on
            one colour scale, and one curve each in the panels below. Each run's ``log10_norms`` ``(N, T)`` is drawn
            as it is (column ``n`` is checkpoint ``n``), with ``steps``, ``rates`` and ``reaches`` ``(N,)``.
        labels: a name per run (default: its cell).
        title: replaces the default title.
    """
    runs = [series] if isinstance(series, TrainingSeries) else list(series)
    if not runs:
        raise ValueError("training_figure needs at least one training series")
    names = list(labels) if labels is not None else [_(cell_title(str(run.run["cell"]))) for run in runs]
    if len(names) != len(runs):
        raise ValueError(f"expected {len(runs)} labels, got {len(names)}")
    count = len(runs)
    fig = Figure(figsize=(7.6 if count == 1 else 5.2 * count, 8.4), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3, count, height_ratios=(2.2, 1.0, 1.0))
    heats = [fig.add_subplot(grid[0, 0])]
    heats += [fig.add_subplot(grid[0, c], sharey=heats[0]) for c in range(1, count)]
    rate_ax = fig.add_subplot(grid[1, :])
    reach_ax = fig.add_subplot(grid[2, :], sharex=rate_ax)
    finite = np.concatenate([run.log10_norms[np.isfinite(run.log10_norms)] for run in runs])
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 0.0)
    cmap, colour_norm, ticks = log10_colour_scale(low, high)
    cmap = cmap.with_extremes(bad=UNREACHED_COLOUR)
    colours = SERIES_COLOURS if count > 1 else SERIES_COLOURS[:1]
    image = None
    for heat, run, name in zip(heats, runs, names, strict=True):
        positions, lags = _positions(run), run.lags
        lag_edges = np.arange(lags.size + 1, dtype=np.float64) + 0.5
        image = heat.pcolormesh(
            step_edges(positions), lag_edges, masked(run.log10_norms.T), cmap=cmap, norm=colour_norm
        )
        heat.plot(positions, run.reaches, color=REACH_COLOUR, marker="o", markersize=3, linewidth=1.4, label=_("reach"))
        heat.set_ylim(0.5, lags.size + 0.5)
        heat.set_xlabel(_(STEP_LABEL))
        heat.legend(loc="upper right", frameon=True)
        heat.grid(False)
        if count > 1:
            heat.set_title(name)
    heats[0].set_ylabel(_(LAG_LABEL))
    assert image is not None
    log10_colorbar(fig, image, heats, ticks, profile_label(str(runs[0].run["norm"])))
    longest = max(int(run.lags.size) for run in runs)
    for index, (run, name) in enumerate(zip(runs, names, strict=True)):
        colour = colours[index % len(colours)] if count > 1 else SERIES_COLOURS[0]
        rate_ax.plot(_positions(run), run.rates, color=colour, marker="o", markersize=3, label=name)
        reach_colour = colour if count > 1 else SERIES_COLOURS[1]
        reach_ax.plot(_positions(run), run.reaches, color=reach_colour, marker="o", markersize=3, label=name)
    rate_ax.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1)
    for bound in (runs[0].thresholds.vanishing_rate, runs[0].thresholds.exploding_rate):
        rate_ax.axhline(bound, color=REFERENCE_COLOUR, linestyle="--", linewidth=0.8)
    rate_ax.set_ylabel(_("rate per step (ln)"))
    rate_ax.tick_params(labelbottom=False)
    reach_ax.axhline(float(longest), color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1)
    reach_ax.set_ylim(0.0, longest * 1.05)
    reach_ax.set_ylabel(_("reach (steps)"))
    reach_ax.set_xlabel(_(STEP_LABEL))
    if count > 1:
        rate_ax.legend(loc="best", frameon=True)
    first = runs[0]
    positions = _positions(first)
    if count == 1 and not np.array_equal(positions, first.steps):
        reach_ax.set_xticks(positions, [str(s) for s in first.steps])
    run = first.run
    if count == 1:
        heading = _("{cell}: gradient flow over training").format(cell=names[0])
    else:
        heading = _("Gradient flow over training: {runs}").format(runs=", ".join(names))
    sizes = f"H={run['hidden_size']}, I={run['input_size']}, T={run['steps']}"
    fig.suptitle(title or f"{heading}\n{sizes}")
    return fig
