"""The BPTT checker: passes correct gradients (from PyTorch and from a hand-written BPTT), catches planted bugs."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from gradscope.errors import ParameterError
from gradscope.testing import (
    DEFAULT_TOLERANCES,
    GradientMismatch,
    assert_bptt_close,
    compare_bptt,
    default_tolerance,
)

T, H, I = 6, 4, 3


def problem(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    params = {
        "weight_ih_l0": rng.normal(0, 0.5, (H, I)),
        "weight_hh_l0": rng.normal(0, 0.5, (H, H)),
        "bias_ih_l0": rng.normal(0, 0.1, H),
        "bias_hh_l0": rng.normal(0, 0.1, H),
    }
    return {
        "params": params,
        "inputs": rng.standard_normal((T, I)),
        "upstream": rng.standard_normal((T, H)),
        "h0": rng.uniform(-0.5, 0.5, H),
    }


def hand_written_bptt(p: dict, bug: str = "") -> dict[str, np.ndarray]:
    """A plain NumPy tanh-RNN BPTT, as people write it; ``bug`` plants one classic mistake."""
    w_ih, w_hh = p["params"]["weight_ih_l0"], p["params"]["weight_hh_l0"]
    b = p["params"]["bias_ih_l0"] + p["params"]["bias_hh_l0"]
    hs = [p["h0"]]
    for x in p["inputs"]:
        hs.append(np.tanh(w_ih @ x + w_hh @ hs[-1] + b))
    d_ih, d_hh, d_b = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b)
    d_x = np.zeros_like(p["inputs"])
    dh = np.zeros(H)
    first = 1 if bug == "dropped step" else 0
    for t in range(T - 1, first - 1, -1):
        dh = dh + p["upstream"][t]
        at = t if bug == "tanh at wrong step" else t + 1
        da = (1 - hs[at] ** 2) * dh
        d_ih += np.outer(da, p["inputs"][t])
        d_hh += np.outer(hs[t], da) if bug == "transposed" else np.outer(da, hs[t])
        d_b += da
        d_x[t] = w_ih.T @ da
        dh = w_hh.T @ da
    return {
        "weight_ih_l0": d_ih,
        "weight_hh_l0": d_hh,
        "bias_ih_l0": d_b,
        "bias_hh_l0": d_b.copy(),
        "inputs": d_x,
        "h0": dh,
    }


def check(p: dict, grads: dict, **options: object) -> None:
    assert_bptt_close("rnn", p["params"], p["inputs"], p["upstream"], grads, h0=p["h0"], **options)


def mismatch(p: dict, grads: dict, **options: object) -> GradientMismatch:
    with pytest.raises(GradientMismatch) as info:
        check(p, grads, **options)
    return info.value


def test_correct_hand_written_bptt_passes() -> None:
    p = problem()
    check(p, hand_written_bptt(p))
    assert compare_bptt("rnn", p["params"], p["inputs"], p["upstream"], hand_written_bptt(p), h0=p["h0"]).passed


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_autograd_gradients_pass_with_the_default_tolerance_of_their_dtype(cell: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    import torch_reference

    rng = np.random.default_rng(3)
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    params = {
        "weight_ih_l0": rng.uniform(-0.5, 0.5, (G * H, I)),
        "weight_hh_l0": rng.uniform(-0.5, 0.5, (G * H, H)),
        "bias_ih_l0": rng.uniform(-0.5, 0.5, G * H),
        "bias_hh_l0": rng.uniform(-0.5, 0.5, G * H),
    }
    inputs, upstream = rng.standard_normal((T, I)), rng.standard_normal((T, H))
    torch_dtype = getattr(torch, dtype)
    module = torch_reference.module_for(cell, params).to(torch_dtype)
    x = torch.tensor(inputs, dtype=torch_dtype, requires_grad=True)
    output, _ = module(x)
    (output * torch.tensor(upstream, dtype=torch_dtype)).sum().backward()
    grads = {name: parameter.grad for name, parameter in module.named_parameters()} | {"inputs": x.grad}
    # The tensors go in as they are (float32 picks the float32 row of the tolerance table).
    comparison = compare_bptt(cell, params_as(params, dtype), inputs.astype(dtype), upstream, grads)
    assert comparison.passed, comparison.report()
    assert {c.dtype for c in comparison.keys.values()} == {dtype}
    assert {(c.rtol, c.atol) for c in comparison.keys.values()} == {
        (DEFAULT_TOLERANCES[dtype].rtol, DEFAULT_TOLERANCES[dtype].atol)
    }


def params_as(params: dict, dtype: str) -> dict:
    """The parameters rounded to ``dtype``, so both sides see the same numbers."""
    return {k: v.astype(dtype).astype(np.float64) for k, v in params.items()}


def test_transposed_gradient_is_caught_with_a_hint() -> None:
    p = problem()
    error = mismatch(p, hand_written_bptt(p, "transposed"))
    message = str(error)
    assert "weight_hh_l0:" in message
    assert "transpose of the expected gradient" in message
    assert error.comparison.failed_keys == ("weight_hh_l0",)


def test_transposed_non_square_gradient_is_a_wrong_shape() -> None:
    p = problem()
    grads = hand_written_bptt(p)
    grads["weight_ih_l0"] = grads["weight_ih_l0"].T
    message = str(mismatch(p, grads))
    assert f"weight_ih_l0: wrong shape ({I}, {H}), expected ({H}, {I}); the transpose of the expected shape" in message


def test_dropped_time_step_is_caught() -> None:
    p = problem()
    error = mismatch(p, hand_written_bptt(p, "dropped step"))
    failed = set(error.comparison.failed_keys)
    assert {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "inputs", "h0"} == failed
    inputs = error.comparison.keys["inputs"]
    assert inputs.worst_index[0] == 0 and "time step t=1 of 6" in inputs.location
    assert "all zero at time step(s) t = 1: a dropped time step?" in str(error)
    assert "wrong only at time step(s) t = 1 of 6" in str(error)


def test_tanh_derivative_at_the_wrong_time_step_is_caught() -> None:
    p = problem()
    error = mismatch(p, hand_written_bptt(p, "tanh at wrong step"))
    assert "weight_hh_l0" in error.comparison.failed_keys and "weight_ih_l0" in error.comparison.failed_keys


@pytest.mark.parametrize(
    ("key", "index", "location"),
    [
        ("weight_ih_l0", (2, 1), "unit 2, input feature 1"),
        ("weight_hh_l0", (3, 0), "unit 3, column h_{t-1}[0]"),
        ("bias_ih_l0", (1,), "unit 1"),
        ("bias_hh_l0", (0,), "unit 0"),
        ("inputs", (4, 2), "time step t=5 of 6, input feature 2"),
        ("h0", (3,), "unit 3"),
    ],
)
def test_single_entry_off_by_1e_3_relative_is_named(key: str, index: tuple[int, ...], location: str) -> None:
    p = problem()
    grads = hand_written_bptt(p)  # correct, checked against the reference above
    expected = grads[key][index]
    grads[key] = grads[key].copy()
    grads[key][index] = expected * (1 + 1e-3)
    error = mismatch(p, grads)
    result = error.comparison.keys[key]
    assert error.comparison.failed_keys == (key,)
    assert result.mismatched == 1 and result.worst_index == index
    assert result.expected == pytest.approx(expected, rel=1e-12)
    assert result.rel_err == pytest.approx(1e-3, rel=1e-6)
    tolerance = DEFAULT_TOLERANCES["float64"]
    assert result.tolerance == pytest.approx(tolerance.atol + tolerance.rtol * abs(expected))
    message = str(error)
    where = ", ".join(map(str, index))
    assert f"{key}: 1 of {grads[key].size} entries out of tolerance; worst at {key}[{where}] ({location})" in message
    assert f"expected {expected:.10g}, actual {expected * (1 + 1e-3):.10g}" in message
    assert "rel err 0.001, tolerance" in message
    assert f"matching: {', '.join(k for k in grads if k != key)}" in message


def test_explicit_tolerance_overrides_the_table() -> None:
    p = problem()
    grads = hand_written_bptt(p)
    grads["weight_hh_l0"] = grads["weight_hh_l0"] * (1 + 1e-3)
    mismatch(p, grads)
    check(p, grads, rtol=2e-3)
    assert "it is 1.001 times the expected gradient" in str(mismatch(p, grads, rtol=1e-4))


def test_negated_gradient_gets_a_hint() -> None:
    p = problem()
    grads = hand_written_bptt(p)
    grads["h0"] = -grads["h0"]
    assert "negative of the expected gradient (sign error?)" in str(mismatch(p, grads))


def test_unknown_keys_and_wrong_shapes_are_listed() -> None:
    p = problem()
    grads = hand_written_bptt(p)
    grads["weight_hh"] = grads.pop("weight_hh_l0")
    grads["bias_ih_l0"] = grads["bias_ih_l0"][:-1]
    grads["loss"] = 1.0
    error = mismatch(p, grads)
    message = str(error)
    assert "weight_hh: unknown key (did you mean 'weight_hh_l0'?)" in message
    assert "loss: unknown key" in message
    assert f"bias_ih_l0: wrong shape ({H - 1},), expected ({H},)" in message
    assert "valid keys: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, inputs, h0" in message
    assert "not given (not checked): weight_hh_l0" in message
    assert set(error.comparison.failed_keys) == {"bias_ih_l0", "weight_hh", "loss"}


def test_a_subset_of_keys_is_enough_but_not_none() -> None:
    p = problem()
    grads = hand_written_bptt(p)
    check(p, {"weight_hh_l0": grads["weight_hh_l0"]})
    assert "no gradients given" in str(mismatch(p, {}))
    with pytest.raises(ParameterError, match="mapping"):
        check(p, [grads["weight_hh_l0"]])


def test_nan_is_a_mismatch_not_a_crash() -> None:
    p = problem()
    grads = hand_written_bptt(p)
    grads["bias_hh_l0"] = grads["bias_hh_l0"].copy()
    grads["bias_hh_l0"][2] = np.nan
    error = mismatch(p, grads)
    result = error.comparison.keys["bias_hh_l0"]
    assert result.worst_index == (2,) and np.isnan(result.actual) and result.rel_err == np.inf


def test_pytorch_batch_axes_of_size_one_are_accepted() -> None:
    p = problem()
    grads = hand_written_bptt(p)
    grads["h0"] = grads["h0"].reshape(1, 1, H)
    grads["inputs"] = grads["inputs"].reshape(T, 1, I)
    check(p, grads)


def test_float32_gradients_use_the_float32_row() -> None:
    p = problem()
    grads = {k: v.astype(np.float32) for k, v in hand_written_bptt(p).items()}
    check(p, grads)  # float32 rounding (about 6e-8 relative) passes the float32 tolerance
    comparison = compare_bptt("rnn", p["params"], p["inputs"], p["upstream"], grads, h0=p["h0"])
    assert all(c.rtol == DEFAULT_TOLERANCES["float32"].rtol for c in comparison.keys.values())
    with pytest.raises(GradientMismatch):
        check(p, grads, rtol=1e-12, atol=0.0)
    assert default_tolerance("float64") == DEFAULT_TOLERANCES["float64"]
    assert default_tolerance(np.float16) == DEFAULT_TOLERANCES["float16"]


def test_mismatch_is_an_assertion_error_with_readable_lines() -> None:
    p = problem()
    error = mismatch(p, hand_written_bptt(p, "tanh at wrong step"))
    assert isinstance(error, AssertionError)
    lines = str(error).splitlines()
    assert lines[0].startswith("BPTT gradients differ from the exact reference (rnn, T=6, H=4, I=3)")
    assert all(len(line) <= 160 for line in lines)
    assert all(re.match(r"^(BPTT| {2}\S| {6}\S)", line) for line in lines)


def test_importing_gradscope_testing_does_not_import_sympy() -> None:
    code = "import sys, gradscope.testing.comparison; print(sorted(m for m in ('sympy', 'torch') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
