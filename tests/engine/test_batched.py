"""engine.batched against the one-at-a-time path: forward passes bit for bit, profiles to 1e-12 in log10."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from gradscope.analysis.problem import make_problem
from gradscope.engine.batched import batchable, batched_forward
from gradscope.engine.batched_profiles import batched_profiles
from gradscope.engine.products import norm_profile
from gradscope.engine.trajectory import run_forward

CELLS = ("rnn", "rnn-relu", "lstm", "gru")
#: Small gain: vanishing draws; large gain: exploding (chaotic) ones, whose forward pass would amplify
#: any difference in the last bit.
REGIMES = {
    "vanishing": {"init": "gaussian", "gain": 0.5},
    "default": {},
    "exploding": {"init": "gaussian", "gain": 3.0},
}


def problems(cell: str, regime: str, norm: str, count: int = 4, hidden: int = 6, steps: int = 120) -> list:
    options = REGIMES[regime] | {"hidden_size": hidden, "input_size": 3, "steps": steps, "norm": norm}
    return [make_problem(cell, seed=seed, **options) for seed in range(count)]


def batch_of(members: list):
    return batched_forward(
        members[0].compiled,
        [p.params for p in members],
        [p.inputs for p in members],
        [p.initial_state[0] for p in members],
    )


def close_in_log10(batched: np.ndarray, single: np.ndarray) -> None:
    """The promise: 1e-12 relative in log10 norm (and 1e-12 absolute near zero). A row left to the
    one-at-a-time path (all NaN) is allowed only where that path's full products reach an exact zero, which
    a truncated product need not (ReLU units that die)."""
    if np.isnan(batched).all():
        assert np.isneginf(single).any()
        return
    assert_array_equal(np.isneginf(batched), np.isneginf(single))
    finite = np.isfinite(single)
    assert_allclose(batched[finite], single[finite], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_forward_states_are_bit_for_bit_the_single_pass(cell: str, regime: str) -> None:
    members = problems(cell, regime, "spectral", steps=200)
    batch = batch_of(members)
    for problem, states in zip(members, batch.states, strict=True):
        single = run_forward(problem.compiled, problem.params, problem.inputs, problem.initial_state[0])
        assert_array_equal(states, single.states)
    assert batch.finite.all()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("regime", sorted(REGIMES))
@pytest.mark.parametrize("norm", ["spectral", "frobenius"])
def test_profiles_match_norm_profile(cell: str, regime: str, norm: str) -> None:
    members = problems(cell, regime, norm)
    profiles = batched_profiles(batch_of(members), norm).log10_norm
    for problem, profile in zip(members, profiles, strict=True):
        single = norm_profile(problem.trajectory(), norm=norm, seed=problem.seed)
        close_in_log10(profile, single.log10_norm)


@pytest.mark.parametrize("norm", ["spectral", "frobenius"])
def test_wider_states_where_the_single_path_truncates(norm: str) -> None:
    """H=32 RNNs and GRUs: both paths drop directions (truncation), each member on its own."""
    for cell in ("rnn", "gru"):
        members = problems(cell, "default", norm, count=3, hidden=32, steps=200)
        batched = batched_profiles(batch_of(members), norm, seeds=[p.seed for p in members])
        assert (batched.directions < 32).all()  # the batch truncated every member
        for problem, profile in zip(members, batched.log10_norm, strict=True):
            single = norm_profile(problem.trajectory(), norm=norm, seed=problem.seed)
            if norm == "spectral":
                assert single.directions < 32  # the single path did truncate: the comparison tests that case
            close_in_log10(profile, single.log10_norm)


def test_a_member_does_not_depend_on_its_batch() -> None:
    """Rows of a sweep must not depend on how tasks are chunked: one member alone gives the same bits."""
    members = problems("lstm", "exploding", "spectral", count=5)
    together = batched_profiles(batch_of(members), "spectral").log10_norm
    for i, problem in enumerate(members):
        alone = batched_profiles(batch_of([problem]), "spectral").log10_norm[0]
        assert_array_equal(alone, together[i])
    reversed_batch = batched_profiles(batch_of(members[::-1]), "spectral").log10_norm
    assert_array_equal(reversed_batch[::-1], together)


def test_closed_form_scaled_orthogonal() -> None:
    """Zero input and state, W_hh = a Q with Q orthogonal: tanh'(0) = 1, so ||P_k|| = a^k exactly (both norms
    up to sqrt(H) for Frobenius)."""
    hidden, steps, a = 5, 60, 0.8
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((hidden, hidden)))
    params = {
        "weight_ih_l0": np.zeros((hidden, 2)),
        "weight_hh_l0": a * q,
        "bias_ih_l0": np.zeros(hidden),
        "bias_hh_l0": np.zeros(hidden),
    }
    problem = make_problem("rnn", params=params, inputs=np.zeros((steps, 2)), steps=steps)
    lags = np.arange(1, steps + 1)
    spectral = batched_profiles(batch_of([problem]), "spectral").log10_norm[0]
    frobenius = batched_profiles(batch_of([problem]), "frobenius").log10_norm[0]
    assert_allclose(spectral, lags * np.log10(a), rtol=1e-12, atol=1e-12)
    assert_allclose(frobenius, lags * np.log10(a) + 0.5 * np.log10(hidden), rtol=1e-12, atol=1e-12)


def test_an_exactly_zero_product_is_minus_infinity() -> None:
    """ReLU units all dead after the first step: the product is exactly zero from a lag on, as in the single path."""
    hidden, steps = 4, 20
    params = {
        "weight_ih_l0": np.zeros((hidden, 1)),
        "weight_hh_l0": np.eye(hidden),
        "bias_ih_l0": -np.ones(hidden),
        "bias_hh_l0": np.zeros(hidden),
    }
    problem = make_problem("rnn-relu", params=params, inputs=np.zeros((steps, 1)), steps=steps)
    profile = batched_profiles(batch_of([problem]), "spectral").log10_norm[0]
    single = norm_profile(problem.trajectory(), norm="spectral").log10_norm
    assert np.isneginf(single).any()
    close_in_log10(profile, single)


def test_a_diverging_member_is_left_to_the_single_path() -> None:
    """A forward pass that overflows is marked, its row NaN; the others are unaffected."""
    members = problems("rnn-relu", "default", "spectral", count=3, hidden=8, steps=300)
    wild = make_problem("rnn-relu", init="gaussian", gain=20.0, hidden_size=8, input_size=3, steps=300, seed=0)
    batch = batch_of([members[0], wild, members[1]])
    assert batch.finite.tolist() == [True, False, True]
    profiles = batched_profiles(batch, "spectral", batch.finite).log10_norm
    assert np.isnan(profiles[1]).all()
    close_in_log10(profiles[0], norm_profile(members[0].trajectory()).log10_norm)
    close_in_log10(profiles[2], norm_profile(members[1].trajectory()).log10_norm)


def test_what_the_batch_takes() -> None:
    assert batchable(False, False, 1, "float64", "spectral", 64)
    assert not batchable(False, False, 1, "float64", "spectral", 65)  # the single path certifies to 4e-10 there
    assert batchable(False, False, 1, "float64", "frobenius", 512)
    assert not batchable(False, False, 1, "float32", "frobenius", 8)
    assert not batchable(True, False, 1, "float64", "spectral", 8)  # Jordan's readout
    assert not batchable(False, True, 1, "float64", "spectral", 8)  # Cho's GRU
    assert not batchable(False, False, 2, "float64", "spectral", 8)  # stacked or bidirectional
