"""check_bptt on a per-gate GRU written by hand: the GRU's own mistakes (sigmoid', tanh', z and 1 - z) are named."""

from __future__ import annotations

import numpy as np
import pytest
import tutorial_clients as clients

from gradscope.testing import diagnose_bptt

T, H, I = 4, 4, 5


def problem() -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    params = {f"W{g}": rng.normal(0, 0.5, (H, I)) for g in "rzh"} | {f"U{g}": rng.normal(0, 0.5, (H, H)) for g in "rzh"}
    params |= {f"b{g}": rng.normal(0, 0.3, H) for g in "rzh"}
    data = {"xs": rng.normal(size=(T, I)), "targets": rng.normal(size=(T, H)), "h0": rng.normal(0, 0.5, H)}
    return params, data


def run(bug: str | None = None, trace: dict | None = None) -> dict:
    params, d = problem()
    return clients.gru(params, d["xs"], d["targets"], d["h0"], bug=bug, trace=trace)


def diagnose(grads: dict):
    params, d = problem()
    return diagnose_bptt("gru", params, grads, d["xs"], targets=d["targets"], loss="half_sse", h0=d["h0"])


def test_the_correct_gru_matches_finite_differences_and_passes() -> None:
    params, d = problem()
    grads = run()

    def loss(p: dict) -> float:
        h, total = d["h0"], 0.0
        for x, target in zip(d["xs"], d["targets"], strict=True):
            r = 1 / (1 + np.exp(-(p["Wr"] @ x + p["br"] + p["Ur"] @ h)))
            z = 1 / (1 + np.exp(-(p["Wz"] @ x + p["bz"] + p["Uz"] @ h)))
            h = (1 - z) * np.tanh(p["Wh"] @ x + p["bh"] + r * (p["Uh"] @ h)) + z * h
            total += 0.5 * np.sum((h - target) ** 2)
        return total

    for key, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus, minus = dict(params), dict(params)
            plus[key], minus[key] = value.copy(), value.copy()
            plus[key][index] += 1e-6
            minus[key][index] -= 1e-6
            numeric[index] = (loss(plus) - loss(minus)) / 2e-6
        np.testing.assert_allclose(grads["d" + key], numeric, rtol=1e-6, atol=1e-8, err_msg=key)
    assert diagnose(grads).passed


HINTS = {
    "no_sigmoid_grad": "sigmoid derivative s (1 - s) of the gates r, z is missing",
    "no_tanh_grad": "tanh derivative (1 - n_t^2) of the candidate n is missing",
    "swapped_z": "h_t = z_t n_t + (1 - z_t) h_{t-1} (z and 1 - z swapped)",
    "transpose": "untransposed",
}


@pytest.mark.parametrize("bug", clients.GRU_BUGS)
def test_each_gru_bug_is_placed_and_named(bug: str) -> None:
    good, bad = {}, {}
    run(trace=good)
    grads = run(bug, trace=bad)
    wrong = [t for t in good if any(not np.allclose(bad[t][k], good[t][k], rtol=1e-10, atol=1e-13) for k in good[t])]
    diagnosis = diagnose(grads)
    assert not diagnosis.passed and diagnosis.first_wrong_step == max(wrong)
    report = diagnosis.report()
    assert [h for h in HINTS.values() if h in report] == [HINTS[bug]], report
    assert "gate 'r'" in report or "gate 'z'" in report or "gate 'n'" in report  # per-gate arrays, gates named
