"""The command line's figures, ensembles and gallery: ``--plot``, ``--samples`` and ``gradscope report``.

Figures are checked through their data (the drawn arrays equal the engine's numbers, computed here
directly), saved files by their format (PNG signature, SVG parsed as XML, PDF header and trailer),
and every ``gradscope`` command written in the gallery's README is run. The gallery commands must
reproduce their figures byte for byte, which is checked on the tiny test gallery.
"""

from __future__ import annotations

import contextlib
import io as stdio
import json
import math
import os
import re
import shlex
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import assert_bad_input, invoke
from numpy.testing import assert_allclose, assert_array_equal
from rich.console import Console

import gradscope
from gradscope import cli, figures, gallery
from gradscope.analysis import ensemble as ensemble
from gradscope.analysis.problem import make_problem
from gradscope.files import output as gio
from gradscope.terminal import format_log10, format_rate, report_lags

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--hidden-size", "5", "--input-size", "3", "--steps", "20"]
SMALL_KWARGS: dict[str, Any] = {"hidden_size": 5, "input_size": 3, "steps": 20}
CELL_LABELS = {"rnn": "tanh RNN", "rnn-relu": "ReLU RNN", "lstm": "LSTM", "gru": "GRU"}


def assert_ok(result) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)


def never(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("nothing may be computed when an option is bad")


def json_roundtrip(document: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(document))


# ---------------------------------------------------------------------------------------------
# File formats


def assert_png(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 100 and height > 100
    assert data[-8:-4] == b"IEND"


def assert_svg(data: bytes) -> None:
    root = ElementTree.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(list(root.iter())) > 10


def assert_pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.")
    assert data.rstrip().endswith(b"%%EOF")


VALID = {"png": assert_png, "svg": assert_svg, "pdf": assert_pdf}


def assert_valid_file(path: Path) -> None:
    VALID[path.suffix.lstrip(".").lower()](path.read_bytes())


def test_the_format_checks_reject_other_formats() -> None:
    with pytest.raises(AssertionError):
        assert_png(b"GIF89a" + bytes(100))
    with pytest.raises(ElementTree.ParseError):
        assert_svg(b"<svg><unclosed></svg>")
    with pytest.raises(AssertionError):
        assert_pdf(b"%!PS-Adobe-3.0\n")


# ---------------------------------------------------------------------------------------------
# Spying on the figures the command line draws


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Every figure the CLI draws, by figure function, with the arguments it was drawn from."""
    record: dict[str, list[Any]] = {"profile": [], "compare": [], "ensemble": []}
    for key, name in (("profile", "profile_figure"), ("compare", "compare_figure"), ("ensemble", "ensemble_figure")):
        real = getattr(figures, name)

        def spy(data: Any, *args: Any, _real: Callable[..., Any] = real, _key: str = key, **kwargs: Any) -> Any:
            fig = _real(data, *args, **kwargs)
            record[_key].append((data, fig))
            return fig

        monkeypatch.setattr(figures, name, spy)
    return record


def lines_by_label(fig: Any) -> dict[str, Any]:
    (ax,) = fig.axes
    return {line.get_label(): line for line in ax.get_lines()}


# ---------------------------------------------------------------------------------------------
# analyze --plot


@pytest.mark.parametrize("name", ["profile.png", "profile.SVG", "profile.pdf"])  # the extension's case is free
def test_analyze_plot_writes_a_valid_file_of_the_extensions_format(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    result = invoke("analyze", "-c", "rnn", *SMALL, "--plot", str(target))
    assert_ok(result)
    assert_valid_file(target)
    assert f"Figure written to {target}" in result.stderr
    assert "VANISHING" in result.stdout  # the report is still printed
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary files left


def test_analyze_plot_draws_the_engines_profile_and_pascanu_bound(tmp_path: Path, drawn: dict) -> None:
    assert_ok(invoke("analyze", "-c", "rnn", *SMALL, "--seed", "3", "--plot", str(tmp_path / "p.png"), "-q"))
    ((_, fig),) = drawn["profile"]
    expected = gradscope.analyze("rnn", seed=3, **SMALL_KWARGS)
    lines = list(lines_by_label(fig).values())
    assert_array_equal(lines[0].get_xdata(), np.arange(1, 21))
    assert_array_equal(lines[0].get_ydata(), expected.log10_norm)
    # The bound from the W_hh the engine drew, computed here from its singular values.
    weight = make_problem("rnn", seed=3, **SMALL_KWARGS).params.weight_hh
    bound = next(line for label, line in lines_by_label(fig).items() if "Pascanu" in label)
    assert_allclose(bound.get_ydata(), np.arange(1, 21) * math.log10(np.linalg.svd(weight)[1][0]), rtol=1e-12)
    assert_valid_file(tmp_path / "p.png")


def test_analyze_plot_bound_uses_the_given_weights(tmp_path: Path, drawn: dict) -> None:
    rng = np.random.default_rng(7)
    hidden, width = 4, 2
    weights = {
        "weight_ih_l0": rng.standard_normal((hidden, width)),
        "weight_hh_l0": 3.0 * rng.standard_normal((hidden, hidden)),  # far from any random draw
        "bias_ih_l0": rng.standard_normal(hidden),
        "bias_hh_l0": rng.standard_normal(hidden),
    }
    np.savez(tmp_path / "w.npz", **weights)
    args = ["analyze", "-c", "rnn", "--weights", str(tmp_path / "w.npz"), "-T", "15", "--plot", str(tmp_path / "p.svg")]
    assert_ok(invoke(*args, "-q"))
    ((_, fig),) = drawn["profile"]
    sigma = np.linalg.svd(weights["weight_hh_l0"])[1][0]
    bound = next(line for label, line in lines_by_label(fig).items() if "Pascanu" in label)
    assert_allclose(bound.get_ydata(), np.arange(1, 16) * math.log10(sigma), rtol=1e-12)
    assert f"{sigma:.3g}" in bound.get_label()
    expected = gradscope.analyze("rnn", params=weights, steps=15)
    assert_array_equal(next(iter(lines_by_label(fig).values())).get_ydata(), expected.log10_norm)
    assert_valid_file(tmp_path / "p.svg")


def test_analyze_plot_with_json_on_stdout(tmp_path: Path, drawn: dict) -> None:
    result = invoke("analyze", "-c", "gru", *SMALL, "--json", "-", "--plot", str(tmp_path / "p.pdf"))
    assert_ok(result)
    assert json.loads(result.stdout) == json_roundtrip(gradscope.analyze("gru", **SMALL_KWARGS).to_dict())
    assert result.stderr == ""
    assert_valid_file(tmp_path / "p.pdf")
    assert len(drawn["profile"]) == 1


def test_analyze_plot_and_json_file_together(tmp_path: Path) -> None:
    result = invoke(
        "analyze", "-c", "lstm", *SMALL, "--json", str(tmp_path / "a.json"), "--plot", str(tmp_path / "a.png")
    )
    assert_ok(result)
    assert "JSON written to" in result.stderr and "Figure written to" in result.stderr
    assert json.loads((tmp_path / "a.json").read_text())["cell"] == "lstm"
    assert_valid_file(tmp_path / "a.png")


@pytest.mark.parametrize(
    "command",
    [
        ["analyze", "-c", "rnn"],
        ["analyze", "-c", "rnn", "--samples", "3"],
        ["compare", "--cells", "rnn,gru"],
        ["compare", "--cells", "rnn,gru", "--samples", "3"],
    ],
)
@pytest.mark.parametrize("name", ["out.gif", "out", "out.png.txt", "out.jpeg"])
def test_plot_with_an_unknown_extension_fails_before_any_computation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], name: str
) -> None:
    monkeypatch.setattr(gradscope.analysis.profile, "analyze", never)
    monkeypatch.setattr(gradscope.cli.profiles, "analyze_ensemble", never)
    monkeypatch.setattr(gradscope.analysis.comparison, "analyze", never)
    monkeypatch.setattr(gradscope.analysis.comparison, "analyze_ensemble", never)
    result = invoke(*command, "--plot", str(tmp_path / name))
    assert_bad_input(result, name, ".png, .svg, .pdf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["analyze", "-c", "lstm"], ["compare", "--samples", "2"]])
def test_plot_into_a_missing_directory_fails_before_any_computation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setattr(gradscope.analysis.profile, "analyze", never)
    monkeypatch.setattr(gradscope.cli.profiles, "analyze_ensemble", never)
    monkeypatch.setattr(gradscope.analysis.comparison, "analyze", never)
    monkeypatch.setattr(gradscope.analysis.comparison, "analyze_ensemble", never)
    target = tmp_path / "nodir" / "p.png"
    result = invoke(*command, "--plot", str(target), "--json", str(tmp_path / "out.json"))
    assert_bad_input(result, "p.png: cannot write", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_plot_onto_a_directory(tmp_path: Path) -> None:
    (tmp_path / "fig.png").mkdir()
    assert_bad_input(invoke("analyze", "-c", "rnn", "--plot", str(tmp_path / "fig.png")), "is a directory")


def test_plot_write_failure_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "p.png"
    target.write_bytes(b"previous")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gio.os, "replace", fail)
    result = invoke("analyze", "-c", "rnn", *SMALL, "--plot", str(target))
    assert_bad_input(result, "p.png: cannot write (No space left on device)")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


def test_a_failing_figure_writes_no_file_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(figures, "render", broken)
    result = invoke(
        "analyze", "-c", "rnn", *SMALL, "--json", str(tmp_path / "a.json"), "--plot", str(tmp_path / "a.png")
    )
    assert result.exit_code == 1
    assert "internal error: RuntimeError: renderer exploded" in result.stderr
    assert list(tmp_path.iterdir()) == []  # rendered before anything is written


def test_write_bytes_atomic(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    payload = bytes(range(256)) * 3 + b"\r\n\n"
    assert gio.write_bytes_atomic(target, payload) == target
    assert target.read_bytes() == payload
    target.chmod(0o640)
    gio.write_bytes_atomic(target, b"second")
    assert target.read_bytes() == b"second" and (target.stat().st_mode & 0o777) == 0o640
    gio.write_text_atomic(target, "text\nwith ünïcode\n")  # the text variant goes through the same code
    assert target.read_bytes() == "text\nwith ünïcode\n".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]
    with pytest.raises(gio.FileError, match="does not exist"):
        gio.write_bytes_atomic(tmp_path / "missing" / "x.bin", b"")


# ---------------------------------------------------------------------------------------------
# analyze --samples


def expected_ensemble(cell: str, samples: int, **kwargs: Any) -> ensemble.Ensemble:
    return ensemble.analyze_ensemble(cell, samples=samples, label=CELL_LABELS[cell], **kwargs)


def test_analyze_samples_json_is_the_ensemble_document() -> None:
    result = invoke("analyze", "-c", "lstm", *SMALL, "--seed", "4", "--samples", "3", "--json", "-")
    assert_ok(result)
    document = json.loads(result.stdout)
    assert document == json_roundtrip(expected_ensemble("lstm", 3, seed=4, **SMALL_KWARGS).to_dict())
    assert document["schema"] == "gradscope.ensemble/1" and document["seeds"] == [4, 5, 6]
    # Second source: the draws are the single analyses with seeds 4, 5, 6 (batched: to rounding).
    profiles = np.array([gradscope.analyze("lstm", seed=s, **SMALL_KWARGS).log10_norm for s in (4, 5, 6)])
    assert_allclose(document["profiles"], profiles, rtol=1e-12, atol=1e-12)
    assert_allclose(document["median"], np.median(profiles, axis=0), rtol=1e-12)
    assert_allclose(document["lower"], np.quantile(profiles, 0.1, axis=0), rtol=1e-12)
    assert_allclose(document["upper"], np.quantile(profiles, 0.9, axis=0), rtol=1e-12)


def test_analyze_samples_report_shows_the_band_rate_and_verdicts() -> None:
    result = invoke("analyze", "-c", "gru", *SMALL, "--samples", "4", "--init", "gaussian", "--gain", "1.5")
    assert_ok(result)
    e = expected_ensemble("gru", 4, init="gaussian", gain=1.5, **SMALL_KWARGS)
    out = result.stdout
    assert "gradscope analyze --samples: gru" in out
    assert "4 random draws of weights and inputs (seeds 0-3)" in out and "init gaussian, gain 1.5" in out
    cells = [line.split("│")[1].split() for line in out.splitlines() if line.count("│") == 2]
    rows = {words[0]: words for words in cells if words and words[0].isdigit()}
    for k in report_lags(20):
        assert rows[str(k)][1:4] == [format_log10(v[k - 1]) for v in (e.median, e.lower, e.upper)]
    assert format_rate(e.median_rate) in out
    counts = e.verdict_counts()
    for verdict, count in counts.items():
        assert (f"{count} {verdict}" in out) == (count > 0)
    assert all(len(line) <= 80 for line in out.splitlines())


def test_analyze_samples_quiet_is_one_line() -> None:
    result = invoke("analyze", "-c", "rnn", *SMALL, "--samples", "2", "-q")
    assert_ok(result)
    e = expected_ensemble("rnn", 2, **SMALL_KWARGS)
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith(f"rnn: 2 draws, median rate {format_rate(e.median_rate)}/step (10-90 %: ")
    assert "2 vanishing" in line


def test_analyze_samples_plot_draws_the_median_and_band(tmp_path: Path, drawn: dict) -> None:
    assert_ok(invoke("analyze", "-c", "lstm", *SMALL, "--samples", "3", "--plot", str(tmp_path / "b.png"), "-q"))
    ((_, fig),) = drawn["ensemble"]
    e = expected_ensemble("lstm", 3, **SMALL_KWARGS)
    (ax,) = fig.axes
    median = next(line for line in ax.get_lines() if line.get_label().startswith("LSTM: median"))
    assert_array_equal(median.get_ydata(), e.median)
    (band,) = ax.collections  # the fill_between of the 10-90 % band
    vertices = band.get_paths()[0].vertices
    assert_allclose(np.sort(np.unique(vertices[:, 1])), np.sort(np.unique(np.r_[e.lower, e.upper])), rtol=1e-12)
    assert_valid_file(tmp_path / "b.png")


@pytest.mark.parametrize("option", ["--weights", "--inputs", "--h0", "--c0"])
def test_samples_refuse_data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str) -> None:
    monkeypatch.setattr(gradscope.cli.profiles, "analyze_ensemble", never)
    path = tmp_path / "file.npy"  # never read: the combination is refused first
    result = invoke("analyze", "-c", "lstm", "--samples", "3", option, str(path))
    assert_bad_input(result, "--samples draws new random weights and inputs", f"cannot be combined with {option}")
    if option != "--weights":
        result = invoke("compare", "--samples", "3", option, str(path))
        assert_bad_input(result, f"cannot be combined with {option}")


def test_samples_refuse_several_files_and_name_them_all(tmp_path: Path) -> None:
    result = invoke("analyze", "-c", "rnn", "--samples", "2", "--inputs", "x.npy", "--h0", "h.npy")
    assert_bad_input(result, "cannot be combined with --inputs, --h0; drop them or drop --samples")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_samples_must_be_positive(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setattr(gradscope.cli.profiles, "analyze_ensemble", never)
    assert_bad_input(invoke("analyze", "-c", "rnn", "--samples", value), f"--samples must be >= 1, got {value}")
    assert_bad_input(invoke("compare", "--samples", value), f"--samples must be >= 1, got {value}")


def test_samples_progress_counts_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = ensemble.analyze_ensemble

    def spy(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
        assert callable(progress)

        def record(done: int, total: int) -> None:
            calls.append((done, total))
            progress(done, total)

        return real(*args, progress=record, **kwargs)

    monkeypatch.setattr(cli.Output, "shows_progress", property(lambda self: True))
    monkeypatch.setattr(gradscope.cli.profiles, "analyze_ensemble", spy)
    assert_ok(invoke("analyze", "-c", "rnn", *SMALL, "--samples", "3"))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_samples_bad_engine_options_are_clean_errors() -> None:
    assert_bad_input(invoke("analyze", "-c", "rnn", "--samples", "2", "--hidden-size", "0"), "hidden_size must be >= 1")
    assert_bad_input(invoke("analyze", "-c", "rnn", "--samples", "2", "--seed", "-1"), "seed must be a non-negative")


# ---------------------------------------------------------------------------------------------
# compare --plot and compare --samples


def test_compare_plot_draws_every_cells_profile(tmp_path: Path, drawn: dict) -> None:
    result = invoke("compare", "--cells", "rnn,lstm,gru", *SMALL, "--plot", str(tmp_path / "c.svg"))
    assert_ok(result)
    ((_, fig),) = drawn["compare"]
    (ax,) = fig.axes
    profiles = [line for line in ax.get_lines() if ":" in line.get_label()]
    assert [line.get_label().split(":")[0] for line in profiles] == ["tanh RNN", "LSTM", "GRU"]
    for cell, line in zip(("rnn", "lstm", "gru"), profiles, strict=True):
        assert_array_equal(line.get_ydata(), gradscope.analyze(cell, **SMALL_KWARGS).log10_norm)
    assert_valid_file(tmp_path / "c.svg")
    assert "gradscope compare" in result.stdout


def test_compare_samples_json_report_and_plot(tmp_path: Path, drawn: dict) -> None:
    args = ["compare", "--cells", "rnn,gru", *SMALL, "--samples", "3", "--seed", "2"]
    result = invoke(*args, "--json", str(tmp_path / "e.json"), "--plot", str(tmp_path / "e.pdf"))
    assert_ok(result)
    expected = [expected_ensemble(cell, 3, seed=2, **SMALL_KWARGS) for cell in ("rnn", "gru")]
    document = json.loads((tmp_path / "e.json").read_text())
    assert document["schema"] == "gradscope.ensemble-comparison/1" and document["cells"] == ["rnn", "gru"]
    assert document["gradscope_version"] == gradscope.__version__
    assert document["ensembles"] == [json_roundtrip(e.to_dict()) for e in expected]
    ((_, fig),) = drawn["ensemble"]
    (ax,) = fig.axes
    medians = [line for line in ax.get_lines() if "median" in line.get_label()]
    assert [line.get_label().split(":")[0] for line in medians] == ["tanh RNN", "GRU"]
    for line, e in zip(medians, expected, strict=True):
        assert_array_equal(line.get_ydata(), e.median)
    assert_valid_file(tmp_path / "e.pdf")
    out = result.stdout
    assert "gradscope compare --samples: rnn, gru" in out and "seeds 2-4" in out
    for e in expected:
        assert f"{format_log10(e.median[-1])}" in out and format_rate(e.median_rate) in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_compare_samples_quiet_one_line_per_cell() -> None:
    result = invoke("compare", "--cells", "lstm,gru", *SMALL, "--samples", "2", "-q")
    assert_ok(result)
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["lstm", "gru"]
    single = invoke("compare", "--cells", "lstm", *SMALL, "--samples", "2")
    assert_ok(single)
    assert "gradscope compare --samples: lstm" in single.stdout and "median" in single.stdout


def test_four_cells_with_samples_fit_80_columns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ReLU draw reaches an exactly zero norm (rate -inf): no NaN warnings
        result = invoke("compare", "-H", "3", "-I", "2", "-T", "100", "--samples", "2")
    assert_ok(result)
    assert "-inf" in result.stdout and "nan" not in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout  # nothing cut off


# ---------------------------------------------------------------------------------------------
# Every command in the gallery's README runs (and, on the tiny gallery, reproduces its figure)

COMMAND = re.compile(r"(?<![\w./-])gradscope (?:analyze|compare|report|verify|derive|cells|training)\b[^`\n]*")
TINY = {"--hidden-size": "4", "--input-size": "3", "--steps": "12", "--samples": "2"}


def readme_commands(text: str) -> list[str]:
    """Every ``gradscope <command> ...`` in the README: in code blocks (comments included) and inline code."""
    return [match.group(0).strip() for match in COMMAND.finditer(text)]


def run_readme_command(command: str, tmp_path: Path, sizes: dict[str, str]) -> tuple[Any, list[str], Path | None]:
    """Run ``command`` with its sizes replaced by ``sizes`` and its output paths moved into ``tmp_path``."""
    args = shlex.split(command)[1:]
    assert args, command
    plot = None
    for i, arg in enumerate(args[:-1]):
        value = args[i + 1]
        if arg in sizes:
            args[i + 1] = sizes[arg]
        elif arg == "--plot":
            plot = tmp_path / Path(value).name
            args[i + 1] = str(plot)
        elif arg in ("--out", "--json"):
            args[i + 1] = str(tmp_path / Path(value).name)
    result = invoke(*args, env={cli.REPORT_QUICK_ENV: "1"})
    return result, args, plot


def test_readme_command_extraction() -> None:
    text = (
        "```bash\ngradscope analyze --cell rnn --plot a.png\n# alone: gradscope compare --samples 3 --plot b.png\n```\n"
        "Run `gradscope report --out x/` or `gradscope verify`. Not: `from gradscope.figures import x`, mygradscope."
    )
    assert readme_commands(text) == [
        "gradscope analyze --cell rnn --plot a.png",
        "gradscope compare --samples 3 --plot b.png",
        "gradscope report --out x/",
        "gradscope verify",
    ]


def test_every_command_in_the_committed_gallery_readme_runs(tmp_path: Path) -> None:
    """Each ``gradscope ...`` line of reports/README.md, with tiny sizes and output paths in a temporary folder."""
    readme = ROOT / "reports" / "README.md"
    if not readme.exists():
        pytest.skip("reports/README.md has not been generated")
    commands = readme_commands(readme.read_text(encoding="utf-8"))
    assert {c.split()[1] for c in commands} >= {"analyze", "compare", "report"}
    assert any("--samples" in c for c in commands)
    for index, command in enumerate(commands):
        folder = tmp_path / str(index)
        folder.mkdir()
        result, args, plot = run_readme_command(command, folder, TINY)
        assert result.exit_code == 0, (command, args, result.stderr)
        if plot is not None:
            assert_valid_file(plot)
        if args[0] == "report":
            assert (folder / Path(shlex.split(command)[-1]).name / "README.md").exists()


@pytest.fixture(scope="module")
def quick_gallery() -> dict[str, bytes]:
    """The tiny test gallery, built in memory."""
    return dict(gallery.build_gallery(gallery.QUICK))


def test_gallery_commands_reproduce_their_figures_byte_for_byte(quick_gallery: dict, tmp_path: Path) -> None:
    """The README promises "the exact command that reproduces it": run each as written (only --plot moved)."""
    commands = readme_commands(quick_gallery["README.md"].decode("utf-8"))
    reproduced = set()
    for index, command in enumerate(commands):
        folder = tmp_path / str(index)
        folder.mkdir()
        result, _, plot = run_readme_command(command, folder, sizes={})
        assert result.exit_code == 0, (command, result.stderr)
        if plot is not None and plot.name in quick_gallery:
            assert plot.read_bytes() == quick_gallery[plot.name], command
            reproduced.add(plot.name)
        elif plot is not None:
            assert_valid_file(plot)
    assert reproduced == {"profile-rnn.png", "profile-rnn-exploding.png", "compare-cells.png", "ensemble-cells.png"}


# ---------------------------------------------------------------------------------------------
# gradscope report


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_report_writes_the_gallery_only_inside_out_and_identically_twice(
    quick_gallery: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    out = tmp_path / "gallery" / "nested"  # created, parents included
    before = tree(tmp_path)
    result = invoke("report", "--out", str(out), env={cli.REPORT_QUICK_ENV: "1"})
    assert_ok(result)
    after = tree(tmp_path)
    new = {k: v for k, v in after.items() if k not in before}
    assert all(k.startswith("gallery/nested/") for k in new)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing else touched
    first = tree(out)
    assert first == quick_gallery  # exactly the in-memory build: same names, same bytes
    assert f"Gallery written to {out}: 29 files, 14 figures" in result.stdout
    assert "profile-rnn" in result.stdout and ".png .svg" in result.stdout

    # Again, in a fresh process, into the same folder: identical files and nothing left over.
    (out / "notes.txt").write_text("left alone")
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    process = subprocess.run(
        [sys.executable, "-m", "gradscope", "report", "--out", str(out), "-q"],
        env=environment | {cli.REPORT_QUICK_ENV: "1", "PYTHONPATH": str(ROOT)},  # this checkout's gradscope
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == f"29 files written to {out}"
    second = tree(out)
    assert second.pop("notes.txt") == b"left alone"
    assert second == first


def test_report_default_sizes_and_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Any] = []

    def fake_build(sizes: Any, progress: Any = None) -> list[tuple[str, bytes]]:
        calls.append(sizes)
        return [("README.md", b"# gallery\n"), ("a.png", b"png"), ("a.svg", b"svg")]

    monkeypatch.setattr(gallery, "build_gallery", fake_build)
    monkeypatch.chdir(tmp_path)
    assert_ok(invoke("report"))
    assert calls == [gallery.GallerySizes()]
    assert tree(tmp_path) == {"reports/README.md": b"# gallery\n", "reports/a.png": b"png", "reports/a.svg": b"svg"}
    assert_ok(invoke("report", "--quick", "-q"))
    assert calls[-1] == gallery.QUICK


def test_report_progress_bar_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fake_build(sizes: Any, progress: Any = None) -> list[tuple[str, bytes]]:
        progress(0, 2, "profile: tanh RNN")
        progress(1, 2, "sweep: gain")
        progress(2, 2, "")
        return [("README.md", b"x")]

    buffer = stdio.StringIO()
    bars: list[tuple[bool, str]] = []
    calls: list[tuple[Any, ...]] = []
    real = cli.progress_reporter

    @contextlib.contextmanager
    def recording(enabled: bool, description: str, console: Any = None, unit: str = "lags") -> Iterator[Any]:
        bars.append((enabled, unit))
        terminal = Console(file=buffer, force_terminal=True, width=100)
        with real(enabled, description, console=terminal, unit=unit) as progress:
            if progress is None:
                yield None
                return

            def spy(*args: Any) -> None:
                calls.append(args)
                progress(*args)

            yield spy

    monkeypatch.setattr(gallery, "build_gallery", fake_build)
    monkeypatch.setattr(cli.checks, "progress_reporter", recording)  # where the report command looks it up
    monkeypatch.setattr(cli.Output, "shows_progress", property(lambda self: not self.quiet))
    assert_ok(invoke("report", "--out", str(tmp_path / "a")))
    assert bars == [(True, "figures")]
    assert calls == [(0, 2, "gallery: profile: tanh RNN"), (1, 2, "gallery: sweep: gain"), (2, 2, "gallery")]
    drawn = buffer.getvalue()
    assert "2/2" in drawn and "figures" in drawn
    buffer.seek(0)
    buffer.truncate(0)
    assert_ok(invoke("report", "--out", str(tmp_path / "b"), "--quiet"))
    assert bars[-1] == (False, "figures") and len(calls) == 3 and buffer.getvalue() == ""


def test_report_out_that_is_a_file_fails_before_building(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(gallery, "build_gallery", never)
    (tmp_path / "taken").write_text("x")
    assert_bad_input(invoke("report", "--out", str(tmp_path / "taken")), "taken: is not a directory")
    assert_bad_input(invoke("report", "--out", str(tmp_path / "taken" / "sub")), "taken is not a directory")


def test_report_write_failure_is_a_clean_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fail(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    from gradscope.gallery import build as gallery_build

    monkeypatch.setattr(gallery, "build_gallery", lambda sizes, progress=None: [("README.md", b"x")])
    monkeypatch.setattr(gallery_build, "write_bytes_atomic", fail)
    assert_bad_input(invoke("report", "--out", str(tmp_path)), "cannot write (No space left on device)")


# ---------------------------------------------------------------------------------------------
# Help and start-up


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["report", "verify"]),
        (["analyze"], ["--plot", "--samples", ".png", ".svg", ".pdf"]),
        (["compare"], ["--plot", "--samples"]),
        (["report"], ["--out", "--quiet", "Examples"]),
    ],
)
def test_help_mentions_the_new_options(command: list[str], expected: list[str]) -> None:
    result = invoke(*command, "--help", env={"COLUMNS": "200"})
    assert_ok(result)
    for fragment in expected:
        assert fragment in result.stdout
    assert "--quick" not in result.stdout  # test-only, hidden


IMPORT_CHECK = """
import json, sys
from gradscope.cli import main
status = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"sympy", "matplotlib", "torch"})
sys.stderr.write("\\nIMPORTED=" + json.dumps(heavy) + " STATUS=" + str(status) + "\\n")
"""


def imported_by(*args: str) -> list[str]:
    process = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, *args], capture_output=True, text=True, timeout=120, check=False
    )
    match = re.search(r"IMPORTED=(\[.*\]) STATUS=(\d+)", process.stderr)
    assert match is not None and match[2] == "0", process.stderr
    return json.loads(match[1])


def test_start_up_stays_light(tmp_path: Path) -> None:
    assert imported_by("--help") == []
    assert imported_by("report", "--help") == []
    assert imported_by("analyze", "-c", "rnn", "-H", "4", "-T", "8", "--samples", "2", "--json", "-") == []
    assert imported_by("analyze", "-c", "rnn", "-H", "4", "-T", "8", "--plot", str(tmp_path / "p.png"), "-q") == [
        "matplotlib"
    ]
