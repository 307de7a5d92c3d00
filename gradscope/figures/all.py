"""Figures: the only module that imports matplotlib (import it only where figures are made).

Every ``*_figure`` function takes result data from :mod:`gradscope.studies.experiments` or
:mod:`gradscope.analysis.ensemble` (and an optional ``ax`` or ``axes``), draws it and returns the
:class:`~matplotlib.figure.Figure`. They compute nothing, never save and never show: pyplot is not
used, so no window opens and no global figure list grows. :func:`render` turns a figure into PNG,
SVG or PDF bytes with the Agg renderer and without dates or version strings in the file, so the same
figure gives the same bytes on every run.

House style: matplotlib's defaults plus larger fonts, light grid, the Okabe-Ito colour-blind-safe
palette for lines, ``viridis`` for ordered series and ``RdBu_r`` (diverging, colour-blind safe)
with white at ``log10 ||.|| = 0`` for heatmaps (only its blue or red half when every value lies on
one side, :func:`log10_colour_scale`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import matplotlib as mpl
import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, ListedColormap, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from gradscope.analysis.analyze import Analysis
from gradscope.analysis.ensemble import Ensemble
from gradscope.engine.depth import DIRECTIONS, DepthProfile
from gradscope.errors import ConfigError
from gradscope.studies.experiments import (
    LengthStudy,
    ProfileView,
    Sweep,
    cell_title,
    config_text,
    describe_analysis,
    init_text,
    relative_spectrum,
    resolution_floor,
)

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
#: One fixed colour per built-in cell, the same in every figure.
CELL_COLOURS = {
    "rnn": OKABE_ITO["vermillion"],
    "rnn-relu": OKABE_ITO["reddish purple"],
    "lstm": OKABE_ITO["blue"],
    "gru": OKABE_ITO["bluish green"],
}
#: Colours for series that are not plain built-in cells, in order (yellow is left out: too light on white).
SERIES_COLOURS = [OKABE_ITO[n] for n in ("blue", "orange", "bluish green", "vermillion", "reddish purple", "sky blue")]
REFERENCE_COLOUR = "#444444"
BOUND_COLOUR = OKABE_ITO["orange"]

FORMATS = ("png", "svg", "pdf")
DPI = 150
STYLE: dict[str, Any] = {
    "figure.figsize": (7.2, 4.4),
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "font.size": 10.5,
    "axes.titlesize": 11,
    "axes.labelsize": 10.5,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=SERIES_COLOURS),
    "lines.linewidth": 1.7,
    "image.cmap": "viridis",
    # Deterministic files: SVG element ids are hashes salted with this instead of a random salt.
    "svg.hashsalt": "gradscope",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
}
#: File metadata: no dates, no version strings (identical bytes from run to run and across patch releases).
METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}

LAG_LABEL = "lag k (steps)"
LENGTH_LABEL = "sequence length T (steps)"

F = TypeVar("F", bound=Callable[..., Figure])


def styled(function: F) -> F:
    """Run a figure function under matplotlib's default style plus :data:`STYLE`, whatever the user's rc."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.style.context("default"), mpl.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def norm_symbol(norm: str) -> str:
    """``"2"`` for the spectral norm, ``"F"`` for Frobenius (the subscript of ``||.||``)."""
    return "F" if norm == "frobenius" else "2"


def profile_label(norm: str = "spectral", start: str = "T-k") -> str:
    """Mathtext for ``log10 ||d s_T / d s_{start}||`` with the norm's subscript."""
    return rf"$\log_{{10}}\,\|\partial s_T\,/\,\partial s_{{{start}}}\|_{norm_symbol(norm)}$"


def new_axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a fresh figure (constrained layout, Agg canvas) with one axes."""
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def new_grid(
    count: int, axes: Sequence[Axes] | None, figsize: tuple[float, float], sharey: bool
) -> tuple[Figure, list[Axes]]:
    """``axes`` and their figure, or a fresh figure with ``count`` axes side by side."""
    if axes is not None:
        if len(axes) != count:
            raise ValueError(f"expected {count} axes, got {len(axes)}")
        return axes[0].figure, list(axes)  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(1, count, sharey=sharey, squeeze=False)
    return fig, list(grid[0])


def series_colours(keys: Sequence[str]) -> list[str]:
    """A colour per series: a built-in cell's own colour for a key that is a cell name appearing once,
    the palette's other colours, in order, for the rest."""
    own = {k: CELL_COLOURS[k] for k in keys if k in CELL_COLOURS and list(keys).count(k) == 1}
    spare = iter([c for c in SERIES_COLOURS if c not in own.values()] * (len(keys) + 1))
    return [own[k] if k in own else next(spare) for k in keys]


