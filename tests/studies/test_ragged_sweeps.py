"""Ragged sweeps: chunks whose tasks have several shapes, batched by shape, against separate analyses.

Second source: ``gradscope.analyze`` called on each task's configuration (its seed, hidden size and gain),
which is the one-at-a-time path. Rows of batched tasks (float64) agree to 1e-12 relative, rows of tasks the
batch does not take (float32) exactly; the local executor, chunking the same tasks differently, gives the
serial run's document bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from row_checks import analysis_row, assert_number, assert_profile, is_batched

import gradscope
import gradscope.analysis.ensemble as ensemble
from gradscope.analysis.ensemble import analyze_each
from gradscope.analysis.problem import make_problem
from gradscope.errors import DivergenceError
from gradscope.studies.axes import parse_axes
from gradscope.studies.executors import LocalExecutor, SerialExecutor
from gradscope.studies.sweeps import SweepSpec, error_message, run_sweep, run_task, task_problem

#: A vanishing gain and (for the tanh RNN) an exploding one, at two hidden sizes: four shapes-and-gains.
AXES = parse_axes(["hidden_size=4,8", "gain=0.3,3"])
FIXED = {"input_size": 3, "steps": 30, "init": "gaussian"}


def ragged(cell: str, dtype: str, norm: str) -> SweepSpec:
    return SweepSpec.create(cell, AXES, samples=2, dtype=dtype, norm=norm, keep_profiles=True, **FIXED)


@pytest.mark.parametrize("norm", ["spectral", "frobenius"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_chunk_of_several_shapes_gives_the_rows_of_separate_analyses(cell: str, dtype: str, norm: str) -> None:
    spec = ragged(cell, dtype, norm)
    tasks = spec.tasks()
    result = run_sweep(spec, executor=SerialExecutor(chunk_size=len(tasks)))  # one chunk: every shape in it
    assert result.profiles is not None and len(result.rows) == len(tasks) == 8
    for task, row, profile in zip(tasks, result.rows, result.profiles, strict=True):
        values = dict(task.values)
        assert (row["hidden_size"], row["gain"], row["sample"], row["seed"]) == (
            values["hidden_size"],
            values["gain"],
            task.sample,
            task.seed,
        )
        direct = gradscope.analyze(
            cell,
            seed=task.seed,
            hidden_size=values["hidden_size"],
            gain=values["gain"],
            dtype=dtype,
            norm=norm,
            **FIXED,
        )
        batched = dtype == "float64"
        assert is_batched(task_problem(spec, task)) == batched
        assert row["error"] is None and row["verdict"] == direct.verdict
        for name, value in analysis_row(direct).items():
            if name != "verdict":
                assert_number(row[name], value, batched=batched, what=name)
        assert_profile(profile, np.asarray(direct.log10_norm, dtype=np.float64), batched=batched)
    if cell == "rnn":
        assert {row["verdict"] for row in result.rows} == {"vanishing", "exploding"}
    else:
        assert "vanishing" in {row["verdict"] for row in result.rows}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_serial_and_local_executors_give_identical_ragged_rows(cell: str) -> None:
    spec = ragged(cell, "float64", "spectral")
    serial = run_sweep(spec, executor=SerialExecutor(chunk_size=8)).to_dict()
    # Chunks of 3 cut across the shapes differently: a task's row must not depend on its neighbours.
    local = run_sweep(spec, executor=LocalExecutor(workers=2, chunk_size=3)).to_dict()
    assert local == serial
    assert run_sweep(spec, executor=SerialExecutor()).to_dict() == serial  # chunks of one task


def test_a_diverging_task_in_a_batch_is_its_own_row_and_its_neighbours_are_unchanged() -> None:
    spec = SweepSpec.create("rnn_relu", parse_axes(["hidden_size=4,8", "gain=1,1e200"]), samples=2, **FIXED)
    tasks = spec.tasks()
    together = run_sweep(spec, executor=SerialExecutor(chunk_size=len(tasks)))
    alone = run_sweep(spec, executor=SerialExecutor())
    assert together.to_dict() == alone.to_dict()
    assert together.failed == 4
    for task, row in zip(tasks, together.rows, strict=True):
        if dict(task.values)["gain"] == 1e200:
            with pytest.raises(DivergenceError) as raised, np.errstate(all="ignore"):
                gradscope.analyze(task_problem(spec, task))
            assert row["error"] == error_message(raised.value)
        else:
            assert row["error"] is None and row["rate_per_step"] is not None


def test_a_batch_that_raises_falls_back_to_one_task_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ragged("gru", "float64", "spectral")
    tasks = spec.tasks()

    def broken(*_args: object, **_kwargs: object) -> np.ndarray:
        raise MemoryError("no room for the stack")

    monkeypatch.setattr(ensemble, "batched_profiles", broken)
    result = run_sweep(spec, executor=SerialExecutor(chunk_size=len(tasks)))
    assert result.failed == 0
    for task, row in zip(tasks, result.rows, strict=True):
        expected = run_task(spec, task)  # the one-at-a-time path, exactly
        assert row == {name: value for name, value in expected.items() if name != "log10_norm"}


def test_analyze_each_returns_each_problems_own_result_or_error() -> None:
    good = [make_problem("rnn_relu", hidden_size=4, input_size=2, steps=12, seed=s) for s in (1, 2)]
    diverging = make_problem("rnn_relu", hidden_size=4, input_size=2, steps=12, seed=3, init="gaussian", gain=1e200)
    mixed = analyze_each([good[0], diverging, good[1]])
    assert isinstance(mixed[1], DivergenceError)
    with pytest.raises(DivergenceError) as raised, np.errstate(all="ignore"):
        gradscope.analyze(diverging)
    assert str(mixed[1]) == str(raised.value)
    for problem, result in zip(good, (mixed[0], mixed[2]), strict=True):
        on_its_own = analyze_each([problem])[0]
        assert isinstance(result, gradscope.Analysis) and isinstance(on_its_own, gradscope.Analysis)
        np.testing.assert_array_equal(result.log10_norm, on_its_own.log10_norm)  # independent of its batch
        assert_profile(result.log10_norm, gradscope.analyze(problem).log10_norm, batched=True)
    with pytest.raises(DivergenceError, match=r"draw 2 of 3 \(--seed 3\)"):
        ensemble.analyze_many([good[0], diverging, good[1]])
