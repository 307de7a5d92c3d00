"""check_bptt on three tutorial-style programs: correct code passes, every planted bug is named in full.

The second sources: central finite differences of each program's correct loss say which gradients a
bug breaks, and the programs' own per-step terms (``trace``) say when a bug first changes a term in
the backward pass's order (the largest wrong t) and, for the LSTM, in which gates' rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import tutorial_clients as clients

from gradscope.testing import BPTTDiagnosis, GradientMismatch, check_bptt, diagnose_bptt

T = 5
LSTM_GATES = ("i", "f", "o", "g")  # the program's row order


@dataclass
class Client:
    """One program on one small problem: how to run it and how to call the check on it."""

    name: str
    params: dict
    data: dict  # the program's inputs, targets and initial state(s)
    check: dict  # check_bptt's loss options
    gates: str | None = None

    def grads(self, bug: str | None = None, clip: float | None = None, trace: dict | None = None) -> dict:
        run = {"char_rnn": self._char, "many_to_one": self._m2o, "lstm": self._lstm}[self.name]
        return run(self.params, bug, clip, trace)

    def _char(self, p, bug, clip, trace):
        d = self.data
        return clients.char_rnn(p, d["inputs"], d["targets"], d["h0"], bug=bug, clip=clip, trace=trace)[1]

    def _m2o(self, p, bug, clip, trace):
        d = self.data
        return clients.many_to_one(p, d["inputs"], d["targets"], d["h0"], bug=bug, clip=clip, trace=trace)

    def _lstm(self, p, bug, clip, trace):
        d = self.data
        return clients.lstm(p, d["inputs"], d["targets"], d["h0"], d["c0"], bug=bug, clip=clip, trace=trace)

    def loss(self, p: dict) -> float:
        d = self.data
        if self.name == "char_rnn":
            return clients.char_rnn(p, d["inputs"], d["targets"], d["h0"])[0]
        if self.name == "many_to_one":
            hs = d["h0"]
            for x in d["inputs"]:
                hs = np.tanh(p["W_xh"] @ x + p["W_hh"] @ hs + p["b_h"])
            y = p["W_hy"] @ hs + p["b_y"]
            return float(np.log(np.exp(y - y.max()).sum()) + y.max() - y[d["targets"]])
        return clients.lstm_loss(p, d["inputs"], d["targets"], d["h0"], d["c0"])

    def diagnose(self, grads: Any, **options: Any) -> BPTTDiagnosis:
        d = self.data
        states = {"h0": d["h0"]} | ({"c0": d["c0"]} if "c0" in d else {})
        extra = {"gates": self.gates} if self.gates else {}
        cell = "lstm" if self.name == "lstm" else "rnn"
        return diagnose_bptt(
            cell, self.params, grads, d["inputs"], targets=d["targets"], **self.check, **states, **extra, **options
        )


def make(name: str, big: bool = False, seed: int = 0) -> Client:
    rng = np.random.default_rng(seed)
    n = 8 if big else T
    if name == "char_rnn":
        H, V = 4, 6
        shapes = {"Wxh": (H, V), "Whh": (H, H), "Why": (V, H), "bh": (H, 1), "by": (V, 1)}
        params = {k: rng.normal(0.0, 0.5, s) for k, s in shapes.items()}
        targets = [3] * n if big else list(rng.integers(0, V, n))  # a repeated target: |dby| > 5
        data = {"inputs": list(rng.integers(0, V, n)), "targets": targets, "h0": rng.normal(0, 0.5, (H, 1))}
        return Client(name, params, data, {"loss": "softmax_ce"})
    if name == "many_to_one":
        I, H, K = 3, 4, 3
        shapes = {"W_xh": (H, I), "W_hh": (H, H), "b_h": (H,), "W_hy": (K, H), "b_y": (K,)}
        params = {k: rng.normal(0.0, 0.5, s) for k, s in shapes.items()}
        xs = rng.normal(size=(n, I))
        if big:  # large inputs and output weights: |dW_xh| > 5
            params["W_hy"] *= 8.0
            params["W_xh"] *= 0.1
            xs *= 8.0
        data = {"inputs": xs, "targets": 1, "h0": rng.normal(0, 0.5, H)}
        return Client(name, params, data, {"loss": "softmax_ce", "reduce": "last"})
    I, H, O = 3, 4, 2
    shapes = {"W": (4 * H, H + I), "b": (4 * H,), "Wy": (O, H), "by": (O,)}
    params = {k: rng.normal(0.0, 0.4, s) for k, s in shapes.items()}
    data = {
        "inputs": rng.normal(size=(n, I)),
        "targets": rng.normal(size=(n, O)) * (15.0 if big else 1.0),
        "h0": rng.normal(0, 0.5, H),
        "c0": rng.normal(0, 0.5, H),
    }
    return Client(name, params, data, {"loss": "mse", "reduce": "mean"}, gates="ifog")


@functools.cache
def client(name: str, big: bool = False) -> Client:
    return make(name, big)


def numeric(c: Client, eps: float = 1e-6) -> dict[str, np.ndarray]:
    """Central differences of the program's correct loss, per parameter."""
    out = {}
    for key, value in c.params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in c.params.items()}
            minus = {k: v.copy() for k, v in c.params.items()}
            plus[key][index] += eps
            minus[key][index] -= eps
            grad[index] = (c.loss(plus) - c.loss(minus)) / (2 * eps)
        out[key] = grad
    return out


