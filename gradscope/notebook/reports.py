"""What each result shows in a notebook: the terminal's report and summary line, and the figure its command draws.

:data:`VIEWS` names every public result type by module and class name, so that a notebook can be told how
to show a sweep or a derivation without importing Dask or SymPy before one is made. The renderers are the
terminal's (:mod:`gradscope.terminal`) and the figures are the ones ``--plot`` writes (:mod:`gradscope.figures`),
both imported on the first display: ``import gradscope`` stays free of rich and matplotlib.
"""

from __future__ import annotations

import base64
import contextlib
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gradscope.errors import ConfigError
from gradscope.i18n import LANGUAGES, using_language

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.console import RenderableType

#: Pixels per inch of a notebook's page (CSS): the PNG is drawn at the figures' DPI and shown at its size in inches.
CSS_PIXELS_PER_INCH = 96


@dataclass(frozen=True)
class ResultView:
    """How one result type shows itself.

    Attributes:
        module, name: where the type is defined (``type(result).__module__`` and ``__name__``).
        report: the terminal's full report of a result (a rich renderable).
        summary: the terminal's summary lines (``--quiet``), shown first; ``None`` where the report is one line.
        figure: the figure its command draws with ``--plot``; ``None`` where the command draws none.
    """

    module: str
    name: str
    report: Callable[[Any], RenderableType]
    summary: Callable[[Any], list[RenderableType]] | None = None
    figure: Callable[[Any], Figure] | None = None

    @property
    def qualified_name(self) -> str:
        """``module.name``, the key IPython's formatters keep a type under before it is imported."""
        return f"{self.module}.{self.name}"


def _terminal() -> Any:
    from gradscope import terminal  # rich only when something is shown

    return terminal


def _figures() -> Any:
    from gradscope import figures  # matplotlib only when something is shown

    return figures


def _torch_skipped(verification: Any) -> bool:
    """Whether a verification ran without PyTorch although it is installed (``use_torch=False``): the report then
    says the autograd checks were skipped, not that PyTorch is missing. Looked up without importing it."""
    import importlib.util

    return verification.torch_version is None and importlib.util.find_spec("torch") is not None


def _analysis_figure(result: Any) -> Figure:
    figures = _figures()
    return figures.profile_depth_figure(result) if result.depth_profiles else figures.profile_figure(result)


#: Every public result type, with the report, summary and figure of the command that makes it.
VIEWS: tuple[ResultView, ...] = (
    ResultView(
        "gradscope.analysis.profile",
        "Analysis",
        report=lambda r: _terminal().analysis_report(r),
        summary=lambda r: [_terminal().summary_line(r)],
        figure=_analysis_figure,
    ),
    ResultView(
        "gradscope.analysis.comparison",
        "Comparison",
        report=lambda r: _terminal().comparison_report(list(r.analyses)),
        summary=lambda r: [_terminal().summary_line(a) for a in r.analyses],
        figure=lambda r: _figures().compare_figure(r),
    ),
    ResultView(
        "gradscope.analysis.ensemble",
        "Ensemble",
        report=lambda r: _terminal().ensemble_report([r]),
        summary=lambda r: [_terminal().ensemble_summary_line(r)],
        figure=lambda r: _figures().ensemble_figure(r),
    ),
    ResultView(
        "gradscope.analysis.comparison",
        "EnsembleComparison",
        report=lambda r: _terminal().ensemble_report(list(r.ensembles), command="compare"),
        summary=lambda r: [_terminal().ensemble_summary_line(e) for e in r.ensembles],
        figure=lambda r: _figures().ensemble_figure(r),
    ),
    ResultView(
        "gradscope.analysis.explanation_data",
        "Explanation",
        report=lambda r: _terminal().explanation_report(r),
        summary=lambda r: [_terminal().explanation_summary_line(r)],
        figure=lambda r: _figures().explanation_figure(r),
    ),
    ResultView(
        "gradscope.analysis.lyapunov_spectrum",
        "LyapunovSpectrum",
        report=lambda r: _terminal().lyapunov_report(r),
        summary=lambda r: [_terminal().lyapunov_summary_line(r)],
        figure=lambda r: _figures().lyapunov_figure(r),
    ),
    ResultView(
        "gradscope.studies.sweep_result",
        "SweepResult",
        report=lambda r: _terminal().sweep_report(r),
        summary=lambda r: [_terminal().sweep_summary_line(r)],
        figure=lambda r: _figures().sweep_rate_figure(r),
    ),
    ResultView(
        "gradscope.studies.training",
        "TrainingSeries",
        report=lambda r: _terminal().training_report(r),
        summary=lambda r: [_terminal().training_summary_line(r)],
        figure=lambda r: _figures().training_figure(r),
    ),
    ResultView(
        "gradscope.testing.verification",
        "Verification",
        report=lambda r: _terminal().verification_report(r, torch_skipped=_torch_skipped(r)),
        summary=lambda r: [_terminal().verification_summary(r)],
    ),
    ResultView("gradscope.testing.formula_check", "FormulaCheck", report=lambda r: _terminal().formula_check_text(r)),
    ResultView("gradscope.symbolic.derivation", "Derivation", report=lambda r: _terminal().derivation_pretty(r)),
)
_BY_TYPE = {(view.module, view.name): view for view in VIEWS}


