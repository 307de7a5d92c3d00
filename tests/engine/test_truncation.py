"""Truncated products: the certificate itself, every lag against explicit products, both operator paths."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import exact_products, minimal_gated_unit
from test_products import relative_error

from gradscope.analysis.problem import make_problem, trajectory
from gradscope.engine import products as products
from gradscope.engine.coefficients import dense_jacobians
from gradscope.engine.coefficients import dense_jacobians as feedback_jacobians
from gradscope.engine.operator import StepOperator
from gradscope.engine.products import norm_profile
from gradscope.engine.truncation import truncate


def graded(rng: np.random.Generator, rows: int, singular: np.ndarray) -> np.ndarray:
    """A ``(rows, len(singular))`` matrix with exactly these singular values, in random directions."""
    left, _ = np.linalg.qr(rng.standard_normal((rows, singular.size)))
    right, _ = np.linalg.qr(rng.standard_normal((singular.size, singular.size)))
    return (left * singular) @ right.T


def droppable(singular: np.ndarray, tolerance: float) -> int:
    """How many of the smallest singular values fit in the budget ``(tolerance * sigma_1)^2`` together."""
    tail = np.cumsum(np.sort(singular) ** 2)
    return int(np.searchsorted(tail, (tolerance * singular.max()) ** 2, side="right"))


# --- the certificate ---------------------------------------------------------------------------


def test_drops_exactly_the_directions_below_the_tolerance_even_far_below_the_gram_resolution(
    rng: np.random.Generator,
) -> None:
    # Singular values from 1 down to 1e-20: the Gram matrix alone resolves them only to ~1e-8, so
    # the ones between 1e-12 and 1e-8 (which must be kept) are found by the second pass.
    singular = np.logspace(0, -20, 60)
    x = graded(rng, 90, singular)
    tolerance = 1e-12
    kept = truncate(x, tolerance, minimum_drop=4)
    assert kept is not None
    expected_drop = droppable(singular, tolerance)
    assert expected_drop > 10
    assert kept.columns.shape == (90, 60 - expected_drop)
    assert kept.discarded <= tolerance
    # What is kept is x @ rotation, rotation has orthonormal columns ...
    np.testing.assert_allclose(kept.rotation.T @ kept.rotation, np.eye(kept.rotation.shape[1]), atol=1e-13)
    np.testing.assert_allclose(kept.columns, x @ kept.rotation, rtol=0, atol=1e-14)
    # ... and the part thrown away is measured honestly: ||x - x R R^T||_F <= tolerance * sigma_1.
    rest = x - kept.columns @ kept.rotation.T
    assert np.linalg.norm(rest) <= 1.01 * tolerance * singular[0]
    # The kept singular values are the largest ones of x, to rounding relative to sigma_1.
    np.testing.assert_allclose(
        np.linalg.svd(kept.columns, compute_uv=False), singular[: 60 - expected_drop], rtol=0, atol=1e-14
    )


@pytest.mark.parametrize("tolerance", [1e-6, 1e-12])
def test_never_drops_more_than_the_budget(rng: np.random.Generator, tolerance: float) -> None:
    for trial in range(20):
        singular = np.sort(rng.uniform(0, 1, 40) ** rng.uniform(5, 60))[::-1]
        x = graded(rng, 70, singular)
        kept = truncate(x, tolerance, minimum_drop=1)
        if kept is None:
            assert droppable(singular, tolerance) <= 1
            continue
        rest = x - kept.columns @ kept.rotation.T
        assert np.linalg.norm(rest) <= 1.01 * tolerance * singular[0], trial
        assert kept.columns.shape[1] >= 40 - droppable(singular, tolerance)


def test_flat_spectra_and_too_small_gains_are_left_alone(rng: np.random.Generator) -> None:
    orthogonal, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    assert truncate(orthogonal, 1e-12, minimum_drop=1) is None
    three_tiny = graded(rng, 50, np.concatenate([np.ones(30), np.full(3, 1e-20)]))
    assert truncate(three_tiny, 1e-12, minimum_drop=4) is None
    assert truncate(three_tiny, 1e-12, minimum_drop=3).columns.shape[1] == 30
    assert truncate(np.zeros((5, 5)), 1e-12, minimum_drop=1) is None


# --- every lag against explicit products ------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "hidden", "gain", "init"),
    [
        ("lstm", 64, 1.0, "pytorch"),
        ("gru", 96, 2.0, "gaussian"),
        ("rnn", 96, 0.8, "gaussian"),
        ("rnn-relu", 80, 1.5, "gaussian"),
    ],
)
def test_truncated_profiles_match_svd_of_explicit_products_at_every_lag(
    cell: str, hidden: int, gain: float, init: str, spectral_route: str
) -> None:
    options = {"hidden_size": hidden, "input_size": 4, "steps": 300, "seed": 3, "gain": gain, "init": init}
    exact, problem = exact_products(cell, **options)
    forward_pass = trajectory(problem)
    spectral = norm_profile(forward_pass)
    frobenius = norm_profile(forward_pass, norm="frobenius")
    size = exact.shape[1]
    assert spectral.directions < size // 2 and frobenius.directions < size // 2  # truncation did happen
    exact_2 = np.linalg.norm(exact, ord=2, axis=(1, 2))
    assert np.all(relative_error(spectral.log10_norm, exact_2) <= 1e-9)
    assert np.all(relative_error(frobenius.log10_norm, np.linalg.norm(exact, axis=(1, 2))) <= 1e-12)


def test_float32_truncation_stays_within_float32_accuracy() -> None:
    forward_pass = trajectory(make_problem("lstm", hidden_size=64, steps=400, seed=2))
    single = norm_profile(forward_pass, dtype="float32")
    double = norm_profile(forward_pass, truncation=False)
    assert single.directions < 64
    assert np.max(np.abs(single.log10_norm - double.log10_norm)) <= 1e-4


def test_truncation_waits_for_the_last_snapshot_lag() -> None:
    forward_pass = trajectory(make_problem("gru", hidden_size=40, steps=200, seed=1))
    exact, _ = exact_products("gru", hidden_size=40, steps=200, seed=1)
    profile = norm_profile(forward_pass, snapshot_lags=[150])
    expected = np.linalg.svd(exact[149], compute_uv=False)
    np.testing.assert_allclose(10.0 ** profile.singular_values[150] / expected[0], expected / expected[0], atol=1e-12)
    assert profile.directions < 40  # and truncates after it


def test_jordan_products_truncate_through_their_own_operator() -> None:
    options = {"hidden_size": 48, "output_size": 64, "input_size": 3, "steps": 250, "seed": 5}
    forward_pass = trajectory(make_problem("jordan", **options))
    product, exact = np.eye(64), []
    for jacobian in feedback_jacobians(forward_pass)[::-1]:
        product = product @ jacobian
        exact.append(np.linalg.norm(product, ord=2))
    profile = norm_profile(forward_pass)
    assert profile.directions < 32
    assert np.all(relative_error(profile.log10_norm, np.array(exact)) <= 1e-9)


def test_without_truncation_every_product_is_full_width() -> None:
    forward_pass = trajectory(make_problem("lstm", hidden_size=40, steps=200, seed=1))
    full = norm_profile(forward_pass, truncation=False)
    assert full.directions == 80
    assert np.max(np.abs(full.log10_norm - norm_profile(forward_pass).log10_norm)) <= 1e-9


# --- the step operator's two ways of applying J^T ---------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "mgu"])
@pytest.mark.parametrize("assembled", [True, False])
def test_step_operator_applies_the_dense_jacobian(cell: str, assembled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Assembled ``JhT`` rows and the unassembled ``[W^T] (scaled rows)`` route give the same ``J^T x``."""
    rng = np.random.default_rng(8)
    hidden, steps, extra = 7, 6, 3
    definition = minimal_gated_unit() if cell == "mgu" else cell
    forward_pass = trajectory(make_problem(definition, hidden_size=hidden, input_size=3, steps=steps, seed=4, gain=1.5))
    monkeypatch.setattr(StepOperator, "ASSEMBLE_FROM", 1 if assembled else 10**9)
    operator = StepOperator(forward_pass, np.dtype(np.float64), extra)
    operator.wide = assembled
    jacobians = dense_jacobians(forward_pass)
    size = operator.size
    # The operator works in its internal order (h last): permute the dense J accordingly.
    order = np.concatenate([np.arange(hidden) + c * hidden for c in operator.order])
    coefficients = operator.chunk(0, steps)
    for k in range(steps):
        scale = 0.5 + k
        operator.load(coefficients, k, scale)
        expected_t = jacobians[k][np.ix_(order, order)].T / scale
        x, y = rng.standard_normal((size, 5)), rng.standard_normal((size, extra))
        np.testing.assert_allclose(operator.apply(x, np.empty_like(x)), expected_t @ x, atol=1e-13)
        assert operator.load_transposed_rows(y) == extra
        out = np.empty((size + extra, 5))
        check = operator.advance(x, out, extra)
        np.testing.assert_allclose(out[:size], expected_t @ x, atol=1e-13)
        np.testing.assert_allclose(check, (expected_t.T @ y).T @ x, atol=1e-13)
        np.testing.assert_allclose(operator.first(), expected_t, atol=1e-14)


