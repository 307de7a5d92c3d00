"""``gradscope explain``: the report, the document in both languages, suggestions reproduced by ``analyze``."""

from __future__ import annotations

import json

import pytest
from cli_helpers import assert_bad_input, invoke

BASE = ("--cell", "rnn", "--hidden-size", "8", "--steps", "40")


def test_report_shows_paths_gates_why_and_suggestions() -> None:
    result = invoke("explain", "--cell", "lstm", "--hidden-size", "8", "--steps", "40", env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    for text in ("Paths of the step Jacobian", "c->c (carousel)", "diag(f_t)", "Gates over the trajectory", "Why"):
        assert text in result.stdout


def test_suggested_arguments_give_the_same_rate_in_analyze() -> None:
    explained = json.loads(invoke("explain", *BASE, "--json", "-").stdout)
    assert explained["suggestions"]
    for suggestion in explained["suggestions"]:
        rerun = invoke("analyze", *BASE, *suggestion["arguments"], "--json", "-")
        assert rerun.exit_code == 0, rerun.output
        assert json.loads(rerun.stdout)["rate_per_step"] == pytest.approx(suggestion["rate_per_step"], rel=1e-12)


def test_chinese_and_english_runs_give_the_same_numbers() -> None:
    english = json.loads(invoke("explain", *BASE, "--json", "-", "--lang", "en").stdout)
    chinese = json.loads(invoke("explain", *BASE, "--json", "-", "--lang", "zh").stdout)
    assert english["why"] != chinese["why"]
    assert {**english, "why": None} == {**chinese, "why": None}
    report = invoke("explain", *BASE, "--lang", "zh", env={"COLUMNS": "120"})
    assert "单步雅可比矩阵的路径" in report.stdout and "原因" in report.stdout


def test_quiet_and_bad_input() -> None:
    quiet = invoke("explain", *BASE, "--quiet")
    assert quiet.exit_code == 0 and "carried by W_hh" in quiet.stdout
    assert_bad_input(invoke("explain", "--cell", "nope"), "nope")


def test_paths_that_are_exactly_zero_alone_are_said_to_be() -> None:
    # Second source for the zeros: c->h maps c to h only, so two of its blocks in a row are zero ([[0, D], [0, 0]]
    # squared); and with c_0 = 0 the forget gate's term d c_1 / d a_f = c_0 * sigma'(a_f) vanishes at step 1, so
    # W_hf's product over all T steps is zero while its shorter products are not.
    lstm = ("--cell", "lstm", "--hidden-size", "8", "--steps", "40")
    document = json.loads(invoke("explain", *lstm, "--json", "-").stdout)
    paths = {path["name"]: path["log10_norm"] for path in document["paths"]}
    assert paths["c->h"][0] is not None and paths["c->h"][1:] == [None] * 39
    assert paths["W_hf"][-1] is None and None not in paths["W_hf"][:-1]
    note = "-inf: the path's product alone is exactly zero at that lag"
    assert note in invoke("explain", *lstm, env={"COLUMNS": "200"}).stdout
    assert note not in invoke("explain", *BASE, env={"COLUMNS": "200"}).stdout  # the RNN's one path never is


def test_at_80_columns_each_path_is_one_line_and_its_term_is_listed_below() -> None:
    lstm = ("--cell", "lstm", "--hidden-size", "8", "--steps", "40")
    narrow = invoke("explain", *lstm, env={"COLUMNS": "80"}).stdout
    wide = invoke("explain", *lstm, env={"COLUMNS": "160"}).stdout
    document = json.loads(invoke("explain", *lstm, "--json", "-").stdout)
    for path in document["paths"]:
        (row,) = [line for line in narrow.splitlines() if line.startswith(f"│ {path['name']} ")]
        assert row.endswith("│") and len(row) <= 80
        assert f"{path['name']} = {path['formula']}" in " ".join(narrow.split())  # the terms, below the table
        assert path["formula"] in wide and "term of J_t" in wide and "terms of J_t:" not in wide
