"""Sweep rates: the median rate per step against the first swept option, its band, and the mean-field theory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from gradscope.figures.style import CELL_COLOURS, REFERENCE_COLOUR, SERIES_COLOURS, masked, minus, new_axes, styled
from gradscope.figures.sweep import fixed_context
from gradscope.i18n import _
from gradscope.studies.sweep_result import SweepResult

#: Quantiles of the band drawn around a sweep's median rate.
SWEEP_BAND = (0.1, 0.9)
THEORY_COLOUR = REFERENCE_COLOUR


def _axis_positions(values: Sequence[Any]) -> tuple[np.ndarray, list[str] | None]:
    """``(x, labels)``: numeric values as they are, anything else (``init``, ``chrono``) at 0, 1, ... with labels."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64), None
    return np.arange(len(values), dtype=np.float64), [str(v) for v in values]


@styled
def sweep_rate_figure(
    results: SweepResult | Sequence[SweepResult],
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Median rate per step (natural log of ``||P_k||``) against the first swept parameter, with the
    10-90 % band over samples and, for the tanh RNN, the mean-field theory curve.

    One curve per combination of the other swept parameters (each labelled with its values); several
    results (e.g. one per cell, the same axes) share the axes, each labelled with its cell.

    Args:
        results: one :class:`~gradscope.studies.sweep_result.SweepResult` or several; ``by_grid("rate_per_step")``
            is ``(P, S)`` (grid points by samples) and ``theory_rate()`` ``(P*S,)`` or ``None``.
        title: replaces the default title (cell and fixed settings).
        ax: draw here instead of on a new figure.
    """
    group = list(results) if isinstance(results, (list, tuple)) else [results]
    if not group:
        raise ValueError("sweep_rate_figure needs at least one sweep result")
    fig, ax = new_axes(ax)
    labels_used: list[str] | None = None
    several = len(group) > 1
    for result in group:
        labels_used = _draw_sweep_rates(ax, result, several)
    spec = group[0].spec
    first = spec.value_columns[0]
    ax.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, zorder=1)
    if labels_used is not None:
        ax.set_xticks(np.arange(len(labels_used)), [minus(t) for t in labels_used])
    ax.set_xlabel(first.replace("_", " "))
    ax.set_ylabel(_(r"rate per step of $\ln \|\partial s_T / \partial s_{{T-k}}\|$").format())
    handles, _labels = ax.get_legend_handles_labels()
    samples = sorted({int(r.spec.samples) for r in group})
    if samples[-1] > 1:
        low, high = (round(100 * q) for q in SWEEP_BAND)
        counts = "/".join(map(str, samples))
        band = _("{low}-{high} % of {counts} samples").format(low=low, high=high, counts=counts)
        handles.append(Patch(facecolor="#999999", alpha=0.35, linewidth=0, label=band))
    ax.legend(handles=handles, loc="best")
    if title is None:
        fixed = fixed_context(spec)
        names = ", ".join(_(r.spec.problem.spec.display_name) for r in group)
        heading = _("{names}: gradient rate per step against {parameter}").format(
            names=names, parameter=first.replace("_", " ")
        )
        title = f"{heading}\n{fixed}"
    ax.set_title(title)
    return fig


def _draw_sweep_rates(ax: Axes, result: SweepResult, several: bool) -> list[str] | None:
    """Draw one sweep's curves on ``ax``; returns the categorical tick labels (``None`` for numeric x)."""
    spec = result.spec
    grid = result.grid()
    medians, lowers, uppers = result.rate_band(SWEEP_BAND)  # (P,) each, over the samples
    theory = result.theory_rate()
    theory_points = None if theory is None else np.asarray(theory, dtype=np.float64)[:: int(spec.samples)]
    first, others = spec.value_columns[0], spec.value_columns[1:]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for p, point in enumerate(grid):
        groups.setdefault(tuple(point[n] for n in others), []).append(p)
    names = [", ".join(f"{n} = {v}" for n, v in zip(others, key, strict=True)) for key in groups]
    if len(groups) == 1:
        colours = [CELL_COLOURS.get(spec.cell_name, SERIES_COLOURS[0])]
    else:
        colours = list(mpl.colormaps["viridis"](np.linspace(0.0, 0.85, len(groups))))
    prefix = f"{_(spec.problem.spec.display_name)}: " if several else ""
    labels_used: list[str] | None = None
    for points, name, colour in zip(groups.values(), names, colours, strict=True):
        x, labels_used = _axis_positions([grid[p][first] for p in points])
        median, lower, upper = medians[points], lowers[points], uppers[points]
        suffix = f" ({name})" if name else ""
        if spec.samples > 1:
            ax.fill_between(x, masked(lower), masked(upper), color=colour, alpha=0.25, linewidth=0, zorder=2)
        label = f"{prefix}{_('median')}{suffix}"
        ax.plot(x, masked(median), color=colour, marker="o", markersize=3.5, label=label, zorder=3)
        if theory_points is not None:
            theory_label = _("tanh RNN mean-field theory") if several else _("mean-field theory")
            ax.plot(
                x,
                masked(theory_points[points]),
                color=THEORY_COLOUR,
                linestyle="--",
                linewidth=1.3,
                label=f"{theory_label}{suffix}",
                zorder=4,
            )
    return labels_used
