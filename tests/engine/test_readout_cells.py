"""The Jordan network (output fed back, state y) against second sources.

PyTorch autograd through a Jordan network written directly in torch (float64), central finite
differences of the forward map, and the tiny-size fully expanded SymPy Jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradscope
from gradscope.analysis.problem import make_problem, trajectory
from gradscope.cells import Cell, Readout, get_cell, m, prev, readout_projection, u
from gradscope.cells.activations import NUMPY_FUNCTIONS
from gradscope.cells.spec import ALL_CELL_NAMES, CELL_NAMES
from gradscope.compile import compile_cell
from gradscope.engine.coefficients import dense_jacobians as feedback_jacobians
from gradscope.errors import ConfigError, ParameterError, ShapeError
from gradscope.params import validate_params as validate_feedback_params
from gradscope.params.init import haar_semi_orthogonal
from gradscope.symbolic.derivation import derive
from gradscope.symbolic.expanded import expanded_readout_jacobian

SIZES = [(5, 3), (3, 7)]  # (H, O), both O != H


def _problem(hidden: int, output: int, steps: int = 12, gain: float = 1.0, init: str = "pytorch", seed: int = 0):
    problem = make_problem(
        "jordan", hidden_size=hidden, output_size=output, input_size=4, steps=steps, gain=gain, init=init, seed=seed
    )
    y0 = np.random.default_rng(seed + 7).uniform(0.1, 0.9, size=output)
    return make_problem(
        "jordan", params=problem.params.as_dict(), inputs=problem.inputs, y0=y0, seed=seed
    ), problem.params.as_dict()


# --- the cell as data and its derivation -------------------------------------------------------


def test_jordan_is_registered_apart_from_the_one_stage_cells() -> None:
    assert "jordan" in ALL_CELL_NAMES and "jordan" not in CELL_NAMES
    spec = compile_cell("jordan").spec
    assert spec.feedback and spec.state == ("y",) and spec.state_layout == "y"
    assert spec.state_size(5, 3) == 3


def test_derived_block_reads_as_the_chain_rule_through_both_stages() -> None:
    (block,) = derive("jordan").blocks
    assert block.text() == "dy_t/dy_{t-1} = diag(y_t*(1 - y_t)) W_hy diag(1 - h_t**2) W_yh"
    assert r"W_{hy} \operatorname{diag}\left(1 - h_{t}^{2}\right) W_{yh}" in block.latex()
    assert compile_cell("jordan").blocks[0].text == block.text()


def test_readout_cell_validation() -> None:
    h_t = sympy.Symbol("h_t")
    readout = Readout(readout_projection())
    with pytest.raises(ValueError, match="state"):
        Cell("bad", "", ("h",), ("h",), ((h_t, u("h") + m("h")),), (h_t,), readout=readout)
    with pytest.raises(ValueError, match="undefined symbols"):
        Cell("bad", "", ("h",), ("y",), ((h_t, u("h") + m("h") + prev("y")),), (h_t,), readout=readout)
    with pytest.raises(ValueError, match="readout uses undefined"):
        Cell("bad", "", ("h",), ("y",), ((h_t, u("h") + m("h")),), (h_t,), readout=Readout(u("h")))


@pytest.mark.parametrize(("hidden", "output"), [(2, 3), (3, 2)])
def test_structured_jacobian_equals_the_fully_expanded_sympy_jacobian(hidden: int, output: int) -> None:
    cell = get_cell("jordan")
    jacobian, symbols = expanded_readout_jacobian(cell, hidden, 4, output)
    problem, params = _problem(hidden, output, steps=3)
    run = trajectory(problem)
    values = {
        "weight_ih": params["weight_ih_l0"],
        "weight_yh": params["weight_yh_l0"],
        "bias_ih": params["bias_ih_l0"][:, None],
        "weight_hy": params["weight_hy_l0"],
        "bias_hy": params["bias_hy_l0"][:, None],
    }
    expected = feedback_jacobians(run)
    for t in range(run.steps):
        values |= {"x": run.inputs[t][:, None], "y": run.states[t][:, None]}
        arguments = [s for key in values for s in symbols[key]]
        numbers = [v for key in values for v in np.asarray(values[key]).reshape(-1)]
        function = sympy.lambdify(arguments, jacobian, modules=[NUMPY_FUNCTIONS, "numpy"])
        np.testing.assert_allclose(function(*numbers), expected[t], rtol=1e-12, atol=1e-14)


def test_expanded_readout_jacobian_refuses_large_sizes() -> None:
    with pytest.raises(ValueError, match="sizes <= 3"):
        expanded_readout_jacobian(get_cell("jordan"), 2, 2, 4)


# --- forward map and Jacobians ----------------------------------------------------------------


@pytest.mark.parametrize(("hidden", "output"), SIZES)
def test_jacobians_match_central_differences_of_the_forward_map(hidden: int, output: int) -> None:
    problem, _ = _problem(hidden, output, steps=6)
    run = trajectory(problem)
    params, compiled = problem.params, problem.compiled

    def step(y: np.ndarray, t: int) -> np.ndarray:
        h = compiled.update(run.input_projection[t], (params.weight_hh @ y)[None], np.zeros((0, hidden)))[0]
        return compiled.readout(params.weight_out @ h + params.bias_out)

    eps = 1e-6
    numeric = np.stack(
        [
            np.stack(
                [
                    (step(run.states[t] + eps * e, t) - step(run.states[t] - eps * e, t)) / (2 * eps)
                    for e in np.eye(output)
                ],
                axis=1,
            )
            for t in range(run.steps)
        ]
    )
    np.testing.assert_allclose(feedback_jacobians(run), numeric, rtol=0, atol=1e-9)


def test_semi_orthogonal_init_has_all_singular_values_equal_to_gain() -> None:
    rng = np.random.default_rng(0)
    for shape in ((5, 3), (3, 7)):
        np.testing.assert_allclose(np.linalg.svd(haar_semi_orthogonal(*shape, rng), compute_uv=False), 1.0)
    _, params = _problem(3, 7, init="orthogonal", gain=0.5)
    np.testing.assert_allclose(np.linalg.svd(params["weight_yh_l0"], compute_uv=False), 0.5)


# --- against PyTorch autograd ------------------------------------------------------------------


def _torch_jordan(torch, params, inputs, y0):
    """States and per-step Jacobians of a Jordan network written directly in torch (float64)."""
    w = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}

    def step(y, x):
        h = torch.tanh(w["weight_ih_l0"] @ x + w["bias_ih_l0"] + w["weight_yh_l0"] @ y)
        return torch.sigmoid(w["weight_hy_l0"] @ h + w["bias_hy_l0"])

    y = torch.tensor(y0, dtype=torch.float64)
    states, jacobians = [y], []
    for x in torch.tensor(inputs, dtype=torch.float64):
        jacobians.append(torch.autograd.functional.jacobian(lambda s, x=x: step(s, x), y))
        y = step(y, x).detach()
        states.append(y)
    return torch.stack(states), torch.stack(jacobians)


@pytest.mark.parametrize(("hidden", "output"), SIZES)
@pytest.mark.parametrize("gain", [0.5, 1.0, 8.0])
def test_states_jacobians_and_every_lag_against_torch(hidden: int, output: int, gain: float) -> None:
    torch = pytest.importorskip("torch")
    init = "pytorch" if gain < 8 else "orthogonal"  # gain 8 orthogonal: large weights, saturated units
    problem, params = _problem(hidden, output, steps=25, gain=gain, init=init)
    run = trajectory(problem)
    states, jacobians = _torch_jordan(torch, params, problem.inputs, problem.initial_state[0])
    np.testing.assert_allclose(run.states, states.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(feedback_jacobians(run), jacobians.numpy(), rtol=1e-10, atol=1e-14)

    product = torch.eye(output, dtype=torch.float64)
    expected = []
    for t in range(run.steps - 1, -1, -1):
        product = product @ jacobians[t]  # P_k = J_T ... J_{T-k+1}
        expected.append(float(torch.log10(torch.linalg.matrix_norm(product, ord=2))))
    kwargs = {"params": params, "inputs": problem.inputs, "y0": problem.initial_state[0]}
    analysis = gradscope.analyze("jordan", **kwargs)
    assert analysis.output_size == output and analysis.hidden_size == hidden
    np.testing.assert_allclose(10**analysis.log10_norm, 10 ** np.array(expected), rtol=1e-8)
    frobenius = gradscope.analyze("jordan", norm="frobenius", **kwargs)
    product = torch.eye(output, dtype=torch.float64)
    for k, t in enumerate(range(run.steps - 1, -1, -1)):
        product = product @ jacobians[t]
        assert frobenius.log10_norm[k] == pytest.approx(
            float(torch.log10(torch.linalg.matrix_norm(product))), rel=1e-10
        )
    single = gradscope.analyze("jordan", dtype="float32", **kwargs)
    np.testing.assert_allclose(10**single.log10_norm, 10 ** np.array(expected), rtol=1e-4)


def _fixed_point_params(hidden: int, output: int, factor: float) -> dict[str, np.ndarray]:
    """A Jordan network with the fixed point y = 1/2 (h = 0, r = 0) on zero input, where
    J = (1/4) W_hy W_yh; with W_hy = a Q^T and W_yh = b Q R (Q orthonormal columns, R orthogonal,
    a b / 4 = factor) that is factor * R, so ||P_k|| = factor^k exactly."""
    rng = np.random.default_rng(3)
    q, r = haar_semi_orthogonal(hidden, output, rng), haar_semi_orthogonal(output, output, rng)
    weight_yh = 2.0 * factor * q @ r
    return {
        "weight_ih_l0": rng.standard_normal((hidden, 2)),
        "weight_yh_l0": weight_yh,
        "weight_hy_l0": 2.0 * q.T,
        "bias_ih_l0": -weight_yh @ np.full(output, 0.5),  # h_t = tanh(0) = 0 on y_{t-1} = 1/2
        "bias_hy_l0": np.zeros(output),
    }


@pytest.mark.parametrize(("factor", "verdict"), [(1.5, "exploding"), (0.5, "vanishing")])
def test_closed_form_at_the_fixed_point(factor: float, verdict: str) -> None:
    steps, output = 40, 3
    params = _fixed_point_params(5, output, factor)
    analysis = gradscope.analyze("jordan", params=params, inputs=np.zeros((steps, 2)), y0=np.full(output, 0.5))
    np.testing.assert_allclose(analysis.log10_norm, analysis.lags * np.log10(factor), rtol=1e-9, atol=1e-12)
    assert analysis.verdict == verdict


@pytest.mark.parametrize(("hidden", "output"), [(5, 3), (7, 4)])  # the construction needs H >= O
def test_exploding_profile_near_the_fixed_point_against_torch(hidden: int, output: int) -> None:
    """Just off the repelling fixed point, tiny inputs: every lag against torch, exploding."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    params, steps = _fixed_point_params(hidden, output, 1.5), 20
    inputs, y0 = 1e-6 * rng.standard_normal((steps, 2)), 0.5 + 1e-6 * rng.standard_normal(output)
    _, jacobians = _torch_jordan(torch, params, inputs, y0)
    product, expected = torch.eye(output, dtype=torch.float64), []
    for t in range(steps - 1, -1, -1):
        product = product @ jacobians[t]
        expected.append(float(torch.linalg.matrix_norm(product, ord=2)))
    analysis = gradscope.analyze("jordan", params=params, inputs=inputs, y0=y0)
    np.testing.assert_allclose(10**analysis.log10_norm, expected, rtol=1e-8)
    assert analysis.verdict == "exploding"


