"""Non-finite values met on the way are clean errors naming the cell, the step and the quantity: the forward
pass of a rnn-relu with a large gain (and the step it names is the one a plain NumPy forward pass finds, and
the shorter run it suggests works), Lyapunov exponents of a diverging trajectory (exit 2, not nan), a gain of
1e308 (no "rate +0", no warnings), huge weights in a file and huge inputs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import CASES, expect_clean, expect_refused, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradscope

RELU = ["--cell", "rnn-relu", "--init", "gaussian", "-H", "8", "-T", "300"]


def relu_states(gain: float, seed: int, hidden: int = 8, steps: int = 300) -> np.ndarray:
    """``h_1 .. h_T`` ``(T, H)`` by a plain NumPy forward pass of the same drawn network (inf/nan once it
    overflows): ``h_t = relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (PyTorch's RNN with relu)."""
    problem = gradscope.make_problem("rnn-relu", init="gaussian", gain=gain, hidden_size=hidden, steps=steps, seed=seed)
    p, x = problem.params, problem.inputs
    states = np.zeros((steps + 1, hidden))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            states[t + 1] = np.maximum(p.weight_ih @ x[t] + p.bias_ih + p.weight_hh @ states[t] + p.bias_hh, 0.0)
    return states[1:]


def first_overflow(gain: float, seed: int, hidden: int = 8, steps: int = 300) -> int | None:
    """The first step whose state is not finite (:func:`relu_states`), or None."""
    bad = np.flatnonzero(~np.isfinite(relu_states(gain, seed, hidden, steps)).all(axis=1))
    return int(bad[0]) + 1 if bad.size else None


@pytest.mark.parametrize("command", ["analyze", "lyapunov", "explain"])
def test_relu_overflow_names_the_step_and_how_far_the_states_are_finite(tmp_path: Path, command: str) -> None:
    step = first_overflow(50.0, 0)
    assert step is not None and step > 2
    message = expect_refused(
        "numbers", tmp_path, command, *RELU, "--gain", "50", culprit=("rnn-relu", f"overflows at step {step}")
    )
    assert f"finite up to step {step - 1}" in message and "nan" not in message
    # What it says can be analysed can be: the profile up to the last finite step.
    result, caught = run(tmp_path, command, *RELU[:-1], str(step - 1), "--gain", "50", "--json", "-")
    assert result.exit_code == 0 and not caught, result.output
    document = json.loads(result.stdout)
    assert "NaN" not in result.stdout and document["cell"] == "rnn-relu"
    if command == "explain":  # the ReLU's mean near float64's limit: the exact mean of the NumPy states
        mean = statistics.mean(relu_states(50.0, 0, steps=step - 1).ravel().tolist())
        assert document["gates"][0]["mean"] == pytest.approx(mean, rel=1e-12)
    CASES["numbers"] += 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log10_gain=st.floats(-1.0, 308.0),
    seed=st.integers(0, 2**16),
    command=st.sampled_from(["analyze", "explain", "lyapunov"]),
)
def test_any_large_gain_is_a_profile_or_names_the_step(
    tmp_path: Path, log10_gain: float, seed: int, command: str
) -> None:
    gain = f"{10.0**log10_gain:.6g}"
    step = first_overflow(float(gain), seed, steps=60)
    args = (command, *RELU[:-1], "60", "--gain", gain, "--seed", str(seed), "--json", "-")
    if step is None:  # finite all the way: a profile (the tiny-H spectral norms need no checks here)
        result = expect_clean("numbers", tmp_path, *args)
        assert result.exit_code == 0 and "NaN" not in result.stdout
    else:
        expect_refused("numbers", tmp_path, *args, culprit=("rnn-relu", f"step {step}"))


@pytest.mark.parametrize("command", ["analyze", "lyapunov", "explain", "compare"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "indrnn"])
@pytest.mark.parametrize("hidden", ["4", "8"])
def test_a_gain_of_1e308_is_an_honest_result_or_a_clean_refusal(
    tmp_path: Path, command: str, cell: str, hidden: str
) -> None:
    """Either the projections overflow (refused, naming the step), or the gates saturate exactly and the
    gradient is exactly zero (a vanishing verdict, rate -inf): never "rate +0", never a warning or a nan."""
    cells = ["--cells", f"{cell},rnn"] if command == "compare" else ["--cell", cell]
    args = (command, *cells, "--init", "gaussian", "--gain", "1e308", "-H", hidden, "-T", "30")
    result = expect_clean("numbers", tmp_path, *args)
    assert "rate +0" not in result.output and "nan" not in result.stdout.lower()
    if result.exit_code == 2:
        overflow = "overflow" in result.stderr and "step" in result.stderr
        assert overflow or "gain 1e+308 with init gaussian: the drawn parameters overflow" in result.stderr