def minus(text: str) -> str:
    """``text`` with ASCII hyphen-minus signs as typographic minus signs, as matplotlib's own tick labels."""
    return text.replace("-", "\N{MINUS SIGN}")


def masked(values: np.ndarray) -> np.ma.MaskedArray:
    """``values`` with non-finite entries (an exactly zero norm is ``-inf``) masked out of the drawing."""
    return np.ma.masked_invalid(np.asarray(values, dtype=np.float64))


def unit_line(ax: Axes, label: str | None = r"$\|\cdot\| = 1$") -> Line2D:
    """The horizontal ``log10 ||.|| = 0`` reference line."""
    return ax.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, label=label, zorder=1)


def rate_text(rate: float) -> str:
    return f"{rate:+.3g}/step"


def log10_colour_scale(low: float, high: float) -> tuple[Colormap, Normalize, np.ndarray]:
    """``(colormap, norm, colour-bar ticks)`` for ``log10 ||.||`` values in ``[low, high]``: ``RdBu_r``
    with white exactly at ``log10 = 0`` (norm 1), blue vanishing, red exploding.

    Values on both sides of 0 get the whole diverging map, each half with its own slope; values on
    one side only get that half of the map, ending in white at 0, so the colour bar has no half
    for values that do not occur.
    """
    diverging = mpl.colormaps["RdBu_r"]
    if low < 0.0 < high:
        # Ticks on both halves: a two-slope scale with linear ticks would leave the shorter half bare.
        ticks = np.union1d(MaxNLocator(nbins=4).tick_values(low, 0.0), MaxNLocator(nbins=4).tick_values(0.0, high))
        return diverging, TwoSlopeNorm(vcenter=0.0, vmin=low, vmax=high), ticks[(ticks >= low) & (ticks <= high)]
    if high <= 0.0:
        low = min(low, -1e-3)  # a range, even when every value is exactly 0
        cmap, norm = ListedColormap(diverging(np.linspace(0.0, 0.5, 128))), Normalize(vmin=low, vmax=0.0)
        ticks = MaxNLocator(nbins=6).tick_values(low, 0.0)
    else:
        high = max(high, 1e-3)
        cmap, norm = ListedColormap(diverging(np.linspace(0.5, 1.0, 128))), Normalize(vmin=0.0, vmax=high)
        ticks = MaxNLocator(nbins=6).tick_values(0.0, high)
    return cmap, norm, ticks[(ticks >= norm.vmin) & (ticks <= norm.vmax)]


def log10_colorbar(
    fig: Figure, image: AxesImage, ax: Axes | Sequence[Axes], ticks: np.ndarray, label: str, extend: str = "neither"
) -> None:
    """A colour bar for ``image`` beside ``ax`` (one axes or several) with :func:`log10_colour_scale`'s ticks."""
    bar = fig.colorbar(image, ax=ax, extend=extend, pad=0.02)
    bar.set_ticks(ticks)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: minus(f"{value:g}")))
    bar.set_label(label)


# ----------------------------------------------------------------------------------------------
# 1. Profile
# ----------------------------------------------------------------------------------------------


