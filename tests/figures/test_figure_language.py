"""Figures in Chinese: labels translated and drawn with a font that has the glyphs, or English and a warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from matplotlib import font_manager

import gradscope
from gradscope import figures, i18n
from gradscope.figures import fonts
from tests.cli_helpers import invoke


@pytest.fixture(scope="module")
def analysis() -> gradscope.Analysis:
    return gradscope.analyze("lstm", hidden_size=4, input_size=3, steps=30)


def _texts(figure) -> list[str]:
    ax = figure.axes[0]
    return [ax.get_title(), ax.get_xlabel(), *(t.get_text() for t in ax.get_legend().get_texts())]


def _installed_cjk_font() -> str:
    fonts.cjk_font.cache_clear()
    family = fonts.cjk_font()
    if family is None:
        pytest.skip(f"no font with Chinese glyphs installed ({fonts.INSTALL_HINT})")
    return family


@pytest.fixture(autouse=True)
def _fresh_font_lookup():
    lookup = fonts.cjk_font  # the cached one, whatever a test puts in its place
    lookup.cache_clear()
    yield
    lookup.cache_clear()


def test_english_figures_use_the_house_font_and_english_words(analysis: gradscope.Analysis) -> None:
    figure = figures.profile_figure(analysis)
    assert "lag k (steps)" in _texts(figure) and "LSTM: gradient norm through time (vanishing)" in _texts(figure)[0]
    assert figure.axes[0].title.get_fontfamily() == ["sans-serif"]  # matplotlib's default: DejaVu Sans


def test_chinese_labels_are_drawn_with_the_cjk_font_as_fallback(
    analysis: gradscope.Analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fonts, "cjk_font", lambda: "Noto Sans CJK SC")  # found, whatever is installed here
    i18n.set_language("zh")
    with warnings.catch_warnings():
        warnings.simplefilter("error", figures.MissingFontWarning)
        figure = figures.profile_figure(analysis)
    texts = _texts(figure)
    assert "滞后 k（步）" in texts and texts[0].startswith("LSTM：梯度范数随时间的变化（梯度消失）")
    assert any(t.startswith("拟合速率") and "/步" in t for t in texts)
    assert figure.axes[0].title.get_fontfamily() == ["DejaVu Sans", "Noto Sans CJK SC"]


def test_without_a_cjk_font_the_figure_is_english_and_says_what_to_install(
    analysis: gradscope.Analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    i18n.set_language("zh")
    with pytest.warns(figures.MissingFontWarning, match="apt install fonts-noto-cjk"):
        figure = figures.profile_depth_figure(analysis) if analysis.depth_profiles else figures.profile_figure(analysis)
    assert "lag k (steps)" in _texts(figure)
    assert i18n.current_language() == "zh"  # only the figure fell back to English


def test_the_command_line_warns_in_one_line_and_still_draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    plot = tmp_path / "profile.png"
    result = invoke("analyze", "--cell", "rnn", "-H", "4", "-I", "3", "-T", "20", "--lang", "zh", "--plot", str(plot))
    assert result.exit_code == 0 and plot.stat().st_size > 0
    warning = [line for line in result.stderr.splitlines() if line.startswith("gradscope: warning: ")]
    assert len(warning) == 1 and "fonts-noto-cjk" in warning[0] and "labelled in English" in warning[0]
    assert "梯度消失" in result.stdout  # the report is Chinese all the same


def test_a_font_installed_after_matplotlibs_cache_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    family = _installed_cjk_font()
    path = next(f.fname for f in font_manager.fontManager.ttflist if f.name == family)
    manager = font_manager.FontManager.__new__(font_manager.FontManager)
    manager.__dict__.update(font_manager.fontManager.__dict__)
    manager.ttflist = [f for f in font_manager.fontManager.ttflist if f.fname != path]  # a cache without it
    monkeypatch.setattr(font_manager, "fontManager", manager)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [path])
    fonts.cjk_font.cache_clear()
    assert fonts.cjk_font() == family
    assert any(f.fname == path for f in manager.ttflist)


def test_a_font_without_chinese_glyphs_is_not_taken() -> None:
    dejavu = font_manager.findfont("DejaVu Sans")
    assert not fonts.has_glyphs(dejavu) and fonts.has_glyphs(dejavu, "lag k")


def test_with_an_installed_cjk_font_no_glyph_is_missing(analysis: gradscope.Analysis) -> None:
    _installed_cjk_font()
    i18n.set_language("zh")
    figure = figures.profile_figure(analysis)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fmt in ("png", "svg", "pdf"):
            figures.render(figure, fmt)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert missing == []


def test_the_figures_of_analyze_and_compare_leave_no_english_words(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    monkeypatch.setattr(fonts, "cjk_font", lambda: "Noto Sans CJK SC")
    sizes = {"hidden_size": 4, "input_size": 3, "steps": 20}
    exploding = gradscope.analyze("rnn", init="orthogonal", gain=3.0, **sizes)
    stacked = gradscope.analyze(gradscope.make_problem("lstm", num_layers=2, **sizes), snapshot_lags=(5, 10))
    comparison = gradscope.compare(["rnn", "lstm", "gru"], **sizes)
    draws = gradscope.compare(["rnn", "gru"], samples=2, **sizes)
    i18n.set_language("zh")
    with warnings.catch_warnings():
        warnings.simplefilter("error", figures.MissingFontWarning)
        drawn = [
            figures.profile_figure(exploding),
            figures.profile_figure(stacked),
            figures.spectrum_figure([stacked]),
            figures.compare_figure(comparison.analyses),
            figures.ensemble_figure(list(draws.ensembles)),
        ]
    kept = {"LSTM", "PyTorch", "Pascanu", "tanh"}  # names; symbols and TeX are not words
    for figure in drawn:
        texts = [t.get_text() for t in figure.findobj(lambda artist: hasattr(artist, "get_text"))]
        prose = [re.sub(r"\$[^$]*\$", "", text) for text in texts]
        words = {w for text in prose for w in re.findall(r"(?<![\w])[A-Za-z][A-Za-z'-]{3,}(?![\w(])", text)} - kept
        assert not words, f"untranslated figure labels: {sorted(words)}"