@pytest.mark.parametrize(("cell", "gain"), [("rnn", 3.0), ("gru", 1.0)])
def test_long_sequences_truncated_and_full_agree_at_every_lag(cell: str, gain: float) -> None:
    """20,000 lags of an exploding (chaotic) and a vanishing network: many truncations, no drift."""
    forward_pass = trajectory(make_problem(cell, hidden_size=48, steps=20_000, seed=9, gain=gain, init="gaussian"))
    truncated = norm_profile(forward_pass)
    full = norm_profile(forward_pass, truncation=False)
    assert truncated.directions < 48 and np.all(np.isfinite(full.log10_norm))
    assert np.max(np.abs(10.0 ** (truncated.log10_norm - full.log10_norm) - 1)) <= 1e-9


# --- where truncation is not allowed ---------------------------------------------------------


def test_strongly_connected_graphs() -> None:
    from gradscope.engine.truncation import strongly_connected

    cycle = np.roll(np.eye(5, dtype=bool), 1, axis=0)  # 0 -> 1 -> ... -> 4 -> 0
    assert strongly_connected(cycle)
    assert strongly_connected(np.ones((1, 1), dtype=bool)) and strongly_connected(np.zeros((1, 1), dtype=bool))
    chain = np.eye(5, k=-1, dtype=bool)  # 0 -> 1 -> ... -> 4, no way back
    assert not strongly_connected(chain)
    blocks = np.kron(np.eye(2, dtype=bool), np.ones((3, 3), dtype=bool))
    assert not strongly_connected(blocks)
    assert strongly_connected(blocks | np.eye(6, k=3, dtype=bool) | np.eye(6, k=-3, dtype=bool))


