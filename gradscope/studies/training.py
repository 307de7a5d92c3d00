"""Gradient flow over training: the profile of every checkpoint of a run, and how it moved.

Each checkpoint is one :class:`~gradscope.analysis.problem.Problem` (the checkpoint's parameters on the
run's shared inputs), analysed by :func:`~gradscope.analysis.profile.analyze` exactly as ``gradscope
analyze --weights`` analyses it; the checkpoints run in parallel on the sweep executors
(:mod:`gradscope.studies.executors`). A live training loop's monitor (``gradscope.torch``) writes the same
entries as JSON Lines (:meth:`TrainingEntry.to_record`), read back with :meth:`TrainingEntry.from_record`.

The *reach* of a profile is how far back the gradient gets before it has fallen by a factor e: the
e-folding lag ``1 / |rate|`` of a vanishing profile, capped at the sequence length T, and T itself for a
profile that does not decay (it reaches the whole sequence).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradscope.analysis.document import json_number, json_numbers
from gradscope.analysis.loss_gradient import LossGradient, LossSpec, loss_gradient
from gradscope.analysis.problem import Problem
from gradscope.analysis.profile import Analysis, analyze
from gradscope.analysis.summary import Thresholds
from gradscope.errors import ConfigError
from gradscope.studies.executors import Executor, LocalExecutor

SCHEMA = "gradscope.training/1"
#: The schema of one line of a monitor's JSON Lines log (one entry, self-describing).
ENTRY_SCHEMA = "gradscope.training.entry/1"
#: How an entry's step was found: a ``step`` entry of the file, the file's name, its place in the order,
#: or the training loop itself (a monitor).
STEP_SOURCES = ("entry", "name", "position", "monitor")
#: The keys that must agree between all entries of one run (they define what a profile measures).
RUN_KEYS = ("cell", "state", "hidden_size", "input_size", "steps", "norm", "dtype")
#: A change in reach smaller than this factor is not called out as a change.
NOTABLE_REACH_FACTOR = 1.5


def reach(rate_per_step: float, steps: int) -> float:
    """Steps back the gradient reaches before falling by a factor e: ``min(1/|rate|, T)`` for a decaying
    profile, ``T`` for one that does not decay (``rate >= 0``)."""
    if not math.isfinite(rate_per_step):
        return 0.0 if rate_per_step < 0 else float(steps)
    if rate_per_step >= 0.0:
        return float(steps)
    return min(1.0 / abs(rate_per_step), float(steps))


@dataclass(frozen=True)
class TrainingEntry:
    """One checkpoint's profile.

    Attributes:
        path: the checkpoint file (``None`` for an entry a live monitor wrote).
        step: the training step.
        step_source: how ``step`` was found (one of :data:`STEP_SOURCES`).
        lags: ``(T,)`` ints ``1..T``.
        log10_norm: ``(T,)`` ``log10 ||d s_T / d s_{T-k}||`` (``-inf`` where exactly zero).
        rate_per_step, efolding_lag, verdict: the profile's summary (see :class:`~gradscope.analysis.Analysis`).
        loss_gradient: ``||dL/dh_{T-k}||`` of the loss it was asked for, if any
            (:class:`~gradscope.analysis.loss_gradient.LossGradient`).
    """

    path: str | None
    step: int
    step_source: str
    lags: np.ndarray
    log10_norm: np.ndarray
    rate_per_step: float
    efolding_lag: float
    verdict: str
    loss_gradient: LossGradient | None = None

    @property
    def reach(self) -> float:
        """See :func:`reach`."""
        return reach(self.rate_per_step, int(self.lags.size))

    @classmethod
    def of(
        cls,
        analysis: Analysis,
        *,
        path: str | None,
        step: int,
        step_source: str,
        loss_gradient: LossGradient | None = None,
    ) -> TrainingEntry:
        """The entry of one analysed checkpoint."""
        return cls(
            loss_gradient=loss_gradient,
            path=path,
            step=step,
            step_source=step_source,
            lags=analysis.lags,
            log10_norm=analysis.log10_norm,
            rate_per_step=analysis.rate_per_step,
            efolding_lag=analysis.efolding_lag,
            verdict=analysis.verdict,
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry in the ``gradscope.training/1`` document (non-finite numbers as ``null``); ``"loss_gradient"``
        only where a loss was followed."""
        document = {
            "path": self.path,
            "step": self.step,
            "step_source": self.step_source,
            "rate_per_step": json_number(self.rate_per_step),
            "efolding_lag": json_number(self.efolding_lag),
            "reach": json_number(self.reach),
            "verdict": self.verdict,
            "lags": [int(k) for k in self.lags],
            "log10_norm": json_numbers(self.log10_norm),
        }
        if self.loss_gradient is not None:
            document["loss_gradient"] = self.loss_gradient.to_dict()
        return document

    def to_record(self, run: Mapping[str, Any]) -> dict[str, Any]:
        """One self-describing line of a monitor's log: :data:`ENTRY_SCHEMA`, the run's keys, the entry."""
        return {"schema": ENTRY_SCHEMA, **{key: run[key] for key in RUN_KEYS}, **self.to_dict()}

    @classmethod
    def from_record(cls, record: Mapping[str, Any], where: str) -> tuple[dict[str, Any], TrainingEntry]:
        """``(run keys, entry)`` of a log line written by :meth:`to_record`; ``where`` (``"log.jsonl:3"``)
        names the line in errors."""
        if record.get("schema") != ENTRY_SCHEMA:
            raise ConfigError(f"{where}: expected schema {ENTRY_SCHEMA!r}, got {record.get('schema')!r}")
        missing = [
            key for key in (*RUN_KEYS, "step", "lags", "log10_norm", "rate_per_step", "verdict") if key not in record
        ]
        if missing:
            raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
        step = record["step"]
        if isinstance(step, bool) or not isinstance(step, int):
            raise ConfigError(f"{where}: step: expected an integer, got {step!r}")
        try:
            lags = np.asarray(record["lags"], dtype=np.int64)
            values = np.asarray([-math.inf if v is None else v for v in record["log10_norm"]], dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}: lags and log10_norm must be lists of numbers ({error})") from error
        steps = record["steps"]
        if lags.shape != (steps,) or values.shape != (steps,) or not np.array_equal(lags, np.arange(1, steps + 1)):
            raise ConfigError(f"{where}: lags and log10_norm must be lists of length steps = {steps}, lags 1..{steps}")
        rate = record["rate_per_step"]
        efolding = record.get("efolding_lag")
        lags.setflags(write=False)
        values.setflags(write=False)
        followed = record.get("loss_gradient")
        if followed is not None:
            try:
                curve = np.asarray([-math.inf if v is None else v for v in followed["log10_norm"]], dtype=np.float64)
                slope = -math.inf if followed["rate_per_step"] is None else float(followed["rate_per_step"])
                followed = LossGradient(str(followed["loss"]), str(followed["reduce"]), lags, curve, slope)
            except (KeyError, TypeError, ValueError) as error:
                raise ConfigError(
                    f"{where}: loss_gradient: expected loss, reduce, rate_per_step, log10_norm"
                ) from error
        entry = cls(
            loss_gradient=followed,
            path=None,
            step=step,
            step_source="monitor",
            lags=lags,
            log10_norm=values,
            rate_per_step=-math.inf if rate is None else float(rate),
            efolding_lag=math.inf if efolding is None else float(efolding),
            verdict=str(record["verdict"]),
        )
        return {key: record[key] for key in RUN_KEYS}, entry


