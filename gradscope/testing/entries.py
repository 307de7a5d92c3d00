"""One gradient against its reference, entry by entry: how many entries fail, the worst one, and why.

An entry passes when ``|actual - expected| <= atol + rtol * |expected|`` (NumPy's rule). The worst
entry is the one with the largest absolute error among those that fail (an entry whose expected
value is tiny has a tight tolerance, so ranking by the ratio to it would point at the wrong gate).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradscope.errors import ParameterError
from gradscope.testing.tolerance import Tolerance, default_tolerance


@dataclass(frozen=True)
class GateError:
    """The entries of one gate's rows in a weight or bias: how many are out of tolerance, and the largest error."""

    gate: str
    mismatched: int
    size: int
    max_abs_err: float


@dataclass(frozen=True)
class KeyComparison:
    """One gradient compared entry by entry with the reference.

    Attributes:
        key: e.g. ``"weight_hh_l0"``.
        passed: every entry within tolerance.
        shape: the array's shape (after dropping size-1 batch axes for ``inputs``/``h0``/``c0``).
        dtype: the dtype of the given array (it picks the default tolerance).
        rtol, atol: the tolerance used.
        mismatched: number of entries out of tolerance; ``size``: number of entries.
        max_abs_err: ``max |actual - expected|`` over the key.
        worst_index: the entry with the largest absolute error among those out of tolerance (when
            every entry passes, the one closest to its tolerance).
        location: that entry in words (gate and unit, or time step and feature).
        expected, actual: the two values there.
        rel_err: ``|a - e| / |e|`` there (``inf`` when ``e == 0``); tolerance: ``atol + rtol |e|`` there.
        hints: likely causes (transposed, negated or scaled gradient; time steps affected).
        per_gate: for a gated cell's weights and biases, the errors gate by gate.
    """

    key: str
    passed: bool
    shape: tuple[int, ...]
    dtype: str
    rtol: float
    atol: float
    mismatched: int
    size: int
    max_abs_err: float
    worst_index: tuple[int, ...]
    location: str
    expected: float
    actual: float
    rel_err: float
    tolerance: float
    hints: tuple[str, ...] = ()
    per_gate: tuple[GateError, ...] = ()

    def gate_summary(self) -> str:
        """``"per gate: i 0/12, f 3/12 (max 2.1e-03), ..."``, or ``""`` when not per gate."""
        if not self.per_gate:
            return ""
        parts = [
            f"{g.gate} {g.mismatched}/{g.size}" + (f" (max {g.max_abs_err:.2g})" if g.mismatched else "")
            for g in self.per_gate
        ]
        return "per gate: " + ", ".join(parts)

    def describe(self) -> str:
        """Two or more lines for the failure message."""
        index = ", ".join(str(i) for i in self.worst_index)
        error = abs(self.actual - self.expected)
        lines = [
            f"{self.key}: {self.mismatched} of {self.size} entries out of tolerance; "
            f"worst at {self.key}[{index}] ({self.location})",
            f"    expected {self.expected:.10g}, actual {self.actual:.10g}: abs err {error:.3g}, "
            f"rel err {self.rel_err:.3g}, tolerance {self.tolerance:.3g} "
            f"(atol {self.atol:g} + rtol {self.rtol:g} * |expected|)",
        ]
        if self.per_gate and not self.passed:
            lines.append(f"    {self.gate_summary()}")
        lines += [f"    hint: {hint}" for hint in self.hints]
        return "\n".join(lines)


