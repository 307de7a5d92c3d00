"""``gradscope.explain``: gates against a torch forward pass, the full product against analyze, the document."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from gradscope import analyze, explain, make_problem
from gradscope.analysis.explanation import QUANTILES, SCHEMA
from gradscope.analysis.explanation_suggestions import candidates
from gradscope.i18n import using_language

torch = pytest.importorskip("torch")

H, I, T = 6, 3, 30


def _torch_gates(cell: str, problem) -> dict[str, np.ndarray]:
    """Every gate's values ``(T, H)`` from torch's own module run over the inputs (float64)."""
    params = {k: torch.tensor(v) for k, v in problem.params.as_dict().items()}
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H, dtype=torch.float64)
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, name).copy_(value)
        xs = torch.tensor(problem.inputs)
        h0 = torch.zeros(1, H, dtype=torch.float64)
        hs, _ = module(xs, (h0, h0) if cell == "lstm" else h0)
        previous = torch.cat([h0, hs[:-1]])
        u = (xs @ params["weight_ih_l0"].T + params["bias_ih_l0"]).reshape(T, -1, H)
        m = (previous @ params["weight_hh_l0"].T + params["bias_hh_l0"]).reshape(T, -1, H)
        if cell == "lstm":
            i, f, g, o = (u[:, k] + m[:, k] for k in range(4))
            return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}
        r, z = torch.sigmoid(u[:, 0] + m[:, 0]), torch.sigmoid(u[:, 1] + m[:, 1])
        return {"r": r, "z": z, "n": torch.tanh(u[:, 2] + r * m[:, 2])}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gate_quantiles_and_saturation_match_a_torch_forward_pass(cell: str) -> None:
    problem = make_problem(cell, hidden_size=H, input_size=I, steps=T, seed=2, gain=3.0)
    result = explain(problem, suggest=False)
    expected = {k: v.numpy() for k, v in _torch_gates(cell, problem).items()}
    assert [g.name for g in result.gates] == list(expected)
    for gate in result.gates:
        values = expected[gate.name]
        np.testing.assert_allclose(list(gate.quantiles.values()), np.quantile(values, QUANTILES), atol=1e-12)
        slope = values * (1 - values) if gate.activation == "sigmoid" else 1 - values**2
        assert gate.saturated_fraction == pytest.approx(np.mean(slope < 0.05))
    assert 0.0 < result.saturated_fraction < 1.0  # gain 3 saturates some units, not all


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_full_product_is_analyze_and_the_document(cell: str) -> None:
    result = explain(cell, hidden_size=8, steps=40, suggest=False)
    reference = analyze(cell, hidden_size=8, steps=40)
    np.testing.assert_array_equal(result.analysis.log10_norm, reference.log10_norm)
    document = json.loads(json.dumps(result.to_dict()))
    assert document["schema"] == SCHEMA
    assert document["full"]["rate_per_step"] == pytest.approx(reference.rate_per_step)
    for path in document["paths"]:
        assert {"name", "log10_norm", "rate_per_step", "share"} <= set(path)
        assert len(path["log10_norm"]) == 40
    assert all("quantiles" in gate for gate in document["gates"])
    assert 2 <= len(document["why"]) <= 5


def test_rnn_single_path_is_the_whole_product_and_pascanu_applies() -> None:
    result = explain("rnn", hidden_size=8, steps=40, suggest=False)
    (path,) = result.paths
    assert path.name == "W_hh" and path.share == 1.0
    np.testing.assert_allclose(path.log10_norm, result.analysis.log10_norm, atol=1e-9)
    weight = result.analysis.problem.params.weight_hh
    assert result.pascanu_factor == pytest.approx(np.linalg.svd(weight, compute_uv=False)[0])


def test_lstm_carousel_carries_the_gradient_at_long_lags() -> None:
    result = explain("lstm", hidden_size=8, steps=60, suggest=False)
    assert result.carrier.name == "c->c" and result.carousel.name == "c->c"
    carousel = result.carousel
    assert carousel.gate == "f" and carousel.role == "carousel"
    f = next(g for g in result.gates if g.name == "f")
    assert carousel.mean_coefficient == pytest.approx(f.mean)
    # share by ablation: one minus the ratio of the norms at lag T, read off the two profiles
    expected = 1 - 10 ** (carousel.ablated_log10_norm[-1] - result.analysis.log10_norm[-1])
    assert carousel.share == pytest.approx(expected) and carousel.share > 0.99


def test_chinese_and_english_documents_differ_only_in_words() -> None:
    result = explain("gru", hidden_size=8, steps=30)
    with using_language("en"):
        english = result.to_dict()
    with using_language("zh"):
        chinese = result.to_dict()
    assert english["why"] != chinese["why"] and len(english["why"]) == len(chinese["why"])
    assert {**english, "why": None} == {**chinese, "why": None}
    assert any(ord(ch) > 0x4E00 for ch in "".join(chinese["why"]))


def test_suggestions_are_reruns_closer_to_stable() -> None:
    result = explain("rnn", hidden_size=8, steps=40)
    assert 1 <= len(result.suggestions) <= 3
    for suggestion in result.suggestions:
        rerun = analyze("rnn", hidden_size=8, steps=40, **suggestion.changes)
        assert rerun.rate_per_step == suggestion.rate_per_step
        assert abs(suggestion.rate_per_step) < abs(result.analysis.rate_per_step)


def test_stable_and_given_weights_get_no_suggestions() -> None:
    result = explain("rnn", hidden_size=8, steps=40, suggest=False)
    stable = dataclasses.replace(result, analysis=dataclasses.replace(result.analysis, verdict="stable"))
    assert candidates(result) and candidates(stable) == {}
    given = explain("rnn", params=make_problem("rnn", hidden_size=4).params.as_dict(), steps=20)
    assert given.suggestions == ()
    assert math.isfinite(given.sigma_max_hh)


def test_a_cell_without_single_activation_gates_is_explained_without_a_gate_table() -> None:
    result = explain("cornn", hidden_size=4, steps=20, suggest=False)
    reference = analyze("cornn", hidden_size=4, steps=20)
    np.testing.assert_array_equal(result.analysis.log10_norm, reference.log10_norm)
    assert result.gates == () and math.isnan(result.saturated_fraction)
    assert json.loads(json.dumps(result.to_dict()))["gates"] == []


def test_without_gates_the_why_does_not_count_saturated_values() -> None:
    result = explain("cornn", hidden_size=4, steps=20, suggest=False)
    why = result.why()
    assert any("sigma_max(W_h" in sentence and "make it shrink" in sentence for sentence in why)
    assert not any("n/a" in sentence or "saturated" in sentence for sentence in why)


def test_janets_forget_gate_is_shown_and_matches_its_torch_twin() -> None:
    # JANET's only gate is f = sigmoid(u_f + m_f) (the file names it): its quantiles against the gate of the
    # paper's update run in torch over the same inputs, and the why reads the leak h->h as kept by f.
    from zoo_reference import CONSTANTS, STEPS, states, tensors

    problem = make_problem("janet", hidden_size=H, input_size=I, steps=T, seed=4)
    result = explain(problem, suggest=False)
    assert [(g.name, g.activation) for g in result.gates] == [("f", "sigmoid")]
    params = tensors(problem.params.as_dict())
    trajectory = torch.tensor(
        states(STEPS["janet"], problem.params.as_dict(), problem.inputs, problem.initial_state[0], CONSTANTS["janet"])
    )
    a_f = (
        torch.tensor(problem.inputs) @ params["weight_ih_l0"][:H].T
        + params["bias_ih_l0"][:H]
        + trajectory[:-1] @ params["weight_hh_l0"][:H].T
        + params["bias_hh_l0"][:H]
    )
    forget = torch.sigmoid(a_f).numpy()
    np.testing.assert_allclose(list(result.gates[0].quantiles.values()), np.quantile(forget, QUANTILES), atol=1e-12)
    assert any(f"f gates average {forget.mean():.2f}" in sentence for sentence in result.why())
