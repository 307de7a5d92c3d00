"""Hand-written gradients against the exact reference, entry by entry: what failed, where, and why.

An entry passes when ``|actual - expected| <= atol + rtol * |expected|`` (NumPy's rule), with
``rtol`` and ``atol`` taken from :data:`~gradscope.testing.tolerance.DEFAULT_TOLERANCES` by the
dtype of the array checked, unless given.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gradscope.errors import ParameterError
from gradscope.testing.entries import GateError, GradientChecks, KeyComparison, compare_arrays, compare_given
from gradscope.testing.reference import reference_gradients, reference_problem
from gradscope.testing.signatures import same_arguments

if TYPE_CHECKING:
    from gradscope.cells.cell import Cell


#: Keys whose arrays may carry PyTorch's batch (and layer) axes of size 1.
_BATCHED_KEYS = ("inputs", "h0", "c0", "y0")


class Reported(Protocol):
    """A check result that can explain itself (:class:`BPTTComparison`, :class:`~gradscope.testing.BPTTDiagnosis`)."""

    def report(self) -> str: ...


class GradientMismatch(AssertionError):  # noqa: N818 - the name the issue and users expect
    """Hand-written gradients differ from the exact reference; ``.comparison`` holds the details.

    It is a :class:`BPTTComparison` (from :func:`assert_bptt_close`) or a
    :class:`~gradscope.testing.BPTTDiagnosis` (from :func:`~gradscope.testing.check_bptt`).
    """

    def __init__(self, comparison: Reported) -> None:
        super().__init__(comparison.report())
        self.comparison = comparison


@dataclass(frozen=True)
class BPTTComparison(GradientChecks):
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
        lines += self.shape_lines()
        for key, suggestion in self.unknown.items():
            lines.append(f"  {key}: unknown key{suggestion}")
        if self.unknown:
            lines.append(f"  valid keys: {', '.join(self.reference_keys)}")
        return "\n".join(lines + self.closing_lines())

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
        given = compare_given(
            key, expected, grads[key], rtol, atol, squeeze=key in _BATCHED_KEYS, gates=spec.gates, hidden=hidden
        )
        if given.comparison is None:
            assert given.wrong_shape is not None
            wrong_shapes[key] = given.wrong_shape
        else:
            keys[key] = given.comparison

    unknown = {key: _suggestion(key, list(reference)) for key in grads if key not in reference}
    not_checked = tuple(key for key in reference if key not in grads)
    return BPTTComparison(
        spec.name, steps, hidden, input_size, keys, unknown, wrong_shapes, not_checked, tuple(reference)
    )


@same_arguments(compare_bptt)
def assert_bptt_close(*args: Any, **kwargs: Any) -> None:
    """Pass silently when ``grads`` match the exact BPTT gradients; raise :class:`GradientMismatch` otherwise.

    Arguments exactly as for :func:`compare_bptt`. ``grads`` may hold some or all keys; every key given
    must be known and of the right shape, and at least one must be given.
    """
    comparison = compare_bptt(*args, **kwargs)
    if not comparison.passed:
        raise GradientMismatch(comparison)


def _suggestion(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


__all__ = [
    "BPTTComparison",
    "GateError",
    "GradientMismatch",
    "KeyComparison",
    "Reported",
    "assert_bptt_close",
    "compare_arrays",
    "compare_bptt",
]
