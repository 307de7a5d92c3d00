"""Figures, one module per kind, each taking the result it is named after and returning a ``Figure``.

They compute nothing, never save and never show: pyplot is not used, so no window opens and no
global figure list grows. :func:`render` turns a figure into PNG, SVG or PDF bytes. This package is
the only one that imports matplotlib; import it only where figures are made.
"""

from gradscope.figures.compare import compare_figure
from gradscope.figures.depth import UNREACHED_COLOUR, depth_figure, depth_grid, profile_depth_figure
from gradscope.figures.ensemble import ensemble_figure
from gradscope.figures.explanation import explanation_figure
from gradscope.figures.fonts import MissingFontWarning, cjk_font
from gradscope.figures.length import length_figure
from gradscope.figures.lyapunov import lyapunov_figure
from gradscope.figures.profile import profile_figure
from gradscope.figures.render import FORMATS, format_for_path, render
from gradscope.figures.spectrum import spectrum_figure
from gradscope.figures.style import CELL_COLOURS, OKABE_ITO, STYLE, log10_colour_scale
from gradscope.figures.sweep import sweep_figure
from gradscope.figures.sweep_rates import sweep_rate_figure
from gradscope.figures.training import training_figure

__all__ = [
    "CELL_COLOURS",
    "FORMATS",
    "OKABE_ITO",
    "STYLE",
    "UNREACHED_COLOUR",
    "MissingFontWarning",
    "cjk_font",
    "compare_figure",
    "depth_figure",
    "depth_grid",
    "ensemble_figure",
    "explanation_figure",
    "format_for_path",
    "length_figure",
    "log10_colour_scale",
    "lyapunov_figure",
    "profile_depth_figure",
    "profile_figure",
    "render",
    "spectrum_figure",
    "sweep_figure",
    "sweep_rate_figure",
    "training_figure",
]
