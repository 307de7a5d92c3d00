"""``gradscope sweep`` end to end on tiny sizes: the JSON and CSV equal :func:`gradscope.studies.sweeps.run_sweep`'s,
bad ``--vary`` specs exit 2 naming the spec, ``--plot`` writes a valid figure, ``--json -`` prints only JSON."""

from __future__ import annotations

import csv
import io as stdio
import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_bad_input
from cli_helpers import invoke as invoke_80

from gradscope.studies import executors as executors
from gradscope.studies.axes import parse_axes
from gradscope.studies.executors import LocalExecutor, SerialExecutor
from gradscope.studies.sweeps import SweepSpec, run_sweep

TINY = ["--hidden-size", "4", "--input-size", "2", "--steps", "12"]
TINY_KWARGS: dict[str, Any] = {"hidden_size": 4, "input_size": 2, "steps": 12}


def invoke(*args: str) -> Any:
    """The sweep/Lyapunov tables are wide: run at 100 columns."""
    return invoke_80(*args, env={"COLUMNS": "100"})


def expected(cell: str, vary: list[str], samples: int, **kwargs: Any) -> Any:
    spec = SweepSpec.create(cell, parse_axes(vary), samples=samples, **TINY_KWARGS, **kwargs)
    return run_sweep(spec, executor=SerialExecutor())


def test_json_and_csv_equal_run_sweep(serial: None, tmp_path: Path) -> None:
    out_json, out_csv = tmp_path / "s.json", tmp_path / "s.csv"
    result = invoke(
        "sweep", "--cell", "rnn", "--vary", "gain=0.5:1.5:3", "--samples", "2", *TINY,
        "--json", str(out_json), "--csv", str(out_csv),
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr)
    direct = expected("rnn", ["gain=0.5:1.5:3"], 2)
    document = json.loads(out_json.read_text())
    assert document["schema"] == "gradscope.sweep/1"
    assert document == json.loads(json.dumps(direct.to_dict()))
    assert out_csv.read_text() == direct.to_csv()
    rows = list(csv.DictReader(stdio.StringIO(out_csv.read_text())))
    assert len(rows) == 6 and rows[0]["gain"] == "0.5"
    # the summary: one line per grid point, with the theory column for the tanh RNN
    assert "median rate/step" in result.stdout and "theory" in result.stdout
    assert "vanishing" in result.stdout or "stable" in result.stdout or "exploding" in result.stdout