@styled
def profile_figure(view: ProfileView, *, ax: Axes | None = None) -> Figure:
    """``log10 ||d s_T / d s_{T-k}||`` against the lag k, with ``||.|| = 1``, the fitted rate and,
    for the plain RNN, Pascanu's bound.

    Args:
        view: from :func:`gradscope.studies.experiments.profile_view`; the profile is drawn from its log10
            values, so vanishing and exploding profiles both draw at any T.
        ax: draw here instead of on a new figure.
    """
    fig, ax = new_axes(ax)
    a = view.analysis
    colour = CELL_COLOURS.get(a.cell, SERIES_COLOURS[0])
    ax.plot(a.lags, masked(a.log10_norm), color=colour, label=f"{view.label}: measured", zorder=3)
    unit_line(ax)
    if view.fit_log10 is not None:
        ax.plot(
            a.lags,
            view.fit_log10,
            color=REFERENCE_COLOUR,
            linestyle="--",
            linewidth=1.1,
            label=f"fitted rate {rate_text(a.rate_per_step)} (e-folding {a.efolding_lag:.3g} steps)",
            zorder=4,
        )
    if view.bound_log10 is not None:
        ax.plot(
            a.lags,
            view.bound_log10,
            color=BOUND_COLOUR,
            linestyle="-.",
            linewidth=1.5,
            label=rf"Pascanu bound $(\gamma\,\sigma_{{\max}}(W_{{hh}}))^k$, $\gamma\,\sigma_{{\max}}$ = "
            f"{view.gamma * view.sigma_max:.3g}",
            zorder=2,
        )
    ax.set_xlabel(LAG_LABEL)
    ax.set_ylabel(profile_label(a.norm))
    ax.set_xlim(0, a.steps + 1)
    ax.set_title(f"{view.label}: gradient norm through time ({a.verdict})\n{view.title}")
    ax.legend(loc="best")
    return fig


# ----------------------------------------------------------------------------------------------
# 2. Ensemble band
# ----------------------------------------------------------------------------------------------


