"""What each result shows in a notebook, held against two other sources: the result's own fields (the rate per
step formatted as the terminal formats it, the verdict, the why sentences) and the terminal itself (the same
renderers printed by a plain console, and ``gradscope explain`` on the command line); the figure's PNG against the
figure function's own rendering."""

from __future__ import annotations

import base64
import gc
import html
import io
import re
import weakref
from collections.abc import Callable
from typing import Any

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from rich.console import Console

import gradscope
from gradscope import figures, terminal
from gradscope.analysis.describe import verdict_word
from gradscope.i18n import chosen_language, set_language, using_language
from gradscope.notebook import VIEWS, figure_png, report_parts, result_html, result_text, view_of
from gradscope.studies import SerialExecutor
from gradscope.studies.training import Checkpoint
from gradscope.terminal.format import REPORT_WIDTH, format_power, format_rate

#: Characters of rich's boxes and panels: dropped before a sentence that wraps inside a panel is looked for.
BOX = re.compile("[\u2500-\u257f]")


def report_text(page: str) -> str:
    """The text of the HTML's ``<pre>`` block as a browser shows it: tags dropped, entities decoded."""
    blocks = re.findall(r"<pre[^>]*>(.*?)</pre>", page, flags=re.S)
    assert len(blocks) == 1, page[:200]
    return html.unescape(re.sub(r"<[^>]+>", "", blocks[0]))


def words(text: str) -> str:
    """``text`` without box drawing, every run of white space one space: sentences wrapped in a panel read whole."""
    return " ".join(BOX.sub(" ", text).split())


def printed(*renderables: Any, width: int = REPORT_WIDTH) -> str:
    """What a terminal ``width`` columns wide shows of ``renderables``, printed one after the other (no colour)."""
    file = io.StringIO()
    console = Console(file=file, width=width, color_system=None, force_jupyter=False, highlight=False)
    for renderable in renderables:
        console.print(renderable, crop=False)
    return file.getvalue()


def same_lines(a: str, b: str) -> bool:
    return [line.rstrip() for line in a.strip("\n").splitlines()] == [
        line.rstrip() for line in b.strip("\n").splitlines()
    ]


def png_of(page: str) -> tuple[bytes, int, int]:
    """The inline PNG of ``page`` and its ``width``/``height`` attributes (CSS pixels)."""
    found = re.search(r'<img alt="[^"]*" width="(\d+)" height="(\d+)" [^>]*src="data:image/png;base64,([^"]+)"', page)
    assert found is not None, "no inline PNG"
    return base64.b64decode(found.group(3)), int(found.group(1)), int(found.group(2))


def checkpoints() -> list[Checkpoint]:
    return [
        Checkpoint(f"ckpt_{step}.npz", step, "name", gradscope.make_problem("rnn", hidden_size=4, input_size=2,
                                                                          steps=12, init="orthogonal", gain=gain))
        for step, gain in ((0, 0.6), (100, 1.0), (400, 1.6))
    ]  # fmt: skip


def make(kind: str) -> Any:
    """One small result of each public type."""
    if kind == "Analysis":
        return gradscope.analyze("lstm", hidden_size=6, steps=20, seed=1)
    if kind == "Analysis (2 layers)":
        return gradscope.analyze("gru", hidden_size=4, steps=12, num_layers=2)
    if kind == "Comparison":
        return gradscope.compare(["rnn", "gru"], hidden_size=4, steps=12)
    if kind == "Ensemble":
        return gradscope.analyze_ensemble("rnn", samples=3, hidden_size=4, steps=12)
    if kind == "EnsembleComparison":
        return gradscope.compare(["rnn", "gru"], samples=2, hidden_size=4, steps=10)
    if kind == "Explanation":
        return gradscope.explain("rnn", hidden_size=6, steps=20)
    if kind == "LyapunovSpectrum":
        return gradscope.lyapunov("rnn", exponents=3, steps=120, hidden_size=6)
    if kind == "SweepResult":
        return gradscope.sweep("rnn", {"gain": [0.5, 1.0]}, hidden_size=4, steps=10, executor=SerialExecutor())
    if kind == "TrainingSeries":
        return gradscope.analyze_checkpoints(checkpoints(), executor=SerialExecutor())
    if kind == "Verification":
        return gradscope.verify("rnn", use_torch=False)
    if kind == "FormulaCheck":
        return gradscope.check_formula("lstm", "dc/dc", "f_t")
    if kind == "Derivation":
        return gradscope.derive("gru")
    raise AssertionError(kind)


def torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


#: Per result type, written out here rather than read from the notebook layer: what the terminal prints for it
#: (the summary lines the CLI prints with ``--quiet``, then the report the CLI prints) and the figure ``--plot`` draws.
TERMINAL: dict[str, tuple[Callable[[Any], list[Any]], Callable[[Any], Any], Callable[[Any], Any] | None]] = {
    "Analysis": (lambda r: [terminal.summary_line(r)], terminal.analysis_report, figures.profile_figure),
    "Analysis (2 layers)": (
        lambda r: [terminal.summary_line(r)],
        terminal.analysis_report,
        figures.profile_depth_figure,
    ),
    "Comparison": (
        lambda r: [terminal.summary_line(a) for a in r.analyses],
        lambda r: terminal.comparison_report(list(r.analyses)),
        figures.compare_figure,
    ),
    "Ensemble": (
        lambda r: [terminal.ensemble_summary_line(r)],
        lambda r: terminal.ensemble_report([r]),
        figures.ensemble_figure,
    ),
    "EnsembleComparison": (
        lambda r: [terminal.ensemble_summary_line(e) for e in r.ensembles],
        lambda r: terminal.ensemble_report(list(r.ensembles), command="compare"),
        figures.ensemble_figure,
    ),
    "Explanation": (
        lambda r: [terminal.explanation_summary_line(r)],
        terminal.explanation_report,
        figures.explanation_figure,
    ),
    "LyapunovSpectrum": (
        lambda r: [terminal.lyapunov_summary_line(r)],
        terminal.lyapunov_report,
        figures.lyapunov_figure,
    ),
    "SweepResult": (lambda r: [terminal.sweep_summary_line(r)], terminal.sweep_report, figures.sweep_rate_figure),
    "TrainingSeries": (
        lambda r: [terminal.training_summary_line(r)],
        terminal.training_report,
        figures.training_figure,
    ),
    "Verification": (
        lambda r: [terminal.verification_summary(r)],
        lambda r: terminal.verification_report(r, torch_skipped=torch_installed()),
        None,
    ),
    "FormulaCheck": (lambda r: [], terminal.formula_check_text, None),
    "Derivation": (lambda r: [], terminal.derivation_pretty, None),
}


def key_numbers(kind: str, result: Any) -> list[str]:
    """What the display must show, from the result's own fields, formatted as the terminal formats them."""
    if kind.startswith("Analysis"):
        return [
            format_rate(result.rate_per_step),
            verdict_word(result.verdict).upper(),
            verdict_word(result.verdict),
            format_power(result.final_log10_norm),
        ]
    if kind == "Comparison":
        return [
            f"{a.cell}: {verdict_word(a.verdict)}, rate {format_rate(a.rate_per_step)}/step" for a in result.analyses
        ]
    if kind == "Ensemble":
        return [f"{result.samples} draws, median rate {format_rate(result.median_rate)}/step"]
    if kind == "EnsembleComparison":
        return [f"{e.cell}: {e.samples} draws, median rate {format_rate(e.median_rate)}/step" for e in result.ensembles]
    if kind == "Explanation":
        a = result.analysis
        return [
            f"{verdict_word(a.verdict)}, rate {format_rate(a.rate_per_step)}/step",
            *result.why(),  # every sentence of the Why panel, whole
            *(format_rate(s.rate_per_step) for s in result.suggestions),
        ]
    if kind == "LyapunovSpectrum":
        return [f"lambda_1 = {result.top:+.5f}/step", *(f"{value:+.5f}" for value in result.exponents)]
    if kind == "SweepResult":
        return [f"{len(result.rows)} tasks", *(format_rate(rate) for rate in result.column("rate_per_step"))]
    if kind == "TrainingSeries":
        last = result.entries[-1]
        return [f"at step {last.step}, rate {format_rate(last.rate_per_step)}/step", *map(format_rate, result.rates)]
    if kind == "Verification":
        return ["PASSED" if result.passed else "FAILED", f"all {len(result.rows)} checks"]
    if kind == "FormulaCheck":
        return ["CORRECT" if result.correct else "WRONG", result.cell]
    if kind == "Derivation":
        from gradscope.symbolic.display import block_texts

        return [result.cell.name, *block_texts(result)]
    raise AssertionError(kind)


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    set_language(None)
    return {kind: make(kind) for kind in TERMINAL}