def user_key(c: Client, param: str) -> str:
    return param if c.name == "many_to_one" else "d" + param


def first_wrong(c: Client, bug: str) -> tuple[int | None, set[int], set[str]]:
    """From the program's own per-step terms: the first wrong step (backward order), all wrong steps, gates there."""
    good, bad = {}, {}
    c.grads(trace=good)
    c.grads(bug, trace=bad)
    wrong = {t for t in good if any(not np.allclose(bad[t][k], good[t][k], rtol=1e-10, atol=1e-13) for k in good[t])}
    if not wrong:
        return None, set(), set()
    t = max(wrong)
    gates = set()
    if c.name == "lstm":
        H = c.params["b"].size // 4
        for k, gate in enumerate(LSTM_GATES):
            rows = slice(k * H, (k + 1) * H)
            if any(not np.allclose(bad[t][n][rows], good[t][n][rows], rtol=1e-10, atol=1e-13) for n in ("dW", "db")):
                gates.add(gate)
    return t, wrong, gates


#: (program, bug) -> a phrase of the hint that must fire (and no other hint of this table may).
HINTS = {
    "transpose": "untransposed",
    "tanh_prev": "one step early",
    "tanh_c_prev": "one step early",
    "no_tanh_grad": "tanh derivative (1 - h_t^2) is missing",
    "no_sigmoid_grad": "sigmoid derivative s (1 - s) of the gates i, f, o is missing",
    "no_minus_one": "misses the -1 at the target",
    "no_dhnext": "dh_next (the gradient carried back from step t+1 into h_t) is dropped",
    "no_dc_carry": "the carry of dc back from step t+1",
    "swapped_gates": "stacks the gate gradients as (i, f, g, o) onto the row blocks (i, f, o, g)",
    "no_tanh_cell": "h_t = o_t * c_t (no tanh on the cell state)",
    "overwrite_h0": "h0 is kept in a slot that the forward pass overwrites",
    "h_t_in_dwhh": "the dW_hh terms use h_t where h_{t-1} belongs",
    "no_output_grad": "never reaches the recursion",
    "sum_not_mean": "loss='mse', reduce='sum'",
    "clip": "gradient clipping (np.clip(d, -5, 5)) is still in the code",
}
PHRASES = tuple(dict.fromkeys(HINTS.values()))
CASES = [("char_rnn", b) for b in clients.CHAR_BUGS] + [("many_to_one", b) for b in clients.M2O_BUGS]
CASES += [("lstm", b) for b in clients.LSTM_BUGS]


@pytest.mark.parametrize("name", ["char_rnn", "many_to_one", "lstm"])
def test_correct_programs_match_finite_differences_and_pass(name: str) -> None:
    c = client(name)
    grads = c.grads()
    fd = numeric(c)
    for param in c.params:
        np.testing.assert_allclose(grads[user_key(c, param)], fd[param], rtol=1e-6, atol=1e-8, err_msg=param)
    result = check_bptt(
        "lstm" if name == "lstm" else "rnn",
        c.params,
        grads,
        c.data["inputs"],
        targets=c.data["targets"],
        h0=c.data["h0"],
        **({"c0": c.data["c0"], "gates": "ifog"} if name == "lstm" else {}),
        **c.check,
    )
    assert result.passed and not result.hints and result.timeline is None


@pytest.mark.parametrize("name", ["char_rnn", "many_to_one", "lstm"])
def test_clipping_at_a_large_threshold_passes(name: str) -> None:
    c = client(name, big=True)
    assert c.diagnose(c.grads(clip=1e6)).passed


