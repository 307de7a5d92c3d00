"""The gallery's captions name the paths their figures show, with the numbers measured in the same build."""

from __future__ import annotations

import math

import gradscope
from gradscope.analysis.spectra import resolved_split
from gradscope.gallery.profiles import compare_section, exploding_profile_section, vanishing_profile_section
from gradscope.gallery.sizes import QUICK
from gradscope.gallery.spectra import spectrum_analyses, spectrum_section
from gradscope.gallery.sweeps import forget_bias_section


def test_the_spectrum_caption_explains_the_drop_at_index_h_with_the_measured_rates() -> None:
    section = spectrum_section(QUICK)
    lstm = next(a for a in spectrum_analyses(QUICK) if a.cell == "lstm")
    split = resolved_split(lstm, QUICK.hidden_size)
    assert split is not None and split.drop > 2
    caption = section.caption
    assert f"drops by {split.drop:.1f} decades at index i = H = {QUICK.hidden_size} (lag k = {split.lag})" in caption
    assert f"{split.upper_rate:+.2f} decades per step" in caption and "carousel" in caption
    assert f"{split.lower_rate:+.2f} decades per step" in caption and "through h and `W_hh`" in caption


def test_profile_and_compare_captions_name_the_paths_with_their_rates() -> None:
    for section in (vanishing_profile_section(QUICK), exploding_profile_section(QUICK)):
        assert "one path from step to step, `diag(tanh'(a_t)) W_hh`" in section.caption
    problem = gradscope.make_problem("rnn", **QUICK.problem_options())
    rate = gradscope.analyze(problem).rate_per_step
    caption = vanishing_profile_section(QUICK).caption
    assert f"{rate:+.3f} per step (natural log; {rate / math.log(10):+.3f} decades per step)" in caption
    compared = compare_section(QUICK).caption
    rates = {
        a.cell: a.rate_per_step for a in gradscope.compare(["rnn", "lstm", "gru"], **QUICK.problem_options()).analyses
    }
    assert "carousel `∂c_t/∂c_(t-1) = diag(f_t)`" in compared and f"its rate is {rates['lstm']:+.3f}" in compared
    assert "leak `diag(z_t)`" in compared and f"its rate is {rates['gru']:+.3f}" in compared
    assert "carousel `∂c_t/∂c_(t-1) = diag(f_t)`" in forget_bias_section(QUICK).caption


def test_gallery_titles_use_plain_size_labels() -> None:
    captions = spectrum_section(QUICK).caption + vanishing_profile_section(QUICK).caption
    assert f"H={QUICK.hidden_size}, I={QUICK.input_size}" in captions
    assert "hidden_size" not in captions and "input_size" not in captions
