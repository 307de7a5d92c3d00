"""The Python API: defaults, reproducibility, parameter handling, the JSON document, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradscope
from gradscope import ConfigError, NonFiniteError, ParameterError, ShapeError, UnknownCellError
from gradscope.analysis.problem import make_problem
from gradscope.cells import get_cell
from gradscope.params import init_params


def test_defaults_and_result_shape() -> None:
    result = gradscope.analyze("lstm")
    assert (result.cell, result.hidden_size, result.input_size, result.steps) == ("lstm", 64, 32, 200)
    assert (result.norm, result.dtype, result.state) == ("spectral", "float64", "[h; c]")
    np.testing.assert_array_equal(result.lags, np.arange(1, 201))
    assert result.log10_norm.shape == (200,)
    assert not result.log10_norm.flags.writeable and not result.lags.flags.writeable
    assert result.verdict in {"vanishing", "stable", "exploding"}
    assert result.efolding_lag == pytest.approx(1 / abs(result.rate_per_step))
    assert result.config == {"seed": 0, "params": "random", "init": "pytorch", "gain": 1.0, "inputs": "normal(0, 1)"}


def test_json_document() -> None:
    result = gradscope.analyze("gru", hidden_size=8, steps=30, seed=4)
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    for key in (
        "schema",
        "cell",
        "hidden_size",
        "input_size",
        "steps",
        "norm",
        "lags",
        "log10_norm",
        "rate_per_step",
        "verdict",
    ):
        assert key in document
    assert document["schema"] == gradscope.SCHEMA == "gradscope.analysis/1"
    assert document["lags"] == list(range(1, 31))
    np.testing.assert_allclose(document["log10_norm"], result.log10_norm, rtol=0, atol=0)
    assert document["config"]["seed"] == 4 and document["thresholds"]["exploding_rate"] == 0.01


def test_same_seed_same_result_and_different_seed_differs() -> None:
    a = gradscope.analyze("rnn", hidden_size=8, steps=40, seed=3)
    b = gradscope.analyze("rnn", hidden_size=8, steps=40, seed=3)
    c = gradscope.analyze("rnn", hidden_size=8, steps=40, seed=4)
    np.testing.assert_array_equal(a.log10_norm, b.log10_norm)
    assert not np.array_equal(a.log10_norm, c.log10_norm)


def test_pytorch_init_is_uniform_times_gain() -> None:
    problem = make_problem("lstm", hidden_size=50, input_size=7, seed=1, gain=2.0)
    bound = 2.0 / np.sqrt(50)
    for name, value in problem.params.as_dict().items():
        assert np.max(np.abs(value)) <= bound, name
        assert np.max(np.abs(value)) > 0.95 * bound, name  # really spread over the interval


def test_gaussian_and_orthogonal_recurrent_blocks() -> None:
    gaussian = make_problem("gru", hidden_size=200, init="gaussian", gain=1.5, seed=0).params.recurrent_blocks()
    assert np.std(gaussian) == pytest.approx(1.5 / np.sqrt(200), rel=0.02)
    orthogonal = make_problem("lstm", hidden_size=20, init="orthogonal", gain=0.7, seed=0).params.recurrent_blocks()
    for block in orthogonal:
        np.testing.assert_allclose(block.T @ block, 0.49 * np.eye(20), atol=1e-12)


def test_params_give_the_sizes_and_inputs_give_the_steps(rng: np.random.Generator) -> None:
    params = init_params(get_cell("gru").spec, 6, 3, rng)
    inputs = rng.standard_normal((17, 3))
    result = gradscope.analyze("gru", params=params, inputs=inputs)
    assert (result.hidden_size, result.input_size, result.steps) == (6, 3, 17)
    assert result.config["params"] == "given" and result.config["inputs"] == "given"
    with pytest.raises(ConfigError, match="hidden_size=5 contradicts"):
        gradscope.analyze("gru", params=params, hidden_size=5)
    with pytest.raises(ConfigError, match="steps=3 contradicts"):
        gradscope.analyze("gru", params=params, inputs=inputs, steps=3)


def test_torch_state_dict_is_accepted() -> None:
    torch = pytest.importorskip("torch")
    module = torch.nn.LSTM(3, 4).double()
    result = gradscope.analyze("lstm", params=module.state_dict(), steps=10)
    expected = gradscope.analyze("lstm", params={k: v.numpy() for k, v in module.state_dict().items()}, steps=10)
    np.testing.assert_array_equal(result.log10_norm, expected.log10_norm)


def test_initial_state_changes_the_result(rng: np.random.Generator) -> None:
    base = gradscope.analyze("lstm", hidden_size=4, steps=5)
    moved = gradscope.analyze("lstm", hidden_size=4, steps=5, h0=rng.standard_normal(4), c0=rng.standard_normal(4))
    assert moved.config["h0"] == "given" and moved.config["c0"] == "given"
    assert not np.allclose(base.log10_norm, moved.log10_norm)


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"cell": "lstmm"}, UnknownCellError, "did you mean 'lstm'"),
        ({"steps": 0}, ConfigError, "steps must be >= 1, got 0"),
        ({"hidden_size": 0}, ConfigError, "hidden_size must be >= 1"),
        ({"input_size": -2}, ConfigError, "input_size must be >= 1"),
        ({"hidden_size": 2.5}, ConfigError, "hidden_size must be a positive integer"),
        ({"norm": "nuclear"}, ConfigError, "unknown norm 'nuclear' (valid: spectral, frobenius)"),
        ({"dtype": "float16"}, ConfigError, "unknown dtype 'float16'"),
        (
            {"init": "he"},
            ConfigError,
            "unknown init 'he' (valid: pytorch, gaussian, orthogonal, identity, xavier, chrono)",
        ),
        ({"gain": -1.0}, ConfigError, "gain must be a finite number >= 0"),
        ({"seed": -1}, ConfigError, "seed must be a non-negative integer"),
        ({"cell": "gru", "c0": np.zeros(64)}, ConfigError, "c0 given, but the gru cell has no 'c' state"),
        ({"h0": np.zeros(3)}, ShapeError, "h0: expected shape (64,), got (3,)"),
        ({"h0": np.array([0.0, np.nan])}, NonFiniteError, "h0: contains 1 NaN or infinite value"),
        ({"inputs": np.zeros((5, 4))}, ConfigError, "inputs: expected shape (T, 32)"),
        ({"inputs": np.full((5, 32), np.inf)}, NonFiniteError, "inputs: contains 160 NaN or infinite values"),
        ({"snapshot_lags": [0]}, ConfigError, "snapshot lags must lie in 1..200"),
    ],
)
def test_bad_options_raise_clear_errors(options: dict[str, object], error: type[Exception], fragment: str) -> None:
    cell = options.pop("cell", "lstm")
    with pytest.raises(error) as raised:
        gradscope.analyze(cell, **options)
    assert fragment in str(raised.value)
    assert isinstance(raised.value, gradscope.GradscopeError)


def good_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return init_params(get_cell("lstm").spec, 4, 3, rng)


def test_parameter_name_errors(rng: np.random.Generator) -> None:
    params = good_params(rng)
    missing = {k: v for k, v in params.items() if k != "weight_hh_l0"}
    with pytest.raises(ParameterError, match="missing weight_hh_l0"):
        gradscope.analyze("lstm", params=missing)
    half_bias = {k: v for k, v in params.items() if k != "bias_hh_l0"}
    with pytest.raises(ParameterError, match="missing bias_hh_l0"):
        gradscope.analyze("lstm", params=half_bias)
    with pytest.raises(ParameterError, match="unexpected foo"):
        gradscope.analyze("lstm", params=params | {"foo": np.zeros(1)})
    with pytest.raises(ParameterError, match="unexpected parameter names: foo"):
        gradscope.analyze("lstm", params=params | {"weight_hh_l0_reverse": params["weight_hh_l0"], "foo": np.zeros(1)})
    with pytest.raises(ParameterError, match=r"missing weight_hh_l1, bias_hh_l1 \(got bias_ih_l1, weight_ih_l1\)"):
        gradscope.analyze("lstm", params={k.replace("_l0", "_l1"): v for k, v in params.items() if "ih" in k} | params)


def test_parameter_shape_and_value_errors(rng: np.random.Generator) -> None:
    params = good_params(rng)
    with pytest.raises(ShapeError, match=r"weight_hh_l0: expected shape \(4\*H, H\) for lstm .* got \(12, 4\)"):
        gradscope.analyze("lstm", params=params | {"weight_hh_l0": np.zeros((12, 4))})
    with pytest.raises(ShapeError, match=r"bias_ih_l0: expected shape \(16,\), got \(15,\)"):
        gradscope.analyze("lstm", params=params | {"bias_ih_l0": np.zeros(15)})
    with pytest.raises(ShapeError, match=r"weight_ih_l0: expected shape \(16, 3\), got \(15, 3\)"):
        gradscope.analyze("lstm", params=params | {"weight_ih_l0": np.zeros((15, 3))})
    bad = params["weight_ih_l0"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="weight_ih_l0: contains 1 NaN"):
        gradscope.analyze("lstm", params=params | {"weight_ih_l0": bad})
    with pytest.raises(ParameterError, match="weight_hh_l0: cannot be read as a float array"):
        gradscope.analyze("lstm", params=params | {"weight_hh_l0": "oops"})
    with pytest.raises(ParameterError, match="params must be a mapping"):
        gradscope.analyze("lstm", params=[1, 2])


def test_same_seed_gives_every_cell_the_same_inputs() -> None:
    inputs = {cell: make_problem(cell, hidden_size=h, steps=9, seed=5).inputs for cell, h in (("rnn", 3), ("lstm", 7))}
    np.testing.assert_array_equal(inputs["rnn"], inputs["lstm"])
