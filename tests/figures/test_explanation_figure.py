"""The explanation figure, through its data: one line per path beside the full product, one box per gate; in
Chinese with a CJK font, or in English with a one-line note naming the font to install."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import invoke

from gradscope import explain, figures, i18n
from gradscope.figures import explanation_figure, fonts


def test_lines_are_the_paths_and_the_full_product() -> None:
    result = explain("lstm", hidden_size=6, steps=30, suggest=False)
    fig = explanation_figure(result)
    left, right = fig.axes
    lines = {line.get_label(): line for line in left.get_lines()}
    np.testing.assert_allclose(lines["full product"].get_ydata(), result.analysis.log10_norm)
    carousel = lines["c->c: diag(f_t)"]
    np.testing.assert_allclose(carousel.get_ydata(), result.carousel.log10_norm)
    assert [t.get_text() for t in right.get_xticklabels()] == [f"{g.name} ({g.activation})" for g in result.gates]


def test_in_chinese_the_figure_uses_the_cjk_font_and_leaves_no_english_words(monkeypatch: pytest.MonkeyPatch) -> None:
    result = explain("lstm", hidden_size=4, input_size=3, steps=20, suggest=False)
    monkeypatch.setattr(fonts, "cjk_font", lambda: "Noto Sans CJK SC")  # found, whatever is installed here
    i18n.set_language("zh")
    with warnings.catch_warnings():
        warnings.simplefilter("error", figures.MissingFontWarning)
        fig = explanation_figure(result)
    left, right = fig.axes
    assert left.get_title() == "单步雅可比矩阵的路径" and right.get_title() == "整条轨迹上的门"
    assert left.title.get_fontfamily() == ["DejaVu Sans", "Noto Sans CJK SC"]
    kept = {"LSTM", "PyTorch", "sigmoid", "tanh"}  # names; symbols, formulas and TeX are not words
    texts = [t.get_text() for t in fig.findobj(lambda artist: hasattr(artist, "get_text"))]
    prose = [re.sub(r"\$[^$]*\$", "", text) for text in texts]
    words = {w for text in prose for w in re.findall(r"(?<![\w])[A-Za-z][A-Za-z'-]{3,}(?![\w(])", text)} - kept
    assert not words, f"untranslated figure labels: {sorted(words)}"


def test_explain_plot_in_chinese_without_a_cjk_font_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    plot = tmp_path / "paths.png"
    result = invoke("explain", "--cell", "gru", "-H", "4", "-I", "3", "-T", "20", "--lang", "zh", "--plot", str(plot))
    assert result.exit_code == 0 and plot.stat().st_size > 0
    warning = [line for line in result.stderr.splitlines() if line.startswith("gradscope: warning: ")]
    assert len(warning) == 1 and "fonts-noto-cjk" in warning[0] and "labelled in English" in warning[0]
    assert "单步雅可比矩阵的路径" in result.stdout  # the report is Chinese all the same
