"""Tests of the gradscope command line: every command and option, JSON values, every error path.

Numbers are checked against the engine (:func:`gradscope.analyze` called directly) and, for
``--weights``, against PyTorch autograd through a real ``torch.nn.RNN``/``LSTM``/``GRU`` in float64
whose ``state_dict`` was saved with ``np.savez``.
"""

from __future__ import annotations

import io as stdio
import json
import os
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import assert_bad_input, invoke
from rich.console import Console

import gradscope
from gradscope import cli
from gradscope.analysis.problem import make_problem
from gradscope.cells.spec import ALL_CELL_NAMES, CELL_NAMES, ZOO_CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.engine.products import DTYPES, NORMS
from gradscope.params import INITS
from gradscope.terminal import format_power, report_lags

ANSI = re.compile(r"\x1b\[")
#: A clean environment for rich: no colour forcing, 80 columns.
SMALL = ["--hidden-size", "5", "--input-size", "3", "--steps", "30"]
SMALL_KWARGS = {"hidden_size": 5, "input_size": 3, "steps": 30}


def engine_document(cell: str, **kwargs: Any) -> dict[str, Any]:
    """The engine's JSON document for the same problem, as JSON would carry it."""
    return json.loads(json.dumps(gradscope.analyze(cell, **kwargs).to_dict()))


def log10_or_inf(values: list[float | None]) -> np.ndarray:
    return np.array([-np.inf if v is None else v for v in values])


# ---------------------------------------------------------------------------------------------
# PyTorch reference (float64 autograd through the real modules)


