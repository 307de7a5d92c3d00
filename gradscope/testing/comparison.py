"""Hand-written gradients against the exact reference, entry by entry: what failed, where, and why.

An entry passes when ``|actual - expected| <= atol + rtol * |expected|`` (NumPy's rule), with
``rtol`` and ``atol`` taken from :data:`~gradscope.testing.tolerance.DEFAULT_TOLERANCES` by the
dtype of the array checked, unless given.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gradscope.errors import ParameterError
from gradscope.testing.reference import reference_gradients, reference_problem
from gradscope.testing.tolerance import Tolerance, default_tolerance

if TYPE_CHECKING:
    from gradscope.cells.cell import Cell


#: Keys whose arrays may carry PyTorch's batch (and layer) axes of size 1.
_BATCHED_KEYS = ("inputs", "h0", "c0", "y0")


class GradientMismatch(AssertionError):  # noqa: N818 - the name the issue and users expect
    """Hand-written gradients differ from the exact reference; ``.comparison`` holds the details."""

    def __init__(self, comparison: BPTTComparison) -> None:
        super().__init__(comparison.report())
        self.comparison = comparison


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
        worst_index: the entry furthest out of tolerance (largest ``|a - e| / (atol + rtol |e|)``).
        location: that entry in words (gate and unit, or time step and feature).
        expected, actual: the two values there.
        rel_err: ``|a - e| / |e|`` there (``inf`` when ``e == 0``); tolerance: ``atol + rtol |e|`` there.
        hints: likely causes (transposed, negated or scaled gradient; time steps affected).
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
        lines += [f"    hint: {hint}" for hint in self.hints]
        return "\n".join(lines)


@dataclass(frozen=True)
class BPTTComparison:
    """The result of :func:`compare_bptt`: every given gradient against the reference.

    Attributes:
        cell: the cell's name; steps, hidden_size, input_size: T, H and I.
        keys: the compared keys (right name and shape), in the reference's order.
        unknown: given keys that are not gradients of this cell, with a suggestion each.
        wrong_shapes: ``key -> (given shape, expected shape)``.
        not_checked: reference keys absent from the given gradients (not an error).
    """

    cell: str
    steps: int
    hidden_size: int
    input_size: int
    keys: Mapping[str, KeyComparison]
    unknown: Mapping[str, str] = field(default_factory=dict)
    wrong_shapes: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    not_checked: tuple[str, ...] = ()
    #: Every gradient key of this cell, in the reference's order.
    reference_keys: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Every given gradient matches, has a known name and the right shape, and at least one was given."""
        return (
            bool(self.keys) and not self.unknown and not self.wrong_shapes and all(c.passed for c in self.keys.values())
        )

    @property
    def failed_keys(self) -> tuple[str, ...]:
        """Compared keys with entries out of tolerance, then wrong shapes, then unknown keys."""
        wrong = [k for k, c in self.keys.items() if not c.passed]
        return (*wrong, *self.wrong_shapes, *self.unknown)

    def report(self) -> str:
        """The human-readable summary used as the :class:`GradientMismatch` message."""
        sizes = f"{self.cell}, T={self.steps}, H={self.hidden_size}, I={self.input_size}"
        if self.passed:
            return f"BPTT gradients match the exact reference ({sizes}): {', '.join(self.keys)}"
        if not self.keys and not self.unknown and not self.wrong_shapes:
            return f"no gradients given to check ({sizes}); expected keys: {', '.join(self.not_checked)}"
        wrong = [c for c in self.keys.values() if not c.passed]
        problems = len(wrong) + len(self.wrong_shapes) + len(self.unknown)
        lines = [f"BPTT gradients differ from the exact reference ({sizes}): {problems} problem(s)"]
        lines += ["  " + c.describe().replace("\n", "\n  ") for c in wrong]
        for key, (given, expected) in self.wrong_shapes.items():
            note = "; the transpose of the expected shape: a transposed gradient?" if given == expected[::-1] else ""
            lines.append(f"  {key}: wrong shape {given}, expected {expected}{note}")
        for key, suggestion in self.unknown.items():
            lines.append(f"  {key}: unknown key{suggestion}")
        if self.unknown:
            lines.append(f"  valid keys: {', '.join(self.reference_keys)}")
        passed = [k for k, c in self.keys.items() if c.passed]
        if passed:
            lines.append(f"  matching: {', '.join(passed)}")
        if self.not_checked:
            lines.append(f"  not given (not checked): {', '.join(self.not_checked)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def compare_bptt(
    cell: str | Cell,
    params: Mapping[str, object],
    inputs: object,
    upstream: object,
    grads: Mapping[str, object],
    *,
    rtol: float | None = None,
    atol: float | None = None,
    h0: object | None = None,
    c0: object | None = None,
    y0: object | None = None,
) -> BPTTComparison:
    """Compare hand-written gradients with :func:`bptt_reference`; never raises on a mismatch.

    Args:
        cell, params, inputs, upstream, h0, c0: as for :func:`bptt_reference` (``inputs``
            ``(T, I)``, ``upstream`` ``(T, H)`` = ``dL/dh_t`` taken directly from the loss).
        grads: some or all of ``weight_ih_l0`` ``(G*H, I)``, ``weight_hh_l0`` ``(G*H, H)``,
            ``bias_ih_l0``, ``bias_hh_l0`` ``(G*H,)``, ``inputs`` ``(T, I)``, ``h0``, ``c0`` ``(H,)``
            (NumPy arrays, nested lists or CPU tensors; ``inputs``, ``h0`` and ``c0`` may keep
            PyTorch's batch axes of size 1).
        rtol, atol: override the per-dtype defaults of :data:`~gradscope.testing.tolerance.DEFAULT_TOLERANCES`.
        y0: the Jordan cell's initial output ``(O,)``; its ``upstream`` is ``dL/dy_t`` ``(T, O)`` and
            its gradient keys are ``weight_ih_l0``, ``weight_yh_l0``, ``weight_hy_l0``, ``bias_ih_l0``,
            ``bias_hy_l0``, ``inputs`` and ``y0``.

    Raises:
        GradscopeError: invalid ``params``, ``inputs``, ``upstream`` or initial states, or ``grads``
            that is not a mapping (these are errors in the test itself, not gradient mismatches).
    """
    if not isinstance(grads, Mapping):
        raise ParameterError(f"grads must be a mapping of gradient names to arrays, got {type(grads).__name__}")
    problem = reference_problem(cell, params, inputs, h0=h0, c0=c0, y0=y0)
    reference = reference_gradients(problem, upstream)
    spec, steps, input_size, hidden = problem.spec, problem.steps, problem.input_size, problem.hidden_size

    keys: dict[str, KeyComparison] = {}
    wrong_shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    for key, expected in reference.items():
        if key not in grads:
            continue
        actual, dtype = _as_array(key, grads[key])
        if (
            key in _BATCHED_KEYS
            and actual.shape != expected.shape
            and _squeezed(actual.shape) == _squeezed(expected.shape)
        ):
            actual = actual.reshape(expected.shape)
        if actual.shape != expected.shape:
            wrong_shapes[key] = (actual.shape, expected.shape)
            continue
        row = default_tolerance(dtype)
        tolerance = Tolerance(row.rtol if rtol is None else float(rtol), row.atol if atol is None else float(atol))
        keys[key] = compare_arrays(key, expected, actual, tolerance, dtype=dtype, gates=spec.gates, hidden=hidden)

    unknown = {key: _suggestion(key, list(reference)) for key in grads if key not in reference}
    not_checked = tuple(key for key in reference if key not in grads)
    return BPTTComparison(
        spec.name, steps, hidden, input_size, keys, unknown, wrong_shapes, not_checked, tuple(reference)
    )