def test_json_stdout_is_only_json_and_options_reach_the_spec(serial: None) -> None:
    result = invoke(
        "sweep", "--cell", "lstm", "--vary", "forget-bias=0,chrono", "--vary", "input-scale=0.5,1", *TINY,
        "--t-max", "8", "--seed", "3", "--json", "-",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    direct = expected("lstm", ["forget-bias=0,chrono", "input-scale=0.5,1"], 1, t_max=8, seed=3)
    assert document == json.loads(json.dumps(direct.to_dict()))
    assert [a["name"] for a in document["vary"]] == ["forget_bias", "input_scale"]


def test_fixed_forget_bias_option(serial: None) -> None:
    result = invoke("sweep", "--cell", "lstm", "--vary", "gain=1,2", "--forget-bias", "2.5", *TINY, "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["fixed"]["forget_bias"] == 2.5
    assert document == json.loads(json.dumps(expected("lstm", ["gain=1,2"], 1, forget_bias=2.5).to_dict()))


def test_quiet_prints_one_line(serial: None) -> None:
    result = invoke("sweep", "--cell", "gru", "--vary", "gain=1,2", *TINY, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    assert result.stdout.startswith("gru: swept gain (2), 2 tasks")


@pytest.mark.parametrize(
    ("vary", "fragments"),
    [
        ("gian=1:2:3", ["--vary 'gian=1:2:3'", "cannot sweep 'gian'"]),
        ("gain=1:2:x", ["--vary 'gain=1:2:x'", "COUNT"]),
        ("gain", ["--vary 'gain'", "NAME=START:STOP:COUNT"]),
        ("init=0:1:2", ["--vary 'init=0:1:2'", "categorical"]),
        ("hidden-size=1,1.2", ["--vary 'hidden-size=1,1.2'", "repeated"]),
    ],
)
def test_bad_vary_exits_2_naming_the_spec(serial: None, vary: str, fragments: list[str]) -> None:
    assert_bad_input(invoke("sweep", "--cell", "rnn", "--vary", vary, *TINY), *fragments)


def test_other_bad_options_exit_2(serial: None, tmp_path: Path) -> None:
    assert_bad_input(invoke("sweep", "--cell", "rnn", "--vary", "gain=1,2", "--vary", "gain=3,4"), "repeated: gain")
    assert_bad_input(invoke("sweep", "--cell", "rnn", "--vary", "gain=1,2", "--forget-bias", "2"), "LSTM only")
    assert_bad_input(invoke("sweep", "--cell", "lstm", "--vary", "gain=1,2", "--forget-bias", "big"), "--forget-bias")
    assert_bad_input(invoke("sweep", "--cell", "rnn", "--vary", "gain=1,2", "--samples", "0"), "samples")
    assert_bad_input(invoke("sweep", "--cell", "rnm", "--vary", "gain=1,2"), "rnm")
    bad = tmp_path / "missing" / "x.csv"
    assert_bad_input(invoke("sweep", "--cell", "rnn", "--vary", "gain=1,2", "--csv", str(bad)), "missing")
    assert not bad.exists()
    # typer's own usage error for a missing --vary is also exit 2
    assert invoke("sweep", "--cell", "rnn").exit_code == 2


def test_plot_writes_a_valid_png_and_svg(serial: None, tmp_path: Path) -> None:
    for name in ("s.png", "s.svg"):
        path = tmp_path / name
        result = invoke("sweep", "--cell", "rnn", "--vary", "gain=0.5,1", "--samples", "2", *TINY, "--plot", str(path))
        assert result.exit_code == 0, result.stderr
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" if name.endswith(".png") else b"<svg" in data[:400]


def test_worker_processes_give_the_same_rows(tmp_path: Path) -> None:
    """The real local executor (one spawned worker), as the command runs by default."""
    result = invoke("sweep", "--cell", "gru", "--vary", "gain=0.5,2", *TINY, "--workers", "1", "--json", "-")
    assert result.exit_code == 0, result.stderr
    spec = SweepSpec.create("gru", parse_axes(["gain=0.5,2"]), **TINY_KWARGS)
    direct = run_sweep(spec, executor=LocalExecutor(workers=1))
    assert json.loads(result.stdout) == json.loads(json.dumps(direct.to_dict()))


def test_the_gallery_commands_run_and_match_the_phase_diagram(tmp_path: Path) -> None:
    """Each per-cell ``gradscope sweep`` command of the gallery's phase diagram gives that cell's rows."""
    import shlex

    from gradscope.gallery import QUICK, research

    section = research.phase_section(QUICK)
    commands = [c for c in section.commands if c.startswith("gradscope sweep")]
    assert [shlex.split(c)[3] for c in commands] == list(research.PHASE_CELLS)
    args = shlex.split(commands[0])[1:]
    args[args.index("--plot") + 1] = str(tmp_path / "p.png")
    args[args.index("--csv") + 1] = str(tmp_path / "p.csv")
    result = invoke(*args, "--json", "-")
    assert result.exit_code == 0, result.stderr
    median = _median_line(section.figure)
    rates = json.loads(result.stdout)["rows"]
    by_gain: dict[float, list[float]] = {}
    for row in rates:
        by_gain.setdefault(row["gain"], []).append(row["rate_per_step"])
    import numpy as np

    assert np.allclose(median, [np.median(v) for v in by_gain.values()], rtol=0, atol=0)


def _median_line(figure: Any) -> Any:
    line = next(line for line in figure.axes[0].get_lines() if line.get_label() == "tanh RNN: median")
    return list(line.get_ydata())


def test_no_heavy_imports_in_the_command_process() -> None:
    """``sweep`` (local executor, no --plot) imports neither SymPy, matplotlib, torch nor Dask."""
    import subprocess
    import sys

    code = (
        "import sys; from gradscope.cli import main; s = main(['sweep', '--cell', 'rnn', '--vary', 'gain=1,2', "
        "'-H', '3', '-T', '10', '--workers', '1', '--json', '-']); print(sorted({m.split('.')[0] for m in "
        "sys.modules} & {'sympy', 'matplotlib', 'torch', 'dask', 'distributed'}), s, file=sys.stderr)"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert process.stderr.strip().endswith("[] 0"), process.stderr
    assert json.loads(process.stdout)["schema"] == "gradscope.sweep/1"


def test_jordan_sweep_rows_are_single_analyses(serial: None) -> None:
    """A sweep over the Jordan network: each row is ``analyze("jordan", seed=row["seed"], ...)`` (O = H)."""
    import gradscope

    result = invoke("sweep", "--cell", "jordan", "--vary", "gain=0.5,2", *TINY, "--json", "-")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [row["gain"] for row in rows] == [0.5, 2.0]
    for row in rows:
        analysis = gradscope.analyze("jordan", seed=row["seed"], gain=row["gain"], **TINY_KWARGS)
        assert analysis.output_size == 4
        assert row["rate_per_step"] == analysis.rate_per_step and row["verdict"] == analysis.verdict
