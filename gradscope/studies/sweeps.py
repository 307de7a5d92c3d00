"""Sweeps: the gradient's rate and verdict over a grid of configurations and random draws.

A sweep varies one or more *axes* (gain, forget-gate bias, hidden size, steps, input scale, init;
see :mod:`gradscope.studies.axes`) of a base :class:`~gradscope.analysis.problem.Problem` over a
grid, runs ``samples`` random networks at every grid point, and keeps one row per (grid point,
sample): the swept values, ``sample``, the task's ``seed``, ``rate_per_step``, ``efolding_lag``,
``verdict``, ``final_log10_norm`` and, on request, the top Lyapunov exponents (and the profiles).

Reproducibility: with ``seeding="per-task"`` (the default) every task's seed is a stable hash
(SHA-256) of the sweep's base seed, the task's swept values and its sample index
(:func:`~gradscope.studies.axes.task_seed`), never of the order in which tasks run; with
``seeding="paired"`` sample ``i`` of every grid point uses the seed ``seed + i``, so that grid
points differ in their swept values and nothing else. The rows come back in task order (grid in
the order of the axes, the first axis slowest, samples innermost), so the document is identical on
one core, on many, and on a Dask cluster. A row is reproduced on its own by :func:`task_problem`,
or by ``gradscope.analyze(cell, seed=row["seed"], ...)`` with the row's values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope.analysis.document import json_number
from gradscope.analysis.lyapunov_spectrum import lyapunov
from gradscope.analysis.problem import Problem
from gradscope.analysis.profile import analyze
from gradscope.studies.axes import Axis, Value
from gradscope.studies.executors import Executor, LocalExecutor
from gradscope.studies.sweep_result import SweepResult
from gradscope.studies.sweep_spec import SweepOptions, SweepSpec, SweepTask

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gradscope.cells.cell import Cell


def task_problem(spec: SweepSpec, task: SweepTask) -> Problem:
    """The problem of one task: the base problem with the task's values and seed."""
    return spec.problem.redraw(seed=task.seed, **dict(task.values))


def run_task(spec: SweepSpec, task: SweepTask) -> dict[str, Any]:
    """One row: the task's values, sample, seed and results (non-finite numbers as ``None``); with
    ``keep_profiles``, the profile under ``"log10_norm"`` too (a list, taken out of the row by :func:`run_sweep`)."""
    problem = task_problem(spec, task)
    result = analyze(problem, thresholds=spec.thresholds)
    row: dict[str, Any] = dict(task.values)
    row |= {
        "sample": task.sample,
        "seed": task.seed,
        "rate_per_step": json_number(result.rate_per_step),
        "efolding_lag": json_number(result.efolding_lag),
        "verdict": result.verdict,
        "final_log10_norm": json_number(result.final_log10_norm),
    }
    if spec.exponents:
        size = problem.spec.state_size(result.hidden_size)
        spectrum = lyapunov(problem, exponents=min(spec.exponents, size), transient=spec.transient)
        values = [json_number(v) for v in spectrum.exponents]
        values += [None] * (spec.exponents - len(values))
        row |= {f"lyapunov_{i}": v for i, v in enumerate(values, start=1)}
    if spec.keep_profiles:
        row["log10_norm"] = result.log10_norm.tolist()
    return row


def run_chunk(spec: SweepSpec, tasks: list[SweepTask]) -> list[dict[str, Any]]:
    """:func:`run_task` for each task of a chunk (the unit of work an executor ships)."""
    return [run_task(spec, task) for task in tasks]


def run_sweep(
    spec: SweepSpec, *, executor: Executor | None = None, progress: Callable[[int, int], None] | None = None
) -> SweepResult:
    """Run every task of ``spec``.

    Args:
        spec: the sweep.
        executor: where the tasks run (default :class:`~gradscope.studies.executors.LocalExecutor`: all cores).
        progress: called as ``progress(tasks_done, tasks_total)`` as chunks finish.

    Returns:
        A :class:`~gradscope.studies.sweep_result.SweepResult` with rows in task order, identical for any executor.
    """
    tasks = spec.tasks()
    runner = executor if executor is not None else LocalExecutor()
    rows = runner.map(functools.partial(run_chunk, spec), tasks, progress=progress)
    if len(rows) != len(tasks):
        raise RuntimeError(f"the executor returned {len(rows)} rows for {len(tasks)} tasks")
    profiles = None
    if spec.keep_profiles:
        profiles = np.array([row.pop("log10_norm") for row in rows], dtype=np.float64)
        profiles.setflags(write=False)
    return SweepResult(spec, tuple(dict(row) for row in rows), profiles)


def sweep(
    cell: Problem | str | Cell,
    vary: Sequence[Axis] | Sequence[str] | Mapping[str, Sequence[Value]],
    *,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    **options: Unpack[SweepOptions],
) -> SweepResult:
    """Rate per step and verdict over a grid: :meth:`SweepSpec.create` (whose keyword options ``options``
    are: ``samples``, ``exponents``, ``transient``, ``thresholds``, ``seeding``, ``keep_profiles`` and those of
    :func:`~gradscope.analysis.problem.make_problem`) then :func:`run_sweep` on ``executor``.

    >>> import gradscope  # doctest: +SKIP
    >>> gradscope.sweep("rnn", {"gain": [0.5, 1.0, 2.0]}, samples=4, init="gaussian", steps=100)  # doctest: +SKIP
    """
    spec = SweepSpec.create(cell, vary, **options)
    return run_sweep(spec, executor=executor, progress=progress)
