"""check_bptt against PyTorch autograd, its options, its errors, and the hints not covered by the tutorial programs."""

from __future__ import annotations

import numpy as np
import pytest
import tutorial_clients as clients
from test_check_clients import client

from gradscope.errors import ConfigError, GradscopeError, ParameterError
from gradscope.testing import GradientMismatch, check_bptt, compare_bptt, diagnose_bptt

T, H, I, O = 5, 4, 3, 3


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pytorch_modules_with_an_output_layer_pass(cell: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H).to(getattr(torch, dtype))
    head = torch.nn.Linear(H, O).to(getattr(torch, dtype))
    rng = np.random.default_rng(1)
    xs, targets = rng.normal(size=(T, I)), rng.integers(0, O, T)
    out, _ = module(torch.tensor(xs, dtype=getattr(torch, dtype)))
    torch.nn.functional.cross_entropy(head(out), torch.tensor(targets), reduction="sum").backward()
    named = dict(module.named_parameters()) | {"weight_out": head.weight, "bias_out": head.bias}
    params = {k: v.detach().double().numpy() for k, v in named.items()}
    grads = {k: v.grad for k, v in named.items()}  # tensors as they are: float32 picks its tolerance
    result = check_bptt(cell, params, grads, xs.astype(dtype).astype(np.float64), targets=targets, loss="softmax_ce")
    assert result.passed and {c.dtype for c in result.keys.values()} == {dtype}


def test_upstream_instead_of_a_loss_is_the_old_check() -> None:
    rng = np.random.default_rng(2)
    params = {"weight_ih_l0": rng.normal(size=(H, I)), "weight_hh_l0": rng.normal(size=(H, H)) * 0.5}
    xs, upstream = rng.normal(size=(T, I)), rng.normal(size=(T, H))
    from gradscope.testing import bptt_reference

    grads = bptt_reference("rnn", params, xs, upstream)
    assert compare_bptt("rnn", params, xs, upstream, grads).passed
    assert check_bptt("rnn", params, grads, xs, upstream=upstream).passed
    with pytest.raises(GradientMismatch, match="weight_hh_l0"):
        check_bptt("rnn", params, grads | {"weight_hh_l0": grads["weight_hh_l0"].T}, xs, upstream=upstream)


def test_a_loss_function_gives_what_the_built_in_loss_gives() -> None:
    c = client("many_to_one")
    d = c.data
    grads = c.grads()
    by_name = diagnose_bptt(
        "rnn", c.params, grads, d["inputs"], targets=d["targets"], loss="softmax_ce", reduce="last", h0=d["h0"]
    )

    def softmax_last(outputs: np.ndarray, target: int) -> np.ndarray:
        out = np.zeros_like(outputs)
        p = np.exp(outputs[-1] - outputs[-1].max())
        out[-1] = p / p.sum() - np.eye(outputs.shape[1])[target]
        return out

    by_function = diagnose_bptt(
        "rnn", c.params, grads, d["inputs"], targets=d["targets"], loss=softmax_last, h0=d["h0"]
    )
    assert by_name.passed and by_function.passed and by_function.loss == "a loss function"


def test_the_backward_function_and_its_gradients_give_one_verdict() -> None:
    c = client("lstm")
    function = lambda p, x, y, h0, c0: clients.lstm(p, x, y, h0, c0)  # noqa: E731
    assert c.diagnose(function).passed and c.diagnose(c.grads()).passed


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"upstream": np.ones((T, H)), "loss": "mse"}, ConfigError, "either upstream"),
        ({}, ConfigError, "give a loss"),
        ({"loss": "softmax_ce"}, ConfigError, "give its targets"),
        ({"loss": "softmax_ce", "targets": 1, "c0": np.zeros(4)}, ConfigError, "no cell state"),
        ({"loss": "softmax_ce", "targets": 1, "h0": np.zeros(5)}, GradscopeError, r"h0: expected shape \(4,\)"),
        ({"loss": "softmax_ce", "targets": [1, 2]}, GradscopeError, "one class index"),
    ],
)
def test_errors_in_the_check_itself_are_named(options: dict, error: type, match: str) -> None:
    c = client("many_to_one")
    options = {"reduce": "last"} | options
    with pytest.raises(error, match=match):
        diagnose_bptt("rnn", c.params, c.grads(), c.data["inputs"], **options)


