"""Tests of gradscope.terminal: numbers against independent formulas, layout at 80 columns, no colour leaks."""

from __future__ import annotations

import decimal
import io as stdio
import math
import re

import numpy as np
import pytest
from rich.console import Console

import gradscope
from gradscope import terminal as report
from gradscope.analysis.profile import Analysis
from gradscope.analysis.summary import Thresholds, summarize
from gradscope.cells.spec import CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.symbolic import display

ANSI = re.compile(r"\x1b\[")


def render(renderable: object, width: int = 80, encoding: str = "utf-8", color: bool = False) -> str:
    """Text of ``renderable`` as a console of ``width`` columns writing to a ``encoding`` stream prints it."""
    buffer = stdio.BytesIO()
    stream = stdio.TextIOWrapper(buffer, encoding=encoding, errors="strict")
    console = Console(
        file=stream,
        width=width,
        color_system="truecolor" if color else None,
        force_terminal=color,
        legacy_windows=False,
    )
    console.print(renderable)
    stream.flush()
    return buffer.getvalue().decode(encoding)


def synthetic(log10_norm: list[float] | np.ndarray, cell: str = "rnn") -> Analysis:
    """An Analysis around a given profile (sizes are placeholders), with the default thresholds."""
    thresholds = Thresholds()
    values = np.asarray(log10_norm, dtype=np.float64)
    lags = np.arange(1, values.size + 1)
    summary = summarize(lags, values, thresholds)
    spec = compile_cell(cell).spec
    return Analysis(
        cell=cell,
        hidden_size=4,
        input_size=2,
        steps=values.size,
        state=spec.state_layout,
        norm="spectral",
        dtype="float64",
        lags=lags,
        log10_norm=values,
        rate_per_step=summary.rate_per_step,
        efolding_lag=summary.efolding_lag,
        verdict=summary.verdict,
        thresholds=thresholds,
        config={"seed": 0, "params": "random", "init": "pytorch", "gain": 1.0, "inputs": "normal(0, 1)"},
    )


@pytest.fixture(scope="module")
def lstm_result() -> Analysis:
    return gradscope.analyze("lstm", hidden_size=8, input_size=3, steps=120, seed=2)


# ---------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (1, [1]),
        (2, [1, 2]),
        (7, [1, 2, 5, 7]),
        (10, [1, 2, 5, 10]),
        (200, [1, 2, 5, 10, 20, 50, 100, 200]),
        (1234, [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 1234]),
    ],
)
def test_report_lags_follow_1_2_5_then_the_end(steps: int, expected: list[int]) -> None:
    assert report.report_lags(steps) == expected


@pytest.mark.parametrize("log10_value", [-307.5, -43.0104, -2.5, -0.0001, 0.0, 0.30103, 1.999999, 12.345, 300.9])
def test_format_power_matches_python_formatting_in_range(log10_value: float) -> None:
    assert report.format_power(log10_value) == f"{10.0**log10_value:.2e}"


@pytest.mark.parametrize("log10_value", [-5000.25, -1234.999999, 999.5, 4321.0])
def test_format_power_beyond_float_range_matches_decimal(log10_value: float) -> None:
    decimal.getcontext().prec = 50
    exact = decimal.Decimal(10) ** decimal.Decimal(log10_value)
    assert report.format_power(log10_value) == f"{exact:.2e}".replace("E", "e")


def test_format_special_values() -> None:
    assert report.format_power(-math.inf) == "0"
    assert report.format_log10(-math.inf) == "-inf"
    assert report.format_log10(-1.234) == "-1.23"
    assert report.format_steps(math.inf) == "inf"
    assert report.format_rate(-0.5) == "-0.5"
    assert report.format_axis(-0.04) == "0.0"


def test_split_terms_only_at_top_level() -> None:
    assert report.split_terms("diag(Heaviside(m_h + u_h, 0)) W_hh") == ["diag(Heaviside(m_h + u_h, 0)) W_hh"]
    assert report.split_terms("diag(a + b) W_hr + diag(z_t)") == ["diag(a + b) W_hr", "diag(z_t)"]