@pytest.mark.parametrize(("name", "bug"), CASES)
def test_each_bug_names_its_gradients_step_gates_and_hint(name: str, bug: str) -> None:
    c = client(name)
    fd, buggy = numeric(c), c.grads(bug)
    wrong = {user_key(c, p) for p in c.params if not np.allclose(buggy[user_key(c, p)], fd[p], rtol=1e-6, atol=1e-8)}
    diagnosis = c.diagnose(buggy)
    assert not diagnosis.passed
    assert {k for k, r in diagnosis.keys.items() if not r.passed} & {user_key(c, p) for p in c.params} == wrong
    step, steps, gates = first_wrong(c, bug)
    assert diagnosis.first_wrong_step == step
    assert set(diagnosis.timeline.wrong_steps) == steps
    if name == "lstm" and bug not in ("overwrite_h0",):
        assert set(diagnosis.timeline.gates) == gates
    report = diagnosis.report()
    assert f"first goes wrong at t = {step} of {T}" in report
    fired = [h for h in PHRASES if h in report]
    assert fired == [HINTS[bug]], (fired, report)


@pytest.mark.parametrize("name", ["char_rnn", "many_to_one", "lstm"])
def test_clipping_left_in_the_code_is_named_and_not_placed_in_time(name: str) -> None:
    c = client(name, big=True)
    diagnosis = c.diagnose(c.grads(clip=5.0))
    assert not diagnosis.passed
    assert first_wrong(c, None)[0] is None
    report = diagnosis.report()
    assert [h for h in PHRASES if h in report] == [HINTS["clip"]]
    assert diagnosis.first_wrong_step is None and "capped after the loop" in report


def backward_of(c: Client, bug: str | None):
    """The program's backward with the check's calling convention ``(params, inputs, targets, h0[, c0])``."""
    if c.name == "char_rnn":
        return lambda p, x, y, h0: clients.char_rnn(p, x, y, h0, bug=bug)  # returns (loss, grads, h): one dict
    if c.name == "many_to_one":
        return lambda p, x, y, h0: clients.many_to_one(p, x, y, h0, bug=bug)
    return lambda p, x, y, h0, c0: clients.lstm(p, x, y, h0, c0, bug=bug)


@pytest.mark.parametrize(
    ("name", "bug", "prefix"),
    [
        ("char_rnn", None, None),
        ("char_rnn", "transpose", 2),
        ("char_rnn", "tanh_prev", 1),
        ("many_to_one", "no_dhnext", 2),
        ("lstm", "no_dc_carry", 2),
        ("lstm", "swapped_gates", 1),
    ],
)
def test_the_backward_function_is_run_and_rerun_on_prefixes(name: str, bug: str | None, prefix: int | None) -> None:
    c = client(name)
    diagnosis = c.diagnose(backward_of(c, bug))
    assert diagnosis.passed == (bug is None)
    if bug is None:
        return
    assert diagnosis.timeline.prefix_fail == prefix
    assert diagnosis.first_wrong_step == first_wrong(c, bug)[0]
    text = "on the first step alone" if prefix == 1 else f"right on the first {prefix - 1} step, wrong on the first 2"
    assert text in diagnosis.report()


def test_mismatch_is_an_assertion_error_listing_the_worst_gradient_first() -> None:
    c = client("lstm")
    with pytest.raises(GradientMismatch) as info:
        check_bptt(
            "lstm",
            c.params,
            c.grads("swapped_gates"),
            c.data["inputs"],
            targets=c.data["targets"],
            h0=c.data["h0"],
            c0=c.data["c0"],
            gates="ifog",
            loss="mse",
            reduce="mean",
        )
    error = info.value
    assert isinstance(error, AssertionError)
    keys = [k for k, r in error.comparison.keys.items() if not r.passed]
    errors = [error.comparison.keys[k].max_abs_err for k in keys]
    assert errors == sorted(errors, reverse=True)
    message = str(error)
    assert message.splitlines()[0].startswith(
        "BPTT gradients differ from the exact reference (lstm, T=5, H=4, I=3, O=2"
    )
    assert "per gate: i 0/28, f 0/28" not in message  # at step T only o and g are wrong, but earlier steps carry it
    worst = error.comparison.keys[keys[0]]
    assert "gate 'g'" in worst.location or "gate 'o'" in worst.location
