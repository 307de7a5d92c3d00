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

Failures: a task that raises (a grid point whose forward pass overflows, any error in a worker) does not
stop the sweep: its row holds the values, sample and seed, ``None`` results and the error's one-line
message in the last column, ``error`` (``None`` in every row that ran); :attr:`SweepResult.failed` counts
them. Interruptions: :func:`run_sweep` takes the rows a previous run already finished (``finished``, by
:attr:`SweepTask.key`) and hands every newly finished chunk's rows to ``record`` at once, so a checkpoint
can keep them; the final rows are the same as an uninterrupted run's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope.analysis.document import json_number
from gradscope.analysis.ensemble import analyze_each
from gradscope.analysis.lyapunov_spectrum import lyapunov
from gradscope.analysis.problem import Problem
from gradscope.analysis.profile import Analysis, analyze
from gradscope.errors import ConfigError, GradscopeError
from gradscope.studies.axes import Axis, Value
from gradscope.studies.executors import Executor, LocalExecutor
from gradscope.studies.sweep_result import SweepResult
from gradscope.studies.sweep_spec import ERROR_COLUMN, SweepOptions, SweepSpec, SweepTask

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gradscope.cells.cell import Cell


def task_problem(spec: SweepSpec, task: SweepTask) -> Problem:
    """The problem of one task: the base problem with the task's values and seed."""
    return spec.problem.redraw(seed=task.seed, **dict(task.values))


def run_task(spec: SweepSpec, task: SweepTask) -> dict[str, Any]:
    """One row: the task's values, sample, seed and results (non-finite numbers as ``None``); with
    ``keep_profiles``, the profile under ``"log10_norm"`` too (a list, taken out of the row by :func:`run_sweep`).
    The one-at-a-time path: :func:`run_chunk` gives the same row (to 1e-12 relative where the task is batched)."""
    problem = task_problem(spec, task)
    return result_row(spec, task, problem, analyze(problem, thresholds=spec.thresholds))


def result_row(spec: SweepSpec, task: SweepTask, problem: Problem, result: Analysis) -> dict[str, Any]:
    """The row of a task whose problem is ``problem`` and analysis ``result`` (Lyapunov columns measured here)."""
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
    row[ERROR_COLUMN] = None
    if spec.keep_profiles:
        row["log10_norm"] = result.log10_norm.tolist()
    return row


def error_message(error: Exception) -> str:
    """One line for a failed task: a :class:`GradscopeError`'s message as it is, else the type and the message."""
    text = str(error) if isinstance(error, GradscopeError) else f"{type(error).__name__}: {error}"
    return " ".join(text.split()) or type(error).__name__


def failed_row(spec: SweepSpec, task: SweepTask, error: Exception) -> dict[str, Any]:
    """The row of a task that raised ``error``: its values, sample and seed, no results, and the error's message
    (with ``keep_profiles``, a profile of NaN over the task's steps)."""
    row: dict[str, Any] = {name: None for name in spec.columns}
    row |= dict(task.values)
    row |= {"sample": task.sample, "seed": task.seed, ERROR_COLUMN: error_message(error)}
    if spec.keep_profiles:
        row["log10_norm"] = [float("nan")] * int(dict(task.values).get("steps", spec.problem.steps))
    return row


def task_row(spec: SweepSpec, task: SweepTask) -> dict[str, Any]:
    """The row of one task, given its key's task: :func:`run_task`, or :func:`failed_row` when it raises.

    Only ``Exception`` is caught: an interruption (``KeyboardInterrupt``, ``SystemExit``) stops the sweep.
    NumPy's overflow warnings are silenced: a task whose numbers leave float64's range is caught by the
    engine's own finiteness checks and becomes a failed row, and a warning from a worker would only repeat
    that row's error on stderr, once per task.
    """
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return run_task(spec, task)
    except Exception as error:  # any failure of one task is that task's row, not the sweep's end
        return failed_row(spec, task, error)


