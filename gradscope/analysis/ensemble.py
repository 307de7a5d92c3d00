"""Ensembles: the gradient-norm profile over many random draws of weights and inputs.

One random network says what *that* network does; a band over many draws says what the
architecture and its initialisation do. :func:`analyze_ensemble` runs :func:`gradscope.analyze`
on every draw, with the seeds ``seed, seed + 1, ..., seed + N - 1`` (so any member can be
reproduced on its own with ``analyze(..., seed=ensemble.seeds[i])``), and keeps every profile plus
the pointwise median and quantile band.

The draws are advanced together (:func:`analyze_many`, over :mod:`gradscope.engine.batched_profiles`): networks of
one cell and shape share every step's stacked NumPy calls, in sub-batches that fit the memory budget.
Their profiles are the one-at-a-time path's to rounding (about 1e-14 in ``log10``; tested to 1e-12 relative).
Draws the batch cannot give exactly (see :func:`~gradscope.engine.batched.batchable`: float32, Jordan's
and Cho's cells, stacked networks, spectral norms of states wider than 64) and draws whose forward pass
or product leaves float64's range run one at a time through :func:`gradscope.analyze`, which names the error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope.analysis.document import json_numbers
from gradscope.analysis.problem import Problem, as_problem
from gradscope.analysis.profile import Analysis, analyze, profile_analysis
from gradscope.analysis.summary import Thresholds
from gradscope.engine.batched import batchable, batched_forward
from gradscope.engine.batched_profiles import batched_profiles
from gradscope.engine.products import CHUNK_STEPS
from gradscope.errors import ConfigError, DivergenceError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gradscope.analysis.problem import ProblemOptions
    from gradscope.cells.cell import Cell

ENSEMBLE_SCHEMA = "gradscope.ensemble/1"
DEFAULT_SAMPLES = 32
DEFAULT_QUANTILES = (0.1, 0.9)


@dataclass(frozen=True)
class Ensemble:
    """Profiles of N independent draws, with their median and quantile band. Arrays are read-only.

    Attributes:
        cell: the cell's name.
        hidden_size, input_size, steps: sizes shared by every draw (``steps`` = T).
        norm, dtype: as in :func:`gradscope.analyze`.
        seeds: ``(N,)`` the seed of each draw.
        lags: ``(T,)`` ints ``1..T``.
        profiles: ``(N, T)``; row ``i`` is ``log10 ||d s_T / d s_{T-k}||`` of draw ``i``.
        rates: ``(N,)`` each draw's rate per step (natural log, least squares; see :class:`~gradscope.Analysis`).
        verdicts: ``(N,)`` each draw's verdict.
        quantiles: the band's lower and upper probability levels, e.g. ``(0.1, 0.9)``.
        median: ``(T,)`` pointwise median of ``profiles`` over the draws.
        lower, upper: ``(T,)`` pointwise quantiles of ``profiles`` at ``quantiles``. Quantiles are
            taken of the log10 values (NumPy's default linear interpolation between order
            statistics); the median of the log is the log of the median, since log is monotone.
        config: how the draws were made (init, gain, or ``"given"`` parameters) and ``label``.
    """

    cell: str
    hidden_size: int
    input_size: int
    steps: int
    norm: str
    dtype: str
    seeds: np.ndarray
    lags: np.ndarray
    profiles: np.ndarray
    rates: np.ndarray
    verdicts: tuple[str, ...]
    quantiles: tuple[float, float]
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        """N, the number of draws."""
        return int(self.seeds.size)

    @property
    def label(self) -> str:
        """A short name for legends: ``config["label"]`` or the cell's name."""
        return str(self.config.get("label") or self.cell)

    @property
    def median_rate(self) -> float:
        """The median over the draws of the rate per step."""
        return float(np.median(self.rates))

    def verdict_counts(self) -> dict[str, int]:
        """How many draws got each verdict."""
        return {v: self.verdicts.count(v) for v in ("vanishing", "stable", "exploding")}

    def to_dict(self) -> dict[str, Any]:
        """A JSON document (schema ``"gradscope.ensemble/1"``); ``-inf``/``inf`` become ``null``."""

        return {
            "schema": ENSEMBLE_SCHEMA,
            "cell": self.cell,
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "steps": self.steps,
            "norm": self.norm,
            "dtype": self.dtype,
            "samples": self.samples,
            "seeds": [int(s) for s in self.seeds],
            "config": dict(self.config),
            "quantiles": list(self.quantiles),
            "lags": [int(k) for k in self.lags],
            "median": json_numbers(self.median),
            "lower": json_numbers(self.lower),
            "upper": json_numbers(self.upper),
            "rates": json_numbers(self.rates),
            "verdicts": list(self.verdicts),
            "profiles": [json_numbers(row) for row in self.profiles],
        }


