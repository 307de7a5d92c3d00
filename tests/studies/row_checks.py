"""Sweep rows against the one-at-a-time path: exact where a task runs alone, to 1e-12 where it is batched.

A chunk's tasks of one cell and shape are advanced together (``analysis.ensemble.analyze_each``); the batch
multiplies in another order than ``gradscope.analyze``, so its numbers agree to rounding (about 1e-14 in
``log10``), not to the last bit. Tasks the batch does not take (float32, stacked networks, ...) run through
``gradscope.analyze`` itself and must agree exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradscope.analysis.problem import Problem
from gradscope.engine.batched import batchable

#: How far a batched row's number may be from the one-at-a-time path's: relative, and absolute near zero.
BATCHED_RTOL = 1e-12
#: The result columns holding floats.
NUMBER_COLUMNS = ("rate_per_step", "efolding_lag", "final_log10_norm")


def is_batched(problem: Problem) -> bool:
    """Whether a sweep task with this problem runs in a batch (the rule ``analyze_each`` applies)."""
    spec, network = problem.spec, problem.network
    layers = network.num_layers * network.num_directions
    size = spec.state_size(problem.hidden_size)
    return batchable(spec.feedback, bool(spec.inner_gates), layers, problem.dtype, problem.norm, size)


def assert_number(actual: float | None, expected: float | None, *, batched: bool, what: str = "") -> None:
    """``actual == expected``, or within :data:`BATCHED_RTOL` (relative, absolute below 1) when ``batched``."""
    if not batched or actual is None or expected is None or not math.isfinite(expected):
        assert actual == expected, f"{what}: {actual!r} != {expected!r}"
        return
    assert abs(actual - expected) <= BATCHED_RTOL * max(abs(expected), 1.0), f"{what}: {actual!r} vs {expected!r}"


def assert_row(row: Mapping[str, Any], expected: Mapping[str, Any], *, batched: bool) -> None:
    """Two rows of one task: the same columns, every number as :func:`assert_number`, the rest equal."""
    assert set(row) == set(expected)
    for name, value in expected.items():
        if name == "log10_norm":
            assert_profile(np.asarray(row[name]), np.asarray(value), batched=batched)
        elif isinstance(value, float) and name not in ("gain", "input_scale", "forget_bias"):
            assert_number(row[name], value, batched=batched, what=name)
        else:
            assert row[name] == value and type(row[name]) is type(value), name


def assert_profile(actual: np.ndarray, expected: np.ndarray, *, batched: bool) -> None:
    """Two ``log10_norm`` profiles ``(T,)``: identical, or to :data:`BATCHED_RTOL` when ``batched``."""
    if not batched:
        np.testing.assert_array_equal(actual, expected)
        return
    np.testing.assert_array_equal(np.isfinite(actual), np.isfinite(expected))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(actual[~finite], expected[~finite])
    scale = np.maximum(np.abs(expected[finite]), 1.0)
    assert np.all(np.abs(actual[finite] - expected[finite]) <= BATCHED_RTOL * scale)


def analysis_row(result: Any) -> dict[str, Any]:
    """The numbers of an ``Analysis`` as a row holds them (non-finite as ``None``)."""
    return {name: _json(getattr(result, name)) for name in NUMBER_COLUMNS} | {"verdict": result.verdict}


def _json(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
