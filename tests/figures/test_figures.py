"""Figures, inspected through their artists' data (lines, labels, images, contours), and their files."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure
from numpy.testing import assert_allclose, assert_array_equal

import gradscope
from gradscope import figures
from gradscope.analysis.ensemble import analyze_ensemble
from gradscope.analysis.problem import make_problem
from gradscope.analysis.profile import Analysis
from gradscope.studies import SerialExecutor, length_study, sweep

H, I, T = 5, 3, 30


def one_knob(cell: str, parameter: str, values: list, **options: object):
    """A sweep of one option, the same seed for every value, with its profiles: the map's input."""
    return sweep(
        cell, {parameter: values}, seeding="paired", keep_profiles=True, executor=SerialExecutor(), steps=T, **options
    )


def lines_by_label(ax: object) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines()}  # type: ignore[attr-defined]


def legend_texts(ax: object) -> list[str]:
    legend = ax.get_legend()  # type: ignore[attr-defined]
    return [t.get_text() for t in legend.get_texts()]


@pytest.fixture(scope="module")
def rnn_view() -> Analysis:
    return gradscope.analyze("rnn", hidden_size=H, input_size=I, steps=T, seed=1)


def test_profile_figure_draws_profile_unit_line_fit_and_bound(rnn_view: Analysis) -> None:
    fig = figures.profile_figure(rnn_view)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 4
    profile, unit, fit, bound = lines
    assert_array_equal(profile.get_xdata(), np.arange(1, T + 1))
    assert_array_equal(profile.get_ydata(), rnn_view.log10_norm)
    assert_array_equal(unit.get_ydata(), [0, 0])
    assert_array_equal(fit.get_ydata(), rnn_view.fitted_log10)
    assert_array_equal(bound.get_ydata(), rnn_view.pascanu_bound.log10)
    assert "Pascanu" in bound.get_label()
    assert "fitted rate" in fit.get_label()
    assert ax.get_xlabel() == "lag k (steps)"
    assert "log_{10}" in ax.get_ylabel() and "T-k" in ax.get_ylabel()
    assert "H=5" in ax.get_title() and "T=30" in ax.get_title() and "tanh RNN" in ax.get_title()
    assert len(legend_texts(ax)) == 4


def test_profile_figure_exploding_and_without_bound() -> None:
    exploding = gradscope.analyze("rnn", hidden_size=16, input_size=2, steps=T, init="gaussian", gain=2.0)
    assert exploding.log10_norm[-1] > 0
    ax = figures.profile_figure(exploding).axes[0]
    ymax = ax.get_ylim()[1]
    assert ymax >= exploding.log10_norm.max()  # drawn from the log10 values: nothing clipped
    lstm = gradscope.analyze("lstm", hidden_size=H, input_size=I, steps=T)
    ax = figures.profile_figure(lstm).axes[0]
    assert len(ax.get_lines()) == 3
    assert not any("Pascanu" in label for label in legend_texts(ax))


def test_given_axes_are_used(rnn_view: Analysis) -> None:
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert figures.profile_figure(rnn_view, ax=ax) is fig
    assert len(ax.get_lines()) == 4


def test_ensemble_figure_band_and_median() -> None:
    ensembles = [analyze_ensemble(c, samples=3, hidden_size=H, input_size=I, steps=T) for c in ("rnn", "gru")]
    ax = figures.ensemble_figure(ensembles).axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    medians = [line for line in ax.get_lines() if "median" in line.get_label()]
    assert [m.get_label().split(":")[0] for m in medians] == ["rnn", "gru"]
    for line, e in zip(medians, ensembles, strict=True):
        assert_array_equal(line.get_ydata(), e.median)
    # The band's polygon spans lower..upper.
    vertices = bands[0].get_paths()[0].vertices
    assert_allclose(vertices[:, 1].min(), ensembles[0].lower.min())
    assert_allclose(vertices[:, 1].max(), ensembles[0].upper.max())
    assert medians[0].get_color() == figures.CELL_COLOURS["rnn"]
    assert "10-90 % of 3 draws" in legend_texts(ax)[-1]
    with_members = figures.ensemble_figure(ensembles[0], show_members=True).axes[0]
    assert len(with_members.get_lines()) == 3 + 1 + 1  # members, median, unit line


def test_compare_figure_one_line_per_cell() -> None:
    analyses = gradscope.compare(gradscope.CELL_NAMES, hidden_size=H, input_size=I, steps=T).analyses
    ax = figures.compare_figure(analyses).axes[0]
    profiles = ax.get_lines()[: len(analyses)]
    for line, a in zip(profiles, analyses, strict=True):
        assert_array_equal(line.get_ydata(), a.log10_norm)
        assert a.verdict in line.get_label()
    colours = {line.get_color() for line in profiles}
    assert len(colours) == len(analyses)
    assert [t.split(":")[0] for t in legend_texts(ax)[:4]] == ["tanh RNN", "ReLU RNN", "LSTM", "GRU"]
    with pytest.raises(ValueError, match="labels"):
        figures.compare_figure(analyses, labels=["only one"])