def view_of(result: object) -> ResultView:
    """The :class:`ResultView` of ``result``'s type; a :class:`~gradscope.errors.ConfigError` naming any other type."""
    kind = type(result)
    view = _BY_TYPE.get((kind.__module__, kind.__name__))
    if view is None:
        shown = ", ".join(view.name for view in VIEWS)
        raise ConfigError(f"gradscope cannot show a {kind.__module__}.{kind.__name__} (it shows {shown})")
    return view


def report_parts(result: object) -> list[RenderableType]:
    """What is shown of ``result``, top to bottom: its summary lines (where it has them), a blank line, its report."""
    view = view_of(result)
    if view.summary is None:
        return [view.report(result)]
    return [*view.summary(result), "", view.report(result)]


def result_text(result: object, *, width: int | None = None, lang: str | None = None) -> str:
    """The terminal's summary and report of ``result`` as plain text, ``width`` columns wide (default
    :data:`~gradscope.terminal.format.REPORT_WIDTH`), in ``lang`` (default: the language chosen now)."""
    terminal = _terminal()
    with _speaking(lang):
        return terminal.export_text(*report_parts(result), width=width or terminal.REPORT_WIDTH)


def figure_png(result: object, *, lang: str | None = None) -> tuple[bytes, tuple[int, int]] | None:
    """The PNG of ``result``'s figure and its size on the page in CSS pixels ``(width, height)``; ``None`` for a
    result whose command draws no figure.

    The figure is a plain ``matplotlib.figure.Figure`` (never pyplot's), so rendering it registers nothing
    global: once the bytes are made it is dropped and collected like any object.
    """
    view = view_of(result)
    if view.figure is None:
        return None
    figures = _figures()
    with _speaking(lang):
        fig = view.figure(result)
        png = figures.render(fig, "png")
    width, height = (round(float(inches) * CSS_PIXELS_PER_INCH) for inches in fig.get_size_inches())
    fig.clear()  # its artists go now, not at the next garbage collection
    return png, (width, height)


def result_html(result: object, *, width: int | None = None, lang: str | None = None, figure: bool = True) -> str:
    """What a notebook shows for ``result``: the terminal's summary and report as a ``<pre>`` block with inline
    styles, then (with ``figure``, for a result whose command draws one) the figure as an inline PNG.

    Args:
        result: any type of :data:`VIEWS` (``gradscope.analyze(...)``, ``gradscope.explain(...)``, ...).
        width: the report's width in columns (default :data:`~gradscope.terminal.format.REPORT_WIDTH`).
        lang: one of :data:`gradscope.i18n.LANGUAGES`; default the language chosen now
            (:func:`gradscope.i18n.set_language`, else the locale's).
        figure: append the figure.
    """
    view = view_of(result)
    terminal = _terminal()
    with _speaking(lang):
        parts = [terminal.export_html(*report_parts(result), width=width or terminal.REPORT_WIDTH)]
        drawn = figure_png(result) if figure else None
        if drawn is not None:
            png, (pixels_wide, pixels_high) = drawn
            alt = terminal.export_text(*(view.summary(result) if view.summary else [view.report(result)])).strip()
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<img alt="{html.escape(alt)}" width="{pixels_wide}" height="{pixels_high}" '
                f'style="max-width:100%;height:auto" src="data:image/png;base64,{data}">'
            )
    return '<div class="gradscope-result">\n' + "\n".join(parts) + "\n</div>"


def _speaking(lang: str | None) -> contextlib.AbstractContextManager[None]:
    """``using_language(lang)`` for a language that was given; nothing otherwise (the choice made before holds)."""
    if lang is None:
        return contextlib.nullcontext()
    if lang not in LANGUAGES:
        raise ConfigError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return using_language(lang)


__all__ = [
    "CSS_PIXELS_PER_INCH",
    "VIEWS",
    "ResultView",
    "figure_png",
    "report_parts",
    "result_html",
    "result_text",
    "view_of",
]
