"""The LSTM's spectrum of ``P_k`` split at index H, against PyTorch autograd's ``P_k`` and the carousel's product."""

from __future__ import annotations

import numpy as np
import pytest

import gradscope
from gradscope.analysis.spectra import resolved_split, spectrum_split

torch = pytest.importorskip("torch")
import torch_reference  # noqa: E402


def test_the_split_is_the_torch_spectrum_and_its_upper_group_decays_like_the_carousel() -> None:
    hidden, steps, lag = 32, 40, 10
    problem = gradscope.make_problem("lstm", hidden_size=hidden, input_size=8, steps=steps, seed=1)
    analysis = gradscope.analyze(problem, snapshot_lags=(1, lag, steps))
    params = problem.network.first.as_dict()
    inputs = np.asarray(problem.inputs)
    step = torch_reference.step_function("lstm", torch_reference.module_for("lstm", params), hidden)
    states = torch_reference.states("lstm", params, inputs, problem.initial_state[0])
    xs = [torch.tensor(x) for x in inputs]

    def tail(state: torch.Tensor) -> torch.Tensor:
        for t in range(steps - lag, steps):
            state = step(state, xs[t])
        return state

    product = torch.autograd.functional.jacobian(tail, torch.tensor(states[steps - lag])).numpy()  # P_k, (2H, 2H)
    expected = np.log10(np.linalg.svd(product, compute_uv=False))
    split = spectrum_split(analysis, lag, hidden)
    assert split.upper == pytest.approx(expected[0], abs=1e-9)
    assert split.lower == pytest.approx(expected[hidden], abs=1e-3)  # 1e-13 relative to sigma_1: near rounding
    assert split.drop == pytest.approx(expected[hidden - 1] - expected[hidden], abs=1e-3)
    assert split.drop > 5  # many decades between the carousel's directions and the rest
    assert (split.upper_rate, split.lower_rate) == pytest.approx((split.upper / lag, split.lower / lag))
    # The carousel alone, dc_t/dc_{t-1} = diag(f_t): its product over the lag is diag(prod f_t), of norm max_i.
    h = states[:, :hidden]
    pre = inputs @ params["weight_ih_l0"].T + params["bias_ih_l0"] + h[:-1] @ params["weight_hh_l0"].T
    forget = 1.0 / (1.0 + np.exp(-(pre + params["bias_hh_l0"])[:, hidden : 2 * hidden]))
    carousel = np.log10(forget[-lag:]).sum(axis=0).max() / lag
    assert abs(split.upper_rate - carousel) < 0.1
    assert abs(split.lower_rate - carousel) > 1.0
    # At T = 40 the directions through h are below float64 resolution: the longest resolved lag is 10.
    assert not spectrum_split(analysis, steps, hidden).resolved
    assert resolved_split(analysis, hidden) == split


def test_split_bounds_are_checked() -> None:
    analysis = gradscope.analyze(
        gradscope.make_problem("lstm", hidden_size=3, input_size=2, steps=4), snapshot_lags=(2,)
    )
    with pytest.raises(ValueError, match="split must be between 1 and 5"):
        spectrum_split(analysis, 2, 6)