def band(profiles: np.ndarray, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> tuple[np.ndarray, ...]:
    """Pointwise median, lower and upper quantile of ``(N, T)`` log10 profiles, each ``(T,)``.

    A quantile interpolated between two draws of which one reached an exactly zero norm
    (``-inf``) is ``-inf``: NumPy's interpolation would give NaN there.
    """
    values = np.asarray(profiles, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        median = np.median(values, axis=0)
        lower, upper = np.quantile(values, list(quantiles), axis=0)
    for array in (median, lower, upper):
        array[np.isnan(array)] = -np.inf
    return median, lower, upper


def analyze_ensemble(
    cell: Problem | Sequence[Problem] | str | Cell,
    *,
    samples: int = DEFAULT_SAMPLES,
    quantiles: tuple[float, float] = DEFAULT_QUANTILES,
    thresholds: Thresholds | None = None,
    label: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    **options: Unpack[ProblemOptions],
) -> Ensemble:
    """:func:`gradscope.analyze` on ``samples`` independent random draws of one problem.

    Draw ``i`` is the problem with the seed ``seed + i`` (:meth:`~gradscope.analysis.problem.Problem.redraw`),
    exactly ``analyze(cell, seed=seed + i, ...)`` with the other options as given, so it can be
    reproduced on its own. Deterministic for a given ``seed``.

    Args:
        cell: a :class:`~gradscope.analysis.problem.Problem` (its seed is the first draw's), a
            sequence of problems (the members themselves, e.g. networks given one by one), or a cell
            and the keyword options of :func:`~gradscope.analysis.problem.make_problem`.
        samples: N >= 1, the number of draws (with a sequence of problems, its length).
        quantiles: the band's ``(lower, upper)`` probability levels, ``0 <= lower <= upper <= 1``.
        thresholds: as in :func:`gradscope.analyze`.
        label: a short name for legends, stored in ``config["label"]``.
        progress: called as ``progress(draws_done, samples)`` as draws finish (a batch's draws together).

    Returns:
        An :class:`Ensemble`.

    Raises:
        ConfigError: ``samples < 1`` or invalid quantiles; anything :func:`gradscope.analyze` raises.
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ConfigError(f"samples must be a positive integer, got {samples!r}")
    low, high = (float(q) for q in quantiles)
    if not 0.0 <= low <= high <= 1.0:
        raise ConfigError(f"quantiles must satisfy 0 <= lower <= upper <= 1, got {quantiles!r}")
    if isinstance(cell, Sequence) and not isinstance(cell, str):
        problems = list(cell)
        if not problems or options:
            raise ConfigError("analyze_ensemble: give a non-empty sequence of problems, and no options to make one")
    else:
        first = as_problem(cell, options)
        _check_budget(first, int(samples))
        problems = [first] + [first.redraw(seed=first.seed + i) for i in range(1, int(samples))]
    members = analyze_many(problems, thresholds=thresholds, progress=progress)
    head = members[0]
    seeds = np.array([problem.seed for problem in problems])
    profiles = np.stack([m.log10_norm for m in members])
    median, lower, upper = band(profiles, (low, high))
    config = {key: value for key, value in head.config.items() if key != "seed"}
    config |= {"first_seed": int(seeds[0]), "label": label or head.cell}
    rates = np.array([m.rate_per_step for m in members])
    for array in (seeds, profiles, rates, median, lower, upper):
        array.setflags(write=False)
    return Ensemble(
        cell=head.cell,
        hidden_size=head.hidden_size,
        input_size=head.input_size,
        steps=head.steps,
        norm=head.norm,
        dtype=head.dtype,
        seeds=seeds,
        lags=head.lags,
        profiles=profiles,
        rates=rates,
        verdicts=tuple(m.verdict for m in members),
        quantiles=(low, high),
        median=median,
        lower=lower,
        upper=upper,
        config=config,
    )


def _check_budget(first: Problem, samples: int) -> None:
    """``samples`` draws are held at once (each problem's parameters and inputs, and its analysis's profile):
    their memory is checked against the budget before the second is drawn."""
    from gradscope.params.budget import check_budget

    arrays = [first.inputs, first.initial_state, *first.network.as_dict().values()]
    each = sum(array.nbytes for array in arrays if isinstance(array, np.ndarray)) + 8 * 4 * first.steps
    check_budget(
        f"{samples} samples of {first.spec.name} (hidden size {first.hidden_size}, {first.steps} steps)", samples * each
    )


#: Most networks advanced in one batch (more only lengthens each stacked call).
MAX_BATCH = 256


def analyze_many(
    problems: Sequence[Problem],
    *,
    thresholds: Thresholds | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Analysis]:
    """:func:`gradscope.analyze` of every problem, networks of one cell and shape advanced together.

    Each result is the one-at-a-time path's to rounding and depends on its problem alone (never on the others
    in its batch). ``kept_directions`` of a batched result is what the batch's own truncations
    kept (it may differ from the one-at-a-time path's by a few) and ``svd_fallbacks`` 0. Problems the
    batch cannot give exactly, and those whose numbers leave float64's range, run through
    :func:`gradscope.analyze` (its error, with the draw and seed, is the first such problem's in order).

    Args:
        problems: the problems, in order.
        thresholds: as in :func:`gradscope.analyze`.
        progress: called as ``progress(done, len(problems))`` as results finish.

    Returns:
        One :class:`~gradscope.analysis.profile.Analysis` per problem, in order.
    """
    results = analyze_each(problems, thresholds=thresholds, progress=progress)
    for i, (problem, result) in enumerate(zip(problems, results, strict=True)):
        if isinstance(result, DivergenceError):  # which draw: the seed reproduces it alone
            raise DivergenceError(f"draw {i + 1} of {len(problems)} (--seed {problem.seed}): {result}") from result
        if isinstance(result, Exception):
            raise result
    return [result for result in results if isinstance(result, Analysis)]


def analyze_each(
    problems: Sequence[Problem],
    *,
    thresholds: Thresholds | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Analysis | Exception]:
    """As :func:`analyze_many`, but a problem that fails is its own exception in the list (a sweep's failed row).

    Whether a problem is batched depends on that problem alone (its cell, shape, dtype, norm, and whether its
    numbers stay finite), so its result is the same whatever else is in the list. The exception of a failed
    problem is the one ``gradscope.analyze(problem)`` raises. A batch whose stacked computation itself raises
    (no member's fault: memory, say) is run one at a time instead.

    Returns:
        One :class:`~gradscope.analysis.profile.Analysis` or ``Exception`` per problem, in order.
    """
    thresholds = Thresholds() if thresholds is None else thresholds
    results: list[Analysis | Exception | None] = [None] * len(problems)
    done = 0

    def finished(count: int) -> None:
        nonlocal done
        for _ in range(count):
            done += 1
            if progress is not None:
                progress(done, len(problems))

    for indices in _groups(problems).values():
        per_batch = _batch_size(problems[indices[0]])
        for begin in range(0, len(indices) if per_batch else 0, per_batch or 1):
            chosen = indices[begin : begin + per_batch]
            batch = [problems[i] for i in chosen]
            try:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    forward = batched_forward(
                        batch[0].compiled,
                        [p.params for p in batch],
                        [p.inputs for p in batch],
                        [p.initial_state[0] for p in batch],
                    )
                    profiles = batched_profiles(forward, batch[0].norm, forward.finite, [p.seed for p in batch])
            except Exception:  # the batch's own failure: its members run one at a time, each naming its error
                continue
            good = 0
            for i, problem, profile, directions in zip(
                chosen, batch, profiles.log10_norm, profiles.directions, strict=True
            ):
                if not np.isnan(profile).any():
                    results[i] = profile_analysis(
                        problem, np.array(profile), thresholds, kept_directions=int(directions)
                    )
                    good += 1
            finished(good)
    for i, problem in enumerate(problems):
        if results[i] is None:
            try:
                results[i] = analyze(problem, thresholds=thresholds)
            except Exception as error:  # a failed problem is its own result; interruptions pass
                results[i] = error
            finished(1)
    return [result for result in results if result is not None]


def _groups(problems: Sequence[Problem]) -> dict[tuple[Any, ...], list[int]]:
    """The indices of the batchable problems, by cell and shape (the rest are run one at a time)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, problem in enumerate(problems):
        spec, network = problem.spec, problem.network
        size = spec.state_size(problem.hidden_size)
        layers = network.num_layers * network.num_directions
        if batchable(spec.feedback, bool(spec.inner_gates), layers, problem.dtype, problem.norm, size):
            key = (problem.compiled, problem.hidden_size, problem.input_size, problem.steps, problem.norm)
            groups.setdefault(key, []).append(i)
    return groups


def _batch_size(problem: Problem) -> int:
    """How many networks like ``problem`` one batch may hold within the memory budget (0: none, run alone)."""
    from gradscope.params.budget import memory_budget

    spec, hidden, steps = problem.spec, problem.hidden_size, problem.steps
    components, gates = len(spec.state), spec.num_gates
    size = components * hidden
    chunk = min(steps, CHUNK_STEPS)
    floats = (
        2 * steps * (size + gates * hidden + problem.input_size)  # states, projections and inputs
        + 2 * chunk * components * hidden * (gates + components)  # a chunk's coefficients (and the partials)
        + 6 * size * size  # product, factor and the stacked calls' temporaries
        + 3 * gates * hidden * size  # weights, their transpose and the assembly's temporaries
    )
    return min(MAX_BATCH, int(memory_budget() // (8 * floats)))
