"""The model options on the command line: one meaning in analyze, compare, lyapunov and sweep (the library's
numbers for the same options), and a one-line exit-2 error naming an option that does not fit the cell."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_helpers import assert_bad_input, invoke

import gradscope
from gradscope.analysis.problem import make_problem

TINY = ["-H", "4", "-I", "2", "-T", "8"]
TINY_KWARGS: dict[str, Any] = {"hidden_size": 4, "input_size": 2, "steps": 8}


def document(*args: str) -> dict[str, Any]:
    result = invoke(*args, "--json", "-")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def library(result: Any) -> dict[str, Any]:
    return json.loads(json.dumps(result.to_dict()))


@pytest.mark.parametrize(
    ("args", "options"),
    [
        (["--cell", "lstm", "--forget-bias", "2"], {"forget_bias": 2.0}),
        (["--cell", "lstm", "--forget-bias", "chrono", "--t-max", "20"], {"forget_bias": "chrono", "t_max": 20}),
        (["--cell", "gru", "--update-bias", "-1.5"], {"update_bias": -1.5}),
        (["--cell", "gru", "--init", "chrono"], {"init": "chrono"}),
        (["--cell", "rnn-relu", "--init", "identity", "--gain", "0.9"], {"init": "identity", "gain": 0.9}),
        (["--cell", "rnn", "--init", "xavier"], {"init": "xavier"}),
        (["--cell", "gru", "--num-layers", "2", "--bidirectional"], {"num_layers": 2, "bidirectional": True}),
    ],
)
def test_analyze_takes_the_model_options_of_make_problem(args: list[str], options: dict[str, Any]) -> None:
    ours = document("analyze", *args, *TINY)
    cell = args[1]
    expected = library(gradscope.analyze(make_problem(cell, **TINY_KWARGS, **options)))
    assert ours == expected


def test_compare_gives_each_keep_gate_bias_to_its_own_cell() -> None:
    ours = document("compare", "--cells", "rnn,lstm,gru", "--forget-bias", "2", "--update-bias", "1", *TINY)
    rnn, lstm, gru = ours["analyses"]
    assert rnn == library(gradscope.analyze(make_problem("rnn", **TINY_KWARGS)))
    assert lstm == library(gradscope.analyze(make_problem("lstm", forget_bias=2.0, **TINY_KWARGS)))
    assert gru == library(gradscope.analyze(make_problem("gru", update_bias=1.0, **TINY_KWARGS)))


def test_lyapunov_and_sweep_take_the_keep_gate_biases() -> None:
    spectrum = document("lyapunov", "--cell", "gru", "--update-bias", "2", "-H", "4", "-I", "2", "-T", "30")
    assert spectrum["config"]["update_bias"] == 2.0
    rows = document("sweep", "--cell", "gru", "--update-bias", "2", "--vary", "gain=1,2", "--workers", "1", *TINY)
    assert rows["fixed"]["update_bias"] == 2.0
    plain = document("sweep", "--cell", "lstm", "--vary", "gain=1,2", "--workers", "1", *TINY)
    assert "update_bias" not in plain["fixed"] and "num_layers" not in plain["fixed"]  # older documents unchanged


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["analyze", "--cell", "lstm", "--update-bias", "1"], ["--update-bias", "GRU only", "analyze runs lstm"]),
        (["analyze", "--cell", "gru", "--forget-bias", "1"], ["--forget-bias", "LSTM only"]),
        (["compare", "--cells", "rnn,gru", "--forget-bias", "1"], ["--forget-bias", "compare runs rnn, gru"]),
        (["analyze", "--cell", "rnn", "--init", "chrono"], ["--init chrono", "rnn has none"]),
        (["compare", "--cells", "rnn,lstm", "--init", "chrono"], ["--init chrono", "rnn has none"]),
        (["analyze", "--cell", "lstm", "--init", "chrono", "--forget-bias", "1"], ["--init chrono", "--forget-bias"]),
        (["analyze", "--cell", "indrnn", "--init", "xavier"], ["--init xavier", "per-unit"]),
        (["analyze", "--cell", "jordan", "--num-layers", "2"], ["--num-layers", "jordan"]),
        (["analyze", "--cell", "jordan", "--bidirectional"], ["--bidirectional", "jordan"]),
        (["analyze", "--cell", "gru", "--update-bias", "soon"], ["--update-bias", "'soon'"]),
        (["analyze", "--cell", "gru", "--update-bias", "nan"], ["--update-bias", "finite"]),
        (["lyapunov", "--cell", "rnn", "--forget-bias", "1"], ["--forget-bias", "LSTM only"]),
        (["sweep", "--cell", "gru", "--forget-bias", "1", "--vary", "gain=1,2"], ["--forget-bias", "LSTM only"]),
        (["sweep", "--cell", "rnn", "--vary", "init=pytorch,chrono"], ["init chrono", "rnn"]),
    ],
)
def test_options_that_do_not_fit_the_cell_exit_2_naming_the_option(args: list[str], fragments: list[str]) -> None:
    assert_bad_input(invoke(*args, *TINY), *fragments)


@pytest.mark.parametrize("init", ["identity", "xavier"])
def test_lyapunov_and_sweep_reports_take_the_new_inits_of_the_tanh_rnn(init: str) -> None:
    # The mean-field theory line covers xavier (variance gain^2/H, as gaussian) and leaves IRNN's gain * I out.
    spectrum = invoke("lyapunov", "--cell", "rnn", "--init", init, "-H", "4", "-I", "2", "-T", "30")
    assert spectrum.exit_code == 0, spectrum.output
    rows = invoke("sweep", "--cell", "rnn", "--vary", f"init=pytorch,{init}", "--workers", "1", *TINY)
    assert rows.exit_code == 0, rows.output
    assert init in rows.stdout


def test_reports_say_which_model_options_drew_the_model() -> None:
    single = invoke("analyze", "--cell", "lstm", "--forget-bias", "2", "--num-layers", "2", "--bidirectional", *TINY)
    assert single.exit_code == 0, single.output
    text = " ".join(single.stdout.replace("│", " ").split())
    assert "b_f = 2, 2 layers, bidirectional" in text
    both = invoke("compare", "--cells", "rnn,lstm,gru", "--forget-bias", "2", "--update-bias", "chrono", *TINY)
    text = " ".join(both.stdout.replace("│", " ").split())
    assert "lstm: b_f = 2; gru: chrono b_z, T_max = 8" in text