def test_snapshots_and_document() -> None:
    torch = pytest.importorskip("torch")
    problem, params = _problem(5, 3, steps=20)
    _, jacobians = _torch_jordan(torch, params, problem.inputs, problem.initial_state[0])
    analysis = gradscope.analyze(
        "jordan", params=params, inputs=problem.inputs, y0=problem.initial_state[0], snapshot_lags=[1, 4]
    )
    product = jacobians[-1] @ jacobians[-2] @ jacobians[-3] @ jacobians[-4]
    expected = np.log10(torch.linalg.svdvals(product).numpy())
    np.testing.assert_allclose(analysis.singular_values[4], expected, rtol=1e-8)
    document = analysis.to_dict()
    assert document["state"] == "y" and document["output_size"] == 3 and document["cell"] == "jordan"
    assert "output_size" not in gradscope.analyze("rnn", hidden_size=3, steps=5).to_dict()


# --- bad input ---------------------------------------------------------------------------------


def test_output_size_defaults_to_hidden_size() -> None:
    analysis = gradscope.analyze("jordan", hidden_size=4, steps=5)
    assert analysis.output_size == 4


def test_parameter_errors_name_the_parameter_and_both_shapes() -> None:
    _, params = _problem(5, 3)
    spec = compile_cell("jordan").spec
    bad = dict(params) | {"weight_yh_l0": np.zeros((5, 4))}
    with pytest.raises(ShapeError, match=r"weight_yh_l0: expected shape \(5, 3\), got \(5, 4\)"):
        validate_feedback_params(spec, bad)
    with pytest.raises(ShapeError, match=r"bias_hy_l0: expected shape \(3,\), got \(5,\)"):
        validate_feedback_params(spec, dict(params) | {"bias_hy_l0": np.zeros(5)})
    with pytest.raises(ParameterError, match="missing weight_hy_l0"):
        validate_feedback_params(spec, {k: v for k, v in params.items() if k != "weight_hy_l0"})
    with pytest.raises(ParameterError, match="missing bias_hy_l0"):
        validate_feedback_params(spec, {k: v for k, v in params.items() if k != "bias_hy_l0"})
    with pytest.raises(ParameterError, match=r"weight_hh_l0.*weight_yh_l0"):
        validate_feedback_params(spec, dict(params) | {"weight_hh_l0": np.zeros((5, 5))})
    with pytest.raises(ParameterError, match="stacked or bidirectional"):
        validate_feedback_params(spec, dict(params) | {"weight_ih_l1": np.zeros((5, 3))})
    with pytest.raises(ParameterError, match="stacked or bidirectional"):
        validate_feedback_params(spec, dict(params) | {"weight_ih_l0_reverse": np.zeros((5, 4))})
    no_bias = {k: v for k, v in params.items() if not k.startswith("bias")}
    assert not validate_feedback_params(spec, no_bias).first.has_bias


