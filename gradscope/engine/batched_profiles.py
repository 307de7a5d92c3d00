"""Norm profiles of N networks at once: products over a leading axis, each member truncated on its own.

``log10 ||P_k||`` for ``k = 1..T`` of every member of a :class:`~gradscope.engine.batched.BatchedTrajectory`.
A member's product is kept as rows, ``P_k = P_{k-1} J_{T-k+1}`` (``(w, S)``, ``w = S`` until a truncation),
divided by its Frobenius norm every lag (``log10`` of what was divided out Kahan-summed per member), with
negligible entries flushed, as the one-at-a-time path (:func:`~gradscope.engine.products.norm_profile`) does.

Members whose products have the same number of rows form a *group*, one stacked array: every lag is one
stacked product per group. As in the one-at-a-time path, every :data:`~gradscope.engine.products.TRUNCATE_EVERY`
lags (backing off after unproductive tries) a member whose coupling graph is strongly connected drops the
directions that carry less than ``1e-12`` of its norm together (:mod:`gradscope.engine.batched_truncation`),
moves to the group of its new width, and carries a sketch of what it dropped; if the sketch grows to matter,
or the kept product becomes exactly zero, the member's row is ``NaN``: its numbers are for the one-at-a-time
path, which starts again with full products then. Truncation changes every norm at second order only, so
the profiles agree with the one-at-a-time path's to rounding (about ``1e-14`` in ``log10``).

Spectral norms: members with every direction still kept use :class:`~gradscope.engine.batched_ritz.StackedRitz`
(certified Rayleigh-Ritz on a tracked block, the exact Gram eigenvalue where it does not certify); truncated
ones the exact eigenvalue of their ``(w, w)`` Gram matrix, stacked per group.

Every stacked call works slice by slice and a member's truncations, sketch and schedule are its own, so its
numbers depend on that member alone, never on which or how many networks share its batch (a sweep's rows are
the same however its tasks are chunked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gradscope.engine.batched import (
    BatchedTrajectory,
    batched_coefficients,
    batched_jacobians,
    strongly_coupled,
    weight_blocks,
)
from gradscope.engine.batched_ritz import StackedRitz, gram_top_eigenvalues
from gradscope.engine.batched_truncation import KeptRows, truncate_rows
from gradscope.engine.operator import FLUSH_RELATIVE
from gradscope.engine.products import (
    CHUNK_STEPS,
    FLUSH_EVERY,
    MINIMUM_DROP,
    SKETCH_ALARM,
    SKETCH_COLUMNS,
    TRUNCATE_BELOW,
    TRUNCATE_EVERY,
    TRUNCATE_EVERY_MAX,
)

_FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True)
class BatchedProfiles:
    """The profiles of a batch.

    Attributes:
        log10_norm: ``(N, T)``; ``log10_norm[n, k - 1]`` is member n's ``log10 ||P_k||`` (``-inf`` where the
            product is exactly zero; the whole row ``NaN`` for a member the batch left to the one-at-a-time path).
        directions: ``(N,)`` the directions each member's product still carried at the last lag (``S`` if
            it was never truncated).
    """

    log10_norm: np.ndarray
    directions: np.ndarray


#: The row counts a product's kept rows are padded to (with rows of zeros, which stay exactly zero): a
#: member's padding depends on its own width alone, and the batch needs a few groups, not one per width.
PADDED_WIDTHS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128)


def padded_width(width: int, size: int) -> int:
    """The rows a product with ``width`` kept rows occupies (at most the state size ``size``)."""
    return min(next((w for w in PADDED_WIDTHS if w >= width), width), size)


class _Group:
    """Members whose kept rows are padded to ``padded`` rows (with ``sketched`` sketch rows below them),
    stacked: ``product`` ``(n, padded + sketched, S)`` for the members ``ids`` ``(n,)``, in this order."""

    __slots__ = ("ids", "padded", "product", "sketched")

    def __init__(self, ids: np.ndarray, product: np.ndarray, padded: int, sketched: int) -> None:
        self.ids, self.product, self.padded, self.sketched = ids, product, padded, sketched


class _Members:
    """Per-member bookkeeping, arrays over the batch's N members."""

    def __init__(self, count: int, size: int, live: np.ndarray, truncatable: np.ndarray, seeds: Sequence[int]) -> None:
        self.width = np.full(count, size)  # kept rows of each member's product
        self.live = live  # still ours: finite so far and not left to the one-at-a-time path
        self.zero = np.zeros(count, dtype=bool)  # the product is exactly zero (from this lag on)
        self.failed = np.zeros(count, dtype=bool)  # left to the one-at-a-time path (row NaN)
        self.total = np.zeros(count)  # log10 of what was divided out, Kahan-summed
        self.compensation = np.zeros(count)
        self.truncatable = truncatable
        self.next_try = np.full(count, TRUNCATE_EVERY)
        self.interval = np.full(count, TRUNCATE_EVERY)
        self.sketch_rngs = [np.random.default_rng([int(seed), 1]) for seed in seeds]

    def add_log10(self, ids: np.ndarray, term: np.ndarray) -> None:
        """Kahan-add ``term`` ``(n,)`` to the totals of members ``ids``."""
        total, compensation = self.total[ids], self.compensation[ids]
        term = term - compensation
        new_total = total + term
        self.compensation[ids] = (new_total - total) - term
        self.total[ids] = new_total

    def leave(self, member: int) -> None:
        """Leave ``member`` to the one-at-a-time path."""
        self.failed[member], self.live[member] = True, False