def compare_arrays(
    key: str,
    expected: np.ndarray,
    actual: np.ndarray,
    tolerance: Tolerance,
    *,
    dtype: str = "float64",
    gates: tuple[str, ...] = (),
    hidden: int = 0,
    locate: Callable[[tuple[int, ...]], str] | None = None,
    gate_of: Callable[[tuple[int, ...]], tuple[str, int] | None] | None = None,
) -> KeyComparison:
    """Compare two arrays of the same shape entry by entry; ``gates``/``hidden`` name PyTorch weight rows.

    ``locate`` names an entry in words and ``gate_of`` gives its ``(gate, unit)`` (for another
    layout than PyTorch's; see :class:`~gradscope.testing.layouts.ArrayLayout`). The worst entry is
    the one with the largest absolute error among those out of tolerance. NaN or infinite actual
    values count as infinitely wrong.
    """
    actual = np.asarray(actual, dtype=np.float64)
    error = np.abs(actual - expected)
    error = np.where(np.isfinite(error), error, np.inf)
    allowed = tolerance.atol + tolerance.rtol * np.abs(expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(error == 0, 0.0, error / allowed)
    bad = ratio > 1
    ranking = np.where(bad, error, -1.0) if bad.any() else ratio
    flat = int(np.argmax(ranking)) if ranking.size else 0
    worst = tuple(int(i) for i in np.unravel_index(flat, expected.shape)) if expected.size else ()
    e, a = (float(expected[worst]), float(actual[worst])) if expected.size else (0.0, 0.0)
    err = abs(a - e) if np.isfinite(a) else np.inf
    rel = err / abs(e) if e != 0 else (0.0 if err == 0 else np.inf)
    passed = not bool(bad.any())
    return KeyComparison(
        key=key,
        passed=passed,
        shape=tuple(expected.shape),
        dtype=dtype,
        rtol=tolerance.rtol,
        atol=tolerance.atol,
        mismatched=int(bad.sum()),
        size=int(expected.size),
        max_abs_err=float(error.max()) if error.size else 0.0,
        worst_index=worst,
        location=locate(worst) if locate is not None else _location(key, worst, expected.shape, gates, hidden),
        expected=e,
        actual=a,
        rel_err=float(rel),
        tolerance=float(allowed[worst]) if expected.size else tolerance.atol,
        hints=() if passed else _hints(key, expected, actual, bad, tolerance),
        per_gate=_per_gate(expected.shape, error, bad, gate_of) if gate_of is not None and expected.size else (),
    )


def _per_gate(
    shape: tuple[int, ...],
    error: np.ndarray,
    bad: np.ndarray,
    gate_of: Callable[[tuple[int, ...]], tuple[str, int] | None],
) -> tuple[GateError, ...]:
    """Errors grouped by the gate of each entry, in the order the gates first appear."""
    groups: dict[str, list[int]] = {}
    for flat, index in enumerate(np.ndindex(shape)):
        found = gate_of(tuple(int(i) for i in index))
        if found is None:
            return ()
        groups.setdefault(found[0], []).append(flat)
    if len(groups) < 2:
        return ()
    flat_error, flat_bad = error.reshape(-1), bad.reshape(-1)
    return tuple(
        GateError(gate, int(flat_bad[rows].sum()), len(rows), float(flat_error[rows].max()))
        for gate, rows in groups.items()
    )


def as_gradient_array(key: str, value: object) -> tuple[np.ndarray, str]:
    """A given gradient as a float64 array and the name of its original dtype."""
    dtype_name = ""
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        tensor = value.detach().cpu()
        dtype_name = str(tensor.dtype).removeprefix("torch.")
        value = tensor.double().numpy() if dtype_name == "bfloat16" else tensor.numpy()
    try:
        array = np.asarray(value)
        if not dtype_name:
            dtype_name = str(array.dtype) if array.dtype.kind == "f" else "float64"
        return np.asarray(array, dtype=np.float64), dtype_name
    except (TypeError, ValueError) as error:
        raise ParameterError(f"grads[{key!r}]: cannot be read as a float array ({error})") from error


def _location(key: str, index: tuple[int, ...], shape: tuple[int, ...], gates: tuple[str, ...], hidden: int) -> str:
    """The entry ``key[index]`` in words."""
    if not index:
        return "scalar"
    if key == "inputs":
        return f"time step t={index[0] + 1} of {shape[0]}, input feature {index[1]}"
    if key in ("h0", "c0", "y0") or (len(index) == 1 and not key.startswith(("weight", "bias"))):
        return f"unit {index[0]}"
    if key.startswith(("weight_hy", "bias_hy")):  # the Jordan readout: rows are output units
        return f"output unit {index[0]}" + (f", column h_t[{index[1]}]" if len(index) == 2 else "")
    where = ""
    if gates and hidden:
        gate, unit = gates[index[0] // hidden], index[0] % hidden
        where = f"gate {gate!r}, unit {unit}" if len(gates) > 1 else f"unit {unit}"
    if key.startswith("weight_ih") and len(index) == 2:
        where += f", input feature {index[1]}"
    elif key.startswith("weight_hh") and len(index) == 2:
        where += f", column h_{{t-1}}[{index[1]}]"
    elif key.startswith("weight_yh") and len(index) == 2:
        where += f", column y_{{t-1}}[{index[1]}]"
    return where.removeprefix(", ")


def _hints(
    key: str, expected: np.ndarray, actual: np.ndarray, bad: np.ndarray, tolerance: Tolerance
) -> tuple[str, ...]:
    """Likely causes of a mismatch, cheap to test."""

    def close(candidate: np.ndarray) -> bool:
        return bool(np.all(np.abs(actual - candidate) <= tolerance.atol + tolerance.rtol * np.abs(candidate)))

    hints = []
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and close(expected.T):
        hints.append("it equals the transpose of the expected gradient (numerator vs denominator layout?)")
    elif np.any(expected) and close(-expected):
        hints.append("it is the negative of the expected gradient (sign error?)")
    else:
        norm = float(np.vdot(expected, expected))
        scale = float(np.vdot(expected, actual)) / norm if norm > 0 else 0.0
        if norm > 0 and np.isfinite(scale) and scale != 0 and close(scale * expected):
            hints.append(f"it is {scale:.6g} times the expected gradient (a missing or extra factor?)")
    if key == "inputs" and expected.ndim == 2:
        steps = [int(t) + 1 for t in np.flatnonzero(bad.any(axis=1))]
        zero = [t for t in steps if not np.any(actual[t - 1]) and np.any(expected[t - 1])]
        if len(steps) < expected.shape[0]:
            listed = ", ".join(str(t) for t in steps[:8]) + (", ..." if len(steps) > 8 else "")
            hints.append(f"wrong only at time step(s) t = {listed} of {expected.shape[0]}")
        if zero:
            hints.append(f"all zero at time step(s) t = {', '.join(str(t) for t in zero)}: a dropped time step?")
    return tuple(hints)


@dataclass(frozen=True)
class Given:
    """One given gradient read and compared: its comparison, or the shapes that did not fit."""

    comparison: KeyComparison | None
    wrong_shape: tuple[tuple[int, ...], tuple[int, ...]] | None
    actual: np.ndarray
    tolerance: Tolerance


def compare_given(
    key: str,
    expected: np.ndarray,
    value: object,
    rtol: float | None,
    atol: float | None,
    squeeze: bool = True,
    **where: Any,
) -> Given:
    """Read ``value`` (a gradient given under ``key``), fit its size-1 axes to ``expected`` when ``squeeze``,
    pick the tolerance of its dtype (or ``rtol``/``atol``), and compare (``where``: :func:`compare_arrays`'s naming)."""
    actual, dtype = as_gradient_array(key, value)
    if squeeze and actual.shape != expected.shape and _squeezed(actual.shape) == _squeezed(expected.shape):
        actual = actual.reshape(expected.shape)
    row = default_tolerance(dtype)
    tolerance = Tolerance(row.rtol if rtol is None else float(rtol), row.atol if atol is None else float(atol))
    if actual.shape != expected.shape:
        return Given(None, (actual.shape, expected.shape), actual, tolerance)
    return Given(compare_arrays(key, expected, actual, tolerance, dtype=dtype, **where), None, actual, tolerance)


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for n in shape if n != 1)


class GradientChecks:
    """What :class:`~gradscope.testing.BPTTComparison` and :class:`~gradscope.testing.BPTTDiagnosis` share:
    the verdict over ``keys``, ``unknown`` and ``wrong_shapes``, and the lines that list them."""

    keys: Mapping[str, KeyComparison]
    unknown: Mapping[str, str]
    wrong_shapes: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]]
    not_checked: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Every given gradient matches, has a known name and the right shape, and at least one was given."""
        return (
            bool(self.keys) and not self.unknown and not self.wrong_shapes and all(c.passed for c in self.keys.values())
        )

    @property
    def failed_keys(self) -> tuple[str, ...]:
        """Compared keys with entries out of tolerance, then wrong shapes, then unknown keys."""
        return (*(k for k, c in self.keys.items() if not c.passed), *self.wrong_shapes, *self.unknown)

    def shape_lines(self) -> list[str]:
        """One line per gradient of the wrong shape (with a note when it is the transpose)."""
        lines = []
        for key, (given, expected) in self.wrong_shapes.items():
            note = "; the transpose of the expected shape: a transposed gradient?" if given == expected[::-1] else ""
            lines.append(f"  {key}: wrong shape {given}, expected {expected}{note}")
        return lines

    def closing_lines(self) -> list[str]:
        """What matched, and what was not given."""
        lines = []
        passed = [k for k, c in self.keys.items() if c.passed]
        if passed:
            lines.append(f"  matching: {', '.join(passed)}")
        if self.not_checked:
            lines.append(f"  not given (not checked): {', '.join(self.not_checked)}")
        return lines
