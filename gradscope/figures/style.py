"""The house style of every figure and the drawing helpers they share; figures import matplotlib, nothing else does.

House style: matplotlib's defaults plus larger fonts, light grid, the Okabe-Ito colour-blind-safe
palette for lines, ``viridis`` for ordered series and ``RdBu_r`` (diverging, colour-blind safe)
with white at ``log10 ||.|| = 0`` for heatmaps (only its blue or red half when every value lies on
one side, :func:`log10_colour_scale`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import matplotlib as mpl
import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, ListedColormap, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from gradscope.figures.fonts import figure_language
from gradscope.i18n import N_, _

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
#: Axis labels, in English (translated where they are drawn: ``_(LAG_LABEL)``).
LAG_LABEL = N_("lag k (steps)")
LENGTH_LABEL = N_("sequence length T (steps)")

F = TypeVar("F", bound=Callable[..., Figure])


def styled(function: F) -> F:
    """Run a figure function under matplotlib's default style plus :data:`STYLE`, whatever the user's rc, in
    the current language with a font that has its glyphs (:func:`~gradscope.figures.fonts.figure_language`)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.style.context("default"), mpl.rc_context(STYLE), figure_language():
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


def lag_frame(ax: Axes, norm: str, steps: int) -> None:
    """The frame of a profile plot: the ``||.|| = 1`` line, the lag and norm labels, lags ``0 .. steps``."""
    unit_line(ax)
    ax.set_xlabel(_(LAG_LABEL))
    ax.set_ylabel(profile_label(norm))
    ax.set_xlim(0, steps + 1)


def rate_text(rate: float) -> str:
    """``"+0.0123/step"`` in the current language."""
    return _("{rate}/step").format(rate=f"{rate:+.3g}")


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