def test_a_loss_that_sends_no_gradient_is_refused() -> None:
    c = client("many_to_one")
    params = c.params | {"W_hy": np.zeros_like(c.params["W_hy"])}
    with pytest.raises(ConfigError, match="sends no gradient to the hidden states"):
        diagnose_bptt("rnn", params, c.grads(), c.data["inputs"], targets=1, loss="softmax_ce", reduce="last")


@pytest.mark.parametrize(
    ("grads", "match"),
    [
        ([1, 2], "grads must be a dict"),
        (lambda p, x: {}, "must take \\(params, inputs, targets, h0\\)"),
        (lambda p, x, y, h0: ({}, {}), "2 mappings"),
        (lambda p, x, y, h0: 3.0, "returned float"),
    ],
)
def test_bad_grads_are_named(grads: object, match: str) -> None:
    c = client("many_to_one")
    with pytest.raises(ParameterError, match=match):
        diagnose_bptt("rnn", c.params, grads, c.data["inputs"], targets=1, loss="softmax_ce", reduce="last")


def test_unknown_and_misshapen_gradients_are_listed() -> None:
    c = client("char_rnn")
    grads = c.grads()
    grads["dWhx"] = grads.pop("dWhh")
    grads["dWxh"] = grads["dWxh"].T
    diagnosis = c.diagnose(grads)
    report = diagnosis.report()
    assert "dWhx: unknown gradient name (did you mean 'dWxh' or 'dWhy' or 'dWhh'?)" in report
    assert "dWxh: wrong shape (6, 4), expected (4, 6); the transpose of the expected shape" in report
    assert set(diagnosis.failed_keys) == {"dWxh", "dWhx"}
    with pytest.raises(ParameterError, match="both name the gradient of Whh"):
        c.diagnose(c.grads() | {"Whh": c.grads()["dWhh"]})


def test_column_and_flat_gradients_are_both_accepted() -> None:
    c = client("char_rnn")
    flat = {k: v.reshape(-1) if v.shape[1] == 1 else v for k, v in c.grads().items()}
    assert c.diagnose(flat).passed


def test_float32_gradients_use_the_float32_tolerance() -> None:
    c = client("lstm")
    grads = {k: v.astype(np.float32) for k, v in c.grads().items()}
    result = c.diagnose(grads)
    assert result.passed and {r.rtol for r in result.keys.values()} == {1e-4}
    assert not c.diagnose(grads, rtol=1e-12, atol=0.0).passed


def test_non_finite_gradients_get_their_hint_and_nothing_else() -> None:
    c = client("char_rnn")
    grads = c.grads()
    grads["dWhh"] = grads["dWhh"].copy()
    grads["dWhh"][1, 2] = np.nan
    report = c.diagnose(grads).report()
    assert "hint: NaN or infinite entries in dWhh (1)" in report
    assert report.count("hint:") == 1


def test_all_zero_gradients_get_their_hint() -> None:
    c = client("char_rnn")
    report = c.diagnose({k: np.zeros_like(v) for k, v in c.grads().items()}).report()
    assert "every gradient you returned is exactly zero" in report and report.count("hint:") == 1


def test_a_weight_on_x_then_h_gets_the_concat_hint() -> None:
    c = client("lstm")
    swap = lambda w: np.concatenate([w[:, H:], w[:, :H]], axis=1)  # noqa: E731 - the same program on [x; h]
    params, grads = c.params | {"W": swap(c.params["W"])}, c.grads()
    grads = grads | {"dW": swap(grads["dW"])}
    d = c.data
    common = {"targets": d["targets"], "h0": d["h0"], "c0": d["c0"], "gates": "ifog", "loss": "mse", "reduce": "mean"}
    assert diagnose_bptt("lstm", params, grads, d["inputs"], concat="xh", **common).passed
    report = diagnose_bptt("lstm", params, grads, d["inputs"], **common).report()
    assert "with concat='xh' (W multiplies [x; h]) the reference matches" in report and report.count("hint:") == 1


def test_forgetting_the_gate_order_gets_the_gates_hint() -> None:
    c = client("lstm")
    d = c.data
    report = diagnose_bptt(
        "lstm",
        c.params,
        c.grads(),
        d["inputs"],
        targets=d["targets"],
        h0=d["h0"],
        c0=d["c0"],
        loss="mse",
        reduce="mean",
    ).report()
    assert "with gates='ifog' (the order of your weights' row blocks)" in report and report.count("hint:") == 1