def test_every_public_result_type_is_shown() -> None:
    names = {view.name for view in VIEWS}
    exported = {
        "Analysis", "Comparison", "Ensemble", "EnsembleComparison", "Explanation", "LyapunovSpectrum",
        "SweepResult", "TrainingSeries",
    }  # fmt: skip
    assert exported <= names
    assert {"Verification", "FormulaCheck", "Derivation"} <= names
    for name in exported:
        view = next(view for view in VIEWS if view.name == name)
        assert getattr(gradscope, name).__module__ == view.module, name  # the name IPython looks the type up by


@pytest.mark.parametrize("kind", list(TERMINAL))
def test_the_html_is_the_terminal_report_with_the_key_numbers_and_the_figure(kind: str, results: dict) -> None:
    result = results[kind]
    summary, report, figure = TERMINAL[kind]
    page = result_html(result)
    text = report_text(page)
    # Second source: the terminal's own renderers printed by a plain console, summary lines first.
    expected = printed(*summary(result), *([""] if summary(result) else []), report(result))
    assert same_lines(text, expected), f"{kind}: the HTML's text is not the terminal's report"
    assert same_lines(result_text(result), expected)
    # The result's own fields, formatted as the terminal formats them.
    for number in key_numbers(kind, result):
        assert words(number) in words(text), f"{kind}: {number!r} not shown"
    if figure is None:
        assert "<img" not in page and figure_png(result) is None
        return
    png, width, height = png_of(page)
    fig = figure(result)
    assert png == figures.render(fig, "png")  # the figure --plot writes, byte for byte
    inches = fig.get_size_inches()
    assert (width, height) == (round(inches[0] * 96), round(inches[1] * 96))
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[0] >= 200 and image.shape[1] >= 300
    assert image.shape[1] == pytest.approx(width * figures.STYLE["savefig.dpi"] / 96, abs=2)
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 20  # lines, labels: not a blank canvas


def test_the_explain_report_is_what_the_command_line_prints(results: dict) -> None:
    from cli_helpers import invoke

    run = invoke("explain", "--cell", "rnn", "--hidden-size", "6", "--steps", "20", env={"COLUMNS": "100"})
    assert run.exit_code == 0, run.output
    parts = report_parts(results["Explanation"])
    assert same_lines(printed(parts[-1]), run.stdout)
    assert same_lines(report_text(result_html(results["Explanation"])).split("\n", 2)[2], run.stdout)


def test_no_figure_is_left_open_or_alive(results: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[weakref.ref] = []
    original = figures.explanation_figure

    def recorded(result: Any) -> Any:
        fig = original(result)
        made.append(weakref.ref(fig))
        return fig

    monkeypatch.setattr(figures, "explanation_figure", recorded)
    for kind, result in results.items():
        result_html(result)
        assert plt.get_fignums() == [], kind
    assert len(made) == 1
    gc.collect()
    assert made[0]() is None, "the figure outlived its display"


def test_the_display_speaks_the_language_chosen(results: dict) -> None:
    explanation = results["Explanation"]
    with using_language("zh"):
        why = explanation.why()
        verdict = verdict_word(explanation.analysis.verdict)
    assert why != explanation.why()  # the sentences really are translated
    chinese = words(report_text(result_html(explanation, lang="zh", figure=False)))
    assert verdict in chinese and all(words(sentence) in chinese for sentence in why)
    assert chosen_language() is None  # lang= changed nothing after the display
    english = words(report_text(result_html(explanation, figure=False)))
    assert all(words(sentence) in english for sentence in explanation.why())
    set_language("zh")  # the Python-level --lang: every later display speaks it
    try:
        assert words(report_text(result_html(explanation, figure=False))) == chinese
    finally:
        set_language(None)


def test_what_cannot_be_shown_is_named() -> None:
    with pytest.raises(gradscope.ConfigError, match=r"cannot show a builtins\.dict"):
        result_html({})
    with pytest.raises(gradscope.ConfigError, match="lang must be one of en, zh, got 'fr'"):
        result_html(gradscope.check_formula("lstm", "dc/dc", "f_t"), lang="fr")
    assert view_of(gradscope.check_formula("lstm", "dc/dc", "f_t")).figure is None