def test_sweep_figure_image_and_unit_contour() -> None:
    result = one_knob("rnn", "gain", [0.5, 1.5, 2.5, 3.5], hidden_size=8, input_size=2, init="gaussian")
    assert result.profiles.min() < 0 < result.profiles.max()
    fig = figures.sweep_figure(result)
    ax = fig.axes[0]
    (image,) = ax.get_images()
    assert_array_equal(np.asarray(image.get_array()), result.profiles)
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(contours) == 1
    assert_array_equal(contours[0].levels, [0.0])
    assert ax.get_xlabel() == "lag k (steps)"
    assert ax.get_ylabel() == "init gain g"
    norm = image.norm
    assert norm(0.0) == pytest.approx(0.5)  # white of RdBu_r is exactly ||.|| = 1
    assert len(fig.axes) == 2  # the colour bar


def test_sweep_figure_categorical_rows_and_no_contour_without_crossing() -> None:
    result = one_knob("lstm", "forget_bias", [-3.0, -2.0, "chrono"], hidden_size=H, input_size=I, t_max=20)
    ax = figures.sweep_figure(result).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["\N{MINUS SIGN}3", "\N{MINUS SIGN}2", "chrono"]
    vanishing = one_knob("rnn", "gain", [0.2, 0.4], hidden_size=H, input_size=I)
    assert vanishing.profiles.max() < 0
    ax = figures.sweep_figure(vanishing).axes[0]
    assert not [c for c in ax.collections if isinstance(c, ContourSet)]
    assert ax.get_legend() is None


def test_spectrum_figure_relative_values() -> None:
    analyses = [
        gradscope.analyze(c, hidden_size=H, input_size=I, steps=T, snapshot_lags=(1, 5, T)) for c in ("rnn", "lstm")
    ]
    fig = figures.spectrum_figure(analyses)
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert len(panels) == 2
    for ax, a in zip(panels, analyses, strict=True):
        curves = [line for line in ax.get_lines() if line.get_label().startswith("k = ")]
        assert [c.get_label() for c in curves] == ["k = 1", "k = 5", f"k = {T}"]
        for curve, k in zip(curves, (1, 5, T), strict=True):
            relative = a.singular_values[k] - a.singular_values[k][0]
            resolved = relative >= np.log10(a.singular_values[k].size * np.finfo(float).eps)
            drawn = np.ma.masked_invalid(curve.get_ydata())
            assert_array_equal(drawn.mask, ~resolved)  # rounding noise below the floor is not drawn
            assert_array_equal(drawn[resolved], relative[resolved])
            assert len(curve.get_xdata()) == a.singular_values[k].size
    assert len(fig.legends) == 1
    with pytest.raises(ValueError, match="snapshot_lags"):
        figures.spectrum_figure([gradscope.analyze("rnn", hidden_size=H, input_size=I, steps=T)])


def test_length_figure_two_panels() -> None:
    study = length_study(
        [make_problem(c, hidden_size=H, input_size=I) for c in ("rnn", "gru")], [10, 20, 30], samples=2
    )
    fig = figures.length_figure(study)
    left, right = fig.axes
    rnn_final = left.get_lines()[0]
    assert_array_equal(rnn_final.get_xdata(), [10, 20, 30])
    assert_array_equal(rnn_final.get_ydata(), np.median(study.final_log10_norm[0], axis=0))  # over seeds
    assert_array_equal(right.get_lines()[0].get_ydata(), np.median(study.rates[0], axis=0))
    assert left.get_xlabel() == right.get_xlabel() == "sequence length T (steps)"
    assert len([c for c in left.collections if isinstance(c, PolyCollection)]) == 2  # min-max bands


def test_rendered_files_are_valid_and_deterministic(rnn_view: Analysis) -> None:
    fig = figures.profile_figure(rnn_view)
    png = figures.render(fig, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = figures.render(fig, "svg")
    root = ElementTree.parse(io.BytesIO(svg)).getroot()
    assert root.tag.endswith("svg")
    pdf = figures.render(fig, ".PDF")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    for data in (svg, pdf):
        assert b"CreationDate" not in data and b"<dc:date>" not in data
        assert mpl.__version__.encode() not in data
    again = figures.profile_figure(rnn_view)
    for fmt in ("pdf", "svg", "png"):  # another order: the bytes must not depend on it
        assert figures.render(again, fmt) == figures.render(fig, fmt)


def test_formats() -> None:
    assert figures.format_for_path("out/figure.SVG") == "svg"
    with pytest.raises(gradscope.ConfigError, match=r"\.png, \.svg, \.pdf"):
        figures.format_for_path("figure.jpg")
    with pytest.raises(gradscope.ConfigError):
        figures.render(Figure(), "eps")


def test_user_rc_params_do_not_leak_in() -> None:
    view = gradscope.analyze("rnn", hidden_size=H, input_size=I, steps=T)
    reference = figures.render(figures.profile_figure(view), "svg")
    with mpl.rc_context({"lines.linewidth": 7.0, "axes.facecolor": "black", "font.size": 20}):
        assert figures.render(figures.profile_figure(view), "svg") == reference


def test_matplotlib_is_imported_only_by_figures() -> None:
    code = (
        "import sys, gradscope, gradscope.analysis.ensemble, gradscope.studies, gradscope.gallery\n"
        "import gradscope.analysis.theory, gradscope.cli, gradscope.terminal\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
