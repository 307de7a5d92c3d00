"""Figures as file bytes: PNG, SVG or PDF, laid out once and written without dates or version strings."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine

from gradscope.errors import ConfigError
from gradscope.figures.style import DPI, STYLE

FORMATS = ("png", "svg", "pdf")
#: File metadata: no dates, no version strings (identical bytes from run to run and across patch releases).
METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}


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