def test_initial_state_and_size_errors() -> None:
    _, params = _problem(5, 3)
    with pytest.raises(ConfigError, match=r"h0 given.*pass y0 \(3,\)"):
        gradscope.analyze("jordan", params=params, steps=4, h0=np.zeros(5))
    with pytest.raises(ShapeError, match=r"y0: expected shape \(3,\), got \(5,\)"):
        gradscope.analyze("jordan", params=params, steps=4, y0=np.zeros(5))
    with pytest.raises(ConfigError, match="output_size=4 contradicts"):
        gradscope.analyze("jordan", params=params, steps=4, output_size=4)
    with pytest.raises(ConfigError, match="y0 given, but the lstm cell"):
        gradscope.analyze("lstm", hidden_size=3, steps=4, y0=np.zeros(3))
    with pytest.raises(ConfigError, match="depth_flow"):
        gradscope.analyze("jordan", hidden_size=3, steps=4, depth_flow=True)


def test_generated_and_live_code_agree() -> None:
    from gradscope.compile.codegen import lambdify_cell

    generated, live = compile_cell("jordan"), lambdify_cell(get_cell("jordan"))
    assert generated.origin == "generated" and live.origin == "live"
    rng = np.random.default_rng(0)
    u_, m_, r_ = rng.standard_normal((7, 1, 5)), rng.standard_normal((7, 1, 5)), rng.standard_normal((7, 3))
    none = np.zeros((7, 0, 5))
    np.testing.assert_array_equal(generated.update(u_, m_, none), live.update(u_, m_, none))
    for method in ("state_partials", "input_partials"):
        a, b = getattr(generated, method)(u_, m_, none), getattr(live, method)(u_, m_, none)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(generated.readout(r_), live.readout(r_))
    np.testing.assert_array_equal(generated.readout_partial(r_), live.readout_partial(r_))
    assert generated.blocks == live.blocks