@styled
def ensemble_figure(
    ensembles: Ensemble | Sequence[Ensemble],
    *,
    show_members: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Median and quantile band of one or more ensembles on one axes.

    Args:
        ensembles: from :func:`gradscope.analysis.ensemble.analyze_ensemble`; each draws a band
            (``lower``..``upper``) and its median, labelled with ``Ensemble.label``.
        show_members: also draw every draw's profile, thin and faint.
        title: replaces the default title (the shared configuration).
        ax: draw here instead of on a new figure.
    """
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
            label=f"{e.label}: median, rate {rate_text(e.median_rate)}",
            zorder=3,
        )
    low, high = (round(100 * q) for q in group[0].quantiles)
    counts = sorted({e.samples for e in group})
    band_label = f"shaded: {low}-{high} % of {'/'.join(map(str, counts))} draws (pointwise)"
    unit_line(ax)
    first = group[0]
    ax.set_xlabel(LAG_LABEL)
    ax.set_ylabel(profile_label(first.norm))
    ax.set_xlim(0, max(e.steps for e in group) + 1)
    if title is None:
        init = config_text(first.config)
        names = ", ".join(e.label for e in group)
        seeds = f"seeds {int(first.seeds[0])}-{int(first.seeds[-1])}" if first.samples > 1 else f"seed {first.seeds[0]}"
        title = (
            f"{names}: median and spread over random weights and inputs\n"
            f"H={first.hidden_size}, I={first.input_size}, T={first.steps}, {init}, {seeds}"
        )
    ax.set_title(title)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="#999999", alpha=0.35, linewidth=0, label=band_label))
    ax.legend(handles=handles, loc="best")
    return fig


# ----------------------------------------------------------------------------------------------
# 3. Cell comparison
# ----------------------------------------------------------------------------------------------


@styled
def compare_figure(
    analyses: Sequence[Analysis],
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Several profiles on one axes (cells, or variants of one cell), each with its rate and verdict.

    Args:
        analyses: results of :func:`gradscope.analyze`, normally with the same sizes and seed.
        labels: legend names (default: the cells' names).
        title: replaces the default title (the shared sizes and seed).
        ax: draw here instead of on a new figure.
    """
    if not analyses:
        raise ValueError("compare_figure needs at least one analysis")
    names = list(labels) if labels is not None else [cell_title(a.cell) for a in analyses]
    if len(names) != len(analyses):
        raise ValueError(f"{len(analyses)} analyses but {len(names)} labels")
    fig, ax = new_axes(ax)
    keys = [a.cell for a in analyses] if labels is None else names
    for a, name, colour in zip(analyses, names, series_colours(keys), strict=True):
        ax.plot(a.lags, masked(a.log10_norm), color=colour, label=f"{name}: {rate_text(a.rate_per_step)}, {a.verdict}")
    unit_line(ax)
    first = analyses[0]
    ax.set_xlabel(LAG_LABEL)
    ax.set_ylabel(profile_label(first.norm))
    ax.set_xlim(0, max(a.steps for a in analyses) + 1)
    if title is None:
        config = first.config
        init = config_text(config)
        title = (
            "Cell comparison: gradient norm through time, same sizes and seed\n"
            f"H={first.hidden_size}, I={first.input_size}, T={first.steps}, {init}, seed {config.get('seed', 0)}"
        )
    ax.set_title(title)
    ax.legend(loc="best")
    return fig


# ----------------------------------------------------------------------------------------------
# 4. Sweep heatmap (phase diagram)
# ----------------------------------------------------------------------------------------------


def _uniform(values: np.ndarray | None) -> bool:
    if values is None or values.size < 2:
        return False
    steps = np.diff(values)
    return bool(np.all(steps > 0) and np.allclose(steps, steps[0], rtol=1e-6))


@styled
def sweep_figure(
    sweep: Sweep,
    *,
    vlim: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Phase diagram: lag on x, swept parameter on y, colour = ``log10 ||d s_T / d s_{T-k}||``, and
    the contour where the norm crosses 1 (``log10 = 0``).

    Args:
        sweep: from :func:`gradscope.studies.experiments.sweep`. Evenly spaced numeric values get a numeric
            y axis; other sweeps (``"chrono"``, hidden sizes) one row per value, labelled.
        vlim: clip the colour scale to ``[-vlim, vlim]`` decades (arrows on the colour bar mark
            clipping); default: the data's range, centred on 0.
        title: replaces the default title (the configuration).
        ax: draw here instead of on a new figure.
    """
    fig, ax = new_axes(ax)
    z = np.asarray(sweep.log10_norm, dtype=np.float64)
    finite = z[np.isfinite(z)]
    low = float(finite.min()) if finite.size else -1.0
    high = float(finite.max()) if finite.size else 1.0
    if vlim is not None:
        low, high = max(low, -vlim), min(high, vlim)
    cmap, colour_norm, ticks = log10_colour_scale(low, high)
    values = sweep.numeric_values()
    lags = sweep.lags
    rows = len(sweep.values)
    if _uniform(values):
        step = float(values[1] - values[0])
        y = values
        extent = (lags[0] - 0.5, lags[-1] + 0.5, values[0] - step / 2, values[-1] + step / 2)
    else:
        y = np.arange(rows, dtype=np.float64)
        extent = (lags[0] - 0.5, lags[-1] + 0.5, -0.5, rows - 0.5)
        ax.set_yticks(y, [minus(label) for label in sweep.labels])
    image = ax.imshow(
        masked(z),
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap=cmap,
        norm=colour_norm,
        interpolation="nearest",
    )
    extend = "neither"
    if vlim is not None and finite.size:
        below, above = bool(finite.min() < -vlim), bool(finite.max() > vlim)
        extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get((below, above), "neither")
    log10_colorbar(fig, image, ax, ticks, profile_label(sweep.norm), extend=extend)
    # The contour runs over consecutive rows of numeric values only: interpolating between, say,
    # b_f = 4 and "chrono" would mean nothing. Non-numeric rows are set apart by a white rule.
    numeric = [not isinstance(v, str) for v in sweep.values]
    drawn = False
    for first, last in _runs(numeric):
        block = z[first : last + 1]
        block_finite = block[np.isfinite(block)]
        if last > first and block_finite.size and block_finite.min() < 0.0 < block_finite.max():
            ax.contour(lags, y[first : last + 1], block, levels=[0.0], colors="black", linewidths=1.6)
            drawn = True
    for p in range(rows - 1):
        if numeric[p] != numeric[p + 1]:
            ax.axhline((y[p] + y[p + 1]) / 2, color="white", linewidth=3)
    ax.set_xlabel(LAG_LABEL)
    ax.set_ylabel(sweep.parameter_text)
    ax.grid(False)
    if drawn:
        # Below the axes, at the right end of the x label's line: inside, it would hide part of the map.
        ax.legend(
            handles=[Line2D([], [], color="black", linewidth=1.6, label=r"$\|\cdot\| = 1$ (contour)")],
            loc="upper right",
            bbox_to_anchor=(1.0, -0.06),
            frameon=False,
            borderaxespad=0.0,
        )
    if title is None:
        title = (
            f"{cell_title(sweep.setup.cell)}: gradient norm against lag and {sweep.parameter_text}\n"
            f"{sweep_context(sweep)}"
        )
    ax.set_title(title)
    return fig


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """``(first, last)`` index pairs of the maximal runs of true values in ``flags``."""
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def sweep_context(sweep: Sweep) -> str:
    """The fixed part of a sweep's configuration, for its title."""
    s = sweep.setup
    parts = []
    if sweep.parameter != "hidden_size":
        parts.append(f"H={s.hidden_size}")
    if sweep.parameter != "input_size":
        parts.append(f"I={s.input_size}")
    parts.append(f"T={sweep.steps}")
    if sweep.parameter == "gain":
        parts.append(init_text(s.init))
    elif sweep.parameter != "init":
        parts.append(init_text(s.init, s.gain))
    if sweep.parameter == "forget_bias" and "chrono" in sweep.values:
        parts.append(f"chrono T_max = {sweep.steps if s.t_max is None else s.t_max}")
    parts.append(f"seed {sweep.seed}")
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------
# 5. Singular-value spectra
# ----------------------------------------------------------------------------------------------


@styled
def spectrum_figure(
    analyses: Sequence[Analysis],
    *,
    labels: Sequence[str] | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """All singular values of ``P_k`` at each snapshot lag, relative to the largest: one panel per analysis.

    Draws ``log10(sigma_i / sigma_1)`` against the index i for each lag, the one-decade line
    (``sigma_1 / 10``) that :func:`gradscope.studies.experiments.surviving_directions` counts against, and
    shades the float64 resolution floor: values below it are rounding noise and are not drawn. The
    absolute scale ``sigma_1 = ||P_k||`` is the profile's.

    Args:
        analyses: results of :func:`gradscope.analyze` run with ``snapshot_lags``.
        labels: panel titles (default: the cells' names).
        axes: one axes per analysis instead of a new figure.
    """
    if not analyses:
        raise ValueError("spectrum_figure needs at least one analysis")
    names = list(labels) if labels is not None else [cell_title(a.cell) for a in analyses]
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
        ax.set_ylim(bottom, 0.5)
        ax.set_xlim(0.5, size + 0.5)
        ax.set_xlabel(f"singular value index i (of {size})")
        ax.set_title(f"{name} (state {a.state})")
        handles, _ = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, label=r"$\sigma_1 / 10$"),
            Patch(facecolor="#BBBBBB", alpha=0.35, linewidth=0, label="below float64 resolution (not drawn)"),
        ]
        if not shared_legend:
            ax.legend(handles=handles, loc="lower left", fontsize=8)
    if shared_legend:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    panels[0].set_ylabel(r"$\log_{10}\,[\sigma_i(P_k)\,/\,\sigma_1(P_k)]$")
    if axes is None:
        first = analyses[0]
        config = first.config
        init = config_text(config)
        fig.suptitle(
            r"Singular values of $P_k = \partial s_T / \partial s_{T-k}$ relative to the largest:"
            " how many directions survive"
            f"\nH={first.hidden_size}, I={first.input_size}, T={first.steps}, {init}, seed {config.get('seed', 0)}"
        )
    return fig


# ----------------------------------------------------------------------------------------------
# 6. Sequence length
# ----------------------------------------------------------------------------------------------


@styled
def length_figure(study: LengthStudy, *, axes: Sequence[Axes] | None = None, title: str | None = None) -> Figure:
    """How ``||d s_T / d s_0||`` (left) and the rate per step (right) change as T grows.

    Draws the median over the study's seeds, and the full range over seeds as a band when there
    are several.

    Args:
        study: from :func:`gradscope.studies.experiments.length_study`.
        axes: two axes instead of a new figure.
        title: replaces the default title.
    """
    fig, (left, right) = new_grid(2, axes, (10.0, 4.4), sharey=False)
    colours = series_colours([s.cell if s.forget_bias is None and s.label is None else s.name for s in study.setups])
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
    right.set_ylabel(r"rate per step (fit of $\ln\|P_k\|$, k = 1..T)")
    for ax in (left, right):
        ax.set_xlabel(LENGTH_LABEL)
    left.set_title(r"End-to-end gradient $\|\partial s_T / \partial s_0\|$")
    right.set_title("Fitted rate per step")
    if axes is None:
        handles, _ = left.get_legend_handles_labels()
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4))
    else:
        left.legend(loc="best")
    if axes is None:
        if title is None:
            s = study.setups[0]
            seeds = (
                f"median of {study.seeds.size} seeds (band: min-max)"
                if study.seeds.size > 1
                else f"seed {study.seeds[0]}"
            )
            title = (
                "How the gradient through the whole sequence changes with its length T\n"
                f"H={s.hidden_size}, I={s.input_size}, {init_text(s.init, s.gain)}, {seeds}"
            )
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------


