"""analyze_ensemble / analyze_many (batched) against one analyze() per draw, for every cell, dtype and norm."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import gradscope
from gradscope.analysis.ensemble import _batch_size, analyze_ensemble, analyze_many
from gradscope.analysis.problem import make_problem
from gradscope.cells import ALL_CELL_NAMES
from gradscope.errors import DivergenceError

SIZES = {"hidden_size": 5, "input_size": 3, "steps": 80}
GAINS = {"vanishing": 0.4, "exploding": 3.0}


def same_as_single(ensemble, cell: str, seeds, **options) -> None:
    for seed, profile, rate, verdict in zip(seeds, ensemble.profiles, ensemble.rates, ensemble.verdicts, strict=True):
        single = gradscope.analyze(cell, seed=int(seed), **options)
        finite = np.isfinite(single.log10_norm)
        assert np.array_equal(np.isneginf(profile), np.isneginf(single.log10_norm))
        assert_allclose(profile[finite], single.log10_norm[finite], rtol=1e-12, atol=1e-12)
        assert rate == pytest.approx(single.rate_per_step, rel=1e-10, abs=1e-12)
        assert verdict == single.verdict


@pytest.mark.parametrize("cell", [*ALL_CELL_NAMES, "gru-cho"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm", ["spectral", "frobenius"])
@pytest.mark.parametrize("regime", sorted(GAINS))
def test_every_cell_dtype_norm_and_regime(cell: str, dtype: str, norm: str, regime: str) -> None:
    options = SIZES | {"dtype": dtype, "norm": norm, "init": "gaussian", "gain": GAINS[regime]}
    ensemble = analyze_ensemble(cell, samples=4, seed=11, **options)
    same_as_single(ensemble, cell, ensemble.seeds, **options)


def test_the_benchmark_sizes_agree() -> None:
    """A few members at the benchmark's sizes (the single path truncates there; the batch does not)."""
    for cell, hidden, steps in (("rnn", 32, 200), ("gru", 64, 300)):
        options = {"hidden_size": hidden, "steps": steps}
        ensemble = analyze_ensemble(cell, samples=3, seed=5, **options)
        same_as_single(ensemble, cell, ensemble.seeds, **options)


def test_sub_batches_within_a_small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = [make_problem("lstm", seed=s, **SIZES) for s in range(7)]
    whole = analyze_many(problems)
    each = _batch_size(problems[0])
    monkeypatch.setenv("GRADSCOPE_MEMORY_BUDGET", "1M")
    member = 2**20 / _batch_size(problems[0])  # bytes one member needs, about
    monkeypatch.setenv("GRADSCOPE_MEMORY_BUDGET", str(int(2.5 * member)))
    small = _batch_size(problems[0])
    assert 1 <= small < 7 < each
    split = analyze_many(problems)
    for a, b in zip(whole, split, strict=True):
        assert np.array_equal(a.log10_norm, b.log10_norm)  # a member's numbers do not depend on its batch


def test_no_room_for_one_runs_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = [make_problem("rnn", seed=s, **SIZES) for s in range(2)]
    monkeypatch.setenv("GRADSCOPE_MEMORY_BUDGET", "1K")
    assert _batch_size(problems[0]) == 0
    monkeypatch.delenv("GRADSCOPE_MEMORY_BUDGET")
    results = analyze_many(problems, progress=None)
    assert [r.problem.seed for r in results] == [0, 1]


def test_mixed_shapes_keep_their_order_and_progress_counts_every_draw() -> None:
    problems = [
        make_problem("rnn", seed=0, **SIZES),
        make_problem("gru", seed=1, **SIZES),
        make_problem("rnn", seed=2, **SIZES | {"hidden_size": 7}),
        make_problem("rnn", seed=3, **SIZES),
        make_problem("rnn", seed=4, dtype="float32", **SIZES),
    ]
    calls: list[tuple[int, int]] = []
    results = analyze_many(problems, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]
    for problem, result in zip(problems, results, strict=True):
        single = gradscope.analyze(problem)
        assert result.problem is problem and result.hidden_size == single.hidden_size
        assert_allclose(result.log10_norm, single.log10_norm, rtol=1e-12, atol=1e-12)


def test_the_first_diverging_draw_is_named() -> None:
    options = {"init": "gaussian", "gain": 20.0, "hidden_size": 8, "steps": 300}
    with pytest.raises(DivergenceError, match=r"draw \d+ of 6 \(--seed \d+\)"):
        analyze_ensemble("rnn-relu", samples=6, seed=0, **options)