@dataclass(frozen=True)
class ReachChange:
    """The largest change of reach between two consecutive checkpoints (steps ``before_step -> after_step``)."""

    before_step: int
    after_step: int
    before: float
    after: float

    @property
    def factor(self) -> float:
        """``after / before`` (``inf`` from a reach of zero)."""
        return math.inf if self.before == 0 else self.after / self.before

    @property
    def notable(self) -> bool:
        """Whether the reach changed by at least :data:`NOTABLE_REACH_FACTOR` either way."""
        return self.factor >= NOTABLE_REACH_FACTOR or self.factor <= 1.0 / NOTABLE_REACH_FACTOR

    def to_dict(self) -> dict[str, Any]:
        return {
            "before_step": self.before_step,
            "after_step": self.after_step,
            "reach_before": json_number(self.before),
            "reach_after": json_number(self.after),
            "notable": self.notable,
        }


@dataclass(frozen=True)
class TrainingSeries:
    """The profiles of a run's checkpoints in training order (:func:`analyze_checkpoints`).

    Attributes:
        run: the keys every entry shares (:data:`RUN_KEYS`: cell, state, sizes, T, norm, dtype).
        entries: one :class:`TrainingEntry` per checkpoint, by step.
        order: how the checkpoints were ordered: ``"step"``, ``"name"`` or ``"mtime"``.
        config: how the shared inputs and initial state were obtained (the first problem's, params aside).
        thresholds: the verdict thresholds.
    """

    run: Mapping[str, Any]
    entries: tuple[TrainingEntry, ...]
    order: str = "step"
    config: Mapping[str, Any] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if not self.entries:
            raise ConfigError("a training series needs at least one checkpoint")

    @classmethod
    def from_records(cls, records: Sequence[tuple[str, Mapping[str, Any]]]) -> TrainingSeries:
        """The series of a monitor's log lines ``(where, record)`` (``where`` names the line in errors), by step."""
        pairs = [TrainingEntry.from_record(record, where) for where, record in records]
        if not pairs:
            raise ConfigError("a training series needs at least one entry")
        for (keys, entry), (where, _) in zip(pairs, records, strict=True):
            if keys != pairs[0][0]:
                raise ConfigError(f"{where}: step {entry.step} is of another run ({keys} vs {pairs[0][0]})")
        return cls(pairs[0][0], tuple(sorted((entry for _, entry in pairs), key=lambda entry: entry.step)))

    @property
    def steps(self) -> np.ndarray:
        """``(N,)`` the training steps."""
        return np.array([entry.step for entry in self.entries], dtype=np.int64)

    @property
    def lags(self) -> np.ndarray:
        """``(T,)`` the lags every profile shares."""
        return self.entries[0].lags

    @property
    def log10_norms(self) -> np.ndarray:
        """``(N, T)`` every checkpoint's ``log10`` norm, one row per checkpoint."""
        return np.stack([entry.log10_norm for entry in self.entries])

    @property
    def rates(self) -> np.ndarray:
        """``(N,)`` rate per step of each checkpoint."""
        return np.array([entry.rate_per_step for entry in self.entries], dtype=np.float64)

    @property
    def reaches(self) -> np.ndarray:
        """``(N,)`` reach of each checkpoint (see :func:`reach`)."""
        return np.array([entry.reach for entry in self.entries], dtype=np.float64)

    def largest_change(self) -> ReachChange | None:
        """The largest change of reach (by factor) between consecutive checkpoints; ``None`` for one checkpoint."""
        if len(self.entries) < 2:
            return None
        pairs = zip(self.entries[:-1], self.entries[1:], strict=True)
        best = max(pairs, key=lambda pair: abs(math.log(max(pair[1].reach, 1e-300) / max(pair[0].reach, 1e-300))))
        return ReachChange(best[0].step, best[1].step, best[0].reach, best[1].reach)

    def to_dict(self) -> dict[str, Any]:
        """The ``gradscope.training/1`` document."""
        from gradscope._version import __version__

        change = self.largest_change()
        return {
            "schema": SCHEMA,
            "gradscope_version": __version__,
            **dict(self.run),
            "order": self.order,
            "config": dict(self.config),
            "thresholds": {
                "vanishing_rate": self.thresholds.vanishing_rate,
                "exploding_rate": self.thresholds.exploding_rate,
            },
            "change": None if change is None else change.to_dict(),
            "checkpoints": [entry.to_dict() for entry in self.entries],
        }


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint to analyse: where it came from, its step, its problem (its parameters on the run's inputs) and,
    optionally, a loss whose gradient ``||dL/dh_{T-k}||`` to follow back through time."""

    path: str | None
    step: int
    step_source: str
    problem: Problem
    loss: LossSpec | None = None


def run_keys(problem: Problem) -> dict[str, Any]:
    """The :data:`RUN_KEYS` of a problem: what every checkpoint of one run must share."""
    return {
        "cell": problem.spec.name,
        "state": problem.spec.state_layout,
        "hidden_size": problem.hidden_size,
        "input_size": problem.input_size,
        "steps": problem.steps,
        "norm": problem.norm,
        "dtype": problem.dtype,
    }


def analyze_checkpoint(checkpoint: Checkpoint, thresholds: Thresholds) -> TrainingEntry:
    """One checkpoint's entry: :func:`~gradscope.analysis.profile.analyze` of its problem."""
    result = analyze(checkpoint.problem, thresholds=thresholds)
    followed = None if checkpoint.loss is None else loss_gradient(checkpoint.problem, checkpoint.loss)
    return TrainingEntry.of(
        result, path=checkpoint.path, step=checkpoint.step, step_source=checkpoint.step_source, loss_gradient=followed
    )


def analyze_chunk(thresholds: Thresholds, checkpoints: list[Checkpoint]) -> list[TrainingEntry]:
    """:func:`analyze_checkpoint` for each checkpoint of a chunk (the unit of work an executor ships)."""
    return [analyze_checkpoint(checkpoint, thresholds) for checkpoint in checkpoints]


def analyze_checkpoints(
    checkpoints: Sequence[Checkpoint],
    *,
    logged: Sequence[tuple[Mapping[str, Any], TrainingEntry]] = (),
    order: str = "step",
    thresholds: Thresholds | None = None,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingSeries:
    """The profile of every checkpoint, analysed in parallel, in training order.

    With ``order="step"`` the entries are sorted by step (stable: ties keep their order); otherwise the
    checkpoints keep the order they are given in and the logged entries follow, by step.

    Args:
        checkpoints: the checkpoints' problems (their parameters, on the same inputs and initial state).
        logged: entries a monitor already analysed (``(run keys, entry)`` from :meth:`TrainingEntry.from_record`).
        order: how the checkpoints were ordered: ``"step"``, ``"name"`` or ``"mtime"`` (recorded in the document).
        thresholds: verdict thresholds (default :class:`~gradscope.analysis.Thresholds`).
        executor: where the analyses run (default local processes on all cores).
        progress: ``progress(done, total)`` as chunks finish.

    Raises:
        ConfigError: nothing to analyse, or checkpoints that do not describe one run (another cell, size, T).
    """
    thresholds = Thresholds() if thresholds is None else thresholds
    if not checkpoints and not logged:
        raise ConfigError("no checkpoints to analyse")
    runs = [run_keys(checkpoint.problem) for checkpoint in checkpoints] + [dict(keys) for keys, _ in logged]
    names = [checkpoint.path or f"step {checkpoint.step}" for checkpoint in checkpoints]
    names += [f"logged step {entry.step}" for _, entry in logged]
    for keys, name in zip(runs[1:], names[1:], strict=True):
        differing = [key for key in RUN_KEYS if keys[key] != runs[0][key]]
        if differing:
            key = differing[0]
            raise ConfigError(
                f"{name}: {key} is {keys[key]!r}, but {names[0]} has {runs[0][key]!r}; every checkpoint of a run "
                "must have the same cell, sizes, steps, norm and dtype"
            )
    runner = executor if executor is not None else LocalExecutor()
    analysed: list[TrainingEntry] = []
    if checkpoints:
        analysed = runner.map(functools.partial(analyze_chunk, thresholds), list(checkpoints), progress=progress)
    from_logs = sorted((entry for _, entry in logged), key=lambda entry: entry.step)
    entries = [*analysed, *from_logs]
    if order == "step":  # stable: the checkpoints' order where steps tie
        entries.sort(key=lambda entry: entry.step)
    config = {}
    if checkpoints:
        config = {key: value for key, value in checkpoints[0].problem.config.items() if key != "params"}
    return TrainingSeries(runs[0], tuple(entries), order=order, config=config, thresholds=thresholds)