def test_huge_weights_and_inputs_in_files(tmp_path: Path) -> None:
    """A rnn-relu with all weights positive and inputs of ones: ``h_1 = 3``, ``h_t = 3 + 4e200 h_{t-1}``, so
    ``h_2 = 1.2e201`` is finite and ``h_3 = 4.8e401`` is not (closed form): the error names step 3. Inputs of
    1e308 into three unit weights give ``3e308 > 1.8e308``: the input projection
    overflows at step 1."""
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "huge.npz", weight_ih_l0=np.ones((4, 3)), weight_hh_l0=np.full((4, 4), 1e200))
    np.save(tmp_path / "ones.npy", np.ones((10, 3)))
    np.save(tmp_path / "x.npy", np.full((10, 3), 1e308))
    np.savez(tmp_path / "ok.npz", weight_ih_l0=np.ones((4, 3)), weight_hh_l0=rng.standard_normal((4, 4)))
    for command in ("analyze", "lyapunov", "explain"):
        expect_refused("numbers", tmp_path, command, "--cell", "rnn-relu", "--weights", "huge.npz", "--inputs",
                       "ones.npy", culprit=("rnn-relu", "at step 3"))  # fmt: skip
        expect_refused("numbers", tmp_path, command, "--cell", "rnn", "--weights", "ok.npz", "--inputs", "x.npy",
                       culprit=("rnn", "input projection", "step 1"))  # fmt: skip


def test_the_overflow_step_is_the_first_nonfinite_state_in_the_library(tmp_path: Path) -> None:
    """The same error from the Python API, with the same step (no CLI involved)."""
    from gradscope.errors import DivergenceError

    step = first_overflow(50.0, 0)
    with pytest.raises(DivergenceError, match=rf"overflows at step {step}\b"):
        gradscope.analyze("rnn-relu", init="gaussian", gain=50.0, hidden_size=8, steps=300)
    with pytest.raises(DivergenceError, match=rf"step {step}\b"):
        gradscope.lyapunov("rnn-relu", init="gaussian", gain=50.0, hidden_size=8, steps=300)
    CASES["numbers"] += 2


def test_a_jacobian_near_float64s_limit(tmp_path: Path) -> None:
    """Zero input weights keep ``h_t = 0``, so ``J_t = W_hh = 1e308 * ones(4, 4)`` at every step and
    ``P_k = W_hh^k`` has ``||P_k||_2 = (4e308)^k`` (closed form): analyze and explain give exactly that (their
    products are rescaled), while Lyapunov's tangent map ``J Q`` itself overflows, refused at step 1."""
    np.savez(tmp_path / "jac.npz", weight_ih_l0=np.zeros((4, 2)), weight_hh_l0=np.full((4, 4), 1e308))
    expected = np.arange(1, 11) * (308 + np.log10(4.0))  # log10 of (4e308)^k, written so as not to overflow
    for command, key in (("analyze", "log10_norm"), ("explain", "full")):
        result = expect_clean("numbers", tmp_path, command, "--cell", "rnn", "--weights", "jac.npz", "-T", "10",
                              "--json", "-")  # fmt: skip
        assert result.exit_code == 0
        document = json.loads(result.stdout)
        profile = document[key] if key == "log10_norm" else document["full"]["log10_norm"]
        np.testing.assert_allclose(profile, expected, rtol=1e-12)
    expect_refused("numbers", tmp_path, "lyapunov", "--cell", "rnn", "--weights", "jac.npz", "-T", "10",
                   culprit=("rnn", "tangent map", "step 1"))  # fmt: skip


def test_an_ensemble_names_the_draw_that_overflows(tmp_path: Path) -> None:
    """Draw i has seed ``seed + i``: the first seed whose plain NumPy forward pass overflows, and its step."""
    seeds = range(8)
    steps = {seed: first_overflow(20.0, seed) for seed in seeds}
    first = next(seed for seed in seeds if steps[seed] is not None)
    assert all(steps[seed] is None for seed in seeds if seed < first)
    culprit = (f"draw {first + 1} of 8 (--seed {first})", f"overflows at step {steps[first]}")
    expect_refused("numbers", tmp_path, "analyze", *RELU, "--gain", "20", "--samples", "8", culprit=culprit)
