"""The depth-by-time heatmap, checked through its data, and ``analyze --plot`` for stacked weights.

The drawn images must equal the engine's ``depth_profiles`` (which tests/engine/test_depth.py checks
against PyTorch autograd) and, where PyTorch is installed, PyTorch's own gradient norms; exactly
zero gradients must be masked, never drawn as a colour of the scale.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
from cli_helpers import invoke
from matplotlib.colors import Normalize, TwoSlopeNorm, to_rgba
from matplotlib.figure import Figure
from numpy.testing import assert_allclose, assert_array_equal

import gradscope
from gradscope import figures
from gradscope.analysis.profile import Analysis
from gradscope.cli.plots import analysis_plot
from gradscope.gallery import random_stacked_params

H, I, T, L = 4, 3, 15, 3


def images(fig: Figure) -> list[object]:
    """The heatmaps, one per direction panel, left to right."""
    return [image for ax in fig.axes for image in ax.get_images()]


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((T, I))


@pytest.fixture(scope="module")
def bidirectional(inputs: np.ndarray) -> tuple[dict[str, np.ndarray], Analysis]:
    params = random_stacked_params("lstm", H, I, L, bidirectional=True, seed=3)
    return params, gradscope.analyze("lstm", params=params, inputs=inputs)


def test_one_heatmap_per_direction_equal_to_the_depth_profiles(bidirectional: tuple[dict, Analysis]) -> None:
    _, a = bidirectional
    fig = figures.depth_figure(a)
    forward_ax, reverse_ax, bar_ax = fig.axes  # two panels and the shared colour bar
    forward, reverse = images(fig)
    for image, direction in ((forward, "forward"), (reverse, "reverse")):
        drawn = image.get_array()
        assert drawn.shape == (L, T)
        for p in (p for p in a.depth_profiles if p.direction == direction):
            row = drawn[p.layer]
            finite = np.isfinite(p.log10_norm)
            assert_array_equal(row.data[finite], p.log10_norm[finite])  # row l is layer l, column t-1 position t
            assert_array_equal(np.ma.getmaskarray(row), ~finite)
        assert image.origin == "lower"  # layer 0 at the bottom
        assert image.get_extent() == [0.5, T + 0.5, -0.5, L - 0.5]
    assert forward.norm is reverse.norm and forward.cmap is reverse.cmap  # one shared colour scale
    assert forward_ax.get_title().startswith("forward") and reverse_ax.get_title().startswith("reverse")
    assert forward_ax.get_xlabel() == reverse_ax.get_xlabel() == "input position t"
    assert "layer" in forward_ax.get_ylabel() and "0 = bottom" in forward_ax.get_ylabel()
    assert_array_equal(forward_ax.get_yticks(), np.arange(L))
    assert "log_{10}" in bar_ax.get_ylabel() and "y_T" in bar_ax.get_ylabel()
    assert "LSTM, 3 layers, bidirectional" in fig.get_suptitle()
    assert f"H={H}, I={I}, T={T}" in fig.get_suptitle()


def test_zero_gradients_are_masked_grey_and_explained(bidirectional: tuple[dict, Analysis]) -> None:
    _, a = bidirectional
    fig = figures.depth_figure(a)
    reverse = images(fig)[1].get_array()
    # The top reverse direction enters y_T only through its first step, which read position T.
    assert np.all(reverse.mask[L - 1, :-1]) and not reverse.mask[L - 1, -1]
    assert not np.any(reverse.mask[: L - 1])
    assert images(fig)[1].cmap.get_bad() == pytest.approx(to_rgba(figures.UNREACHED_COLOUR))
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [r"grey: exactly 0, $y_T$ does not depend on this state"]


@pytest.mark.parametrize(("cell", "bidirectional"), [("gru", True), ("rnn", False)])
def test_drawn_values_equal_torch_autograd(cell: str, bidirectional: bool, inputs: np.ndarray) -> None:
    """A second source: the gradient norms of PyTorch's own modules, by autograd."""
    pytest.importorskip("torch")
    import torch_reference

    params = random_stacked_params(cell, H, I, L, bidirectional, seed=5)
    norms, _ = torch_reference.depth_jacobian_norms(cell, params, inputs, L, bidirectional)  # (L, D, T)
    fig = figures.depth_figure(gradscope.analyze(cell, params=params, inputs=inputs))
    drawn = images(fig)
    assert len(drawn) == norms.shape[1]
    for d, image in enumerate(drawn):
        expected = norms[:, d]
        values = image.get_array()
        assert_array_equal(np.ma.getmaskarray(values), expected == 0)
        assert_allclose(values.data[expected > 0], np.log10(expected[expected > 0]), rtol=0, atol=1e-6)