# ---------------------------------------------------------------------------------------------
# Charts


def test_profile_columns_are_bin_means_when_lags_divide_evenly() -> None:
    values = np.random.default_rng(0).standard_normal(60)
    np.testing.assert_allclose(report.profile_columns(values, 20), values.reshape(20, 3).mean(axis=1))


def test_profile_columns_ignore_exact_zeros_and_mark_all_zero_bins() -> None:
    values = np.array([-1.0, -np.inf, -3.0, -np.inf, -np.inf, -np.inf])
    columns = report.profile_columns(values, 3)
    assert columns[0] == -1.0 and columns[1] == -3.0 and np.isnan(columns[2])


def test_profile_columns_stretch_short_profiles() -> None:
    values = np.array([0.0, -1.0, -2.0])
    columns = report.profile_columns(values, 10)
    assert columns.size == 9
    assert list(columns[::3]) == [0.0, -1.0, -2.0]


def test_chart_of_a_decreasing_profile_decreases() -> None:
    values = -np.linspace(0.0, 40.0, 200)
    levels = report.column_levels(report.profile_columns(values, 50), 8, *report.chart_range(values))
    assert levels[0] == 64 and levels[-1] >= 1
    assert np.all(np.diff(levels) <= 0)
    rows = report.chart_rows(levels, 8)
    assert rows[-1].count(" ") == 0  # every column shows at least its lowest eighth
    assert rows[0][0] == "█"


def test_chart_ascii_only_and_widths() -> None:
    chart = report.ProfileChart(-np.linspace(0.0, 10.0, 300))
    for width in (40, 80, 120):
        text = render(chart, width=width)
        assert max(len(line) for line in text.splitlines()) <= width
    ascii_text = render(chart, width=80, encoding="ascii")
    assert ascii_text.isascii()
    assert "#" in ascii_text


def test_sparkline_shares_a_scale() -> None:
    low, high = report.chart_range([0.0, -10.0], [-5.0, -20.0])
    assert (low, high) == (-20.0, 0.0)
    line = report.sparkline(np.array([0.0, -10.0, -20.0]), 3, low, high)
    assert line == "█▄▁"  # full, half (4 eighths), the lowest eighth


# ---------------------------------------------------------------------------------------------
# The analyze report


def parse_lag_rows(text: str) -> dict[int, tuple[float, float]]:
    """``{k: (norm, log10)}`` from the lag table of a rendered report."""
    rows = {}
    for match in re.finditer(r"^\W*(\d+)\s+(\d\.\d\de[+-]\d+)\s+(-?\d+\.\d\d)\s*\W*$", text, flags=re.M):
        rows[int(match[1])] = (float(match[2]), float(match[3]))
    return rows


def test_report_table_matches_the_engine(lstm_result: Analysis) -> None:
    text = render(report.analysis_report(lstm_result))
    rows = parse_lag_rows(text)
    assert sorted(rows) == report.report_lags(lstm_result.steps)
    for k, (norm, log10) in rows.items():
        exact = float(lstm_result.log10_norm[k - 1])
        assert log10 == pytest.approx(exact, abs=0.005)
        assert math.log10(norm) == pytest.approx(exact, abs=0.0025)


def test_report_has_every_section_and_fits_80_columns(lstm_result: Analysis) -> None:
    text = render(report.analysis_report(lstm_result))
    assert max(len(line) for line in text.splitlines()) <= 80
    for expected in ("lstm", "s = [h; c]", "hidden_size 8", "T = 120", "seed 2", "spectral", "Verdict", "lag k"):
        assert expected in text
    assert lstm_result.verdict.upper() in text
    for block in compile_cell("lstm").blocks:
        assert block.text.partition(" = ")[0] in text  # every derived block is shown
    for gate in "ifgo":
        assert f"W_h{gate}" in text
    assert not ANSI.search(text)


