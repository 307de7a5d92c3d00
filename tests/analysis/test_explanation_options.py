"""``gradscope.explain`` with the model options: the same problems as ``analyze``, and stacked networks
measured on the top layer's forward recurrence (against a real multi-layer torch module)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gradscope import analyze, explain, make_problem

TINY: dict[str, Any] = {"hidden_size": 4, "input_size": 2, "steps": 12}


@pytest.mark.parametrize(
    ("cell", "options"),
    [
        ("lstm", {"forget_bias": 2.0}),
        ("lstm", {"forget_bias": "chrono", "t_max": 20}),
        ("gru", {"update_bias": -1.5}),
        ("gru", {"init": "chrono"}),
        ("rnn-relu", {"init": "identity", "gain": 0.9}),
        ("rnn", {"init": "xavier"}),
        ("gru", {"num_layers": 2, "bidirectional": True}),
    ],
)
def test_explain_takes_the_model_options_of_analyze(cell: str, options: dict[str, Any]) -> None:
    result = explain(cell, suggest=False, **TINY, **options)
    reference = analyze(cell, **TINY, **options)
    assert dict(result.analysis.config) == dict(reference.config)
    np.testing.assert_array_equal(result.analysis.log10_norm, reference.log10_norm)


def test_forget_bias_is_the_effective_bias_the_gates_see() -> None:
    result = explain("lstm", suggest=False, forget_bias=2.0, **TINY)
    params = result.analysis.problem.params
    H = TINY["hidden_size"]
    np.testing.assert_array_equal(params.bias_ih[H : 2 * H] + params.bias_hh[H : 2 * H], np.full(H, 2.0))


def test_stacked_lstm_is_explained_on_the_top_layers_forward_recurrence() -> None:
    torch = pytest.importorskip("torch")
    from torch_reference import lag_products, stacked_module

    H, I, T = 3, 2, 10
    problem = make_problem("lstm", hidden_size=H, input_size=I, steps=T, num_layers=2, bidirectional=True, seed=4)
    result = explain(problem, suggest=False)
    params = {k: np.asarray(v) for k, v in problem.network.as_dict().items()}
    xs = torch.tensor(problem.inputs)
    with torch.no_grad():
        below = {k: v for k, v in params.items() if "_l0" in k}  # layer 0, both directions
        layer_input, _ = stacked_module("lstm", below, 1, True)(xs)  # (T, 2H): the top layer's inputs
        top, _ = stacked_module("lstm", params, 2, True)(xs)
    h = torch.cat([torch.zeros(1, H), top[:-1, :H]])  # h_{t-1} of the top layer's forward direction
    pre = layer_input @ torch.tensor(params["weight_ih_l1"]).T + torch.tensor(params["bias_ih_l1"])
    pre = pre + h @ torch.tensor(params["weight_hh_l1"]).T + torch.tensor(params["bias_hh_l1"])
    forget = torch.sigmoid(pre[:, H : 2 * H]).numpy()
    gate = next(g for g in result.gates if g.name == "f")
    np.testing.assert_allclose(gate.values, forget, atol=1e-12)
    # the carousel alone: max_i prod_t f_t[i] over the last k steps, exactly
    expected = np.log10(np.cumprod(forget[::-1], axis=0).max(axis=1))
    np.testing.assert_allclose(result.carousel.log10_norm, expected, atol=1e-10)
    # the full product: autograd through the top layer's forward cell, fed the layer below's outputs
    single = {k.replace("_l1", "_l0"): v for k, v in params.items() if k.endswith("_l1")}
    products = lag_products("lstm", single, layer_input.numpy(), np.zeros(2 * H))
    norms = np.log10([np.linalg.norm(p, 2) for p in products])
    np.testing.assert_allclose(result.analysis.log10_norm, norms, atol=1e-9)