def test_analyze_jordan_does_not_import_sympy_or_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gradscope; gradscope.analyze('jordan', hidden_size=4, output_size=2, steps=5); "
        "print(sorted(m for m in ('sympy', 'matplotlib', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- exact BPTT reference ----------------------------------------------------------------------


@pytest.mark.parametrize(("hidden", "output"), SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_bptt_reference_against_torch_autograd(hidden: int, output: int, bias: bool) -> None:
    torch = pytest.importorskip("torch")
    from gradscope.testing import bptt_reference

    problem, params = _problem(hidden, output, steps=7)
    if not bias:
        params = {k: v for k, v in params.items() if not k.startswith("bias")}
    upstream = np.random.default_rng(5).standard_normal((7, output))
    grads = bptt_reference("jordan", params, problem.inputs, upstream, y0=problem.initial_state[0])

    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(problem.inputs, requires_grad=True)
    y0 = torch.tensor(problem.initial_state[0], requires_grad=True)
    zero_h, zero_y = torch.zeros(hidden, dtype=torch.float64), torch.zeros(output, dtype=torch.float64)
    y, loss = y0, 0.0
    for t in range(7):
        h = torch.tanh(leaves["weight_ih_l0"] @ x[t] + leaves.get("bias_ih_l0", zero_h) + leaves["weight_yh_l0"] @ y)
        y = torch.sigmoid(leaves["weight_hy_l0"] @ h + leaves.get("bias_hy_l0", zero_y))
        loss = loss + (y * torch.from_numpy(upstream[t])).sum()
    loss.backward()
    expected = {k: v.grad.numpy() for k, v in leaves.items()} | {"inputs": x.grad.numpy(), "y0": y0.grad.numpy()}
    assert grads.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-10, atol=1e-13, err_msg=key)


