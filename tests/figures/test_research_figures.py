"""The sweep-rate and Lyapunov figures, checked through their data: the drawn lines hold the inputs."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gradscope import figures
from gradscope.analysis import theory as theory
from gradscope.analysis.lyapunov_spectrum import lyapunov
from gradscope.studies.axes import parse_axes
from gradscope.studies.executors import SerialExecutor
from gradscope.studies.sweeps import SweepSpec, run_sweep

TINY = {"hidden_size": 4, "input_size": 2, "steps": 12}


@pytest.fixture(scope="module")
def rnn_sweep():
    spec = SweepSpec.create("rnn", parse_axes(["gain=0.5:2:4"]), samples=3, **TINY)
    return run_sweep(spec, executor=SerialExecutor())


def _line(ax, label_start: str):
    return next(line for line in ax.get_lines() if line.get_label().startswith(label_start))


def test_sweep_rate_figure_median_and_theory(rnn_sweep) -> None:
    fig = figures.sweep_rate_figure(rnn_sweep)
    ax = fig.axes[0]
    rates = rnn_sweep.by_grid("rate_per_step")
    median = _line(ax, "median")
    assert_allclose(median.get_xdata(), [0.5, 1.0, 1.5, 2.0])
    assert_allclose(np.asarray(median.get_ydata()), np.nanmedian(rates, axis=1))
    theory_line = _line(ax, "mean-field theory")
    assert_allclose(np.asarray(theory_line.get_ydata()), rnn_sweep.theory_rate()[::3])
    expected = [theory.tanh_rnn_mean_field_rate("pytorch", g, 4, 2) for g in (0.5, 1.0, 1.5, 2.0)]
    assert_allclose(np.asarray(theory_line.get_ydata()), expected)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(np.nanquantile(rates, 0.1, axis=1).min())
    assert band.max() == pytest.approx(np.nanquantile(rates, 0.9, axis=1).max())


def test_sweep_rate_figure_gated_cell_two_axes_and_categories() -> None:
    spec = SweepSpec.create("lstm", parse_axes(["forget_bias=0,2,chrono", "gain=1,2"]), samples=1, **TINY)
    result = run_sweep(spec, executor=SerialExecutor())
    ax = figures.sweep_rate_figure(result).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert not any("theory" in label for label in labels)  # theory only for the tanh RNN
    rates = result.by_grid("rate_per_step")[:, 0]
    for g, label in ((1.0, "median (gain = 1.0)"), (2.0, "median (gain = 2.0)")):
        line = _line(ax, label)
        assert_allclose(line.get_xdata(), [0, 1, 2])  # categorical positions
        assert_allclose(np.asarray(line.get_ydata()), rates[[i for i, p in enumerate(result.grid()) if p["gain"] == g]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.0", "2.0", "chrono"]


def test_lyapunov_figure_spectrum_running_and_theory() -> None:
    spectrum = lyapunov("rnn", hidden_size=5, input_size=2, steps=80, exponents=4, init="gaussian", gain=0.5)
    newman = theory.newman_spectrum(5, 0.5, count=4)
    fig = figures.lyapunov_figure(spectrum, theory=newman)
    spectrum_ax, running_ax = fig.axes
    estimate = spectrum_ax.containers[0].lines[0]
    assert_allclose(estimate.get_xdata(), [1, 2, 3, 4])
    assert_allclose(np.asarray(estimate.get_ydata()), spectrum.exponents)
    assert_allclose(np.asarray(_line(spectrum_ax, "Newman").get_ydata()), newman)
    assert any(line.get_ydata()[0] == 0.0 and line.get_linestyle() == ":" for line in spectrum_ax.get_lines())
    for i in range(4):
        line = _line(running_ax, f"$\\lambda_{{{i + 1}}}$")
        assert_allclose(line.get_xdata(), spectrum.running_steps)
        assert_allclose(np.asarray(line.get_ydata()), spectrum.running[:, i])


def test_lyapunov_figure_without_theory_or_running() -> None:
    spectrum = lyapunov("lstm", hidden_size=3, input_size=2, steps=40)
    fig = figures.lyapunov_figure(spectrum, show_running=False)
    assert len(fig.axes) == 1
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert not any("Newman" in label for label in labels)
    assert "[h; c]" in fig.axes[0].get_xlabel()
    assert len(fig.axes[0].containers[0].lines[0].get_ydata()) == 6


def test_lyapunov_figure_mean_field_top_exponent_on_both_panels() -> None:
    spectrum = lyapunov("rnn", hidden_size=4, input_size=2, steps=40, init="gaussian", gain=2.0)
    predicted = theory.tanh_rnn_mean_field_rate("gaussian", 2.0, 4, 2)
    fig = figures.lyapunov_figure(spectrum, top_theory=predicted)
    for ax in fig.axes:
        assert any(np.allclose(line.get_ydata(), predicted) and line.get_linestyle() == "--" for line in ax.get_lines())
    assert any("mean-field" in line.get_label() for line in fig.axes[0].get_lines())