def saturating_block_rnn(cell: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Two decoupled blocks; the slow-decaying block dominates until one input switches it off
    (dead ReLU units, or tanh units saturated to a derivative of exactly 0)."""
    hidden, steps = 10, 100
    params = {
        "weight_ih_l0": np.r_[np.ones((5, 1)), np.zeros((5, 1))],
        "weight_hh_l0": np.diag([0.9] * 5 + [0.45] * 5),
        "bias_ih_l0": np.full(hidden, 0.1),
        "bias_hh_l0": np.zeros(hidden),
    }
    inputs = np.zeros((steps, 1))
    inputs[9, 0] = -1e6 if cell == "rnn-relu" else 1e3
    return params, inputs


@pytest.mark.parametrize("cell", ["rnn-relu", "rnn"])
def test_reducible_networks_keep_every_direction(cell: str) -> None:
    """What truncation would drop (the fast block, 1e-30 of the norm by lag 90) is all that is left
    after the slow block is switched off: a reducible network must get full products, as the
    explicit product, which keeps the blocks apart exactly, shows."""
    params, inputs = saturating_block_rnn(cell)
    forward_pass = trajectory(make_problem(cell, params=params, inputs=inputs))
    jacobians = dense_jacobians(forward_pass)
    product, exact = np.eye(10), []
    for jacobian in jacobians[::-1]:
        product = product @ jacobian
        exact.append(np.linalg.norm(product, ord=2))
    assert exact[-1] > 0 and exact[-1] < 1e-20 * max(exact[:85])
    profile = norm_profile(forward_pass)
    assert profile.directions == 10
    assert np.all(relative_error(profile.log10_norm, np.array(exact)) <= 1e-9)


def test_a_product_that_vanishes_only_after_a_truncation_is_computed_again_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The safety net: were a reducible network truncated, the kept part could reach exactly zero
    while the dropped one does not; then the profile is computed again with full products."""
    monkeypatch.setattr(products, "strongly_connected", lambda pattern: True)
    params, inputs = saturating_block_rnn("rnn-relu")
    forward_pass = trajectory(make_problem("rnn-relu", params=params, inputs=inputs))
    full = norm_profile(forward_pass, truncation=False)
    again = norm_profile(forward_pass)
    assert np.all(np.isfinite(full.log10_norm))
    np.testing.assert_array_equal(again.log10_norm, full.log10_norm)


def test_jordan_coupling_pattern_follows_both_weights() -> None:
    options = {"hidden_size": 4, "output_size": 6, "input_size": 2, "steps": 5, "seed": 1}
    params = make_problem("jordan", **options).params.as_dict()
    params["weight_hy_l0"] = np.kron(np.eye(2), np.ones((3, 2)))  # outputs 0-2 read h 0-1, 3-5 read h 2-3
    params["weight_yh_l0"] = np.kron(np.eye(2), np.ones((2, 3)))  # h 0-1 read outputs 0-2, h 2-3 read 3-5
    forward_pass = trajectory(make_problem("jordan", params=params, inputs=np.zeros((5, 2))))
    pattern = StepOperator(forward_pass, np.dtype(np.float64), 0).coupling_pattern()
    np.testing.assert_array_equal(pattern, np.kron(np.eye(2, dtype=bool), np.ones((3, 3), dtype=bool)))


def test_block_diagonal_weights_switch_truncation_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two decoupled blocks of a tanh RNN: truncation would drop directions, but is not used."""
    rng = np.random.default_rng(4)
    blocks = [rng.standard_normal((20, 20)) * scale / np.sqrt(20) for scale in (1.0, 0.3)]
    weight = np.zeros((40, 40))
    weight[:20, :20], weight[20:, 20:] = blocks
    params = make_problem("rnn", hidden_size=40, input_size=3, steps=300, seed=2).params.as_dict() | {
        "weight_hh_l0": weight
    }
    forward_pass = trajectory(make_problem("rnn", params=params, steps=300, seed=2))
    assert norm_profile(forward_pass).directions == 40
    monkeypatch.setattr(products, "strongly_connected", lambda pattern: True)
    assert norm_profile(forward_pass).directions < 40


def tanh_rnn_with_derivatives(weight: np.ndarray, derivatives: np.ndarray) -> object:
    """A tanh RNN (``W_ih = I``, no biases) whose inputs give unit i at step t the tanh derivative
    ``derivatives[t, i]`` exactly: any Jacobian ``diag(d_t) W`` on demand."""
    steps, hidden = derivatives.shape
    target = np.arctanh(np.sqrt(1 - derivatives))  # the preactivations
    state, inputs = np.zeros(hidden), np.empty((steps, hidden))
    for t in range(steps):
        inputs[t] = target[t] - weight @ state
        state = np.tanh(target[t])
    params = {"weight_ih_l0": np.eye(hidden), "weight_hh_l0": weight}
    params |= {"bias_ih_l0": np.zeros(hidden), "bias_hh_l0": np.zeros(hidden)}
    return make_problem("rnn", params=params, inputs=inputs)


def test_dropped_directions_that_come_to_dominate_are_caught_by_the_sketch() -> None:
    """Found by review: a strongly connected network that saturation splits in two. Block B fades
    to 1e-13 over the last 16 steps and is dropped; before that, A is all but switched off
    (derivative 1e-6) and the bridge between them carries 1e-9, so the full product keeps B exact
    and B is what remains. The sketch of the dropped part sees it grow: full products again."""
    rng = np.random.default_rng(0)
    hidden, bridge, angle = 10, 1e-3, 0.7
    weight = np.zeros((hidden, hidden))
    weight[:2, :2] = 2 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    weight[:2, 2] = weight[2, 3:] = weight[3:, :2] = bridge
    weight[3:, 3:] = 2 * np.linalg.qr(rng.standard_normal((7, 7)))[0]
    steps = 40
    derivatives = np.empty((steps, hidden))
    derivatives[-16:] = [0.5, 0.5, 1e-9] + [0.075] * 7
    derivatives[:-16] = [1e-6, 1e-6, 1e-9] + [0.5] * 7
    forward_pass = trajectory(tanh_rnn_with_derivatives(weight, derivatives))
    pattern = StepOperator(forward_pass, np.dtype(np.float64), 0)
    pattern.chunk(0, steps)
    assert products.strongly_connected(pattern.coupling_pattern())
    product, exact = np.eye(hidden), []
    for jacobian in dense_jacobians(forward_pass)[::-1]:
        product = product @ jacobian
        exact.append(np.linalg.norm(product, ord=2))
    profile = norm_profile(forward_pass)
    assert np.all(relative_error(profile.log10_norm, np.array(exact)) <= 1e-9)
    assert profile.directions == hidden  # computed again with full products


def test_saturated_lstm_gates_that_switch_blocks_off_are_caught_by_the_sketch() -> None:
    """Found by review: an LSTM with every recurrent weight present (gain 5) whose gates are driven
    to saturation: over the last 16 steps units 2-7 forget at sigmoid(-1.6), so they are dropped;
    before that units 0-1 forget everything, and what is left is the dropped part."""
    hidden, steps, saturation = 8, 40, 40.0
    draws = np.random.default_rng(2).standard_normal((4, 4 * hidden, hidden))
    weight = 5.0 * draws[3] / np.sqrt(hidden)
    # Target gate preactivations (i, f, g, o), reached with W_ih = I by subtracting W h_{t-1}.
    target = np.full((steps, 4, hidden), saturation)
    target[:, 0] = -saturation
    target[-16:, 1, 2:] = -1.6
    target[:-16, 1, :2] = -saturation

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    state, cell, inputs = np.zeros(hidden), np.zeros(hidden), np.empty((steps, 4 * hidden))
    for t in range(steps):
        inputs[t] = target[t].reshape(-1) - weight @ state
        i, f, g, o = target[t]
        cell = sigmoid(f) * cell + sigmoid(i) * np.tanh(g)
        state = sigmoid(o) * np.tanh(cell)
    params = {"weight_ih_l0": np.eye(4 * hidden), "weight_hh_l0": weight}
    params |= {"bias_ih_l0": np.zeros(4 * hidden), "bias_hh_l0": np.zeros(4 * hidden)}
    forward_pass = trajectory(make_problem("lstm", params=params, inputs=inputs))
    product, exact = np.eye(2 * hidden), []
    for jacobian in dense_jacobians(forward_pass)[::-1]:
        product = product @ jacobian
        exact.append(np.linalg.norm(product, ord=2))
    profile = norm_profile(forward_pass)
    assert np.all(relative_error(profile.log10_norm, np.array(exact)) <= 1e-9)
