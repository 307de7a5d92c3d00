"""The rows of a sweep, as a table (JSON, CSV, columns by grid point) and what its figures read."""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope._version import __version__
from gradscope.analysis.theory import MEAN_FIELD_INITS, tanh_rnn_mean_field_rate
from gradscope.studies.axes import AXIS_TEXT, SWEEP_SCHEMA, Value

if TYPE_CHECKING:
    from gradscope.studies.sweep_spec import SweepSpec


@dataclass(frozen=True)
class SweepResult:
    """The rows of a sweep, in task order.

    Attributes:
        spec: what was swept.
        rows: one dict per task with keys :attr:`columns` (JSON-ready values; treat as read-only).
        profiles: ``(N, T)`` every task's ``log10 ||d s_T / d s_{T-k}||`` when the spec keeps them
            (``keep_profiles``; the tasks must then share T), else ``None``. Not part of the document.
    """

    spec: SweepSpec
    rows: tuple[dict[str, Any], ...]
    profiles: np.ndarray | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.spec.columns

    @property
    def failures(self) -> tuple[dict[str, Any], ...]:
        """The rows of the tasks that failed (their ``error`` holds the message), in task order."""
        return tuple(row for row in self.rows if row.get("error") is not None)

    @property
    def failed(self) -> int:
        """How many tasks failed."""
        return len(self.failures)

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
        inits = {str(row.get("init", spec.option("init"))) for row in self.rows}
        if not inits <= set(MEAN_FIELD_INITS):
            return None  # IRNN's gain * I is no random matrix: the theory does not describe it
        rates = []
        for row in self.rows:
            values = {name: spec.option(name) for name in ("init", "gain", "hidden_size", "input_scale")}
            values |= {k: row[k] for k in spec.value_columns}
            rates.append(
                tanh_rnn_mean_field_rate(
                    str(values["init"]),
                    float(values["gain"]),
                    int(values["hidden_size"]),
                    spec.option("input_size"),
                    float(values["input_scale"]),
                )
            )
        return np.array(rates)

    # What the one-knob figures and tables read: the first axis, its values as text, the rates.

    @property
    def parameter(self) -> str:
        """The first swept option's name."""
        return self.spec.axes[0].name

    @property
    def parameter_text(self) -> str:
        """Axis text for the first swept option, e.g. ``"init gain g"``."""
        return AXIS_TEXT.get(self.parameter, self.parameter)

    @property
    def values(self) -> tuple[Value, ...]:
        """The first axis's values, in order."""
        return self.spec.axes[0].values

    @property
    def labels(self) -> tuple[str, ...]:
        """The first axis's values as text: ``"chrono"``, ``"1.5"``, ``"64"``."""
        return tuple(f"{v:g}" if isinstance(v, float) else str(v) for v in self.values)

    def numeric_values(self) -> np.ndarray | None:
        """``(P,)`` the first axis's values as floats, or ``None`` when some are not numbers (``"chrono"``)."""
        if any(isinstance(v, str) for v in self.values):
            return None
        return np.asarray(self.values, dtype=np.float64)

    def rate_band(self, quantiles: tuple[float, float] = (0.1, 0.9)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(median, lower, upper)``, each ``(P,)``: the rate per step over the samples of each grid point
        (``NaN`` where every sample reached an exactly zero norm, whose rate is not finite)."""
        rates = self.by_grid("rate_per_step")
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice"
            median = np.nanmedian(rates, axis=1)
            lower, upper = np.nanquantile(rates, quantiles, axis=1)
        return median, lower, upper

    def median_rates(self) -> np.ndarray:
        """``(P,)`` the median over samples of the rate per step at each grid point (see :meth:`rate_band`)."""
        return self.rate_band()[0]

    def grid_profiles(self) -> np.ndarray:
        """``(P, T)`` each grid point's pointwise median profile over its samples (the profile itself for one
        sample); needs a sweep that kept its profiles."""
        if self.profiles is None:
            raise ValueError("this sweep kept no profiles: run it with keep_profiles=True")
        grouped = self.profiles.reshape(-1, int(self.spec.samples), self.profiles.shape[1])
        if grouped.shape[1] == 1:
            return grouped[:, 0]
        with np.errstate(invalid="ignore"):
            median = np.median(grouped, axis=1)
        median[np.isnan(median)] = -np.inf  # between an exactly zero norm and a finite one
        return median

    def rate_zero_crossings(self) -> tuple[float, ...]:
        """Values of a single numeric axis where the median rate changes sign, linearly interpolated."""
        x = self.numeric_values()
        if x is None or len(self.spec.axes) > 1:
            return ()
        rates = self.median_rates()
        out = []
        for p in range(len(x) - 1):
            a, b = rates[p], rates[p + 1]
            if np.isfinite(a) and np.isfinite(b) and (a < 0) != (b < 0):
                out.append(float(x[p] + (x[p + 1] - x[p]) * (-a) / (b - a)))
        return tuple(out)

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
            "norm": spec.problem.norm,
            "dtype": spec.problem.dtype,
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