def batched_profiles(
    batch: BatchedTrajectory,
    norm: str,
    members: np.ndarray | None = None,
    seeds: Sequence[int] | None = None,
    truncation: bool = True,
) -> BatchedProfiles:
    """``log10 ||d s_T / d s_{T-k}||`` ``(N, T)`` of every member (float64), with the directions kept.

    Args:
        batch: the forward passes.
        norm: ``"spectral"`` or ``"frobenius"``.
        members: ``(N,)`` bool, the members to compute (default all); the others' rows are ``NaN``. A member
            whose product stops being finite gets ``NaN`` from then on (the one-at-a-time path raises there).
        seeds: each member's seed (default 0 for all), which seeds the sketch of what its truncations drop.
        truncation: drop the directions that cannot matter (see the module's description); off, every
            product keeps all ``S`` rows.
    """
    count, steps, size = batch.members, batch.steps, batch.states.shape[2]
    live = np.ones(count, dtype=bool) if members is None else np.asarray(members, dtype=bool).copy()
    truncatable = strongly_coupled(batch) if truncation else np.zeros(count, dtype=bool)
    state = _Members(count, size, live, truncatable, [0] * count if seeds is None else seeds)
    log10_norm = np.full((count, steps), np.nan)
    tracker = StackedRitz(count, size) if norm == "spectral" else None
    blocks_all = weight_blocks(batch)
    groups = [_Group(np.arange(count), np.zeros((count, size, size)), size, 0)]
    order, blocks = groups[0].ids, blocks_all
    factor = np.empty((count, size, size))
    lag = 0
    for stop in range(steps, 0, -CHUNK_STEPS):
        start = max(0, stop - CHUNK_STEPS)
        recurrent, direct = batched_coefficients(batch, start, stop)
        for k in range(stop - start - 1, -1, -1):
            batched_jacobians(batch, blocks, recurrent[order, k], direct[order, k], factor)
            lag += 1
            first = 0
            for group in groups:
                view = factor[first : first + group.ids.size]  # the group's Jacobians (positions follow `order`)
                first += group.ids.size
                group.product = view.copy() if lag == 1 else np.matmul(group.product, view)
                _normalise(group, state, lag)
            if (state.truncatable & (state.next_try <= lag)).any():
                truncated = _truncate_due(groups, state, lag, size)
                if truncated:
                    groups = _regroup(groups, truncated)
                    order = np.concatenate([group.ids for group in groups])
                    blocks = blocks_all[order]
            for group in groups:
                _record(group, state, tracker, size, log10_norm[:, lag - 1])
    log10_norm[state.failed] = np.nan
    return BatchedProfiles(log10_norm, state.width.copy())


def _normalise(group: _Group, state: _Members, lag: int) -> None:
    """Zero the rows of members no longer ours, flush negligible entries, and divide each member's product by
    the Frobenius norm of its kept rows (under- and overflowing squares by the largest entry first)."""
    product, ids, width = group.product, group.ids, group.padded
    product[~state.live[ids]] = 0.0  # zeros keep the stacked calls finite
    if lag % FLUSH_EVERY == 0:
        magnitude = np.abs(product)
        product[magnitude < FLUSH_RELATIVE * magnitude.max(axis=(1, 2), keepdims=True)] = 0.0
    kept = product[:, :width]
    frobenius = np.einsum("nij,nij->n", kept, kept)
    awkward = np.flatnonzero(state.live[ids] & ~state.zero[ids] & ~((frobenius > 0.0) & (frobenius < np.inf)))
    for j in awkward:
        member = int(ids[j])
        largest = float(np.abs(kept[j]).max())
        if largest == 0.0:
            if group.sketched:  # exactly zero after a truncation: what was dropped may not be
                state.leave(member)
            else:
                state.zero[member] = True
        elif not np.isfinite(largest):
            state.live[member] = False  # a non-finite product: the one-at-a-time path raises there
        else:
            product[j] /= largest
            state.add_log10(ids[j : j + 1], np.log10(np.array([largest])))
            frobenius[j] = float(np.vdot(kept[j], kept[j]))
    state.live[ids] &= np.isfinite(frobenius)
    live = state.live[ids]
    product[~live] = 0.0
    working = live & ~state.zero[ids]
    scale = np.sqrt(np.where(working, frobenius, 1.0))
    product /= scale[:, None, None]
    state.add_log10(ids, np.log10(scale))


