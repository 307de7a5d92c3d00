"""Sweeps: the gradient's rate and verdict over a grid of configurations and random draws.

A sweep varies one or more *axes* (gain, forget-gate bias, hidden size, steps, input scale, init)
over a grid, runs ``samples`` independent random networks at every grid point, and keeps one row
per (grid point, sample): the swept values, ``sample``, the task's ``seed``, ``rate_per_step``,
``efolding_lag``, ``verdict``, ``final_log10_norm`` and, on request, the top Lyapunov exponents.

Reproducibility: every task's seed is a stable hash (SHA-256) of the sweep's base seed, the
task's swept values and its sample index (:func:`task_seed`), never of the order in which tasks
run; the rows come back in task order (grid in the order of the axes, the first axis slowest,
samples innermost). So the document is identical on one core, on many, and on a Dask cluster.
A row is reproduced on its own by :func:`run_task` (or, without forget-gate bias and with
``input_scale = 1``, by ``gradscope.analyze(cell, seed=row["seed"], ...)`` with the row's values).

Axes are written ``NAME=START:STOP:COUNT`` (``COUNT`` evenly spaced values, both ends included),
``NAME=START:STOP:COUNT:log`` (geometric spacing) or ``NAME=V1,V2,...`` (a list; the form for
``init`` and for mixing ``chrono`` with numbers in ``forget_bias``). Integer axes round to integers
and refuse duplicates. Names take ``_`` or ``-``.

Forget-gate bias (LSTM only): the effective bias ``b_f`` (``bias_ih + bias_hh`` of the ``f`` chunk)
or ``chrono`` (Tallec & Ollivier 2018) with ``T_max = t_max`` (default: the task's steps); see
:mod:`gradscope.studies.experiments`, whose conventions and random streams are used unchanged.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope._version import __version__
from gradscope.analysis.analyze import DEFAULT_HIDDEN_SIZE, DEFAULT_INPUT_SIZE, DEFAULT_STEPS, analyze, prepare
from gradscope.analysis.lyapunov import lyapunov
from gradscope.analysis.summary import Thresholds
from gradscope.analysis.theory import tanh_rnn_mean_field_rate
from gradscope.cells.spec import resolve_name
from gradscope.compile.compiled import compile_cell
from gradscope.engine.products import DTYPES, NORMS
from gradscope.errors import ConfigError
from gradscope.params.layer import INITS, check_size
from gradscope.studies.executors import Executor, LocalExecutor
from gradscope.studies.experiments import CHRONO_STREAM, set_forget_bias

if TYPE_CHECKING:
    from gradscope.cells.builtin import Cell

SWEEP_SCHEMA = "gradscope.sweep/1"

#: What each axis holds: ``"float"`` (>= 0 unless noted), ``"int"`` (>= 1), ``"init"`` or ``"forget_bias"``.
AXIS_KINDS: dict[str, str] = {
    "gain": "float",
    "forget_bias": "forget_bias",
    "hidden_size": "int",
    "steps": "int",
    "input_scale": "float",
    "init": "init",
}
#: Result columns after the swept values, in order (Lyapunov columns ``lyapunov_1..K`` follow on request).
RESULT_COLUMNS = ("sample", "seed", "rate_per_step", "efolding_lag", "verdict", "final_log10_norm")

Value = float | int | str


@dataclass(frozen=True)
class Axis:
    """One swept option and its values, in order."""

    name: str
    values: tuple[Value, ...]


def axis_name(text: str) -> str:
    """The canonical axis name (``forget-bias`` -> ``forget_bias``); a :class:`ConfigError` lists the valid ones."""
    name = text.strip().lower().replace("-", "_")
    if name not in AXIS_KINDS:
        raise ConfigError(f"cannot sweep {text!r} (valid: {', '.join(AXIS_KINDS)})")
    return name


def _number(axis: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise ConfigError(f"{axis}: {text!r} is not a number") from error
    if not math.isfinite(value):
        raise ConfigError(f"{axis}: values must be finite, got {text!r}")
    return value


def _checked(axis: str, value: Value) -> Value:
    """One value of ``axis``, converted to its type and range-checked."""
    kind = AXIS_KINDS[axis]
    if kind == "init":
        if value not in INITS:
            raise ConfigError(f"init: unknown init {value!r} (valid: {', '.join(INITS)})")
        return str(value)
    if kind == "forget_bias" and value == "chrono":
        return "chrono"
    number = _number(axis, value) if isinstance(value, str) else float(value)
    if kind == "int":
        rounded = round(number)
        if rounded < 1:
            raise ConfigError(f"{axis}: values must be >= 1, got {value!r}")
        return int(rounded)
    if kind == "float" and number < 0:
        raise ConfigError(f"{axis}: values must be >= 0, got {value!r}")
    return float(number)


def parse_axis(text: str) -> Axis:
    """An axis from ``NAME=START:STOP:COUNT[:log]`` or ``NAME=V1,V2,...`` (see the module docstring)."""
    name_text, sep, spec = text.partition("=")
    if not sep or not spec.strip():
        raise ConfigError(f"expected NAME=START:STOP:COUNT or NAME=V1,V2,..., got {text!r}")
    name, spec = axis_name(name_text), spec.strip()
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3].strip().lower() not in ("log", "lin")):
            raise ConfigError(f"{name}: expected START:STOP:COUNT or START:STOP:COUNT:log, got {spec!r}")
        if AXIS_KINDS[name] == "init":
            raise ConfigError(f"init is categorical: list the values, e.g. init={','.join(INITS)}")
        start, stop = _number(name, parts[0]), _number(name, parts[1])
        try:
            count = int(parts[2])
        except ValueError:
            count = 0
        if count < 1:
            raise ConfigError(f"{name}: COUNT must be a positive integer, got {parts[2]!r}")
        if len(parts) == 4 and parts[3].strip().lower() == "log":
            if start <= 0 or stop <= 0:
                raise ConfigError(f"{name}: a log-spaced axis needs START and STOP > 0, got {spec!r}")
            raw = np.geomspace(start, stop, count) if count > 1 else np.array([start])
        else:
            raw = np.linspace(start, stop, count) if count > 1 else np.array([start])
        values = tuple(_checked(name, float(v)) for v in raw)
    else:
        values = tuple(_checked(name, item.strip()) for item in spec.split(",") if item.strip())
        if not values:
            raise ConfigError(f"{name}: no values in {text!r}")
    if len(set(values)) != len(values):
        raise ConfigError(f"{name}: repeated values {list(values)} (integer axes round to integers)")
    return Axis(name, values)


def parse_axes(texts: Sequence[str]) -> tuple[Axis, ...]:
    """Several ``--vary`` texts; each name at most once."""
    axes = tuple(parse_axis(text) for text in texts)
    names = [axis.name for axis in axes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"each option can be swept once; repeated: {', '.join(repeated)}")
    return axes


def _canonical(value: Value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return repr(float(value))


def task_seed(seed: int, values: Mapping[str, Value], sample: int) -> int:
    """The seed of one task: a SHA-256 hash of the base seed, the swept values and the sample index.

    Values are first converted to their axis's type (so a gain of ``2`` and ``2.0`` hash alike) and
    sorted by name: independent of the order of the axes and of the execution order.
    Returns an integer in ``[0, 2^53)``, exact as a JSON number in every reader (JavaScript included).
    """
    key = ";".join(
        [
            SWEEP_SCHEMA,
            f"seed={int(seed)}",
            *(f"{n}={_canonical(_checked(axis_name(n), values[n]))}" for n in sorted(values)),
            f"sample={sample}",
        ]
    )
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 11


@dataclass(frozen=True)
class SweepTask:
    """One (grid point, sample): ``index`` is its position in the task list."""

    index: int
    values: tuple[tuple[str, Value], ...]
    sample: int
    seed: int


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep and every fixed option; the swept axes override the fixed values.

    Attributes:
        cell: a built-in cell name or a :class:`~gradscope.cells.builtin.Cell` (derived once per worker process).
        axes: the swept options (see :func:`parse_axes`), at least one.
        samples: independent random networks per grid point.
        seed: the base seed the task seeds are hashed from.
        hidden_size, input_size, steps, init, gain: as in :func:`gradscope.analyze`.
        input_scale: inputs are ``input_scale * N(0, 1)``.
        forget_bias: LSTM: ``None`` (PyTorch's random biases), the effective ``b_f`` or ``"chrono"``.
        t_max: chrono's ``T_max`` (default: each task's steps).
        norm, dtype, thresholds: as in :func:`gradscope.analyze`.
        exponents: also measure the top ``exponents`` Lyapunov exponents per task (0: none);
            columns ``lyapunov_1 .. lyapunov_K`` (``None`` beyond the state size), over the task's
            own inputs and steps (:func:`gradscope.analysis.lyapunov.lyapunov`).
        transient: steps discarded before the Lyapunov averages start (``exponents > 0`` only).
    """

    cell: str | Cell
    axes: tuple[Axis, ...]
    samples: int = 1
    seed: int = 0
    hidden_size: int = DEFAULT_HIDDEN_SIZE
    input_size: int = DEFAULT_INPUT_SIZE
    steps: int = DEFAULT_STEPS
    init: str = "pytorch"
    gain: float = 1.0
    input_scale: float = 1.0
    forget_bias: float | str | None = None
    t_max: int | None = None
    norm: str = "spectral"
    dtype: str = "float64"
    thresholds: Thresholds = field(default_factory=Thresholds)
    exponents: int = 0
    transient: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.cell, str):
            object.__setattr__(self, "cell", resolve_name(self.cell))
        axes = tuple(
            Axis(axis_name(a.name), tuple(_checked(axis_name(a.name), v) for v in a.values)) for a in self.axes
        )
        object.__setattr__(self, "axes", axes)
        if not axes:
            raise ConfigError("a sweep needs at least one axis (NAME=START:STOP:COUNT)")
        names = [a.name for a in axes]
        if len(set(names)) != len(names):
            raise ConfigError(f"each option can be swept once, got {names}")
        for axis in axes:
            if not axis.values:
                raise ConfigError(f"{axis.name}: no values")
            if len(set(axis.values)) != len(axis.values):
                raise ConfigError(f"{axis.name}: repeated values {list(axis.values)}")
        check_size("samples", self.samples)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("hidden_size", "input_size", "steps"):
            check_size(name, getattr(self, name))
        for name in ("init", "gain", "input_scale"):
            object.__setattr__(self, name, _checked(name, getattr(self, name)))
        if self.norm not in NORMS:
            raise ConfigError(f"unknown norm {self.norm!r} (valid: {', '.join(NORMS)})")
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {self.dtype!r} (valid: {', '.join(DTYPES)})")
        for name in ("exponents", "transient"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        shortest = min(self.axis("steps").values) if self.axis("steps") else self.steps
        if self.exponents and self.transient >= int(shortest):
            raise ConfigError(f"transient={self.transient} leaves no steps to average (shortest T={shortest})")
        biases = list(self.axis("forget_bias").values) if self.axis("forget_bias") else []
        if self.forget_bias is not None:
            object.__setattr__(self, "forget_bias", _checked("forget_bias", self.forget_bias))
            biases.append(self.forget_bias)
        if biases and self.cell_name != "lstm":
            raise ConfigError(f"forget_bias applies to the LSTM only, not to {self.cell_name!r}")
        if self.t_max is not None:
            check_size("t_max", self.t_max)
            if self.t_max < 3:
                raise ConfigError(f"chrono initialisation needs t_max >= 3, got {self.t_max}")
        elif "chrono" in biases and int(shortest) < 3:
            raise ConfigError("chrono initialisation needs T_max >= 3: give t_max or at least 3 steps")

    @property
    def cell_name(self) -> str:
        """The cell's name."""
        return self.cell if isinstance(self.cell, str) else self.cell.name

    def axis(self, name: str) -> Axis | None:
        """The axis named ``name``, or ``None`` when that option is fixed."""
        return next((a for a in self.axes if a.name == name), None)

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The swept options, in axis order: the first columns of every row."""
        return tuple(a.name for a in self.axes)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of a row, in order."""
        extra = tuple(f"lyapunov_{i}" for i in range(1, self.exponents + 1))
        return (*self.value_columns, *RESULT_COLUMNS, *extra)

    def fixed(self) -> dict[str, Any]:
        """The options that are not swept, JSON-ready."""
        options: dict[str, Any] = {
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "steps": self.steps,
            "init": self.init,
            "gain": self.gain,
            "input_scale": self.input_scale,
            "forget_bias": self.forget_bias,
            "t_max": self.t_max,
        }
        return {name: value for name, value in options.items() if self.axis(name) is None}

    def tasks(self) -> list[SweepTask]:
        """Every (grid point, sample) in order: the first axis slowest, samples innermost."""
        out = []
        names = self.value_columns
        for combination in itertools.product(*(a.values for a in self.axes)):
            values = tuple(zip(names, combination, strict=True))
            for sample in range(int(self.samples)):
                seed = task_seed(int(self.seed), dict(values), sample)
                out.append(SweepTask(len(out), values, sample, seed))
        return out


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def task_inputs(spec: SweepSpec, task: SweepTask) -> tuple[str | Cell, dict[str, np.ndarray], np.ndarray]:
    """``(cell, params, inputs)`` of one task: the draws of ``prepare(cell, seed=task.seed, ...)``
    with the task's values, inputs scaled by ``input_scale`` and the forget-gate bias set."""
    options = {
        "hidden_size": spec.hidden_size,
        "steps": spec.steps,
        "init": spec.init,
        "gain": spec.gain,
        "input_scale": spec.input_scale,
        "forget_bias": spec.forget_bias,
    } | dict(task.values)
    problem = prepare(
        spec.cell,
        hidden_size=int(options["hidden_size"]),
        input_size=spec.input_size,
        steps=int(options["steps"]),
        seed=task.seed,
        init=str(options["init"]),
        gain=float(options["gain"]),
    )
    params = problem.params.as_dict()
    if options["forget_bias"] is not None:
        t_max = spec.t_max if spec.t_max is not None else int(options["steps"])
        rng = np.random.default_rng([task.seed, CHRONO_STREAM]) if options["forget_bias"] == "chrono" else None
        params = set_forget_bias(params, options["forget_bias"], t_max=t_max, rng=rng)
    return spec.cell, params, float(options["input_scale"]) * problem.inputs


def run_task(spec: SweepSpec, task: SweepTask) -> dict[str, Any]:
    """One row: the task's values, sample, seed and results (non-finite numbers as ``None``)."""
    cell, params, inputs = task_inputs(spec, task)
    result = analyze(
        cell, params=params, inputs=inputs, seed=task.seed, norm=spec.norm, dtype=spec.dtype, thresholds=spec.thresholds
    )
    row: dict[str, Any] = dict(task.values)
    row |= {
        "sample": task.sample,
        "seed": task.seed,
        "rate_per_step": _json_float(result.rate_per_step),
        "efolding_lag": _json_float(result.efolding_lag),
        "verdict": result.verdict,
        "final_log10_norm": _json_float(result.final_log10_norm),
    }
    if spec.exponents:
        size = compile_cell(cell).spec.state_size(result.hidden_size)
        spectrum = lyapunov(
            cell,
            params=params,
            inputs=inputs,
            seed=task.seed,
            exponents=min(spec.exponents, size),
            transient=spec.transient,
        )
        values = [_json_float(v) for v in spectrum.exponents]
        values += [None] * (spec.exponents - len(values))
        row |= {f"lyapunov_{i}": v for i, v in enumerate(values, start=1)}
    return row


def run_chunk(spec: SweepSpec, tasks: list[SweepTask]) -> list[dict[str, Any]]:
    """:func:`run_task` for each task of a chunk (the unit of work an executor ships)."""
    return [run_task(spec, task) for task in tasks]


@dataclass(frozen=True)
class SweepResult:
    """The rows of a sweep, in task order.

    Attributes:
        spec: what was swept.
        rows: one dict per task with keys :attr:`columns` (JSON-ready values; treat as read-only).
    """

    spec: SweepSpec
    rows: tuple[dict[str, Any], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.spec.columns

    def column(self, name: str) -> np.ndarray:
        """``(N,)`` one column: float64 (``None`` as NaN) for numbers, an object array for text."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r} (columns: {', '.join(self.columns)})")
        values = [row[name] for row in self.rows]
        if any(isinstance(v, str) for v in values):
            return np.array(values, dtype=object)
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)

    def grid(self) -> list[dict[str, Value]]:
        """``(P,)`` the swept values of each grid point, in task order."""
        width = int(self.spec.samples)
        return [{name: self.rows[p][name] for name in self.spec.value_columns} for p in range(0, len(self.rows), width)]

    def by_grid(self, name: str) -> np.ndarray:
        """``(P, S)`` one numeric column arranged by grid point (rows of :meth:`grid`) and sample.

        E.g. ``np.nanmedian(result.by_grid("rate_per_step"), axis=1)`` is the phase diagram's curve.
        """
        values = self.column(name)
        if values.dtype == object:
            raise ValueError(f"column {name!r} is not numeric")
        return values.reshape(-1, int(self.spec.samples))

    def theory_rate(self) -> np.ndarray | None:
        """``(N,)`` the mean-field rate of each row's configuration (tanh RNN only, else ``None``).

        :func:`gradscope.analysis.theory.tanh_rnn_mean_field_rate` at the row's init, gain, hidden size and
        input scale: the line to draw under ``rate_per_step`` on a phase diagram.
        """
        if self.spec.cell_name != "rnn":
            return None
        spec = self.spec
        rates = []
        for row in self.rows:
            values = {
                "init": spec.init,
                "gain": spec.gain,
                "hidden_size": spec.hidden_size,
                "input_scale": spec.input_scale,
            } | {k: row[k] for k in spec.value_columns}
            rates.append(
                tanh_rnn_mean_field_rate(
                    str(values["init"]),
                    float(values["gain"]),
                    int(values["hidden_size"]),
                    spec.input_size,
                    float(values["input_scale"]),
                )
            )
        return np.array(rates)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema ``"gradscope.sweep/1"``); the same whatever executor ran it."""
        spec = self.spec
        return {
            "schema": SWEEP_SCHEMA,
            "gradscope_version": __version__,
            "cell": spec.cell_name,
            "vary": [{"name": a.name, "values": list(a.values)} for a in spec.axes],
            "samples": int(spec.samples),
            "seed": int(spec.seed),
            "fixed": spec.fixed(),
            "norm": spec.norm,
            "dtype": spec.dtype,
            "thresholds": {
                "vanishing_rate": spec.thresholds.vanishing_rate,
                "exploding_rate": spec.thresholds.exploding_rate,
            },
            "exponents": int(spec.exponents),
            "transient": int(spec.transient),
            "columns": list(self.columns),
            "rows": [dict(row) for row in self.rows],
        }

    def to_csv(self) -> str:
        """The rows as CSV text with a header line; empty fields for ``None``, floats in full precision."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_csv_field(row[c]) for c in self.columns])
        return buffer.getvalue()


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def run_sweep(
    spec: SweepSpec, *, executor: Executor | None = None, progress: Callable[[int, int], None] | None = None
) -> SweepResult:
    """Run every task of ``spec``.

    Args:
        spec: the sweep.
        executor: where the tasks run (default :class:`~gradscope.studies.executors.LocalExecutor`: all cores).
        progress: called as ``progress(tasks_done, tasks_total)`` as chunks finish.

    Returns:
        A :class:`SweepResult` with rows in task order, identical for any executor.
    """
    tasks = spec.tasks()
    runner = executor if executor is not None else LocalExecutor()
    rows = runner.map(functools.partial(run_chunk, spec), tasks, progress=progress)
    if len(rows) != len(tasks):
        raise RuntimeError(f"the executor returned {len(rows)} rows for {len(tasks)} tasks")
    return SweepResult(spec, tuple(dict(row) for row in rows))
