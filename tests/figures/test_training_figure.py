"""The gradient-flow-over-training figure, checked through its data: the heat map holds every checkpoint's profile
(one column per checkpoint, one row per lag), the lower panels the rates and reaches; exact zeros are masked."""

from __future__ import annotations

import math

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

import gradscope
from gradscope import figures
from gradscope.studies.executors import SerialExecutor
from gradscope.studies.training import Checkpoint, TrainingSeries, analyze_checkpoints, reach


def series(gains: tuple[float, ...] = (0.6, 1.0, 1.6), steps: tuple[int, ...] = (0, 100, 400)) -> TrainingSeries:
    checkpoints = [
        Checkpoint(f"ckpt_{s}.npz", s, "name", gradscope.make_problem("rnn", hidden_size=4, input_size=2, steps=12,
                                                                       init="orthogonal", gain=g))
        for s, g in zip(steps, gains, strict=True)
    ]  # fmt: skip
    return analyze_checkpoints(checkpoints, executor=SerialExecutor())


def test_heat_map_and_curves_hold_the_series() -> None:
    run = series()
    fig = figures.training_figure(run)
    heat, rate_ax, reach_ax = fig.axes[:3]
    mesh = heat.collections[0]
    # pcolormesh stores C row-major over (lag, step): row k-1 is lag k, column n checkpoint n.
    assert_allclose(np.asarray(mesh.get_array()).reshape(12, 3), run.log10_norms.T)
    assert_array_equal(rate_ax.lines[0].get_xdata(), [0, 100, 400])
    assert_allclose(rate_ax.lines[0].get_ydata(), run.rates)
    assert_allclose(reach_ax.lines[0].get_ydata(), run.reaches)
    assert reach_ax.get_xlabel() == "training step"
    # The orthogonal RNN at zero state: ||P_k|| <= gain^k, so the rates order as the gains.
    assert run.rates[0] < run.rates[1] < run.rates[2]


def test_reach_is_the_efolding_lag_capped_at_t() -> None:
    assert reach(-0.1, 100) == 10.0
    assert reach(-0.001, 100) == 100.0  # 1000 steps to fall by e: the whole sequence
    assert reach(0.2, 100) == 100.0
    assert reach(-math.inf, 100) == 0.0


def test_exact_zeros_are_masked() -> None:
    run = series()
    values = run.log10_norms.copy()
    values[1, 5:] = -np.inf
    entries = list(run.entries)
    entries[1] = type(entries[1])(**{**entries[1].__dict__, "log10_norm": values[1]})
    fig = figures.training_figure(TrainingSeries(run.run, tuple(entries)))
    drawn = fig.axes[0].collections[0].get_array()
    assert np.ma.is_masked(drawn)
    assert int(np.ma.count_masked(drawn)) == 7