def test_unidirectional_network_has_one_panel_and_no_grey_key() -> None:
    params = random_stacked_params("rnn", H, I, 2, bidirectional=False, seed=1)
    a = gradscope.analyze("rnn", params=params, steps=2000)  # thousands of positions: aspect "auto"
    fig = figures.depth_figure(a)
    panel, _ = fig.axes
    (image,) = images(fig)
    assert image.get_array().shape == (2, 2000)
    assert panel.get_aspect() == "auto" and panel.get_xlim() == (0.5, 2000.5)
    assert not fig.legends  # no exactly-zero cells to explain
    assert "2 layers:" in fig.get_suptitle() and "bidirectional" not in fig.get_suptitle()


def test_depth_figure_draws_on_given_axes_and_needs_depth_profiles(bidirectional: tuple[dict, Analysis]) -> None:
    _, a = bidirectional
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert figures.depth_figure(a, axes=list(axes)) is fig
    assert all(len(ax.get_images()) == 1 for ax in axes)
    with pytest.raises(ValueError, match="expected 2 axes"):
        figures.depth_figure(a, axes=[axes[0]])
    with pytest.raises(ValueError, match="depth profiles"):
        figures.depth_figure(gradscope.analyze("rnn", hidden_size=H, input_size=I, steps=T))


def test_colour_scale_is_white_at_norm_one_and_spans_only_the_signs_present() -> None:
    diverging = mpl.colormaps["RdBu_r"]
    cmap, norm, ticks = figures.log10_colour_scale(-3.0, 2.0)
    assert isinstance(norm, TwoSlopeNorm) and norm(0.0) == pytest.approx(0.5)
    assert ticks.min() >= -3.0 and ticks.max() <= 2.0 and 0.0 in ticks
    # Vanishing only: the blue half, ending in white at log10 = 0 (no empty red half on the bar).
    cmap, norm, ticks = figures.log10_colour_scale(-36.0, -1.0)
    assert isinstance(norm, Normalize) and (norm.vmin, norm.vmax) == (-36.0, 0.0)
    assert cmap(1.0) == pytest.approx(diverging(0.5), abs=0.01) and cmap(0.0) == pytest.approx(diverging(0.0))
    assert ticks.min() >= -36.0 and ticks.max() == 0.0
    cmap, norm, _ = figures.log10_colour_scale(0.5, 4.0)
    assert (norm.vmin, norm.vmax) == (0.0, 4.0) and cmap(1.0) == pytest.approx(diverging(1.0))
    _, norm, _ = figures.log10_colour_scale(0.0, 0.0)  # every norm exactly 1: still a range
    assert norm.vmin < norm.vmax == 0.0


# ---------------------------------------------------------------------------------------------
# gradscope analyze --plot


def test_analysis_plot_puts_the_profile_above_the_heatmaps(bidirectional: tuple[dict, Analysis]) -> None:
    _, a = bidirectional
    fig = analysis_plot(a)
    profile_ax, forward_ax, reverse_ax, _ = fig.axes
    measured = profile_ax.get_lines()[0]
    assert_array_equal(measured.get_ydata(), a.log10_norm)  # the top layer's forward recurrence
    assert "top layer, forward" in profile_ax.get_title()
    assert [len(ax.get_images()) for ax in (profile_ax, forward_ax, reverse_ax)] == [0, 1, 1]
    assert_array_equal(images(fig)[0].get_array(), figures.depth_grid(a.depth_profiles, "forward"))


def test_single_layer_plot_is_unchanged() -> None:
    a = gradscope.analyze("rnn", hidden_size=H, input_size=I, steps=T, seed=2)
    assert not a.depth_profiles
    fig = analysis_plot(a)
    assert len(fig.axes) == 1 and not fig.axes[0].get_images()
    assert figures.render(fig, "png") == figures.render(figures.profile_figure(a), "png")


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_cli_plot_of_a_stacked_npz_includes_the_heatmaps(tmp_path: Path, fmt: str) -> None:
    params = random_stacked_params("gru", H, I, 2, bidirectional=True, seed=4)
    np.savez(tmp_path / "model.npz", **params)
    plot = tmp_path / f"model.{fmt}"
    result = invoke(
        "analyze", "--cell", "gru", "--weights", str(tmp_path / "model.npz"), "--steps", str(T), "--plot", str(plot)
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    data = plot.read_bytes()
    if fmt == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    else:
        assert ElementTree.parse(io.BytesIO(data)).getroot().tag.endswith("svg")
    # The file is the figure of the same analysis, byte for byte.
    a = gradscope.analyze("gru", params=params, steps=T)
    expected = figures.profile_depth_figure(a)
    assert data == figures.render(expected, fmt)