def format_for_path(path: str | Path) -> str:
    """The figure format for a file name: ``"png"``, ``"svg"`` or ``"pdf"`` (by extension)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ConfigError(f"cannot save a figure as {str(path)!r}: the extension must be one of .png, .svg, .pdf")
    return suffix


def render(fig: Figure, fmt: str) -> bytes:
    """The figure as PNG, SVG or PDF bytes, with :data:`DPI` and no dates or version strings in the file.

    The first call fixes the figure's layout: constrained layout is computed once, with the Agg
    renderer, and then frozen, because re-running it under a vector renderer shifts it slightly.
    Every format and every later call then lays the figure out identically, so the same figure
    gives the same bytes on every run, in whatever order its formats are rendered.
    """
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown figure format {fmt!r} (valid: {', '.join(FORMATS)})")
    with mpl.rc_context(STYLE):
        if fig.get_layout_engine() is not None and not isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
            if not isinstance(fig.canvas, FigureCanvasAgg):
                FigureCanvasAgg(fig)
            fig.draw_without_rendering()
            fig.set_layout_engine("none")
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata=METADATA[fmt])
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------
# 7. Sweep rates (issue 7) and Lyapunov spectra
# ----------------------------------------------------------------------------------------------

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
    results: Any,
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Median rate per step (natural log of ``||P_k||``) against the first swept parameter, with the
    10-90 % band over samples and, for the tanh RNN, the mean-field theory curve.

    One curve per combination of the other swept parameters (each labelled with its values); several
    results (e.g. one per cell, the same axes) share the axes, each labelled with its cell.

    Args:
        results: one :class:`gradscope.studies.sweep.SweepResult` or several; ``by_grid("rate_per_step")`` is
            ``(P, S)`` (grid points by samples) and ``theory_rate()`` ``(P*S,)`` or ``None``.
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
    ax.set_ylabel(r"rate per step of $\ln \|\partial s_T / \partial s_{T-k}\|$")
    handles, _ = ax.get_legend_handles_labels()
    samples = sorted({int(r.spec.samples) for r in group})
    if samples[-1] > 1:
        low, high = (round(100 * q) for q in SWEEP_BAND)
        counts = "/".join(map(str, samples))
        handles.append(Patch(facecolor="#999999", alpha=0.35, linewidth=0, label=f"{low}-{high} % of {counts} samples"))
    ax.legend(handles=handles, loc="best")
    if title is None:
        fixed = ", ".join(f"{k} {v}" for k, v in spec.fixed().items() if v is not None)
        names = ", ".join(cell_title(r.spec.cell_name) for r in group)
        title = f"{names}: gradient rate per step against {first.replace('_', ' ')}\n{fixed}"
    ax.set_title(title)
    return fig


def _draw_sweep_rates(ax: Axes, result: Any, several: bool) -> list[str] | None:
    """Draw one sweep's curves on ``ax``; returns the categorical tick labels (``None`` for numeric x)."""
    spec = result.spec
    grid = result.grid()
    rates = result.by_grid("rate_per_step")  # (P, S); -inf rates are None -> NaN
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
    prefix = f"{cell_title(spec.cell_name)}: " if several else ""
    labels_used: list[str] | None = None
    low_q, high_q = SWEEP_BAND
    for points, name, colour in zip(groups.values(), names, colours, strict=True):
        x, labels_used = _axis_positions([grid[p][first] for p in points])
        block = rates[points]
        with np.errstate(invalid="ignore"), warnings_off():
            median = np.nanmedian(block, axis=1)
            lower = np.nanquantile(block, low_q, axis=1)
            upper = np.nanquantile(block, high_q, axis=1)
        suffix = f" ({name})" if name else ""
        if spec.samples > 1:
            ax.fill_between(x, masked(lower), masked(upper), color=colour, alpha=0.25, linewidth=0, zorder=2)
        ax.plot(x, masked(median), color=colour, marker="o", markersize=3.5, label=f"{prefix}median{suffix}", zorder=3)
        if theory_points is not None:
            theory_label = "tanh RNN mean-field theory" if several else "mean-field theory"
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