def run_chunk(spec: SweepSpec, tasks: list[SweepTask]) -> list[dict[str, Any]]:
    """The rows of a chunk's tasks (the unit of work an executor ships), in order.

    The tasks' problems are analysed together (:func:`~gradscope.analysis.ensemble.analyze_each`: networks
    of one cell and shape advanced as one batch, the rest one at a time), so each row is :func:`task_row`'s
    to rounding (1e-12 relative; exactly where the task is not batched), and depends on its task alone, never
    on which tasks share its chunk: every executor and chunk size gives the same rows. A task whose problem
    cannot be made, or whose analysis or Lyapunov spectrum raises, is its own :func:`failed_row`.
    """
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    problems: dict[int, Problem] = {}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # see task_row
        for i, task in enumerate(tasks):
            try:
                problems[i] = task_problem(spec, task)
            except Exception as error:  # a task's failure is its row
                rows[i] = failed_row(spec, task, error)
        order = list(problems)
        results = analyze_each([problems[i] for i in order], thresholds=spec.thresholds)
        for i, result in zip(order, results, strict=True):
            try:
                if isinstance(result, Exception):
                    raise result
                rows[i] = result_row(spec, tasks[i], problems[i], result)
            except Exception as error:  # a task's failure is its row
                rows[i] = failed_row(spec, tasks[i], error)
    return [row for row in rows if row is not None]


#: ``record(rows)``: newly finished ``(task key, row)`` pairs, one chunk at a time (rows with their profile).
Record = Callable[[list[tuple[str, dict[str, Any]]]], None]


def check_finished(spec: SweepSpec, task: SweepTask, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row from an earlier run of ``spec`` for ``task``, checked to be one: its columns, values, sample, seed."""
    expected = set(spec.columns) | ({"log10_norm"} if spec.keep_profiles else set())
    if not isinstance(row, Mapping) or set(row) != expected:
        raise ConfigError(f"the finished row of task {task.key} does not have this sweep's columns")
    mine = dict(task.values) | {"sample": task.sample, "seed": task.seed}
    if any(row[name] != value or type(row[name]) is not type(value) for name, value in mine.items()):
        raise ConfigError(f"the finished row of task {task.key} holds other values, sample or seed")
    return dict(row)


def run_sweep(
    spec: SweepSpec,
    *,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    finished: Mapping[str, Mapping[str, Any]] | None = None,
    record: Record | None = None,
) -> SweepResult:
    """Run every task of ``spec`` that is not already ``finished``.

    Args:
        spec: the sweep.
        executor: where the tasks run (default :class:`~gradscope.studies.executors.LocalExecutor`: all cores).
        progress: called as ``progress(tasks_done, tasks_total)`` as chunks finish (finished tasks count as done).
        finished: rows of an earlier, interrupted run of this sweep by :attr:`SweepTask.key` (with
            ``"log10_norm"`` when the spec keeps profiles); keys of other tasks are a :class:`ConfigError`.
        record: called in this process with each chunk's ``(key, row)`` pairs as soon as it is finished.

    Returns:
        A :class:`~gradscope.studies.sweep_result.SweepResult` with rows in task order, identical for any
        executor and for any split between ``finished`` rows and rows run now.
    """
    tasks = spec.tasks()
    earlier = dict(finished or {})
    unknown = set(earlier) - {task.key for task in tasks}
    if unknown:
        raise ConfigError(f"finished rows of tasks this sweep does not have: {sorted(unknown)[0]}")
    rows: dict[str, dict[str, Any]] = {
        t.key: check_finished(spec, t, earlier[t.key]) for t in tasks if t.key in earlier
    }
    todo = [task for task in tasks if task.key not in rows]

    def collect(chunk: list[SweepTask], results: list[dict[str, Any]]) -> None:
        pairs = [(task.key, row) for task, row in zip(chunk, results, strict=True)]
        if record is not None:
            record(pairs)
        rows.update((key, dict(row)) for key, row in pairs)

    before = len(rows)
    counted = None if progress is None else (lambda done, _total: progress(before + done, len(tasks)))
    runner = executor if executor is not None else LocalExecutor()
    ran = runner.map(functools.partial(run_chunk, spec), todo, progress=counted, collect=collect)
    if len(ran) != len(todo) or len(rows) != len(tasks):
        raise RuntimeError(f"the executor returned {len(ran)} rows for {len(todo)} tasks")
    ordered = [rows[task.key] for task in tasks]
    profiles = None
    if spec.keep_profiles:
        profiles = np.array([row.pop("log10_norm") for row in ordered], dtype=np.float64)
        profiles.setflags(write=False)
    return SweepResult(spec, tuple(ordered), profiles)


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