def test_bptt_reference_errors() -> None:
    from gradscope.testing import bptt_reference

    problem, params = _problem(5, 3, steps=4)
    with pytest.raises(ConfigError, match=r"upstream: expected shape \(T, O\) = \(4, 3\)"):
        bptt_reference("jordan", params, problem.inputs, np.zeros((4, 5)))
    with pytest.raises(ConfigError, match="h0 given"):
        bptt_reference("jordan", params, problem.inputs, np.zeros((4, 3)), h0=np.zeros(5))


def test_assert_bptt_close_accepts_the_reference_and_locates_a_wrong_readout_entry() -> None:
    from gradscope.testing import GradientMismatch, assert_bptt_close, bptt_reference

    problem, params = _problem(5, 3, steps=4)
    upstream = np.random.default_rng(2).standard_normal((4, 3))
    y0 = problem.initial_state[0]
    grads = bptt_reference("jordan", params, problem.inputs, upstream, y0=y0)
    assert_bptt_close("jordan", params, problem.inputs, upstream, grads, y0=y0[None])
    grads["weight_hy_l0"] = grads["weight_hy_l0"].copy()
    grads["weight_hy_l0"][2, 1] += 1.0
    with pytest.raises(GradientMismatch, match=r"output unit 2, column h_t\[1\]"):
        assert_bptt_close("jordan", params, problem.inputs, upstream, grads, y0=y0)


# --- command line ------------------------------------------------------------------------------


