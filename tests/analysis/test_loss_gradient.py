"""``||dL/dh_{T-k}||`` from the derived BPTT reference equals PyTorch autograd in float64 (``h_t.grad`` of a
step-by-step ``nn.RNN``/``nn.LSTM``/``nn.GRU``), for last-step and per-step losses, with and without an output layer."""

from __future__ import annotations

import numpy as np
import pytest

import gradscope
from gradscope.analysis.loss_gradient import LossSpec, loss_gradient
from gradscope.errors import ConfigError, ShapeError

H, I, T, O = 4, 3, 9, 2


def torch_hidden_gradients(cell: str, params: dict, inputs: np.ndarray, spec: LossSpec) -> np.ndarray:
    """``||dL/dh_t||`` for ``t = T-1 .. 0`` (lags 1..T) by autograd through the real float64 module."""
    torch = pytest.importorskip("torch")
    import torch_reference

    module = torch_reference.module_for(cell, params)
    h = torch.zeros(1, 1, H, dtype=torch.float64, requires_grad=True)
    c = torch.zeros(1, 1, H, dtype=torch.float64)
    hs = [h]
    for x in torch.from_numpy(inputs):
        if cell == "lstm":
            _, (h, c) = module(x[None, None], (h, c))
        else:
            _, h = module(x[None, None], h)
        h.retain_grad()
        hs.append(h)
    hidden = torch.cat([state.reshape(1, H) for state in hs[1:]])
    outputs = hidden if spec.head_weight is None else hidden @ torch.from_numpy(spec.head_weight).T
    if spec.head_bias is not None:
        outputs = outputs + torch.from_numpy(spec.head_bias)
    read = outputs[-1:] if spec.reduce == "last" else outputs
    targets = torch.as_tensor(np.asarray(spec.targets))
    if spec.kind == "softmax_ce":
        losses = torch.nn.functional.cross_entropy(read, targets.reshape(-1), reduction="none")
    else:
        losses = ((read - targets.reshape(read.shape)) ** 2).mean(dim=1)
    (losses.mean() if spec.reduce == "mean" else losses.sum()).backward()
    return np.array([hs[T - k].grad.reshape(-1).norm().item() for k in range(1, T + 1)])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(
    ("kind", "reduce", "with_head"),
    [("mse", "last", False), ("mse", "sum", True), ("softmax_ce", "mean", True), ("softmax_ce", "last", True)],
)
def test_equals_torch_autograd(cell: str, kind: str, reduce: str, with_head: bool) -> None:
    rng = np.random.default_rng(11)
    problem = gradscope.make_problem(cell, hidden_size=H, input_size=I, steps=T, seed=2)
    params = problem.network.top.as_dict()
    size = O if with_head else H
    n = 1 if reduce == "last" else T
    targets = rng.integers(0, size, n) if kind == "softmax_ce" else rng.standard_normal((n, size))
    head = (rng.standard_normal((O, H)), rng.standard_normal(O)) if with_head else (None, None)
    spec = LossSpec(kind, reduce, targets, *head)
    result = loss_gradient(problem, spec)
    expected = torch_hidden_gradients(cell, params, np.array(problem.inputs), spec)
    np.testing.assert_allclose(10.0**result.log10_norm, expected, rtol=1e-10)
    assert list(result.lags) == list(range(1, T + 1))
    if reduce == "last":  # one loss at T: the gradient decays as the Jacobian products do, rate <= 0 here
        assert np.isfinite(result.rate_per_step)


def test_bad_losses_name_the_problem() -> None:
    problem = gradscope.make_problem("lstm", hidden_size=H, input_size=I, steps=T)
    with pytest.raises(ConfigError, match="unknown loss 'l1'"):
        loss_gradient(problem, LossSpec("l1", "last", np.zeros(H)))
    with pytest.raises(ShapeError, match="targets"):
        loss_gradient(problem, LossSpec("mse", "sum", np.zeros(H)))
    with pytest.raises(ConfigError, match="output layer"):
        loss_gradient(problem, LossSpec("mse", "last", np.zeros(O), np.zeros((O, H + 1))))
    stacked = gradscope.make_problem("rnn", hidden_size=H, input_size=I, steps=T, num_layers=2)
    with pytest.raises(ConfigError, match="one layer"):
        loss_gradient(stacked, LossSpec("mse", "last", np.zeros(H)))