@contextlib.contextmanager
def warnings_off() -> Iterator[None]:
    """Silence NumPy's "All-NaN slice" warnings (a grid point whose every sample reached an exactly zero norm)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@styled
def lyapunov_figure(
    spectrum: Any,
    *,
    theory: np.ndarray | None = None,
    theory_label: str = "Newman (1986), re-drawn Gaussian matrices",
    top_theory: float | None = None,
    show_running: bool = True,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """The Lyapunov spectrum (exponent index i against ``lambda_i``, natural log per step) with its
    standard errors and the zero line; optionally the running estimates against averaged steps.

    Args:
        spectrum: a :class:`gradscope.analysis.lyapunov.LyapunovSpectrum`: ``exponents`` ``(K,)``,
            ``standard_error`` ``(K,)``, ``running_steps`` ``(M,)``, ``running`` ``(M, K)``.
        theory: ``(K,)`` a prediction to overlay (e.g. :func:`gradscope.analysis.theory.newman_spectrum`), or ``None``.
        theory_label: the legend entry of ``theory``.
        top_theory: a prediction of ``lambda_1`` alone (e.g. the mean-field rate of the random tanh RNN,
            :func:`~gradscope.analysis.theory.tanh_rnn_mean_field_rate`), a dashed horizontal line on both panels.
        show_running: add a right panel with the running estimates (up to 8 exponents drawn).
        title: replaces the default title.
        axes: one axes (spectrum only) or two (spectrum, running) instead of a new figure.
    """
    count = 2 if show_running else 1
    fig, panels = new_grid(count, axes, (11.0, 4.4) if show_running else (7.2, 4.4), sharey=False)
    ax = panels[0]
    values = np.asarray(spectrum.exponents, dtype=np.float64)
    errors = np.asarray(spectrum.standard_error, dtype=np.float64)
    index = np.arange(1, values.size + 1)
    colour = CELL_COLOURS.get(spectrum.cell, SERIES_COLOURS[0])
    ax.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, zorder=1, label=r"$\lambda = 0$")
    ax.errorbar(
        index,
        masked(values),
        yerr=np.where(np.isfinite(errors), errors, 0.0),
        color=colour,
        marker="o",
        markersize=3.5,
        capsize=2,
        label="QR (Benettin) estimate ± s.e.",
        zorder=3,
    )
    if theory is not None:
        ax.plot(
            index,
            masked(np.asarray(theory, dtype=np.float64)),
            color=THEORY_COLOUR,
            linestyle="--",
            label=theory_label,
            zorder=4,
        )
    top_style = {"color": OKABE_ITO["bluish green"], "linestyle": "--", "linewidth": 1.3, "zorder": 4}
    if top_theory is not None:
        ax.axhline(top_theory, label="mean-field $\\lambda_1$ = " + minus(f"{top_theory:+.4f}"), **top_style)
    ax.set_xlabel(f"exponent index i (top {values.size} of state {spectrum.state})")
    ax.set_ylabel(r"$\lambda_i$ (natural log per step)")
    ax.set_xlim(0.5, values.size + 0.5)
    ax.legend(loc="best")
    if show_running:
        run_ax = panels[1]
        shown = min(values.size, 8)
        colours = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, shown))
        steps = np.asarray(spectrum.running_steps)
        for i in range(shown):
            run_ax.plot(steps, masked(spectrum.running[:, i]), color=colours[i], label=f"$\\lambda_{{{i + 1}}}$")
        run_ax.axhline(0.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.1, zorder=1)
        if top_theory is not None:
            run_ax.axhline(top_theory, **top_style)
        run_ax.set_xlabel("averaged steps")
        run_ax.set_ylabel("running estimate")
        run_ax.set_title("convergence")
        run_ax.legend(loc="best", fontsize=8, ncol=2)
    if title is None:
        title = (
            f"{cell_title(spectrum.cell)}: Lyapunov spectrum, H={spectrum.hidden_size}, I={spectrum.input_size}, "
            f"T={spectrum.steps} (transient {spectrum.transient}), {config_text(spectrum.config)}"
        )
    (fig.suptitle if show_running and axes is None else ax.set_title)(title)
    return fig


# ----------------------------------------------------------------------------------------------
# 8. Depth and time (stacked and bidirectional networks)
# ----------------------------------------------------------------------------------------------

#: Cells whose gradient is exactly zero (``log10 = -inf``): ``y_T`` does not depend on that state,
#: e.g. the top reverse direction before the last position. Grey is not on the ``RdBu_r`` map.
UNREACHED_COLOUR = "#8C8C8C"
DEPTH_LABEL = r"$\log_{10}\,\|\partial y_T\,/\,\partial s^{(l)}_t\|_2$"
POSITION_LABEL = "input position t"
READS = {"forward": "reads t = 1 → T", "reverse": "reads t = T → 1"}
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
        ax.set_xlabel(POSITION_LABEL)
        ax.set_title(f"{direction} direction ({READS[direction]})")
        ax.grid(False)
    for ax in panels[1:]:
        ax.tick_params(labelleft=False)  # the same layers as the first panel
    panels[0].set_ylabel("layer l (0 = bottom, reads the input)")
    log10_colorbar(fig, image, panels if len(panels) > 1 else panels[0], ticks, DEPTH_LABEL)
    if any(np.isneginf(g).any() for g in grids):
        key = Patch(facecolor=UNREACHED_COLOUR, label=r"grey: exactly 0, $y_T$ does not depend on this state")
        fig.legend(handles=[key], loc="outside lower center", frameon=False)
    if axes is None:
        fig.suptitle(title or depth_title(analysis))
    return fig


def depth_title(analysis: Analysis) -> str:
    """Two lines: cell and structure (``"LSTM, 3 layers, bidirectional: ..."``), then the configuration."""
    structure = f"{analysis.num_layers} layer{'s' if analysis.num_layers > 1 else ''}" + (
        ", bidirectional" if analysis.bidirectional else ""
    )
    return (
        f"{cell_title(analysis.cell)}, {structure}: gradient of the last output $y_T$ through depth and time\n"
        f"{describe_analysis(analysis, with_cell=False)}"
    )


@styled
def profile_depth_figure(view: ProfileView) -> Figure:
    """:func:`profile_figure` of the top layer's forward recurrence above :func:`depth_figure`'s panels.

    What ``gradscope analyze --plot`` draws for stacked or bidirectional weights: the profile
    ``||d s_T / d s_{T-k}||`` of the top layer's own recurrence (what the verdict describes), and
    under it the gradient of the last output through every layer and direction.

    Args:
        view: from :func:`gradscope.studies.experiments.profile_view` of an analysis with ``depth_profiles``.
    """
    a = view.analysis
    count = 2 if a.bidirectional else 1
    fig = Figure(figsize=(DEPTH_WIDTHS[count], 8.8), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, count)
    top = fig.add_subplot(grid[0, :])
    bottom = [fig.add_subplot(grid[1, 0])]
    bottom += [fig.add_subplot(grid[1, c], sharey=bottom[0]) for c in range(1, count)]
    # The suptitle names the cell and the configuration; the panel's title says which recurrence it shows.
    recurrence = "the recurrence of the top layer's forward state s, which the verdict describes"
    profile_figure(replace(view, label="top layer, forward", title=recurrence), ax=top)
    depth_figure(a, axes=bottom)
    fig.suptitle(depth_title(a))
    return fig