def _truncate_due(groups: list[_Group], state: _Members, lag: int, size: int) -> dict[int, np.ndarray]:
    """Try to truncate the members whose try is due: the new rows (kept, padding, then the sketch's, with a
    unit Frobenius norm) of each member that dropped directions."""
    truncated: dict[int, np.ndarray] = {}
    tolerance = TRUNCATE_BELOW[_FLOAT64]
    for group in groups:
        ids = group.ids
        due = np.flatnonzero(state.truncatable[ids] & state.live[ids] & ~state.zero[ids] & (state.next_try[ids] <= lag))
        widths = state.width[ids[due]]
        for width in np.unique(widths).tolist():
            chosen = due[widths == width]
            kept = truncate_rows(group.product[chosen, :width], tolerance, max(MINIMUM_DROP, width // 8))
            for j, result in zip(chosen.tolist(), kept, strict=True):
                member = int(ids[j])
                interval = TRUNCATE_EVERY if result else min(2 * int(state.interval[member]), TRUNCATE_EVERY_MAX)
                state.interval[member], state.next_try[member] = interval, lag + interval
                if result is not None:
                    truncated[member] = _truncated_rows(group, j, width, result, state, size)
    return truncated


def _truncated_rows(group: _Group, j: int, width: int, result: KeptRows, state: _Members, size: int) -> np.ndarray:
    """Member ``group.ids[j]``'s rows after ``result``: kept rows, zeros to the padded width, the sketch of
    everything dropped so far ``Omega^T (P - R R^T P)``; divided by the kept rows' Frobenius norm."""
    member = int(group.ids[j])
    old = group.product[j]
    omega = state.sketch_rngs[member].standard_normal((width, SKETCH_COLUMNS)) / np.sqrt(SKETCH_COLUMNS)
    sketch = omega.T @ old[:width] - (omega.T @ result.rotation) @ result.rows
    if group.sketched:
        sketch += old[group.padded :]
    kept = result.rows.shape[0]
    rows = np.zeros((padded_width(kept, size) + SKETCH_COLUMNS, size))
    rows[:kept] = result.rows
    rows[-SKETCH_COLUMNS:] = sketch
    scale = np.sqrt(float(np.vdot(result.rows, result.rows)))  # back to a unit Frobenius norm
    state.add_log10(group.ids[j : j + 1], np.log10(np.array([scale])))
    state.width[member] = kept
    return rows / scale


def _regroup(groups: list[_Group], truncated: dict[int, np.ndarray]) -> list[_Group]:
    """The members regrouped by the shapes of their products, with the ``truncated`` ones' new rows."""
    by_shape: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    for group in groups:
        for member, rows in zip(group.ids.tolist(), group.product, strict=True):
            if member in truncated:
                rows = truncated[member]
                shape = (rows.shape[0] - SKETCH_COLUMNS, SKETCH_COLUMNS)
            else:
                shape = (group.padded, group.sketched)
            by_shape.setdefault(shape, []).append((member, rows))
    regrouped = []
    for (padded, sketched), entries in sorted(by_shape.items(), reverse=True):
        entries.sort(key=lambda entry: entry[0])
        ids = np.array([member for member, _ in entries])
        regrouped.append(_Group(ids, np.stack([rows for _, rows in entries]), padded, sketched))
    return regrouped


def _record(group: _Group, state: _Members, tracker: StackedRitz | None, size: int, column: np.ndarray) -> None:
    """This lag's ``log10`` norm of the group's members into ``column`` ``(N,)``; members whose sketch shows
    the dropped part growing to matter are left to the one-at-a-time path."""
    ids, width = group.ids, group.padded
    live = state.live[ids]
    working = live & ~state.zero[ids]
    if tracker is None:
        squared = np.ones(ids.size)  # every product has a unit Frobenius norm
    elif width == size and not group.sketched:
        squared = tracker.norm_squared(group.product, ids, working)
    else:
        squared = np.where(working, gram_top_eigenvalues(group.product[:, :width]), 1.0)
    if group.sketched:
        sketch = group.product[:, width:]
        alarm = np.sqrt(np.einsum("nij,nij->n", sketch, sketch)) > SKETCH_ALARM[_FLOAT64] * np.sqrt(squared)
        for j in np.flatnonzero(alarm & working):
            state.leave(int(ids[j]))
        working &= ~alarm
    value = 0.5 * np.log10(np.where(working, squared, 1.0))
    column[ids[working]] = (value + state.total[ids])[working]
    column[ids[live & state.zero[ids]]] = -np.inf
