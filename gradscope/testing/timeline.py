"""Where in time a hand-written BPTT goes wrong.

Every gradient of the cell is a sum of per-step terms: ``dW_ih = sum_t du_t x_t^T``, ``dW_hh = sum_t
dm_t r_{t-1}^T``, ``db = sum_t du_t`` (``du_t = dm_t`` for the RNN and the LSTM), and the output layer's
``dW_out = sum_t dy_t h_t^T``, ``db_out = sum_t dy_t``. The backward pass visits ``t = T, T-1, ..., 1``;
the step where the user's term first departs from the exact one (the largest wrong ``t``) points at the
line to read: ``t = T`` at a per-step rule, ``t = T-1`` at what is carried back (``dh_next``, ``dc_next``).

* **From the structure of the error** (:func:`from_structure`): if the user's forward states are right,
  the error of the cell's gradients is ``E = sum_t e_t f_t^T`` with the known factors ``f_t = [x_t;
  r_{t-1}; 1]``, so the per-step errors ``e_t`` follow by least squares when the ``f_t`` are independent
  (``T`` below their length) and the fit is exact. If instead one step's ``dW_hh`` term reads a wrong
  previous state, ``E_hh = dm_t d^T`` for one ``t``: the state it read is named when it is another
  step's. Otherwise it says it cannot place the error.
* **From prefixes** (:func:`from_prefixes`): given the user's backward function, run it on the first
  ``k = 1, 2, ...`` steps; the first ``k`` that fails says whether one step's own rule is wrong
  (``k = 1``) or the carry back from step ``k``.
* **From a mistake that explains the gradients** (:func:`from_terms`): compare its per-step terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradscope.engine.bptt import BackwardTerms
from gradscope.testing.check_problem import Reference

#: Relative size below which a per-step error counts as zero (the fit's rounding).
ZERO = 1e-7


@dataclass(frozen=True)
class Timeline:
    """When the user's per-step terms go wrong.

    Attributes:
        steps: T.
        source: ``"structure"``, ``"mistake"`` (a named mistake that explains the gradients),
            ``"prefixes"`` or ``"none"``.
        first_wrong: the first wrong step in the backward pass's order (the largest wrong ``t``), or ``None``.
        wrong_steps: every step whose term is wrong, ascending.
        gates: the gates whose terms are wrong at ``first_wrong`` (gated cells); parts: ``"cell"``
            and/or ``"output layer"`` there.
        prefix_fail: the length of the shortest failing prefix (``None`` when prefixes were not run
            or all passed); note: a sentence that completes the picture (or why it cannot be placed).
        hint: what the placement suggests the mistake is (empty when it suggests nothing).
    """

    steps: int
    source: str
    first_wrong: int | None = None
    wrong_steps: tuple[int, ...] = ()
    gates: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    prefix_fail: int | None = None
    note: str = ""
    hint: str = ""

    def lines(self) -> list[str]:
        """The ``time:`` lines of the failure message (continuations indented under them)."""
        out = []
        T = self.steps
        if self.first_wrong is not None:
            t = self.first_wrong
            right = "" if t == T else f" (t = {T} is right)" if t == T - 1 else f" (t = {T}..{t + 1} are right)"
            where = f" in the {' and '.join(self.parts)}'s terms" if self.parts else ""
            gates = (
                f"; at t = {t}: gate{'s' if len(self.gates) > 1 else ''} {', '.join(self.gates)}" if self.gates else ""
            )
            out.append(
                f"time: the backward pass (t = {T} down to 1) first goes wrong at t = {t} of {T}{right}{where}; "
                f"wrong at t = {_ranges(self.wrong_steps)}{gates}"
            )
        if self.prefix_fail is not None:
            k = self.prefix_fail
            if k == 1:
                text = "wrong already on the first step alone: one step's own backward rule (or how step 1 reads h0)"
            else:
                text = (
                    f"right on the first {k - 1} step{'s' if k > 2 else ''}, wrong on the first {k}: the error enters "
                    f"with what is carried back from step {k} to step {k - 1}"
                )
            out.append(("time: " if not out else "      ") + f"rerun on prefixes, your backward is {text}")
        if self.note:
            out.append(("time: " if not out else "      ") + self.note)
        return out


def _ranges(steps: tuple[int, ...]) -> str:
    """``(1, 2, 3, 5)`` -> ``"1..3, 5"``."""
    groups: list[list[int]] = []
    for t in steps:
        if groups and t == groups[-1][-1] + 1:
            groups[-1].append(t)
        else:
            groups.append([t])
    return ", ".join(str(g[0]) if len(g) == 1 else f"{g[0]}..{g[-1]}" for g in groups)


def _solve(error: np.ndarray, factors: np.ndarray, noise: float) -> np.ndarray | None:
    """``e`` ``(T, rows)`` with ``error = e^T factors``, when the factors ``(T, K)`` determine it and it fits."""
    steps, width = factors.shape
    if width <= steps or np.linalg.matrix_rank(factors) < steps:
        return None
    solution, *_ = np.linalg.lstsq(factors.T, error.T, rcond=None)  # (T, rows)
    residual = np.abs(solution.T @ factors - error).max()
    if residual > max(ZERO * np.abs(error).max(), noise):
        return None
    return solution


def _wrong(per_step: np.ndarray, noise: float, scale: float) -> np.ndarray:
    """Which rows of ``per_step`` ``(T, n)`` are not zero."""
    size = np.abs(per_step).max(axis=1)
    return size > max(ZERO * max(size.max(), scale), noise)


@dataclass(frozen=True)
class _Part:
    name: str
    error: np.ndarray  # (rows, K)
    factors: np.ndarray  # (T, K)
    noise: float


def from_structure(
    terms: BackwardTerms,
    hidden: np.ndarray,
    errors: Mapping[str, np.ndarray],
    noise: Mapping[str, float],
    gates: tuple[str, ...],
) -> Timeline | None:
    """Place the error from the structure of the final gradients (see the module docstring).

    Args:
        terms: the exact per-step pieces; hidden: ``(T, H)`` the exact ``h_t``.
        errors: ``actual - expected`` under PyTorch's names (``weight_ih_l0``, ``weight_hh_l0``,
            ``bias_ih_l0``, ``bias_hh_l0``, ``weight_out``, ``bias_out``; any subset).
        noise: per key, the error a correct gradient may have (its tolerance at the largest entry).
        gates: the cell's gates (PyTorch order).

    Returns:
        ``None`` when nothing is wrong in these keys; a :class:`Timeline` otherwise (``source="none"``
        with the reason when it cannot be placed).
    """
    trajectory = terms.trajectory
    T = trajectory.steps
    if all(np.abs(e).max(initial=0.0) <= noise[k] for k, e in errors.items()):
        return None
    ones = np.ones((T, 1))
    reads = trajectory.read(0, T)
    cell = {"weight_ih_l0": trajectory.inputs, "weight_hh_l0": reads, "bias_ih_l0": ones, "bias_hh_l0": ones}
    joint = np.allclose(terms.grad_u, terms.grad_m, rtol=1e-12, atol=0.0)
    groups = (
        [("cell", tuple(cell))]
        if joint
        else [("cell", ("weight_ih_l0", "bias_ih_l0")), ("cell", ("weight_hh_l0", "bias_hh_l0"))]
    )
    parts = [_part(name, keys, cell, errors, noise) for name, keys in groups]
    parts.append(
        _part("output layer", ("weight_out", "bias_out"), {"weight_out": hidden, "bias_out": ones}, errors, noise)
    )
    wrong: dict[str, np.ndarray] = {}
    per_step: list[np.ndarray] = []
    for part in parts:
        if part is None:
            continue
        if np.abs(part.error).max() <= part.noise:
            continue
        solution = _solve(part.error, part.factors, part.noise)
        if solution is None:
            return _read_error(terms, errors, noise) or _unplaced(part, T)
        rows = _wrong(solution, part.noise, 0.0)
        wrong[part.name] = wrong.get(part.name, np.zeros(T, dtype=bool)) | rows
        if part.name == "cell":
            per_step.append(solution)
    if not wrong:
        return None
    steps = np.zeros(T, dtype=bool)
    for rows in wrong.values():
        steps |= rows
    first = int(np.flatnonzero(steps).max()) + 1
    at_first = tuple(name for name, rows in wrong.items() if rows[first - 1])
    gate_names: tuple[str, ...] = ()
    if per_step and len(gates) > 1:
        H = per_step[0].shape[1] // len(gates)
        block = np.maximum.reduce([np.abs(s[first - 1]) for s in per_step]).reshape(len(gates), H).max(axis=1)
        gate_names = tuple(g for g, v in zip(gates, block, strict=True) if v > ZERO * block.max())
    wrong_steps = tuple(int(t) + 1 for t in np.flatnonzero(steps))
    return Timeline(T, "structure", first, wrong_steps, gate_names, at_first)


def _part(
    name: str,
    keys: tuple[str, ...],
    factors: Mapping[str, np.ndarray],
    errors: Mapping[str, np.ndarray],
    noise: Mapping[str, float],
) -> _Part | None:
    given = [k for k in keys if k in errors]
    if not given:
        return None
    error = np.concatenate([errors[k].reshape(errors[k].shape[0], -1) for k in given], axis=1)
    matrix = np.concatenate([factors[k] for k in given], axis=1)
    return _Part(name, error, matrix, max(noise[k] for k in given))


def _unplaced(part: _Part, steps: int) -> Timeline:
    width = part.factors.shape[1]
    if width <= steps or np.linalg.matrix_rank(part.factors) < steps:
        reason = (
            f"cannot be placed from the final gradients alone: T = {steps} steps but the {part.name}'s gradients hold "
            f"only {min(width, np.linalg.matrix_rank(part.factors))} independent per-step factors; pass your backward "
            "function as grads= to rerun it on prefixes"
        )
    else:
        reason = (
            f"cannot be placed: the {part.name}'s error is not a sum of per-step terms on the exact forward pass "
            "(your forward states or your loss differ, or the gradients were changed after the loop)"
        )
    return Timeline(steps, "none", note=reason)


def _read_error(terms: BackwardTerms, errors: Mapping[str, np.ndarray], noise: Mapping[str, float]) -> Timeline | None:
    """One step's ``dW_hh`` term reads a wrong previous state, everything else right."""
    error = errors.get("weight_hh_l0")
    others = [k for k in errors if k != "weight_hh_l0"]
    if error is None or any(np.abs(errors[k]).max() > noise[k] for k in others):
        return None
    trajectory = terms.trajectory
    T, reads, states = trajectory.steps, trajectory.read(0, trajectory.steps), trajectory.read(0, trajectory.steps + 1)
    found = []
    for k in range(T):
        g = terms.grad_m[k]
        if not np.any(g):
            continue
        d = error.T @ g / (g @ g)
        if np.abs(error - np.outer(g, d)).max() <= max(ZERO * np.abs(error).max(), noise["weight_hh_l0"]):
            found.append((k, d))
    if len(found) != 1:
        return None
    k, d = found[0]
    used = reads[k] + d
    match = [s for s in range(T + 1) if s != k and np.allclose(states[s], used, rtol=1e-6, atol=1e-9)]
    what = f"h_{match[0]} where h_{k} belongs" if match else f"a wrong h_{k} (off by {np.abs(d).max():.3g})"
    note = f"only step {k + 1}'s dW_hh term is wrong: it reads {what}"
    hint = ""
    if match and k == 0 and match[0] == T:
        hint = (
            f"step 1 reads h_{T} for h_0 in dW_hh: h0 is kept in a slot that the forward pass overwrites "
            "(hs[-1] of a (T, H) array is also h_T's slot); keep h0 apart, e.g. in a dict or a (T + 1, H) array"
        )
    return Timeline(T, "structure", k + 1, (k + 1,), (), ("cell",), note=note, hint=hint)


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows (steps) where two ``(T, n)`` arrays differ beyond rounding."""
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return np.abs(a - b).reshape(a.shape[0], -1).max(axis=1) > 1e-9 * scale


def from_terms(exact: Reference, mistaken: Reference, gates: tuple[str, ...], head: bool) -> Timeline:
    """Compare the per-step terms of the exact BPTT with those of a mistake that explains the user's gradients."""
    e, m = exact.terms, mistaken.terms
    T = e.trajectory.steps
    cell = _differs(e.grad_u, m.grad_u) | _differs(e.grad_m, m.grad_m)
    cell |= _differs(e.trajectory.read(0, T), m.trajectory.read(0, T))
    wrong = {"cell": cell}
    if head:
        wrong["output layer"] = _differs(exact.hidden, mistaken.hidden) | _differs(
            exact.output_gradient, mistaken.output_gradient
        )
    steps = np.logical_or.reduce(list(wrong.values()))
    if not steps.any():
        return Timeline(T, "mistake", note="no per-step term is wrong: the final gradients were changed after the loop")
    first = int(np.flatnonzero(steps).max()) + 1
    diff = np.abs(e.grad_m[first - 1] - m.grad_m[first - 1]) + np.abs(e.grad_u[first - 1] - m.grad_u[first - 1])
    gate_names: tuple[str, ...] = ()
    if len(gates) > 1 and diff.max() > 0:
        block = diff.reshape(len(gates), -1).max(axis=1)
        gate_names = tuple(g for g, v in zip(gates, block, strict=True) if v > 1e-9 * np.abs(e.grad_m).max())
    parts = tuple(name for name, rows in wrong.items() if rows[first - 1])
    return Timeline(T, "mistake", first, tuple(int(t) + 1 for t in np.flatnonzero(steps)), gate_names, parts)