def test_cli_analyze_jordan_json_matches_the_library(tmp_path) -> None:
    import json

    from cli_helpers import invoke

    result = invoke("analyze", "--cell", "jordan", "-H", "6", "--output-size", "3", "--steps", "30", "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    expected = gradscope.analyze("jordan", hidden_size=6, output_size=3, steps=30).to_dict()
    assert document["log10_norm"] == pytest.approx(expected["log10_norm"], rel=1e-12)
    assert document["state"] == "y" and document["output_size"] == 3


def test_cli_analyze_jordan_report_and_weights(tmp_path) -> None:
    from cli_helpers import invoke

    _, params = _problem(5, 3)
    np.savez(tmp_path / "jordan.npz", **{f"net.{k}": v for k, v in params.items()})
    result = invoke("analyze", "--cell", "jordan", "--weights", str(tmp_path / "jordan.npz"), "--steps", "20")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "s = y, 3 numbers (the fed-back output, output_size O = 3; hidden_size H = 5)" in text
    assert "dy_t/dy_{t-1} = diag(y_t*(1 - y_t)) W_hy diag(1 - h_t**2) W_yh" in text
    expected = gradscope.analyze("jordan", params=params, steps=20)
    assert f"{expected.log10_norm[-1]:.2f}" in text


def test_cli_jordan_bad_input() -> None:
    from cli_helpers import assert_bad_input, invoke

    assert_bad_input(invoke("analyze", "--cell", "rnn", "--output-size", "3"), "output_size", "rnn")
    assert_bad_input(invoke("analyze", "--cell", "jordan", "--output-size", "0"), "output_size must be >= 1")
    assert_bad_input(
        invoke("analyze", "--cell", "jordan", "--output-size", "3", "--samples", "2"), "--output-size", "--samples"
    )


def test_cli_jordan_h0_is_refused(tmp_path) -> None:
    from cli_helpers import assert_bad_input, invoke

    np.save(tmp_path / "h0.npy", np.zeros(4))
    result = invoke("analyze", "--cell", "jordan", "--h0", str(tmp_path / "h0.npy"))
    assert_bad_input(result, "--h0 given", "jordan cell has no h state", "s = y")


def test_cli_derive_and_verify_jordan() -> None:
    from cli_helpers import invoke

    derived = invoke("derive", "--cell", "jordan", "--format", "latex")
    assert derived.exit_code == 0, derived.stderr
    assert r"\frac{\partial y_t}{\partial y_{t-1}}" in derived.stdout and "m_g = W_{yg} y_{t-1}" in derived.stdout
    pretty = invoke("derive", "--cell", "jordan")
    assert pretty.exit_code == 0 and "W_hy" in pretty.stdout and "W_yh" in pretty.stdout
    verified = invoke("verify", "--cell", "jordan", "--no-torch")
    assert verified.exit_code == 0, verified.stderr
    text = " ".join(verified.stdout.replace("│", " ").split())
    for key in ("weight_yh_l0", "weight_hy_l0", "bias_hy_l0", "y0"):
        assert key in text
    assert "PASSED all 8 checks within their tolerance" in text


def test_lyapunov_refuses_jordan_clearly() -> None:
    from gradscope.analysis.lyapunov_spectrum import lyapunov

    with pytest.raises(ConfigError, match=r"lyapunov: the jordan cell .* is not supported"):
        lyapunov("jordan", hidden_size=3, steps=10)


def test_ensemble_draws_are_single_jordan_analyses() -> None:
    from gradscope.analysis.ensemble import analyze_ensemble

    ensemble = analyze_ensemble("jordan", samples=2, hidden_size=4, steps=10)
    first = gradscope.analyze("jordan", hidden_size=4, steps=10, seed=0)
    np.testing.assert_allclose(ensemble.profiles[0], first.log10_norm)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hidden=st.integers(1, 7),
    output=st.integers(1, 7),
    steps=st.integers(1, 30),
    seed=st.integers(0, 2**31),
    gain=st.floats(0.05, 6.0),
    init=st.sampled_from(["pytorch", "gaussian", "orthogonal"]),
    norm=st.sampled_from(["spectral", "frobenius"]),
)
def test_profile_matches_exact_dense_products(
    hidden: int, output: int, steps: int, seed: int, gain: float, init: str, norm: str
) -> None:
    """Random small Jordan networks: every lag against the explicit product of the dense J_t."""
    options = {"hidden_size": hidden, "output_size": output, "input_size": 2, "steps": steps, "seed": seed}
    options |= {"gain": gain, "init": init}
    jacobians = feedback_jacobians(trajectory(make_problem("jordan", **options)))
    # Rescaled at every step (log10 of the scale kept apart): plain products can underflow.
    product, log10_scale, exact = np.eye(output), 0.0, np.full(len(jacobians), -np.inf)
    for k, jacobian in enumerate(jacobians[::-1]):
        product = product @ jacobian
        largest = np.abs(product).max()
        if largest == 0.0:
            break
        product /= largest
        log10_scale += np.log10(largest)
        exact[k] = np.log10(np.linalg.norm(product, ord=2 if norm == "spectral" else "fro")) + log10_scale
    result = gradscope.analyze("jordan", norm=norm, **options)
    zero = np.isneginf(exact)
    assert np.all(np.isneginf(result.log10_norm[zero]))
    assert np.all(np.abs(10.0 ** (result.log10_norm[~zero] - exact[~zero]) - 1) <= 1e-9)


