"""Exact BPTT reference gradients against PyTorch autograd (float64) and central finite differences."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from conftest import minimal_gated_unit

from gradscope.cells.spec import CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.errors import ConfigError, NonFiniteError, ParameterError
from gradscope.params import init_params
from gradscope.testing import bptt_reference

PARAM_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def numpy_hidden_states(cell: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """``h_1 .. h_T`` ``(T, H)`` by a plain NumPy forward pass written from PyTorch's documented equations.

    Independent of gradscope's generated code: the second source for the finite differences.
    """
    w_ih, w_hh = arrays["weight_ih_l0"], arrays["weight_hh_l0"]
    H = w_hh.shape[1]
    b_ih = arrays.get("bias_ih_l0", np.zeros(w_hh.shape[0]))
    b_hh = arrays.get("bias_hh_l0", np.zeros(w_hh.shape[0]))
    h, c = arrays["h0"], arrays.get("c0")
    out = []
    for x in arrays["inputs"]:
        gi, gh = w_ih @ x + b_ih, w_hh @ h + b_hh
        if cell == "rnn":
            h = np.tanh(gi + gh)
        elif cell == "rnn-relu":
            h = np.maximum(gi + gh, 0.0)
        elif cell == "lstm":
            i, f = _sigmoid(gi[:H] + gh[:H]), _sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
            g, o = np.tanh(gi[2 * H : 3 * H] + gh[2 * H : 3 * H]), _sigmoid(gi[3 * H :] + gh[3 * H :])
            c = f * c + i * g
            h = o * np.tanh(c)
        else:  # gru
            r, z = _sigmoid(gi[:H] + gh[:H]), _sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
            n = np.tanh(gi[2 * H :] + r * gh[2 * H :])
            h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out)


def central_differences(loss, arrays: dict[str, np.ndarray], eps: float = 1e-6) -> dict[str, np.ndarray]:
    """d loss / d every entry of every array, by central differences."""
    grads = {}
    for key, value in arrays.items():
        gradient = np.empty_like(value)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in arrays.items()}
            minus = {k: v.copy() for k, v in arrays.items()}
            plus[key][index] += eps
            minus[key][index] -= eps
            gradient[index] = (loss(plus) - loss(minus)) / (2 * eps)
        grads[key] = gradient
    return grads


def random_problem(cell: str, hidden: int, width: int, steps: int, seed: int, gain: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    spec = compile_cell(cell).spec
    arrays = init_params(spec, hidden, width, rng, gain=gain)
    arrays["inputs"] = rng.standard_normal((steps, width))
    arrays["h0"] = rng.uniform(-0.8, 0.8, hidden)
    if cell == "lstm":
        arrays["c0"] = rng.uniform(-0.8, 0.8, hidden)
    return {"arrays": arrays, "upstream": rng.standard_normal((steps, hidden))}


def reference(cell: str, arrays: Mapping[str, np.ndarray], upstream: np.ndarray) -> dict[str, np.ndarray]:
    params = {k: v for k, v in arrays.items() if k in PARAM_KEYS}
    return bptt_reference(cell, params, arrays["inputs"], upstream, h0=arrays["h0"], c0=arrays.get("c0"))


def torch_gradients(cell: str, arrays: Mapping[str, np.ndarray], upstream: np.ndarray) -> dict[str, np.ndarray]:
    """Autograd through the real float64 torch module for ``L = sum_t <upstream_t, h_t>``."""
    torch = pytest.importorskip("torch")
    import torch_reference

    module = torch_reference.module_for(cell, {k: v for k, v in arrays.items() if k in PARAM_KEYS})
    leaves = {k: torch.tensor(arrays[k], requires_grad=True) for k in ("inputs", "h0", "c0") if k in arrays}
    initial = (leaves["h0"][None], leaves["c0"][None]) if cell == "lstm" else leaves["h0"][None]
    output, _ = module(leaves["inputs"], initial)
    (output * torch.from_numpy(upstream)).sum().backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    return grads | {k: v.grad.numpy() for k, v in leaves.items()}


def assert_relative(actual: np.ndarray, expected: np.ndarray, rtol: float) -> None:
    """Entry by entry ``|a - e| <= rtol |e|`` (plus 1e-14 of the largest entry for exact zeros and cancellation)."""
    floor = 1e-14 * max(float(np.max(np.abs(expected))), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=floor)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize(("hidden", "width", "steps", "gain"), [(1, 1, 1, 1.0), (4, 3, 7, 1.0), (6, 2, 25, 2.5)])
def test_matches_torch_autograd_to_1e_8(cell: str, hidden: int, width: int, steps: int, gain: float) -> None:
    problem = random_problem(cell, hidden, width, steps, seed=hidden * 100 + steps, gain=gain)
    expected = torch_gradients(cell, problem["arrays"], problem["upstream"])
    actual = reference(cell, problem["arrays"], problem["upstream"])
    assert set(actual) == set(expected)
    for key in expected:
        assert actual[key].shape == expected[key].shape, key
        assert_relative(actual[key], expected[key], rtol=1e-8)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_many_to_one_and_no_bias_match_torch(cell: str) -> None:
    problem = random_problem(cell, 5, 3, 12, seed=4)
    arrays = {k: v for k, v in problem["arrays"].items() if not k.startswith("bias")}
    upstream = np.zeros_like(problem["upstream"])
    upstream[-1] = problem["upstream"][-1]
    expected = torch_gradients(cell, arrays, upstream)
    actual = reference(cell, arrays, upstream)
    assert "bias_ih_l0" not in actual and set(actual) == set(expected)
    for key in expected:
        assert_relative(actual[key], expected[key], rtol=1e-8)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_matches_central_differences_of_an_independent_forward_pass(cell: str) -> None:
    problem = random_problem(cell, 3, 2, 5, seed=11)
    upstream = problem["upstream"]

    def loss(arrays: Mapping[str, np.ndarray]) -> float:
        return float(np.sum(upstream * numpy_hidden_states(cell, arrays)))

    expected = central_differences(loss, problem["arrays"])
    actual = reference(cell, problem["arrays"], upstream)
    assert set(actual) == set(expected)
    for key in expected:
        scale = float(np.max(np.abs(expected[key])))
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-6, atol=1e-8 * max(scale, 1.0), err_msg=key)


def test_a_user_defined_cell_gets_exact_gradients() -> None:
    rng = np.random.default_rng(5)
    cell = minimal_gated_unit()
    H, I, T = 3, 2, 6
    arrays = init_params(cell.spec, H, I, rng, gain=1.5)
    arrays |= {"inputs": rng.standard_normal((T, I)), "h0": rng.uniform(-0.5, 0.5, H)}
    upstream = rng.standard_normal((T, H))

    def loss(a: Mapping[str, np.ndarray]) -> float:
        h, total = a["h0"], 0.0
        for t, x in enumerate(a["inputs"]):
            gi, gh = a["weight_ih_l0"] @ x + a["bias_ih_l0"], a["weight_hh_l0"] @ h + a["bias_hh_l0"]
            f = _sigmoid(gi[:H] + gh[:H])
            h = (1 - f) * h + f * np.tanh(gi[H:] + f * gh[H:])
            total += float(upstream[t] @ h)
        return total

    expected = central_differences(loss, arrays)
    actual = bptt_reference(cell, {k: arrays[k] for k in PARAM_KEYS}, arrays["inputs"], upstream, h0=arrays["h0"])
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-6, atol=1e-8, err_msg=key)


def test_long_lstm_sequence_matches_torch() -> None:
    problem = random_problem("lstm", 8, 4, 200, seed=2)
    expected = torch_gradients("lstm", problem["arrays"], problem["upstream"])
    actual = reference("lstm", problem["arrays"], problem["upstream"])
    for key in expected:
        assert_relative(actual[key], expected[key], rtol=1e-8)


def test_initial_state_defaults_to_zeros() -> None:
    problem = random_problem("lstm", 3, 2, 4, seed=8)
    arrays = problem["arrays"] | {"h0": np.zeros(3), "c0": np.zeros(3)}
    params = {k: arrays[k] for k in PARAM_KEYS}
    default = bptt_reference("lstm", params, arrays["inputs"], problem["upstream"])
    explicit = reference("lstm", arrays, problem["upstream"])
    for key in explicit:
        np.testing.assert_array_equal(default[key], explicit[key])


def test_bad_arguments_are_named() -> None:
    problem = random_problem("rnn", 3, 2, 4, seed=1)
    arrays, upstream = problem["arrays"], problem["upstream"]
    params = {k: arrays[k] for k in PARAM_KEYS}
    with pytest.raises(ConfigError, match=r"upstream: expected shape \(T, H\) = \(4, 3\).*got \(3,\)"):
        bptt_reference("rnn", params, arrays["inputs"], upstream[-1])
    with pytest.raises(ConfigError, match=r"upstream.*\(4, 3\).*got \(3, 4\)"):
        bptt_reference("rnn", params, arrays["inputs"], upstream.T)
    with pytest.raises(NonFiniteError, match="upstream"):
        bptt_reference("rnn", params, arrays["inputs"], np.full_like(upstream, np.nan))
    with pytest.raises(ConfigError, match="c0"):
        bptt_reference("rnn", params, arrays["inputs"], upstream, c0=np.zeros(3))
    with pytest.raises(ParameterError, match="weight_hh_l0"):
        bptt_reference("rnn", {"weight_ih_l0": arrays["weight_ih_l0"]}, arrays["inputs"], upstream)
    stacked = params | {k.replace("_l0", "_l1"): v for k, v in params.items() if k != "weight_ih_l0"}
    stacked["weight_ih_l1"] = np.zeros((3, 3))
    with pytest.raises(ParameterError, match="single-layer"):
        bptt_reference("rnn", stacked, arrays["inputs"], upstream)
