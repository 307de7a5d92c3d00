"""The figures that show a path effect, through their data: the exploding profile's inset, the LSTM spectrum's
split at index H, and plain ``H=, I=, T=`` labels in the sweep titles."""

from __future__ import annotations

import numpy as np

import gradscope
from gradscope.figures import profile_figure, spectrum_figure, sweep_rate_figure
from gradscope.figures.profile import needs_inset
from gradscope.studies.sweeps import SweepSpec, run_sweep


def test_an_exploding_profile_gets_an_inset_with_the_measured_curve_on_its_own_scale() -> None:
    exploding = gradscope.analyze(gradscope.make_problem("rnn", init="gaussian", gain=2.0, hidden_size=32, steps=60))
    bound = exploding.pascanu_bound
    assert bound is not None and np.ptp(bound.log10) > 4 * np.ptp(exploding.log10_norm)  # the closed-form bound
    assert needs_inset(exploding)
    (zoom,) = profile_figure(exploding).axes[0].child_axes
    measured, fitted = zoom.get_lines()
    np.testing.assert_array_equal(measured.get_ydata(), exploding.log10_norm)
    np.testing.assert_array_equal(fitted.get_ydata(), exploding.fitted_log10)
    low, high = zoom.get_ylim()  # its own scale: the measured range, not the bound's
    assert low <= exploding.log10_norm.min() and high < 2 * exploding.log10_norm.max() < bound.log10.max()
    vanishing = gradscope.analyze(gradscope.make_problem("rnn", hidden_size=32, steps=60))
    assert not needs_inset(vanishing) and not profile_figure(vanishing).axes[0].child_axes
    assert profile_figure(vanishing, inset=True).axes[0].child_axes


def test_the_lstm_spectrum_marks_index_h_and_the_others_do_not() -> None:
    analyses = [
        gradscope.analyze(gradscope.make_problem(c, hidden_size=6, input_size=3, steps=12), snapshot_lags=(1, 6))
        for c in ("rnn", "lstm")
    ]
    rnn_ax, lstm_ax = spectrum_figure(analyses).axes[:2]
    marks = [line for line in lstm_ax.get_lines() if np.allclose(line.get_xdata(), 6.5)]
    assert len(marks) == 1
    assert {t.get_text().strip() for t in lstm_ax.texts} == {"carousel (c)", "through h, W_hh"}
    assert not [line for line in rnn_ax.get_lines() if np.allclose(line.get_xdata(), 6.5)] and not rnn_ax.texts


def test_sweep_titles_use_plain_size_labels() -> None:
    spec = SweepSpec.create("lstm", ["gain=1,2"], hidden_size=4, input_size=2, steps=12, forget_bias=2.0)
    title = sweep_rate_figure(run_sweep(spec)).axes[0].get_title()
    assert title.splitlines()[-1] == "H=4, I=2, T=12, PyTorch default init, b_f = 2"
    assert "hidden_size" not in title and "steps" not in title.splitlines()[-1]