def assert_bptt_close(
    cell: str | Cell,
    params: Mapping[str, object],
    inputs: object,
    upstream: object,
    grads: Mapping[str, object],
    *,
    rtol: float | None = None,
    atol: float | None = None,
    h0: object | None = None,
    c0: object | None = None,
    y0: object | None = None,
) -> None:
    """Pass silently when ``grads`` match the exact BPTT gradients; raise :class:`GradientMismatch` otherwise.

    Arguments as for :func:`compare_bptt`. ``grads`` may hold some or all keys; every key given
    must be known and of the right shape, and at least one must be given.
    """
    comparison = compare_bptt(cell, params, inputs, upstream, grads, rtol=rtol, atol=atol, h0=h0, c0=c0, y0=y0)
    if not comparison.passed:
        raise GradientMismatch(comparison)


def compare_arrays(
    key: str,
    expected: np.ndarray,
    actual: np.ndarray,
    tolerance: Tolerance,
    *,
    dtype: str = "float64",
    gates: tuple[str, ...] = (),
    hidden: int = 0,
) -> KeyComparison:
    """Compare two arrays of the same shape entry by entry; ``gates``/``hidden`` name weight rows.

    NaN or infinite actual values count as infinitely wrong.
    """
    actual = np.asarray(actual, dtype=np.float64)
    error = np.abs(actual - expected)
    error = np.where(np.isfinite(error), error, np.inf)
    allowed = tolerance.atol + tolerance.rtol * np.abs(expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(error == 0, 0.0, error / allowed)
    bad = ratio > 1
    flat = int(np.argmax(ratio)) if ratio.size else 0
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
        location=_location(key, worst, expected.shape, gates, hidden),
        expected=e,
        actual=a,
        rel_err=float(rel),
        tolerance=float(allowed[worst]) if expected.size else tolerance.atol,
        hints=() if passed else _hints(key, expected, actual, bad, tolerance),
    )


def _as_array(key: str, value: object) -> tuple[np.ndarray, str]:
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


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for n in shape if n != 1)


def _suggestion(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