def test_report_wide_terminal_is_capped(lstm_result: Analysis) -> None:
    text = render(report.analysis_report(lstm_result), width=200)
    assert max(len(line) for line in text.splitlines()) <= report.REPORT_WIDTH


def test_report_colour_only_when_asked(lstm_result: Analysis) -> None:
    assert ANSI.search(render(report.analysis_report(lstm_result), color=True))
    assert not ANSI.search(render(report.analysis_report(lstm_result), color=False))


def test_report_ascii_console(lstm_result: Analysis) -> None:
    assert render(report.analysis_report(lstm_result), encoding="ascii").isascii()


def test_report_names_the_files(lstm_result: Analysis) -> None:
    result = gradscope.analyze("gru", params=gradscope.make_problem("gru", hidden_size=3).params.as_dict(), steps=5)
    text = render(report.analysis_report(result, sources={"params": "model.npz"}))
    assert "from model.npz" in text


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_report_shows_each_cells_blocks(cell: str) -> None:
    result = gradscope.analyze(cell, hidden_size=3, input_size=2, steps=7)
    text = render(report.analysis_report(result))
    for block in compile_cell(cell).blocks:
        lhs, _, rhs = block.text.partition(" = ")
        assert lhs in text
        assert report.split_terms(rhs)[0].split("(")[0] in text


def test_vanishing_interpretation_from_a_linear_profile() -> None:
    # log10 ||P_k|| = -k: the rate is -ln 10 per step exactly, x10 every step, below 1e-6 from k = 7.
    analysis = synthetic(-np.arange(1.0, 31.0))
    assert analysis.rate_per_step == pytest.approx(-math.log(10.0))
    text = report.verdict_text(analysis).plain
    assert text.startswith("VANISHING")
    assert f"rate {-math.log(10):+.3g}/step" in text
    assert f"e-folding lag {1 / math.log(10):.3g} steps" in text
    assert "x10 every 1 steps" in text
    assert "below 1e-6 from lag 7 on" in report.interpretation(analysis)


def test_exploding_interpretation_from_a_linear_profile() -> None:
    analysis = synthetic(0.5 * np.arange(1.0, 41.0))
    assert report.verdict_text(analysis).plain.startswith("EXPLODING")
    line = report.interpretation(analysis)
    assert "grows 10x every 2 steps" in line
    assert "exceeds 1e+06 from lag 13 on" in line


def test_stable_interpretation() -> None:
    analysis = synthetic(np.full(50, -0.2))
    assert analysis.verdict == "stable"
    line = report.interpretation(analysis)
    assert "[-0.01, +0.01]" in line and "neither vanishes nor explodes" in line
    assert "6.31e-01" in line  # 10 ** -0.2
    assert "e-folding lag inf steps" in report.verdict_text(analysis).plain


def test_exactly_zero_interpretation() -> None:
    analysis = synthetic([-1.0, -2.0, -3.0, -np.inf, -np.inf, -np.inf])
    assert analysis.verdict == "vanishing"
    assert "exactly zero from lag 4 on" in report.interpretation(analysis)
    text = render(report.analysis_report(analysis))
    assert "-inf" in text


def test_summary_line(lstm_result: Analysis) -> None:
    line = report.summary_line(lstm_result).plain
    assert line.startswith(f"lstm: {lstm_result.verdict}, rate {report.format_rate(lstm_result.rate_per_step)}/step")
    assert report.format_power(lstm_result.final_log10_norm) in line


# ---------------------------------------------------------------------------------------------
# compare, cells, derive


def test_comparison_report_matches_each_analysis() -> None:
    results = [gradscope.analyze(cell, hidden_size=6, input_size=3, steps=60, seed=1) for cell in CELL_NAMES]
    text = render(report.comparison_report(results))
    assert max(len(line) for line in text.splitlines()) <= 80
    for k in report.report_lags(60):
        row = re.search(rf"^\W*{k}((?:\s+(?:-?\d+\.\d\d|-inf))+)\s*\W*$", text, flags=re.M)
        assert row is not None, k
        values = [float(v) for v in row[1].split()]
        expected = [float(r.log10_norm[k - 1]) for r in results]
        np.testing.assert_allclose(values, expected, atol=0.005)
    for result in results:
        assert result.cell in text and result.verdict in text
    assert not ANSI.search(text)


