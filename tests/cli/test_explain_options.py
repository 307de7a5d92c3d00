"""``gradscope explain`` with the model options (one meaning, as in ``analyze``), their refusals, and every
suggested change reproduced by ``gradscope analyze <the original arguments> <the suggestion's arguments>``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_helpers import assert_bad_input, invoke

from gradscope import explain
from gradscope.analysis.explanation_suggestions import reruns

SMALL = ("-H", "8", "-I", "4", "-T", "40")
SMALL_KWARGS: dict[str, Any] = {"hidden_size": 8, "input_size": 4, "steps": 40}


def document(*args: str) -> dict[str, Any]:
    result = invoke(*args, "--json", "-")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ("--cell", "lstm", "--forget-bias", "2"),
        ("--cell", "gru", "--update-bias", "chrono", "--t-max", "30"),
        ("--cell", "rnn-relu", "--init", "identity", "--gain", "0.9"),
        ("--cell", "lstm", "--num-layers", "2", "--bidirectional"),
    ],
)
def test_explain_takes_the_model_options_as_analyze_does(args: tuple[str, ...]) -> None:
    explained = document("explain", *args, *SMALL)
    analysed = document("analyze", *args, *SMALL)
    assert explained["config"] == analysed["config"]
    assert explained["full"]["log10_norm"] == analysed["log10_norm"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--cell", "lstm", "--update-bias", "1"), ("--update-bias", "GRU only", "explain runs lstm")),
        (("--cell", "gru", "--forget-bias", "1"), ("--forget-bias", "LSTM only")),
        (("--cell", "rnn", "--init", "chrono"), ("--init chrono", "rnn has none")),
        (("--cell", "jordan", "--num-layers", "2"), ("--num-layers", "jordan")),
        (("--cell", "lstm", "--forget-bias", "soon"), ("--forget-bias", "'soon'")),
    ],
)
def test_model_options_that_do_not_fit_are_refused(args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    assert_bad_input(invoke("explain", *args), *fragments)


@pytest.mark.parametrize(
    ("original", "option"),
    [
        (("--cell", "lstm"), "--forget-bias"),
        (("--cell", "lstm", "--forget-bias", "0.5"), "--forget-bias"),  # given twice: the suggestion's wins
        (("--cell", "gru"), "--update-bias"),
        (("--cell", "gru", "--num-layers", "2"), "--update-bias"),
    ],
)
def test_suggested_keep_gate_biases_give_the_same_rate_in_analyze(original: tuple[str, ...], option: str) -> None:
    explained = document("explain", *original, *SMALL)
    assert option in explained["suggestions"][0]["arguments"]  # the keep gate nearer 1 helps most here
    for suggestion in explained["suggestions"]:
        rerun = document("analyze", *original, *SMALL, *suggestion["arguments"])
        assert rerun["rate_per_step"] == pytest.approx(suggestion["rate_per_step"], rel=1e-12)
        assert rerun["efolding_lag"] == pytest.approx(suggestion["efolding_lag"], rel=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_rerun_knob_gives_the_same_rate_in_analyze(cell: str) -> None:
    """Not only the three kept: every knob's tries (bias, gain, init, hidden size) through the real command."""
    measured = reruns(explain(cell, suggest=False, **SMALL_KWARGS))
    assert {"gain", "init", "hidden_size"} <= set(measured)
    for tries in measured.values():
        for suggestion in tries:
            rerun = document("analyze", "--cell", cell, *SMALL, *suggestion.arguments)
            assert rerun["rate_per_step"] == pytest.approx(suggestion.rate_per_step, rel=1e-12), suggestion.arguments


def test_the_report_says_what_each_suggestion_changes() -> None:
    result = invoke("explain", "--cell", "lstm", *SMALL, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "--forget-bias chrono" in result.stdout and "the carousel keeps more of c per step" in result.stdout
    stacked = invoke("explain", "--cell", "lstm", "--num-layers", "2", *SMALL, env={"COLUMNS": "160"})
    assert "top layer's forward direction" in stacked.stdout
    chinese = invoke("explain", "--cell", "gru", *SMALL, "--lang", "zh", env={"COLUMNS": "160"})
    assert "更新门" in chinese.stdout


def test_a_cell_without_gates_says_so_instead_of_an_empty_table() -> None:
    result = invoke("explain", "--cell", "cornn", "-H", "4", "-T", "20", env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "no gates to show" in result.stdout and "Gates over the trajectory" not in result.stdout
