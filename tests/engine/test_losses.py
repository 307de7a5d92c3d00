"""Loss heads: values against PyTorch's losses, gradients against central differences, targets checked."""

from __future__ import annotations

import numpy as np
import pytest

from gradscope.engine.losses import LOSSES, REDUCTIONS, OutputHead, make_loss
from gradscope.errors import ConfigError, ShapeError

T, O, H = 5, 4, 3


def targets_for(kind: str, reduce: str, rng: np.random.Generator) -> object:
    n = 1 if reduce == "last" else T
    if kind == "softmax_ce":
        return rng.integers(0, O, n) if reduce != "last" else int(rng.integers(0, O))
    return rng.normal(size=(n, O)) if reduce != "last" else rng.normal(size=O)


def central(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        out[index] = (f(plus) - f(minus)) / (2 * eps)
    return out


@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_gradient_is_the_derivative_of_the_value(kind: str, reduce: str) -> None:
    rng = np.random.default_rng(0)
    loss = make_loss(kind, reduce, targets_for(kind, reduce, rng), T, O)
    outputs = rng.normal(size=(T, O))
    np.testing.assert_allclose(loss.gradient(outputs), central(loss.value, outputs), rtol=1e-7, atol=1e-9)
    if reduce == "last":
        assert not np.any(loss.gradient(outputs)[:-1])


@pytest.mark.parametrize("kind", ["softmax_ce", "mse"])
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_values_are_pytorchs_losses(kind: str, reduce: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    targets = targets_for(kind, reduce, rng)
    loss = make_loss(kind, reduce, targets, T, O)
    outputs = rng.normal(size=(T, O))
    y = torch.tensor(outputs[-1:] if reduce == "last" else outputs)
    target = torch.tensor(np.atleast_1d(targets) if kind == "softmax_ce" else np.reshape(targets, y.shape))
    reduction = "mean" if reduce in ("mean", "last") else "sum"
    if kind == "softmax_ce":
        expected = torch.nn.functional.cross_entropy(y, target, reduction=reduction).item()
    else:  # per step: MSELoss() over the step's outputs; "sum" adds the steps' means
        expected = torch.nn.functional.mse_loss(y, target, reduction="mean").item() * (T if reduce == "sum" else 1)
    assert loss.value(outputs) == pytest.approx(expected, rel=1e-12)


def test_squared_errors_are_scaled_copies_of_each_other() -> None:
    rng = np.random.default_rng(2)
    targets, outputs = rng.normal(size=(T, O)), rng.normal(size=(T, O))
    sse = make_loss("sse", "sum", targets, T, O).value(outputs)
    assert sse == pytest.approx(np.sum((outputs - targets) ** 2), rel=1e-14)
    assert make_loss("half_sse", "sum", targets, T, O).value(outputs) == pytest.approx(sse / 2, rel=1e-14)
    assert make_loss("mse", "sum", targets, T, O).value(outputs) == pytest.approx(sse / O, rel=1e-14)
    np.testing.assert_allclose(make_loss("half_sse", "sum", targets, T, O).gradient(outputs), outputs - targets)


def test_softmax_does_not_overflow_on_large_logits() -> None:
    loss = make_loss("softmax_ce", "sum", [1], 1, 2)
    outputs = np.array([[1000.0, 0.0]])
    gradient = loss.gradient(outputs)
    np.testing.assert_allclose(gradient, [[1.0, -1.0]], atol=1e-300)  # p = (1, e^-1000), minus onehot(1)
    assert loss.value(outputs) == pytest.approx(1000.0)


def test_distribution_targets_equal_their_one_hot_indices() -> None:
    rng = np.random.default_rng(3)
    indices = rng.integers(0, O, T)
    outputs = rng.normal(size=(T, O))
    hard = make_loss("softmax_ce", "mean", indices, T, O)
    soft = make_loss("softmax_ce", "mean", np.eye(O)[indices], T, O)
    np.testing.assert_allclose(soft.gradient(outputs), hard.gradient(outputs), rtol=1e-14)


def test_output_head_gradients_are_derivatives() -> None:
    rng = np.random.default_rng(4)
    weight, bias, hidden = rng.normal(size=(O, H)), rng.normal(size=O), rng.normal(size=(T, H))
    loss = make_loss("softmax_ce", "sum", rng.integers(0, O, T), T, O)
    head = OutputHead(weight, bias)
    dy = loss.gradient(head.outputs(hidden))
    d_weight, d_bias = head.gradients(hidden, dy)
    np.testing.assert_allclose(
        d_weight, central(lambda w: loss.value(OutputHead(w, bias).outputs(hidden)), weight), rtol=1e-7
    )
    np.testing.assert_allclose(
        d_bias, central(lambda b: loss.value(OutputHead(weight, b).outputs(hidden)), bias), rtol=1e-7
    )
    upstream = central(lambda h: loss.value(head.outputs(h)), hidden)
    np.testing.assert_allclose(head.hidden_gradient(dy), upstream, rtol=1e-7, atol=1e-10)
    assert OutputHead(weight).gradients(hidden, dy)[1] is None


def test_prefix_keeps_the_last_steps_one_target() -> None:
    per_step = make_loss("mse", "sum", np.ones((T, O)), T, O).prefix(2)
    assert per_step.targets.shape == (2, O)
    last = make_loss("softmax_ce", "last", 2, T, O)
    assert last.prefix(2) is last


@pytest.mark.parametrize(
    ("kind", "reduce", "targets", "error", "match"),
    [
        ("softmax_ce", "sum", [0, 1], ShapeError, "expected 5 class indices, one per step"),
        ("softmax_ce", "last", [0, 1], ShapeError, "one class index"),
        ("softmax_ce", "sum", [0, 1, 2, 3, 4 + O], ConfigError, "class index 8 out of range for 4 outputs"),
        ("softmax_ce", "sum", np.full((T, O), 0.5), ConfigError, "must be distributions"),
        ("mse", "sum", np.ones((T, O + 1)), ShapeError, r"expected values of shape \(5, 4\)"),
        ("mse", "last", np.ones((2, O)), ShapeError, r"expected values of shape \(4,\)"),
        ("hinge", "sum", [0], ConfigError, "unknown loss 'hinge'"),
        ("mse", "max", [0], ConfigError, "unknown reduce 'max'"),
        ("mse", "sum", [[np.nan] * O] * T, Exception, "NaN"),
    ],
)
def test_bad_targets_are_named(kind: str, reduce: str, targets: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_loss(kind, reduce, targets, T, O)
