"""Stacked and bidirectional networks against real multi-layer PyTorch modules."""

from __future__ import annotations

import numpy as np
import pytest

from gradscope.analysis.document import json_numbers
from gradscope.analysis.problem import make_problem
from gradscope.compile import compile_cell
from gradscope.engine.depth import depth_profiles, model_output, stacked_forward
from gradscope.errors import ConfigError, ParameterError, ShapeError
from gradscope.params import init_params, is_stacked, validate_params


def initial_states(cell: str, params: dict, inputs: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
    """The problem's initial states ``(L*D, S)`` for PyTorch-shaped ``h0`` (zeros by default)."""
    return make_problem(cell, params=params, inputs=inputs, h0=h0).initial_state


torch = pytest.importorskip("torch")
import torch_reference  # noqa: E402


def torch_params(
    cell: str, width: int, hidden: int, layers: int, bidirectional: bool, gain: float
) -> dict[str, np.ndarray]:
    torch.manual_seed(layers * 10 + bidirectional)
    kind = {"rnn": torch.nn.RNN, "rnn-relu": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    options = {"nonlinearity": "relu"} if cell == "rnn-relu" else {}
    module = kind(width, hidden, num_layers=layers, bidirectional=bidirectional, **options).double()
    return {k: gain * v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(("layers", "bidirectional"), [(2, False), (2, True), (3, True)])
def test_depth_profiles_match_torch(cell: str, layers: int, bidirectional: bool, spectral_route: str) -> None:
    width, hidden, steps = 3, 4, 7
    params = torch_params(cell, width, hidden, layers, bidirectional, gain=2.0)
    assert is_stacked(params)
    spec = compile_cell(cell).spec
    stacked = validate_params(spec, params)
    assert (stacked.num_layers, stacked.bidirectional) == (layers, bidirectional)
    inputs = np.random.default_rng(layers).standard_normal((steps, width))
    compiled = compile_cell(cell)
    runs = stacked_forward(compiled, stacked, inputs, initial_states(cell, params, inputs))
    expected_norms, expected_output = torch_reference.depth_jacobian_norms(cell, params, inputs, layers, bidirectional)
    np.testing.assert_allclose(model_output(runs), expected_output, rtol=1e-12, atol=1e-13)
    profiles = depth_profiles(compiled, stacked, runs)
    assert [(p.layer, p.direction) for p in profiles] == [
        (layer, direction)
        for layer in range(layers)
        for direction in (["forward", "reverse"] if bidirectional else ["forward"])
    ]
    for profile in profiles:
        expected = expected_norms[profile.layer, ["forward", "reverse"].index(profile.direction)]
        zero = expected == 0
        assert np.all(np.isneginf(profile.log10_norm[zero]))
        # 4e-10 relative (the certified spectral norm) is 1.7e-10 in log10.
        np.testing.assert_allclose(profile.log10_norm[~zero], np.log10(expected[~zero]), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(profile.time, np.arange(1, steps + 1))


def test_top_reverse_direction_only_reaches_the_last_position() -> None:
    params = torch_params("lstm", 2, 3, 1, True, gain=1.0)
    compiled = compile_cell("lstm")
    stacked = validate_params(compiled.spec, params)
    runs = stacked_forward(compiled, stacked, np.ones((5, 2)), initial_states("lstm", params, np.ones((5, 2))))
    reverse = depth_profiles(compiled, stacked, runs)[1]
    assert reverse.direction == "reverse"
    assert np.all(np.isneginf(reverse.log10_norm[:-1])) and np.isfinite(reverse.log10_norm[-1])
    assert json_numbers(reverse.log10_norm)[:-1] == [None] * 4


def test_long_deep_sequences_do_not_overflow() -> None:
    params = torch_params("rnn", 2, 8, 2, True, gain=6.0)
    compiled = compile_cell("rnn")
    stacked = validate_params(compiled.spec, params)
    inputs = np.zeros((4000, 2))
    h0 = np.random.default_rng(0).standard_normal((4, 8))
    runs = stacked_forward(compiled, stacked, inputs, initial_states("rnn", params, inputs, h0))
    profiles = depth_profiles(compiled, stacked, runs)
    forward_bottom = profiles[0].log10_norm
    assert np.all(np.isfinite(forward_bottom))
    assert abs(forward_bottom[0] - forward_bottom[-1]) > 310  # beyond float64's range without the exponents


def test_structure_errors() -> None:
    params = torch_params("lstm", 2, 3, 2, True, gain=1.0)
    spec = compile_cell("lstm").spec
    with pytest.raises(ParameterError, match="missing parameters for layer 1 reverse"):
        validate_params(spec, {k: v for k, v in params.items() if not k.endswith("_l1_reverse")})
    with pytest.raises(ParameterError, match="layers must be numbered"):
        validate_params(spec, {k: v for k, v in params.items() if "_l0" not in k})
    with pytest.raises(ShapeError, match=r"weight_ih_l1: expected input width 6"):
        validate_params(spec, params | {"weight_ih_l1": np.zeros((12, 5))})
    with pytest.raises(ParameterError, match="proj_size > 0 is not supported"):
        validate_params(spec, params | {"weight_hr_l0": np.zeros((2, 3))})
    with pytest.raises(ParameterError, match="unexpected parameter names: extra"):
        validate_params(spec, params | {"extra": np.zeros(1)})
    with pytest.raises(ShapeError, match=r"h0: expected shape \(4, 3\)"):
        initial_states("lstm", params, np.zeros((5, 2)), np.zeros((2, 3)))


def test_analyze_reports_structure_and_depth_profiles_in_json() -> None:
    import json

    import gradscope

    params = torch_params("gru", 3, 4, 2, True, gain=1.0)
    inputs = np.random.default_rng(1).standard_normal((6, 3))
    result = gradscope.analyze("gru", params=params, inputs=inputs)
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert (document["num_layers"], document["bidirectional"]) == (2, True)
    assert [(p["layer"], p["direction"]) for p in document["depth_profiles"]] == [
        (0, "forward"),
        (0, "reverse"),
        (1, "forward"),
        (1, "reverse"),
    ]
    expected_norms, _ = torch_reference.depth_jacobian_norms("gru", params, inputs, 2, True)
    for entry in document["depth_profiles"]:
        expected = expected_norms[entry["layer"], ["forward", "reverse"].index(entry["direction"])]
        actual = np.array([-np.inf if v is None else v for v in entry["log10_norm"]])
        zero = expected == 0
        assert np.all(np.isneginf(actual[zero]))
        np.testing.assert_allclose(actual[~zero], np.log10(expected[~zero]), atol=1e-6)
        assert entry["time"] == list(range(1, 7))
    single = gradscope.analyze("gru", hidden_size=4, steps=5).to_dict()
    assert (single["num_layers"], single["bidirectional"], single["depth_profiles"]) == (1, False, [])


def test_depth_memory_is_what_the_profiles_hold_and_too_much_is_refused_clearly(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemalloc

    from cli_helpers import assert_bad_input, invoke

    import gradscope
    from gradscope.analysis.problem import make_problem
    from gradscope.engine.depth import depth_memory

    spec = compile_cell("gru").spec
    params = init_params(spec, 6, 3, np.random.default_rng(0), num_layers=3, bidirectional=True)
    problem = make_problem("gru", params=params, steps=2000)
    estimate = depth_memory(problem.network, 2000)
    assert estimate == 2 * 2000 * 12 * 12 * 8
    compiled = problem.compiled
    runs = stacked_forward(compiled, problem.network, problem.inputs, problem.initial_state)
    tracemalloc.start()
    depth_profiles(compiled, problem.network, runs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The estimate counts the per-position buffers, which are all really held; the rest is one
    # window of coefficients (CHUNK_STEPS steps), small beside them.
    assert estimate <= peak <= 1.1 * estimate + 400_000

    # The guard, against the memory budget, at a width where the depth buffers (T (2H)^2 per boundary) outgrow
    # the problem itself (T (S + G H + width) per layer and direction): the problem fits, its depth profiles do not.
    from gradscope.params.budget import BUDGET_ENV, problem_bytes

    params = init_params(spec, 16, 3, np.random.default_rng(0), num_layers=3, bidirectional=True)
    short = depth_memory(make_problem("gru", params=params, steps=400).network, 400)
    assert problem_bytes(16, 3, 400, 3, 1, 3, 2) < short - 8
    monkeypatch.setenv(BUDGET_ENV, str(short - 8))
    refused = r"3-layer bidirectional network \(H=16\) over T=400 steps .* would need about"
    with pytest.raises(ConfigError, match=refused):
        gradscope.analyze("gru", params=params, steps=400)
    np.savez(tmp_path / "w.npz", **params)
    result = invoke("analyze", "--cell", "gru", "--weights", str(tmp_path / "w.npz"), "--steps", "400")
    assert_bad_input(result, "depth profiles of this 3-layer bidirectional network", "analyse a shorter input sequence")
    monkeypatch.setenv(BUDGET_ENV, str(short))
    assert gradscope.analyze("gru", params=params, steps=400).num_layers == 3


@pytest.mark.parametrize("bidirectional", [False, True])
def test_depth_profiles_do_not_depend_on_the_coefficient_window(
    bidirectional: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Coefficients are evaluated a window of steps at a time as the sweeps move back; windows of
    3 steps (many boundaries) give the same profiles as one window for the whole sequence."""
    import gradscope.engine.depth as stacked_module

    params = torch_params("lstm", 3, 5, 2, bidirectional, gain=1.5)
    spec = compile_cell("lstm").spec
    stacked = validate_params(spec, params)
    inputs = np.random.default_rng(7).standard_normal((20, 3))
    compiled = compile_cell("lstm")
    runs = stacked_forward(compiled, stacked, inputs, initial_states("lstm", params, inputs))
    whole = depth_profiles(compiled, stacked, runs)
    monkeypatch.setattr(stacked_module, "CHUNK_STEPS", 3)
    windowed = depth_profiles(compiled, stacked, runs)
    for a, b in zip(whole, windowed, strict=True):
        np.testing.assert_array_equal(a.log10_norm, b.log10_norm)