def test_cli_y0_file_is_the_initial_output(tmp_path) -> None:
    import json

    from cli_helpers import assert_bad_input, invoke

    y0 = np.linspace(0.1, 0.9, 3)
    np.save(tmp_path / "y0.npy", y0)
    result = invoke(
        "analyze", "--cell", "jordan", "-H", "5", "--y0", str(tmp_path / "y0.npy"), "--steps", "12", "--json", "-"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    # O comes from the file's length; the profile is the library's from the same y0.
    expected = gradscope.analyze("jordan", hidden_size=5, output_size=3, y0=y0, steps=12).to_dict()
    assert document["output_size"] == 3 and document["config"]["y0"] == "given"
    assert document["log10_norm"] == pytest.approx(expected["log10_norm"], rel=1e-12)
    zero_start = gradscope.analyze("jordan", hidden_size=5, output_size=3, steps=12).to_dict()
    assert document["log10_norm"] != pytest.approx(zero_start["log10_norm"], rel=1e-6)

    assert_bad_input(
        invoke("analyze", "--cell", "jordan", "--output-size", "4", "--y0", str(tmp_path / "y0.npy")),
        "y0.npy",
        "expected shape (4,)",
        "got (3,)",
    )
    assert_bad_input(invoke("analyze", "--cell", "gru", "--y0", str(tmp_path / "y0.npy")), "--y0 given", "gru")


def test_check_formula_reads_jordans_two_stage_block() -> None:
    from gradscope.testing.formula_check import check_formula

    wrong = check_formula("jordan", "dy/dy", "y_t*(1 - y_t)*W_hy")  # the hidden stage left out
    assert not wrong.correct and "a term diag(.) W_hy that the derived block does not have" in wrong.message
    assert check_formula("jordan", "dy/dy", "y_t*(1 - y_t) W_hy (1 - h_t**2) W_yh").correct


def test_operator_flushes_negligible_coefficients(monkeypatch: pytest.MonkeyPatch) -> None:
    """Partials negligible against their step's largest (here a planted subnormal) reach no product."""
    from gradscope.engine import operator as operator_module
    from gradscope.engine.coefficients import step_coefficients

    problem, _ = _problem(5, 3, steps=10, seed=2)
    forward_pass = trajectory(problem)

    def planted(run, start: int, stop: int):
        coefficients = step_coefficients(run, start, stop)
        coefficients.readout[:, 0] = 1e-310
        coefficients.recurrent[:, 0, 0, 1] = 1e-300  # d h_t / d m_h of unit 1
        return coefficients

    monkeypatch.setattr(operator_module, "step_coefficients", planted)
    chunk = operator_module.StepOperator(forward_pass, np.dtype(np.float64), 0).chunk(0, 10)
    clean = step_coefficients(forward_pass, 0, 10)
    assert np.all(chunk.readout[:, 0] == 0.0) and np.array_equal(chunk.readout[:, 1:], clean.readout[:, 1:])
    assert np.all(chunk.recurrent[:, 0, 0, 1] == 0.0)
    assert np.array_equal(
        np.delete(chunk.recurrent.reshape(10, -1), 1, axis=1), np.delete(clean.recurrent.reshape(10, -1), 1, axis=1)
    )