def test_comparison_report_needs_results() -> None:
    with pytest.raises(ValueError, match="at least one"):
        report.comparison_report([])


def test_cells_table_lists_every_cell() -> None:
    specs = [compile_cell(name).spec for name in CELL_NAMES]
    text = render(report.cells_table(specs), width=120)
    lines = text.splitlines()
    assert len(lines) == 1 + len(specs)
    for spec, line in zip(specs, lines[1:], strict=True):
        assert line.split()[0] == spec.name
        assert spec.state_layout in line and ", ".join(spec.gates) in line and spec.title in line


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_derivation_latex_and_markdown_hold_every_block(cell: str) -> None:
    sympy = pytest.importorskip("sympy")
    derivation = gradscope.derive(cell)
    latex = display.derivation_latex(derivation)
    markdown = display.derivation_markdown(derivation)
    assert latex.count(r"\begin{aligned}") == 2
    assert derivation.latex() in latex
    for block in derivation.blocks:
        assert f"- ${block.latex()}$" in markdown
    for symbol, expression in derivation.cell.definitions:
        assert f"{sympy.latex(symbol)} &= {sympy.latex(expression)}" in latex
        assert f"${sympy.latex(symbol)} = {sympy.latex(expression)}$" in markdown


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_derivation_pretty(cell: str) -> None:
    derivation = gradscope.derive(cell)
    text = render(report.derivation_pretty(derivation), width=400)
    pictures, caption, one_line = text.partition("On one line each")
    terms = sum(len(b.projection_terms) + (b.diagonal != 0) for b in derivation.blocks)
    assert caption and pictures.count("diag") == terms
    for block in derivation.blocks:
        assert f"∂{block.row}_t/∂{block.col}_{{t-1}}" in pictures
        assert f"\n  {block.text()}\n" in one_line  # whole, on one line: what --check reads
    plain = render(report.derivation_pretty(derivation, unicode=False), width=200, encoding="ascii")
    assert plain.isascii() and f"d{derivation.blocks[0].row}_t/d" in plain


def test_depth_panel_shows_every_layer_and_direction() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
    analysis = gradscope.analyze("gru", params=module.state_dict(), steps=20)
    text = render(report.analysis_report(analysis))
    assert "Gradient through depth and time" in text and "2 layers, bidirectional" in text
    for profile in analysis.depth_profiles:
        label = f"{profile.layer} {profile.direction[:3]}"
        row = next(line for line in text.splitlines() if line.strip("│ ").startswith(label) and "t=" not in line)
        shown = re.findall(r"-?\d+\.\d\d|-inf", row)
        assert shown[-1] == report.format_log10(profile.log10_norm[-1])
    assert max(len(line) for line in text.splitlines()) <= 80
    single = render(report.analysis_report(gradscope.analyze("gru", hidden_size=4, steps=5)))
    assert "Gradient through depth" not in single


def test_kept_directions_never_undercut_the_numerical_rank_and_are_reported() -> None:
    from conftest import exact_products

    options = {"hidden_size": 40, "input_size": 4, "steps": 250, "seed": 6}
    exact, _ = exact_products("lstm", **options)
    singular = np.linalg.svd(exact[-1], compute_uv=False)
    above = int(np.count_nonzero(singular > 1e-12 * singular[0]))
    analysis = gradscope.analyze("lstm", **options)
    assert above <= analysis.kept_directions < 80
    text = render(report.configuration_panel(analysis, compile_cell("lstm").spec))
    assert f"{analysis.kept_directions} of 80 directions kept (the rest: < 1e-12 of the norm)" in text
    untruncated = gradscope.analyze("lstm", **(options | {"steps": 10}))
    assert untruncated.kept_directions == 80
    assert "directions kept" not in render(report.configuration_panel(untruncated, compile_cell("lstm").spec))
