"""The figure gallery (``gradscope report``): every figure as PNG and SVG, with a README of captions and numbers.

One module per concept: :mod:`~gradscope.gallery.sizes` (what is computed), :mod:`~gradscope.gallery.markdown`
(sections, tables, numbers), one module per group of figures (:mod:`~gradscope.gallery.profiles`,
:mod:`~gradscope.gallery.ensembles`, :mod:`~gradscope.gallery.sweeps`, :mod:`~gradscope.gallery.spectra`,
:mod:`~gradscope.gallery.research`) and :mod:`~gradscope.gallery.build` (the plan, the README, building and
writing). Matplotlib is imported only when :func:`build_gallery` runs.
"""

from gradscope.gallery.build import (
    FIGURE_FORMATS,
    PLAN,
    REPORT_COMMAND,
    Artifact,
    GalleryProgress,
    build_gallery,
    readme,
    write_artifacts,
)
from gradscope.gallery.markdown import Section, log10_text, markdown_table, number
from gradscope.gallery.research import random_stacked_params
from gradscope.gallery.sizes import QUICK, GallerySizes

__all__ = [
    "FIGURE_FORMATS",
    "PLAN",
    "QUICK",
    "REPORT_COMMAND",
    "Artifact",
    "GalleryProgress",
    "GallerySizes",
    "Section",
    "build_gallery",
    "log10_text",
    "markdown_table",
    "number",
    "random_stacked_params",
    "readme",
    "write_artifacts",
]
