"""The suggestions of ``gradscope.explain``: which changes the diagnosis calls for, and that each kept one is
a rerun, reproduced by ``analyze`` of a problem made afresh from the changed keywords."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from gradscope import analyze, explain
from gradscope.analysis.explanation_suggestions import MOST, candidates, reruns, suggestions

SMALL: dict[str, Any] = {"hidden_size": 8, "input_size": 4, "steps": 40}


def _with_verdict(result, verdict: str):
    return dataclasses.replace(result, analysis=dataclasses.replace(result.analysis, verdict=verdict))


def test_vanishing_lstm_and_gru_try_their_keep_gate_bias() -> None:
    lstm = candidates(explain("lstm", suggest=False, **SMALL))
    assert lstm["keep_gate_bias"] == [{"forget_bias": 2.0}, {"forget_bias": "chrono"}]
    assert lstm["gain"] == [{"gain": 1.5}, {"gain": 2.0}]
    assert lstm["init"] == [{"init": "orthogonal", "gain": 1.0}]
    assert lstm["hidden_size"] == [{"hidden_size": 16}, {"hidden_size": 4}]
    gru = candidates(explain("gru", suggest=False, **SMALL))
    assert gru["keep_gate_bias"] == [{"update_bias": 2.0}, {"update_bias": "chrono"}]
    assert "keep_gate_bias" not in candidates(explain("rnn", suggest=False, **SMALL))


def test_a_given_bias_is_raised_and_chrono_is_left_alone() -> None:
    given = candidates(explain("lstm", suggest=False, forget_bias=0.5, **SMALL))
    assert given["keep_gate_bias"] == [{"forget_bias": 2.5}, {"forget_bias": "chrono"}]
    for options in ({"forget_bias": "chrono"}, {"init": "chrono"}):
        result = _with_verdict(explain("lstm", suggest=False, **options, **SMALL), "vanishing")
        assert "keep_gate_bias" not in candidates(result)


def test_exploding_tries_smaller_gains_and_the_gru_its_update_gate() -> None:
    relu = explain("rnn-relu", suggest=False, init="identity", gain=1.1, **SMALL)
    assert relu.analysis.verdict == "exploding"  # IRNN above gain 1: ||P_k|| grows like 1.1^k
    found = candidates(relu)
    assert found["gain"] == [{"gain": pytest.approx(1.1 / 1.5, rel=1e-6)}, {"gain": 0.55}]
    assert found["init"] == [{"init": "orthogonal", "gain": 1.0}]  # identity is not tried again
    lstm = _with_verdict(explain("lstm", suggest=False, **SMALL), "exploding")
    assert "keep_gate_bias" not in candidates(lstm)  # the carousel (f < 1) is not what explodes
    gru = _with_verdict(explain("gru", suggest=False, **SMALL), "exploding")
    assert candidates(gru)["keep_gate_bias"][0] == {"update_bias": 2.0}


def test_a_vanishing_relu_rnn_tries_the_identity_init() -> None:
    assert {"init": "identity", "gain": 1.0} in candidates(explain("rnn-relu", suggest=False, **SMALL))["init"]


def test_a_given_initial_state_keeps_the_hidden_size() -> None:
    result = explain("lstm", suggest=False, h0=np.full(8, 0.1), **SMALL)
    assert "hidden_size" not in candidates(result) and "gain" in candidates(result)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_kept_suggestions_are_the_best_rerun_of_each_knob(cell: str) -> None:
    result = explain(cell, suggest=False, **SMALL)
    measured = reruns(result)
    rate = abs(result.analysis.rate_per_step)
    kept = suggestions(result)
    assert 1 <= len(kept) <= MOST
    assert [abs(s.rate_per_step) for s in kept] == sorted(abs(s.rate_per_step) for s in kept)
    knobs = []
    for suggestion in kept:
        assert abs(suggestion.rate_per_step) < rate
        knob = next(k for k, tries in measured.items() if suggestion in tries)
        assert abs(suggestion.rate_per_step) == min(abs(s.rate_per_step) for s in measured[knob])
        knobs.append(knob)
    assert len(set(knobs)) == len(knobs)
    assert knobs[0] == "keep_gate_bias"  # the carousel or the leak nearer 1 beats every other knob here
    # every rerun, kept or not: analyze of a problem made afresh from the changed keywords
    for tries in measured.values():
        for suggestion in tries:
            again = analyze(cell, **(SMALL | suggestion.changes))
            assert again.rate_per_step == suggestion.rate_per_step
            assert math.isclose(again.efolding_lag, suggestion.efolding_lag)


def test_stacked_networks_are_rerun_stacked() -> None:
    result = explain("gru", num_layers=2, **SMALL)
    assert result.suggestions
    for suggestion in result.suggestions:
        again = analyze("gru", num_layers=2, **(SMALL | suggestion.changes))
        assert again.num_layers == 2 and again.rate_per_step == suggestion.rate_per_step