def test_a_forward_pass_of_another_network_gets_the_forward_hint() -> None:
    c = client("char_rnn")
    other = c.params | {"Whh": c.params["Whh"] + 0.05}  # the program ran on other weights than the check was given
    d = c.data
    grads = clients.char_rnn(other, d["inputs"], d["targets"], d["h0"])[1]
    report = c.diagnose(grads).report()
    assert "the output layer's gradients (dWhy, dby) are wrong too" in report
    assert "none of the variants gradscope tries matched: no-tanh-grad, lagged" in report
    assert report.count("hint:") == 1


def test_a_long_sequence_cannot_be_placed_from_the_gradients_but_from_prefixes() -> None:
    rng = np.random.default_rng(5)
    base = client("char_rnn")
    inputs, targets = list(rng.integers(0, 6, 25)), list(rng.integers(0, 6, 25))
    common = {"targets": targets, "h0": base.data["h0"], "loss": "softmax_ce"}

    def off(p, x, y, h0):  # an error no replayed mistake explains: every prefix is off too
        grads = clients.char_rnn(p, x, y, h0)[1]
        return grads | {"dWxh": grads["dWxh"] + 1e-3}

    report = diagnose_bptt(
        "rnn", base.params, off(base.params, inputs, targets, base.data["h0"]), inputs, **common
    ).report()
    # one-hot inputs sum to the bias column: 10 independent per-step factors for 25 steps
    assert (
        "time: cannot be placed from the final gradients alone: T = 25 steps but the cell's gradients hold " in report
    )
    assert "only 10 independent per-step factors" in report
    assert "pass your backward function as grads= to rerun it on prefixes" in report
    report = diagnose_bptt("rnn", base.params, off, inputs, **common).report()
    assert "rerun on prefixes, your backward is wrong already on the first step alone" in report
    # a replayed mistake places it when the gradients cannot, and the prefixes agree: one step right, two not
    function = lambda p, x, y, h0: clients.char_rnn(p, x, y, h0, bug="transpose")  # noqa: E731
    diagnosis = diagnose_bptt("rnn", base.params, function, inputs, **common)
    assert "untransposed" in diagnosis.report()
    assert diagnosis.first_wrong_step == 24 and diagnosis.timeline.prefix_fail == 2


def test_a_passing_check_is_silent() -> None:
    c = client("char_rnn")
    result = check_bptt(
        "rnn", c.params, c.grads(), c.data["inputs"], targets=c.data["targets"], loss="softmax_ce", h0=c.data["h0"]
    )
    assert result.passed and result.report().startswith("BPTT gradients match the exact reference (rnn, T=5")
    assert result.hints == () and result.timeline is None and result.to_dict()["passed"]


def test_the_readmes_five_line_check_runs_as_written() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(from gradscope.testing import check_bptt\n.*?)```", readme, re.S).group(1)
    assert len(snippet.strip().splitlines()) == 5
    c = client("char_rnn")
    grads = c.grads()
    names = dict(c.params) | {"d" + k: grads["d" + k] for k in c.params}
    names |= {"xs": c.data["inputs"], "ys": c.data["targets"], "hprev": c.data["h0"]}
    exec(snippet, names)  # the README's own code (not user data), run on a tutorial program's arrays
    names["dWhh"] = names["dWhh"] * 1.01
    with pytest.raises(GradientMismatch, match="Whh: 16 of 16 entries out of tolerance"):
        exec(snippet, names)


@pytest.mark.parametrize(
    ("upstream", "match"), [(np.zeros((T, H)), "sends no gradient"), (np.full((T, H), np.nan), "NaN")]
)
def test_a_zero_or_non_finite_upstream_is_refused(upstream: np.ndarray, match: str) -> None:
    rng = np.random.default_rng(2)
    params = {"weight_ih_l0": rng.normal(size=(H, I)), "weight_hh_l0": rng.normal(size=(H, H))}
    grads = {"weight_hh_l0": np.zeros((H, H))}
    with pytest.raises(GradscopeError, match=match):
        diagnose_bptt("rnn", params, grads, rng.normal(size=(T, I)), upstream=upstream)


def test_importing_the_check_imports_neither_sympy_nor_torch() -> None:
    import subprocess
    import sys

    code = "import sys, gradscope.testing; print(sorted(m for m in ('sympy', 'torch') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
