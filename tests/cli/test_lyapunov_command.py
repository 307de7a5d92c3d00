"""``gradscope lyapunov`` end to end on tiny sizes: the JSON equals :func:`gradscope.lyapunov`'s,
errors exit 2, ``--plot`` writes a valid figure, and Newman's overlay appears only where it applies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import invoke as invoke_80
from numpy.testing import assert_allclose

from gradscope.analysis import theory as theory
from gradscope.analysis.lyapunov_spectrum import lyapunov

TINY = ["--hidden-size", "4", "--input-size", "2", "--steps", "60"]


def invoke(*args: str) -> Any:
    """The sweep/Lyapunov tables are wide: run at 100 columns."""
    return invoke_80(*args, env={"COLUMNS": "100"})


def document(**kwargs: Any) -> dict[str, Any]:
    return json.loads(json.dumps(lyapunov(**kwargs).to_dict()))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_json_equals_the_library(cell: str) -> None:
    result = invoke("lyapunov", "--cell", cell, *TINY, "--exponents", "3", "--transient", "10", "--seed", "2",
                    "--json", "-")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["schema"] == "gradscope.lyapunov/1"
    want = document(cell=cell, hidden_size=4, input_size=2, steps=60, exponents=3, transient=10, seed=2)
    assert got == want
    assert got["exponents"] == sorted(got["exponents"], reverse=True)


def test_lstm_has_the_full_state_and_report_lists_exponents(tmp_path: Path) -> None:
    out = tmp_path / "l.json"
    result = invoke("lyapunov", "--cell", "lstm", *TINY, "--json", str(out))
    assert result.exit_code == 0, result.stderr
    got = json.loads(out.read_text())
    assert got["state"] == "[h; c]" and len(got["exponents"]) == 8  # default: all 2H
    assert "lambda_i /step" in result.stdout and "std. error" in result.stdout
    for i in range(1, 9):
        assert f"\n│ {i} " in result.stdout or f" {i}  " in result.stdout


def test_files_reach_the_library(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, h0 = tmp_path / "x.npy", tmp_path / "h0.npy"
    np.save(x, rng.normal(size=(30, 2)))
    np.save(h0, rng.normal(size=4) * 0.1)
    result = invoke(
        "lyapunov", "--cell", "rnn", "-H", "4", "--inputs", str(x), "--h0", str(h0), "-k", "2", "--json", "-"
    )
    assert result.exit_code == 0, result.stderr
    want = document(cell="rnn", inputs=np.load(x), h0=np.load(h0), hidden_size=4, input_size=2, exponents=2)
    assert json.loads(result.stdout) == want


def test_quiet_is_one_line() -> None:
    result = invoke("lyapunov", "--cell", "gru", *TINY, "-q")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and result.stdout.startswith("gru: lambda_1 = ")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--exponents", "9"], "exponents"),
        (["--transient", "60"], "transient"),
        (["--cell", "lstn"], "lstn"),
    ],
)
def test_errors_exit_2(args: list[str], fragment: str) -> None:
    base = ["--cell", "rnn"] if "--cell" not in args else []
    result = invoke("lyapunov", *base, *TINY, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradscope: error: ") and fragment in lines[0]
    assert result.stdout == ""


def test_plot_png_and_newman_only_where_it_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradscope import figures

    seen: list[Any] = []
    tops: list[Any] = []
    original = figures.lyapunov_figure

    def spy(spectrum: Any, **kwargs: Any) -> Any:
        # What the figure draws: the overlays the command's spectrum holds (none given to replace them).
        assert kwargs.get("theory") is None and kwargs.get("top_theory") is None
        seen.append(spectrum.theory)
        tops.append(spectrum.top_theory)
        return original(spectrum, **kwargs)

    monkeypatch.setattr(figures, "lyapunov_figure", spy)
    zeros = tmp_path / "zeros.npy"
    np.save(zeros, np.zeros((60, 2)))
    png = tmp_path / "l.png"
    common = ["lyapunov", "--cell", "rnn", "-H", "6", "--init", "gaussian", "--gain", "0.5", "-k", "4"]
    assert invoke(*common, "--inputs", str(zeros), "--plot", str(png), "-q").exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_allclose(seen[-1], theory.newman_spectrum(6, 0.5, count=4))
    # driven by random inputs (tanh saturates), or with the default init: no overlay
    assert tops[-1] is None  # the mean-field lambda_1 is for N(0, 1) inputs, not for given ones
    assert invoke(*common, "-T", "60", "--plot", str(png), "-q").exit_code == 0
    assert seen[-1] is None
    assert tops[-1] == pytest.approx(theory.tanh_rnn_mean_field_rate("gaussian", 0.5, 6, 32))
    assert (
        invoke("lyapunov", "--cell", "lstm", *TINY, "--plot", str(tmp_path / "l.svg"), "--no-running", "-q").exit_code
        == 0
    )
    assert seen[-1] is None
    assert b"<svg" in (tmp_path / "l.svg").read_bytes()[:400]


def test_no_heavy_imports_without_plot() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from gradscope.cli import main; s = main(['lyapunov', '--cell', 'rnn', '-H', '3', '-T', '20', "
        "'--json', '-']); print(sorted({m.split('.')[0] for m in sys.modules} & {'sympy', 'matplotlib', 'torch', "
        "'dask', 'distributed'}), s, file=sys.stderr)"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert process.stderr.strip().endswith("[] 0"), process.stderr
    json.loads(process.stdout)


def test_the_gallery_command_reproduces_its_figure_byte_for_byte(tmp_path: Path) -> None:
    import shlex

    from gradscope import figures
    from gradscope.gallery import QUICK, research

    section = research.lyapunov_section(QUICK)
    (command,) = section.commands
    args = shlex.split(command)[1:]
    plot = tmp_path / "lyapunov-spectrum.png"
    args[args.index("--plot") + 1] = str(plot)
    result = invoke(*args, "-q")
    assert result.exit_code == 0, result.stderr
    assert plot.read_bytes() == figures.render(section.figure, "png")
