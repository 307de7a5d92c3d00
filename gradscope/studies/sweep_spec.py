"""What a sweep runs: a base problem, the axes that override its options, and the task list with its seeds."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gradscope._version import __version__
from gradscope.analysis.problem import Problem, ProblemOptions, as_problem
from gradscope.analysis.summary import Thresholds
from gradscope.cells.file_names import registered
from gradscope.errors import ConfigError
from gradscope.params.arrays import check_choice, check_count, check_size
from gradscope.params.init import check_init_fits
from gradscope.studies.axes import SWEEP_SCHEMA, Axis, Value, axis_name, checked_value, parse_axes, task_seed

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gradscope.cells.cell import Cell

#: How the tasks' seeds are chosen: a hash per task, or the same seeds at every grid point.
SEEDINGS = ("per-task", "paired")
#: Result columns after the swept values, in order (Lyapunov columns ``lyapunov_1..K`` follow on request).
RESULT_COLUMNS = ("sample", "seed", "rate_per_step", "efolding_lag", "verdict", "final_log10_norm")
#: The last column: ``None`` for a task that ran, else the one-line message of the error that stopped it.
ERROR_COLUMN = "error"
#: The fixed options a sweep document lists, in order, with the problem's own value of each.
FIXED_OPTIONS = ("hidden_size", "input_size", "steps", "init", "gain", "input_scale", "forget_bias", "t_max")
#: Fixed options listed after those only when the base problem sets them (older documents stay the same).
SET_OPTIONS = ("update_bias", "num_layers", "bidirectional")


class SweepOptions(ProblemOptions, total=False):
    """The keyword arguments of :meth:`SweepSpec.create` after the cell and the axes: the sweep's and the problem's."""

    samples: int
    exponents: int
    transient: int
    thresholds: Thresholds | None
    seeding: str
    keep_profiles: bool


@dataclass(frozen=True)
class SweepTask:
    """One (grid point, sample): ``index`` is its position in the task list."""

    index: int
    values: tuple[tuple[str, Value], ...]
    sample: int
    seed: int

    @property
    def key(self) -> str:
        """The task's stable name, e.g. ``'[["gain", 0.5], ["sample", 1]]'``: its swept values and sample (JSON),
        the same in every run of the same sweep, whatever the order the tasks run in (checkpoints key rows by it)."""
        return json.dumps([*([name, value] for name, value in self.values), ["sample", self.sample]])


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: a base problem, the axes that override its options, and what to keep.

    Build it with :meth:`create` (which validates everything once).

    Attributes:
        problem: the base problem; its options are the fixed ones, its seed the sweep's base seed.
        axes: the swept options, at least one.
        samples: random networks per grid point.
        exponents: also measure the top ``exponents`` Lyapunov exponents per task (0: none);
            columns ``lyapunov_1 .. lyapunov_K`` (``None`` beyond the state size), over the task's
            own inputs and steps (:func:`gradscope.lyapunov`).
        transient: steps discarded before the Lyapunov averages start (``exponents > 0`` only).
        thresholds: as in :func:`gradscope.analyze`.
        seeding: ``"per-task"`` or ``"paired"`` (see the module docstring).
        keep_profiles: also keep every task's ``log10_norm`` (``SweepResult.profiles``).
    """

    problem: Problem
    axes: tuple[Axis, ...]
    samples: int = 1
    exponents: int = 0
    transient: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)
    seeding: str = "per-task"
    keep_profiles: bool = False

    @classmethod
    def create(
        cls,
        cell: Problem | str | Cell,
        axes: Sequence[Axis] | Sequence[str] | Mapping[str, Sequence[Value]],
        *,
        samples: int = 1,
        exponents: int = 0,
        transient: int = 0,
        thresholds: Thresholds | None = None,
        seeding: str = "per-task",
        keep_profiles: bool = False,
        **options: Unpack[ProblemOptions],
    ) -> SweepSpec:
        """A validated sweep of ``cell`` (a problem, or a cell and the options of
        :func:`~gradscope.analysis.problem.make_problem`) over ``axes`` (:class:`Axis` values,
        ``NAME=...`` texts, or a mapping of names to values)."""
        problem = as_problem(cell, options)
        checked = _axes(axes)
        check_size("samples", samples)
        check_choice("seeding", seeding, SEEDINGS)
        exponents, transient = check_count("exponents", exponents), check_count("transient", transient)
        steps = [problem.steps, *next((a.values for a in checked if a.name == "steps"), ())]
        shortest = min(int(s) for s in steps[1:] or steps)
        if exponents and transient >= shortest:
            raise ConfigError(f"transient={transient} leaves no steps to average (shortest T={shortest})")
        biases = next((a.values for a in checked if a.name == "forget_bias"), ())
        if biases and problem.spec.name != "lstm":
            raise ConfigError(f"forget_bias applies to the LSTM only, not to {problem.spec.name!r}")
        for init in next((a.values for a in checked if a.name == "init"), ()):
            check_init_fits(problem.spec, str(init))
        if "chrono" in biases and problem.options.get("t_max") is None and shortest < 3:
            raise ConfigError("chrono initialisation needs T_max >= 3: give t_max or at least 3 steps")
        return cls(
            problem,
            checked,
            int(samples),
            exponents,
            transient,
            Thresholds() if thresholds is None else thresholds,
            seeding,
            bool(keep_profiles),
        )

    @property
    def cell_name(self) -> str:
        """The cell's name."""
        return self.problem.spec.name

    @property
    def seed(self) -> int:
        """The base seed the tasks' seeds come from."""
        return self.problem.seed

    def axis(self, name: str) -> Axis | None:
        """The axis named ``name``, or ``None`` when that option is fixed."""
        return next((a for a in self.axes if a.name == name), None)

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The swept options, in axis order: the first columns of every row."""
        return tuple(a.name for a in self.axes)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of a row, in order: the swept values, the results, the Lyapunov exponents, ``error``."""
        extra = tuple(f"lyapunov_{i}" for i in range(1, self.exponents + 1))
        return (*self.value_columns, *RESULT_COLUMNS, *extra, ERROR_COLUMN)

    def option(self, name: str) -> Any:
        """A fixed option's value on the base problem (``hidden_size``, ``init``, ``forget_bias``, ...)."""
        problem = self.problem
        sizes = {"hidden_size": problem.hidden_size, "input_size": problem.input_size, "steps": problem.steps}
        if name in sizes:
            return sizes[name]
        defaults = {"init": "pytorch", "gain": 1.0, "input_scale": 1.0}
        value = problem.options.get(name, defaults.get(name))
        if value is None or value == "chrono" or name == "init":
            return value
        if name in ("num_layers", "bidirectional"):
            return int(value) if name == "num_layers" else bool(value)
        return int(value) if name == "t_max" else float(value)

    def fixed(self) -> dict[str, Any]:
        """The options that are not swept, JSON-ready."""
        fixed = {name: self.option(name) for name in FIXED_OPTIONS if self.axis(name) is None}
        return fixed | {name: self.option(name) for name in SET_OPTIONS if self.problem.options.get(name) is not None}

    def identity(self) -> dict[str, Any]:
        """Everything that decides the rows, JSON-ready: a checkpoint records it and resumes only this sweep.

        The document's header (cell, axes, samples, seed, fixed options, norm, dtype, thresholds, exponents,
        transient) with the version, the seeding, whether profiles are kept, how the base problem was made
        (``config``), a SHA-256 of its inputs and initial state, and, for a cell file, its path and SHA-256.
        """
        problem = self.problem
        arrays = hashlib.sha256()
        for array in (problem.inputs, problem.initial_state):
            arrays.update(str((array.dtype.str, array.shape)).encode())
            arrays.update(array.tobytes())
        cell_file = None
        entry = registered(self.cell_name)
        if entry is not None:
            source, constants = entry
            try:
                with open(source, "rb") as handle:
                    digest: str | None = hashlib.sha256(handle.read()).hexdigest()
            except OSError:  # read and checked when put in use; gone since: the path and constants still tell
                digest = None
            cell_file = {"path": source, "sha256": digest, "constants": [list(c) for c in constants]}
        identity = {
            "schema": SWEEP_SCHEMA,
            "gradscope_version": __version__,
            "cell": self.cell_name,
            "cell_file": cell_file,
            "vary": [{"name": a.name, "values": list(a.values)} for a in self.axes],
            "samples": int(self.samples),
            "seed": int(self.seed),
            "seeding": self.seeding,
            "fixed": self.fixed(),
            "norm": problem.norm,
            "dtype": problem.dtype,
            "thresholds": [self.thresholds.vanishing_rate, self.thresholds.exploding_rate],
            "exponents": int(self.exponents),
            "transient": int(self.transient),
            "keep_profiles": self.keep_profiles,
            "config": dict(problem.config),
            "arrays_sha256": arrays.hexdigest(),
        }
        return json.loads(json.dumps(identity, default=str))  # plain JSON values (lists, not tuples)

    def tasks(self) -> list[SweepTask]:
        """Every (grid point, sample) in order: the first axis slowest, samples innermost."""
        out = []
        names = self.value_columns
        for combination in itertools.product(*(a.values for a in self.axes)):
            values = tuple(zip(names, combination, strict=True))
            for sample in range(self.samples):
                paired = self.seeding == "paired"
                seed = self.seed + sample if paired else task_seed(self.seed, dict(values), sample)
                out.append(SweepTask(len(out), values, sample, seed))
        return out


def _axes(axes: Sequence[Axis] | Sequence[str] | Mapping[str, Sequence[Value]]) -> tuple[Axis, ...]:
    """The axes, each value checked for its kind; each option at most once."""
    if isinstance(axes, Mapping):
        listed = [Axis(name, tuple(values)) for name, values in axes.items()]
    elif all(isinstance(a, str) for a in axes):
        listed = list(parse_axes([str(a) for a in axes]))
    else:
        listed = list(axes)  # type: ignore[arg-type]
    checked = tuple(
        Axis(axis_name(a.name), tuple(checked_value(axis_name(a.name), v) for v in a.values)) for a in listed
    )
    if not checked:
        raise ConfigError("a sweep needs at least one axis (NAME=START:STOP:COUNT)")
    names = [a.name for a in checked]
    if len(set(names)) != len(names):
        raise ConfigError(f"each option can be swept once, got {names}")
    for axis in checked:
        if not axis.values:
            raise ConfigError(f"{axis.name}: no values")
        if len(set(axis.values)) != len(axis.values):
            raise ConfigError(f"{axis.name}: repeated values {list(axis.values)}")
    return checked