def torch_module(cell: str, hidden: int, width: int, *, bias: bool = True, seed: int = 0, scale: float = 1.0):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    if cell in ("rnn", "rnn-relu"):
        nonlinearity = "relu" if cell == "rnn-relu" else "tanh"
        module = torch.nn.RNN(width, hidden, nonlinearity=nonlinearity, bias=bias, dtype=torch.float64)
    else:
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](width, hidden, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        module.weight_hh_l0.mul_(scale)
    return module


def save_state_dict(module, path: Path) -> Path:
    np.savez(path, **{name: value.detach().numpy() for name, value in module.state_dict().items()})
    return path


def torch_log10_norms(cell: str, module, inputs: np.ndarray, h0: np.ndarray, c0: np.ndarray | None) -> np.ndarray:
    """``log10 ||d s_T / d s_{T-k}||_2`` for k = 1..T by autograd, re-running the module from ``s_{T-k}``."""
    torch = pytest.importorskip("torch")
    hidden = module.hidden_size
    xs = torch.tensor(inputs, dtype=torch.float64)

    def step(state, x):
        if cell == "lstm":
            _, (h, c) = module(x[None], (state[None, :hidden], state[None, hidden:]))
            return torch.cat([h.reshape(-1), c.reshape(-1)])
        _, h = module(x[None], state[None])
        return h.reshape(-1)

    initial = np.concatenate([h0, c0]) if cell == "lstm" else h0
    states = [torch.tensor(initial, dtype=torch.float64)]
    with torch.no_grad():
        for x in xs:
            states.append(step(states[-1], x))
    steps = len(xs)

    def tail(state, start):
        for t in range(start, steps):
            state = step(state, xs[t])
        return state

    norms = []
    for k in range(1, steps + 1):
        product = torch.autograd.functional.jacobian(lambda s, k=k: tail(s, steps - k), states[steps - k]).numpy()
        with np.errstate(divide="ignore"):  # an exactly zero product (dead ReLU units) is -inf
            norms.append(np.log10(np.linalg.norm(product, 2)))
    return np.array(norms)


@pytest.mark.parametrize(
    ("cell", "bias", "scale"),
    [("rnn", True, 1.0), ("rnn", True, 4.0), ("rnn-relu", True, 1.0), ("lstm", True, 1.0), ("lstm", False, 3.0),
     ("gru", True, 1.0), ("gru", False, 2.0)],
)  # fmt: skip
def test_weights_inputs_h0_c0_against_torch_autograd(tmp_path: Path, cell: str, bias: bool, scale: float) -> None:
    hidden, width, steps = 6, 4, 12
    module = torch_module(cell, hidden, width, bias=bias, seed=hash((cell, bias)) % 1000, scale=scale)
    rng = np.random.default_rng(5)
    inputs, h0, c0 = rng.standard_normal((steps, width)), 0.5 * rng.standard_normal(hidden), rng.standard_normal(hidden)
    np.save(tmp_path / "x.npy", inputs)
    np.save(tmp_path / "h0.npy", h0[None])  # PyTorch's (1, H)
    np.save(tmp_path / "c0.npy", c0)
    args = ["analyze", "--cell", cell, "--weights", str(save_state_dict(module, tmp_path / "w.npz"))]
    args += ["--inputs", str(tmp_path / "x.npy"), "--h0", str(tmp_path / "h0.npy"), "--json", "-"]
    if cell == "lstm":
        args += ["--c0", str(tmp_path / "c0.npy")]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["hidden_size"], document["input_size"], document["steps"]) == (hidden, width, steps)
    assert document["config"]["params"] == "given" and document["config"]["inputs"] == "given"
    expected = torch_log10_norms(cell, module, inputs, h0, c0 if cell == "lstm" else None)
    np.testing.assert_allclose(log10_or_inf(document["log10_norm"]), expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_weights_alone_against_torch_autograd(tmp_path: Path, cell: str) -> None:
    """With only --weights, inputs are drawn from the seed; torch sees the same draws."""
    module = torch_module(cell, 6, 3, seed=11)
    path = save_state_dict(module, tmp_path / "w.npz")
    result = invoke("analyze", "--cell", cell, "--weights", str(path), "--steps", "10", "--seed", "4", "--json", "-")
    assert result.exit_code == 0, result.stderr
    params = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    inputs = make_problem(cell, params=params, steps=10, seed=4).inputs  # the engine's documented draw
    zeros = np.zeros(6)
    expected = torch_log10_norms(cell, module, inputs, zeros, zeros)
    np.testing.assert_allclose(log10_or_inf(json.loads(result.stdout)["log10_norm"]), expected, rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# analyze: output and options against the engine


def test_analyze_json_stdout_is_only_the_engine_document() -> None:
    result = invoke("analyze", "--cell", "lstm", *SMALL, "--json", "-")
    assert result.exit_code == 0
    assert result.stderr == ""
    document = json.loads(result.stdout)  # nothing else on stdout
    assert document == engine_document("lstm", **SMALL_KWARGS)
    assert document["schema"] == gradscope.SCHEMA == "gradscope.analysis/1"
    assert document["lags"] == list(range(1, 31))
    assert len(document["log10_norm"]) == 30


@pytest.mark.parametrize(
    ("options", "kwargs"),
    [
        ([], {}),
        (["--seed", "7"], {"seed": 7}),
        (["--init", "gaussian", "--gain", "1.5"], {"init": "gaussian", "gain": 1.5}),
        (["--init", "orthogonal", "--gain", "0.9"], {"init": "orthogonal", "gain": 0.9}),
        (["--norm", "frobenius"], {"norm": "frobenius"}),
        (["--dtype", "float32"], {"dtype": "float32"}),
        (["-H", "4", "-I", "2", "-T", "17"], {"hidden_size": 4, "input_size": 2, "steps": 17}),
    ],
)
@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_analyze_options_reach_the_engine(cell: str, options: list[str], kwargs: dict[str, Any]) -> None:
    result = invoke("analyze", "-c", cell, *SMALL, *options, "--json", "-")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == engine_document(cell, **(SMALL_KWARGS | kwargs))


def test_analyze_default_sizes_are_the_engines() -> None:
    result = invoke("analyze", "--cell", "rnn", "--json", "-")
    document = json.loads(result.stdout)
    assert (document["hidden_size"], document["input_size"], document["steps"]) == (64, 32, 200)
    assert document == engine_document("rnn")


def test_analyze_cell_names_are_forgiving() -> None:
    result = invoke("analyze", "--cell", "RNN_relu", *SMALL, "--json", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["cell"] == "rnn-relu"


def test_analyze_report_shows_the_engines_numbers() -> None:
    result = invoke("analyze", "--cell", "lstm", *SMALL, "--seed", "3")
    assert result.exit_code == 0
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    expected = gradscope.analyze("lstm", **SMALL_KWARGS, seed=3)
    text = result.stdout
    for k in report_lags(30):
        value = float(expected.log10_norm[k - 1])
        assert re.search(rf"^\W*{k}\s+{re.escape(format_power(value))}\s+{value:.2f}\b", text, flags=re.M), k
    assert expected.verdict.upper() in text
    assert f"rate {expected.rate_per_step:+.3g}/step" in text
    assert "s = [h; c]" in text and "seed 3" in text
    for block in compile_cell("lstm").blocks:
        assert block.text.partition(" = ")[0] in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert not ANSI.search(result.output)


def test_analyze_report_names_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # short relative names, so the report does not wrap them
    np.savez("model.npz", **make_problem("gru", hidden_size=3, input_size=2).params.as_dict())
    np.save("x.npy", np.ones((8, 2)))
    result = invoke("analyze", "-c", "gru", "--weights", "model.npz", "--inputs", "x.npy")
    assert result.exit_code == 0, result.stderr
    assert "from model.npz" in result.stdout and "from x.npy" in result.stdout


def test_analyze_quiet_prints_one_line() -> None:
    result = invoke("analyze", "--cell", "gru", *SMALL, "--quiet")
    assert result.exit_code == 0
    expected = gradscope.analyze("gru", **SMALL_KWARGS)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"gru: {expected.verdict}, rate {expected.rate_per_step:+.3g}/step")
    assert result.stderr == ""


def test_analyze_json_file_is_written_atomically_and_matches(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    result = invoke("analyze", "--cell", "lstm", *SMALL, "--json", str(path))
    assert result.exit_code == 0
    assert json.loads(path.read_text()) == engine_document("lstm", **SMALL_KWARGS)
    assert "Verdict" in result.stdout  # the report still goes to the terminal
    assert f"JSON written to {path}" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    quiet = invoke("analyze", "--cell", "lstm", *SMALL, "--json", str(path), "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and len(quiet.stdout.strip().splitlines()) == 1


def test_analyze_inputs_give_the_steps_and_width(tmp_path: Path) -> None:
    inputs = np.random.default_rng(0).standard_normal((9, 2))
    np.save(tmp_path / "x.npy", inputs)
    result = invoke("analyze", "-c", "rnn", "-H", "4", "--inputs", str(tmp_path / "x.npy"), "--json", "-")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == engine_document("rnn", hidden_size=4, input_size=2, inputs=inputs)


def test_analyze_h0_gives_the_hidden_size(tmp_path: Path) -> None:
    h0 = np.linspace(-0.5, 0.5, 7)
    np.save(tmp_path / "h0.npy", h0)
    result = invoke("analyze", "-c", "gru", "-T", "10", "--h0", str(tmp_path / "h0.npy"), "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["hidden_size"] == 7 and document["config"]["h0"] == "given"
    assert document == engine_document("gru", hidden_size=7, steps=10, h0=h0)


def test_analyze_progress_callback_reaches_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = gradscope.analysis.profile.analyze

    def spy(*args: Any, progress: Any = None, **kwargs: Any):
        assert callable(progress)

        def record(done: int, total: int) -> None:
            calls.append((done, total))
            progress(done, total)

        return real(*args, progress=record, **kwargs)

    monkeypatch.setattr(cli.Output, "shows_progress", property(lambda self: True))
    monkeypatch.setattr(gradscope.analysis.profile, "analyze", spy)
    result = invoke("analyze", "-c", "lstm", *SMALL)
    assert result.exit_code == 0, result.stderr
    assert calls and calls[-1] == (30, 30)


def test_progress_reporter_draws_on_a_terminal_only() -> None:
    buffer = stdio.StringIO()
    console = Console(file=buffer, force_terminal=True, width=80)
    with cli.progress_reporter(True, "lstm: products", console=console) as progress:
        assert progress is not None
        progress(50, 100)
    assert "lstm: products" in buffer.getvalue()
    with cli.progress_reporter(False, "x") as progress:
        assert progress is None
    assert not cli.Output.create(None, quiet=True).shows_progress
    assert not cli.Output.create("-", quiet=False).shows_progress
    assert not cli.Output.create(None, quiet=False).shows_progress  # pytest's stderr is not a terminal


def test_choices_are_the_engines() -> None:
    assert typing.get_args(cli.InitName) == INITS
    assert typing.get_args(cli.NormName) == NORMS
    assert typing.get_args(cli.DtypeName) == DTYPES


# ---------------------------------------------------------------------------------------------
# Error paths: exit code 2, one line naming the offending thing, nothing written


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Good and bad input files for a 3-unit LSTM with input size 2."""
    rng = np.random.default_rng(0)
    good = {
        "weight_ih_l0": rng.standard_normal((12, 2)),
        "weight_hh_l0": rng.standard_normal((12, 3)),
        "bias_ih_l0": rng.standard_normal(12),
        "bias_hh_l0": rng.standard_normal(12),
    }
    paths = {name: tmp_path / name for name in ("good.npz", "x.npy", "x_wide.npy", "h0.npy")}
    np.savez(paths["good.npz"], **good)
    np.save(paths["x.npy"], rng.standard_normal((6, 2)))
    np.save(paths["x_wide.npy"], rng.standard_normal((6, 5)))
    np.save(paths["h0.npy"], np.zeros(3))
    variants = {
        "missing.npz": {k: v for k, v in good.items() if k != "weight_hh_l0"},
        "layer1.npz": good | {"weight_ih_l1": np.zeros((12, 3)), "weight_hh_l1": np.zeros((12, 3))},
        "reverse.npz": good | {"weight_ih_l0_reverse": np.zeros((12, 2))},
        "shape.npz": good | {"bias_hh_l0": np.zeros(11)},
        "nan.npz": good | {"weight_hh_l0": np.where(np.eye(12, 3) > 0, np.nan, good["weight_hh_l0"])},
    }
    for name, arrays in variants.items():
        paths[name] = tmp_path / name
        np.savez(paths[name], **arrays)
    paths["weights.npy"] = tmp_path / "weights.npy"
    np.save(paths["weights.npy"], good["weight_hh_l0"])
    paths["text.npz"] = tmp_path / "text.npz"
    paths["text.npz"].write_text("not an archive")
    paths["x_nan.npy"] = tmp_path / "x_nan.npy"
    np.save(paths["x_nan.npy"], np.array([[0.0, np.nan]] * 6))
    paths["h0_inf.npy"] = tmp_path / "h0_inf.npy"
    np.save(paths["h0_inf.npy"], np.array([0.0, np.inf, 0.0]))
    paths["h0_long.npy"] = tmp_path / "h0_long.npy"
    np.save(paths["h0_long.npy"], np.zeros(4))
    paths["object.npy"] = tmp_path / "object.npy"
    np.save(paths["object.npy"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return paths


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["-c", "lstn"], ["unknown cell 'lstn'", "did you mean 'lstm'?", "rnn, rnn-relu, lstm, gru"]),
        (["-c", "gruu"], ["did you mean 'gru'?"]),
        (["-c", "lstm", "--hidden-size", "0"], ["hidden_size must be >= 1, got 0"]),
        (["-c", "lstm", "--input-size", "-3"], ["input_size must be >= 1, got -3"]),
        (["-c", "lstm", "--steps", "0"], ["steps must be >= 1, got 0"]),
        (["-c", "lstm", "--seed", "-1"], ["seed must be a non-negative integer"]),
        (["-c", "lstm", "--gain", "-2"], ["gain must be a finite number >= 0"]),
        (["-c", "gru", "--c0", "@h0.npy"], ["--c0 given, but the gru cell has no c state"]),
    ],
)
def test_bad_option_values(files: dict[str, Path], args: list[str], fragments: list[str]) -> None:
    args = [str(files[a[1:]]) if a.startswith("@") else a for a in args]  # "@name": that fixture file
    assert_bad_input(invoke("analyze", *args), *fragments)


@pytest.mark.parametrize(
    ("option", "name", "fragments"),
    [
        ("--weights", "absent.npz", ["absent.npz: no such file"]),
        ("--inputs", "absent.npy", ["absent.npy: no such file"]),
        ("--h0", "absent.npy", ["absent.npy: no such file"]),
        ("--weights", "weights.npy", ["weights.npy: is a single .npy array, not an .npz archive"]),
        ("--weights", "text.npz", ["text.npz: not an .npz archive"]),
        ("--weights", "missing.npz", ["missing.npz: lstm parameters: missing weight_hh_l0"]),
        ("--weights", "layer1.npz", ["layer1.npz:", "missing bias_ih_l1", "biases in every layer or in none"]),
        ("--weights", "reverse.npz", ["reverse.npz:", "missing weight_hh_l0_reverse", "(got weight_ih_l0_reverse)"]),
        ("--weights", "shape.npz", ["shape.npz: bias_hh_l0: expected shape (12,), got (11,)"]),
        ("--weights", "nan.npz", ["nan.npz: weight_hh_l0: contains 3 NaN or infinite values"]),
        ("--inputs", "x_nan.npy", ["x_nan.npy: inputs: contains 6 NaN or infinite values"]),
        ("--h0", "h0_inf.npy", ["h0_inf.npy: h0: contains 1 NaN or infinite value"]),
        ("--inputs", "object.npy", ["object.npy: holds pickled Python objects; refused"]),
        ("--inputs", "good.npz", ["good.npz: is an .npz archive; inputs must be a single .npy array"]),
    ],
)
def test_bad_files_are_named(files: dict[str, Path], option: str, name: str, fragments: list[str]) -> None:
    path = files.get(name, files["x.npy"].parent / name)
    assert_bad_input(invoke("analyze", "-c", "lstm", option, str(path)), *fragments)


def test_inputs_that_do_not_match_the_weights(files: dict[str, Path]) -> None:
    result = invoke("analyze", "-c", "lstm", "--weights", str(files["good.npz"]), "--inputs", str(files["x_wide.npy"]))
    assert_bad_input(result, "x_wide.npy: inputs: expected shape (T, 2), input_size 2 from the weights", "got (6, 5)")


def test_h0_that_does_not_match_the_weights(files: dict[str, Path]) -> None:
    result = invoke("analyze", "-c", "lstm", "--weights", str(files["good.npz"]), "--h0", str(files["h0_long.npy"]))
    assert_bad_input(result, "h0_long.npy: h0: expected shape (3,)", "got (4,)")


def test_weights_for_another_cell(files: dict[str, Path]) -> None:
    result = invoke("analyze", "-c", "gru", "--weights", str(files["good.npz"]))
    assert_bad_input(result, "good.npz: weight_hh_l0: expected shape (3*H, H) for gru", "got (12, 3)")


def test_sizes_that_contradict_the_weights_or_inputs(files: dict[str, Path]) -> None:
    result = invoke("analyze", "-c", "lstm", "--weights", str(files["good.npz"]), "--hidden-size", "4")
    assert_bad_input(result, "hidden_size=4 contradicts the parameters")
    result = invoke("analyze", "-c", "lstm", "-I", "2", "--inputs", str(files["x.npy"]), "--steps", "5")
    assert_bad_input(result, "steps=5 contradicts the inputs, which have 6 time steps")


def test_a_directory_given_as_a_file(tmp_path: Path) -> None:
    assert_bad_input(invoke("analyze", "-c", "rnn", "--inputs", str(tmp_path)), "is a directory")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_an_unreadable_file(files: dict[str, Path]) -> None:
    files["good.npz"].chmod(0)
    assert_bad_input(invoke("analyze", "-c", "lstm", "--weights", str(files["good.npz"])), "cannot read")


def test_json_in_a_missing_directory_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the analysis must not run when the output path is bad")

    monkeypatch.setattr(gradscope.analysis.profile, "analyze", never)
    target = tmp_path / "nodir" / "out.json"
    assert_bad_input(invoke("analyze", "-c", "rnn", "--json", str(target)), "out.json: cannot write", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_json_to_a_directory(tmp_path: Path) -> None:
    assert_bad_input(invoke("analyze", "-c", "rnn", "--json", str(tmp_path)), "is a directory")


def test_no_output_file_after_bad_input(files: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    assert_bad_input(invoke("analyze", "-c", "lstm", "--inputs", str(files["x_nan.npy"]), "--json", str(target)))
    assert not target.exists()
    assert not list(tmp_path.glob(".out.json*"))


def test_no_partial_output_when_the_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.json"
    target.write_text("previous")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gradscope.files.output.os, "replace", fail)
    result = invoke("analyze", "-c", "rnn", *SMALL, "--json", str(target))
    assert_bad_input(result, "out.json: cannot write (No space left on device)")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.parametrize(
    "args",
    [
        ["analyze"],
        ["analyze", "-c", "rnn", "--init", "he"],
        ["analyze", "-c", "rnn", "-H", "many"],
        ["analyze", "-c", "rnn", "--nope"],
        ["derive", "-c", "rnn", "--format", "html"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_no_arguments_shows_help() -> None:
    result = invoke()
    assert "Usage" in result.output and "analyze" in result.output


# ---------------------------------------------------------------------------------------------
# Internal errors: exit 1, one line; --debug shows the traceback


def boom(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("boom")


def test_internal_error_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gradscope.analysis.profile, "analyze", boom)
    result = invoke("analyze", "-c", "rnn")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == ["gradscope: internal error: RuntimeError: boom (rerun with --debug for the traceback)"]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "env"), [(["--debug"], {}), ([], {"GRADSCOPE_DEBUG": "1"})])
def test_debug_lets_the_exception_through(monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict) -> None:
    monkeypatch.setattr(gradscope.analysis.profile, "analyze", boom)
    result = invoke(*args, "analyze", "-c", "rnn", env=env)
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == "boom"


def test_debug_does_not_change_bad_input_handling() -> None:
    assert_bad_input(invoke("--debug", "analyze", "-c", "lstn"), "unknown cell")


def test_internal_error_writes_no_output_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gradscope.Analysis, "to_dict", lambda self: {"x": float("nan")})
    target = tmp_path / "out.json"
    result = invoke("analyze", "-c", "rnn", *SMALL, "--json", str(target))
    assert result.exit_code == 1
    assert "not valid JSON" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_main_returns_the_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"gradscope {gradscope.__version__}\n"
    assert cli.main(["analyze", "-c", "nope"]) == 2
    assert cli.main(["analyze"]) == 2
    monkeypatch.setattr(gradscope.analysis.profile, "analyze", boom)
    assert cli.main(["analyze", "-c", "rnn"]) == 1


# ---------------------------------------------------------------------------------------------
# compare, derive, cells, --version, --help


def test_compare_json_matches_the_engine_cell_by_cell() -> None:
    result = invoke("compare", "--cells", "rnn,lstm,gru", *SMALL, "--seed", "2", "--json", "-")
    assert result.exit_code == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    assert document["schema"] == "gradscope.comparison/1" and document["cells"] == ["rnn", "lstm", "gru"]
    assert document["analyses"] == [engine_document(c, **SMALL_KWARGS, seed=2) for c in ("rnn", "lstm", "gru")]


def test_compare_includes_the_jordan_network() -> None:
    """The Jordan network sits beside the one-stage cells, with its output size O = H by default."""
    result = invoke("compare", "--cells", "rnn,jordan", *SMALL, "--json", "-")
    assert result.exit_code == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    assert document["cells"] == ["rnn", "jordan"]
    assert document["analyses"] == [engine_document(c, **SMALL_KWARGS) for c in ("rnn", "jordan")]
    assert (
        document["analyses"][1]["state"] == "y"
        and document["analyses"][1]["output_size"] == SMALL_KWARGS["hidden_size"]
    )


def test_compare_defaults_to_every_cell_and_reports_side_by_side() -> None:
    result = invoke("compare", *SMALL)
    assert result.exit_code == 0
    expected = [gradscope.analyze(cell, **SMALL_KWARGS) for cell in CELL_NAMES]
    text = result.stdout
    for k in report_lags(30):
        row = re.search(rf"^\W*{k}((?:\s+(?:-?\d+\.\d\d|-inf))+)\s*\W*$", text, flags=re.M)
        assert row is not None
        np.testing.assert_allclose(
            [float(v) for v in row[1].split()], [r.log10_norm[k - 1] for r in expected], atol=5e-3
        )
    for analysis in expected:
        assert analysis.cell in text and analysis.verdict in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_compare_quiet_json_file_and_repeats(tmp_path: Path) -> None:
    target = tmp_path / "cmp.json"
    result = invoke("compare", "--cells", "gru, rnn,gru", *SMALL, "-q", "--json", str(target))
    assert result.exit_code == 0
    assert [line.split(":")[0] for line in result.stdout.strip().splitlines()] == ["gru", "rnn"]
    assert json.loads(target.read_text())["cells"] == ["gru", "rnn"]


def test_compare_c0_goes_to_the_lstm_only(tmp_path: Path) -> None:
    np.save(tmp_path / "c0.npy", np.full(5, 0.3))
    result = invoke("compare", "--cells", "rnn,lstm", *SMALL, "--c0", str(tmp_path / "c0.npy"), "--json", "-")
    assert result.exit_code == 0, result.stderr
    rnn, lstm = json.loads(result.stdout)["analyses"]
    assert "c0" not in rnn["config"] and lstm["config"]["c0"] == "given"
    assert lstm == engine_document("lstm", **SMALL_KWARGS, c0=np.full(5, 0.3))


def test_compare_errors() -> None:
    assert_bad_input(invoke("compare", "--cells", "rnn,lstx"), "unknown cell 'lstx'; did you mean 'lstm'?")
    assert_bad_input(invoke("compare", "--cells", " , "), "--cells: give at least one cell name")
    assert_bad_input(invoke("compare", "--steps", "0"), "steps must be >= 1")


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_derive_formats_show_the_engines_derivation(cell: str) -> None:
    derivation = gradscope.derive(cell)
    latex = invoke("derive", "--cell", cell, "--format", "latex")
    assert latex.exit_code == 0
    assert derivation.latex() in latex.stdout
    markdown = invoke("derive", "-c", cell, "-f", "markdown")
    assert markdown.exit_code == 0
    for block in derivation.blocks:
        assert f"${block.latex()}$" in markdown.stdout
    pretty = invoke("derive", "-c", cell)
    assert pretty.exit_code == 0
    for block in derivation.blocks:
        assert f"∂{block.row}_t/∂{block.col}_{{t-1}}" in pretty.stdout
    assert derivation.cell.title in pretty.stdout


def test_derive_unknown_cell() -> None:
    assert_bad_input(invoke("derive", "-c", "lsmt"), "unknown cell 'lsmt'")


def test_cells_lists_every_cell_with_state_and_gates() -> None:
    result = invoke("cells", env={"COLUMNS": "120"})
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()[1:]
    names = (*ALL_CELL_NAMES, *ZOO_CELL_NAMES)  # the built-in cells, then the zoo's
    assert [line.split()[0] for line in lines] == list(names)
    for name, line in zip(names, lines, strict=True):
        spec = compile_cell(name).spec
        assert spec.state_layout in line and ", ".join(spec.gates) in line


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"gradscope {gradscope.__version__}\n"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["analyze", "compare", "derive", "cells", "--version", "Examples"]),
        (["analyze"], ["--cell", "--hidden-size", "--weights", "--inputs", "--h0", "--c0", "--json", "--quiet"]),
        (["compare"], ["--cells", "--steps", "--seed", "--json", "Examples"]),
        (["derive"], ["--format", "pretty", "latex", "markdown", "Examples"]),
        (["cells"], ["Example"]),
        # Square brackets are rich markup: help texts must escape them or they vanish.
        (["lyapunov"], ["the full state [h; c].", "2H for the LSTM's [h; c])"]),
        (["sweep"], ["(needs gradscope[dask])"]),
    ],
)
def test_help(command: list[str], expected: list[str]) -> None:
    result = invoke(*command, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for fragment in expected:
        assert fragment in result.stdout
    if command == ["analyze"]:
        for option in ("--steps", "--seed", "--init", "--gain", "--norm", "--dtype", "--input-size"):
            assert option in result.stdout


# ---------------------------------------------------------------------------------------------
# Real processes: console script, python -m, imports, colour


def run(args: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run(args, capture_output=True, text=True, env=environment | (env or {}), timeout=120, **kwargs)


def script() -> list[str]:
    found = shutil.which("gradscope", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "gradscope"]


def test_console_script_and_module() -> None:
    for command in (script(), [sys.executable, "-m", "gradscope"]):
        version = run([*command, "--version"])
        assert version.returncode == 0 and version.stdout == f"gradscope {gradscope.__version__}\n"
        bad = run([*command, "analyze", "--cell", "lstn"])
        assert bad.returncode == 2 and bad.stdout == ""
        assert bad.stderr.startswith("gradscope: error: unknown cell 'lstn'") and "Traceback" not in bad.stderr


IMPORT_CHECK = """
import json, sys
from gradscope.cli import main
status = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"sympy", "matplotlib", "torch"})
sys.stderr.write("\\nIMPORTED=" + json.dumps(heavy) + " STATUS=" + str(status) + "\\n")
"""


def imported_by(*args: str) -> tuple[list[str], subprocess.CompletedProcess]:
    process = run([sys.executable, "-c", IMPORT_CHECK, *args])
    match = re.search(r"IMPORTED=(\[.*\]) STATUS=(\d+)", process.stderr)
    assert match is not None, process.stderr
    assert match[2] == "0", process.stderr
    return json.loads(match[1]), process


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["analyze", "--help"],
        ["analyze", "--cell", "lstm", "--json", "-"],
        ["analyze", "--cell", "gru", "-H", "8", "-T", "20"],
        ["compare", "-H", "4", "-T", "10", "-q"],
        ["cells"],
    ],
)
def test_no_sympy_matplotlib_or_torch(args: list[str]) -> None:
    heavy, process = imported_by(*args)
    assert heavy == []
    if "--json" in args:
        json.loads(process.stdout)  # stdout holds the JSON and nothing else


def test_the_import_check_sees_sympy_when_derive_runs() -> None:
    heavy, _ = imported_by("derive", "--cell", "rnn")
    assert heavy == ["sympy"]


def test_import_gradscope_is_light() -> None:
    code = (
        "import sys, gradscope; print(sorted({m.split('.')[0] for m in sys.modules} & {'sympy','matplotlib','torch'}))"
    )
    assert run([sys.executable, "-c", code]).stdout.strip() == "[]"


def test_no_color_means_no_escape_sequences() -> None:
    args = [*script(), "analyze", "--cell", "lstm", "-H", "4", "-T", "12"]
    coloured = run(args, env={"FORCE_COLOR": "1"})  # as on a colour terminal
    assert coloured.returncode == 0 and ANSI.search(coloured.stdout)
    plain = run(args, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert plain.returncode == 0 and not ANSI.search(plain.stdout) and "VANISHING" in plain.stdout
    piped = run(args)  # not a terminal
    assert piped.returncode == 0 and not ANSI.search(piped.stdout + piped.stderr)


def test_stacked_checkpoints_and_prefix(tmp_path: Path) -> None:
    """A .pt of a whole model with a 2-layer bidirectional LSTM inside: same JSON as its .npz export."""
    torch = pytest.importorskip("torch")
    model = torch.nn.Module()
    model.encoder = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    model.decoder = torch.nn.GRU(8, 4).double()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    np.savez(tmp_path / "model.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    ambiguous = invoke("analyze", "--cell", "lstm", "--weights", str(tmp_path / "model.pt"), "-T", "6", "--json", "-")
    assert ambiguous.exit_code == 2
    assert "several recurrent modules ('decoder.', 'encoder.'); choose one with --prefix" in ambiguous.stderr
    documents = []
    for name in ("model.pt", "model.npz"):
        args = ["analyze", "--cell", "lstm", "--weights", str(tmp_path / name), "--prefix", "encoder.", "-T", "6"]
        result = invoke(*args, "--json", "-")
        assert result.exit_code == 0, result.stderr
        documents.append(json.loads(result.stdout))
    assert documents[0] == documents[1]
    assert (documents[0]["num_layers"], documents[0]["bidirectional"]) == (2, True)
    assert len(documents[0]["depth_profiles"]) == 4
    no_weights = invoke("analyze", "--cell", "lstm", "--prefix", "encoder.")
    assert no_weights.exit_code == 2 and "give --weights too" in no_weights.stderr
