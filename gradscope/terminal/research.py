"""The reports of ``sweep`` (rates over a grid of settings) and ``lyapunov`` (the exponent spectrum)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, RenderableType
from rich.constrain import Constrain
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradscope.i18n import _, ngettext
from gradscope.terminal.format import REPORT_WIDTH, VERDICT_STYLES, format_rate, format_steps

if TYPE_CHECKING:
    from gradscope.analysis.lyapunov_spectrum import LyapunovSpectrum
    from gradscope.studies.sweeps import SweepResult


def _value_text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _rate_text(rate: float) -> str:
    """A rate, or ``-`` where there is none (every sample of the grid point failed)."""
    return "-" if math.isnan(rate) else format_rate(rate)


#: How many failed tasks the report lists one by one.
LISTED_FAILURES = 8


def sweep_table(result: SweepResult) -> Table:
    """One row per grid point: the swept values, the median rate per step and its 10-90 % band over
    samples, the mean-field theory rate (tanh RNN only) and the verdict counts (failed tasks counted too)."""
    spec = result.spec
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name in spec.value_columns:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("median rate/step", justify="right", no_wrap=True)
    if spec.samples > 1:
        table.add_column("rate 10-90 %", justify="right", no_wrap=True)
    theory = result.theory_rate()
    if theory is not None:
        table.add_column("theory", justify="right", no_wrap=True)
    table.add_column("verdicts")
    medians, lower, upper = result.rate_band((0.1, 0.9))  # (P,) each, over the samples
    verdicts = result.column("verdict").reshape(-1, int(spec.samples))
    for p, point in enumerate(result.grid()):
        cells: list[str | Text] = [_value_text(point[name]) for name in spec.value_columns]
        cells.append(_rate_text(float(medians[p])))
        if spec.samples > 1:
            cells.append(f"{_rate_text(float(lower[p]))} .. {_rate_text(float(upper[p]))}")
        if theory is not None:
            cells.append(format_rate(float(theory[p * int(spec.samples)])))
        counts = Text()
        for verdict in ("vanishing", "stable", "exploding"):
            n = int(np.sum(verdicts[p] == verdict))
            if n:
                counts.append(", " if counts.plain else "")
                counts.append(f"{n} {verdict}", style=VERDICT_STYLES[verdict].replace("bold ", ""))
        failed = sum(row["error"] is not None for row in result.rows[p * spec.samples : (p + 1) * spec.samples])
        if failed:
            counts.append(", " if counts.plain else "")
            counts.append(_("{count} failed").format(count=failed), style="red")
        cells.append(counts)
        table.add_row(*cells)
    return table


def sweep_settings(result: SweepResult) -> str:
    """The fixed settings of a sweep, one line."""
    spec = result.spec
    fixed = ", ".join(f"{k} {_value_text(v)}" for k, v in spec.fixed().items() if v is not None)
    return (
        f"{len(result.rows)} tasks: {len(result.grid())} grid points x {spec.samples} "
        f"sample{'s' if spec.samples != 1 else ''} (base seed {spec.seed}); "
        f"{fixed}; {spec.problem.norm} norm, {spec.problem.dtype}"
    )


def sweep_failures(result: SweepResult) -> Text:
    """The failed tasks, one line each (the first :data:`LISTED_FAILURES`): swept values, sample, error."""
    failures = result.failures
    text = Text(
        ngettext("{count} task failed:", "{count} tasks failed:", len(failures)).format(count=len(failures)),
        style="bold red",
    )
    for row in failures[:LISTED_FAILURES]:
        where = ", ".join(f"{name} {_value_text(row[name])}" for name in result.spec.value_columns)
        text.append(f"\n  {where}, sample {row['sample']}: ", style="red")
        text.append(str(row["error"]))
    if len(failures) > LISTED_FAILURES:
        more = len(failures) - LISTED_FAILURES
        text.append("\n  " + _("... and {count} more (the rows' error column)").format(count=more), style="dim")
    return text


def sweep_report(result: SweepResult) -> RenderableType:
    """The ``sweep`` report: settings, then one line per grid point (rates in natural log per step), then the
    failed tasks, if any."""
    parts: list[RenderableType] = [
        Text(sweep_settings(result), style="dim"),
        Text(""),
        Text("rate per step of ln ||d s_T / d s_{T-k}|| (natural log)", style="bold"),
        sweep_table(result),
    ]
    if result.failed:
        parts += [Text(""), sweep_failures(result)]
    body = Group(*parts)
    title = Text.assemble(("gradscope sweep", "bold"), f": {result.spec.cell_name}")
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


def sweep_summary_line(result: SweepResult) -> Text:
    """A sweep in one line (for ``--quiet``)."""
    verdicts = result.column("verdict")
    counts = ", ".join(
        f"{int(np.sum(verdicts == v))} {v}" for v in ("vanishing", "stable", "exploding") if np.any(verdicts == v)
    )
    if result.failed:
        counts = ", ".join(c for c in (counts, _("{count} failed").format(count=result.failed)) if c)
    axes = ", ".join(f"{a.name} ({len(a.values)})" for a in result.spec.axes)
    return Text(f"{result.spec.cell_name}: swept {axes}, {len(result.rows)} tasks: {counts}")


def lyapunov_table(spectrum: LyapunovSpectrum) -> Table:
    """The top exponents, descending: value (natural log per step), standard error and drift."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in ("i", "lambda_i /step", "std. error", "drift", "e-folding (steps)"):
        table.add_column(header, justify="right", no_wrap=True)
    for i, (value, error, drift) in enumerate(
        zip(spectrum.exponents, spectrum.standard_error, spectrum.drift, strict=True), start=1
    ):
        value, error, drift = float(value), float(error), float(drift)
        efold = 1.0 / abs(value) if math.isfinite(value) and value != 0 else math.inf
        table.add_row(
            str(i),
            f"{value:+.5f}" if math.isfinite(value) else format_rate(value),
            f"{error:.2g}" if math.isfinite(error) else "-",
            f"{drift:+.2g}" if math.isfinite(drift) else "-",
            format_steps(efold),
        )
    return table


def lyapunov_report(spectrum: LyapunovSpectrum) -> RenderableType:
    """The ``lyapunov`` report: settings and the exponent table."""
    config = spectrum.config
    origin = (
        f"init {config.get('init')}, gain {config.get('gain', 1.0):g}, seed {config.get('seed', 0)}"
        if config.get("params") == "random"
        else "given parameters"
    )
    settings = (
        f"state {spectrum.state}, hidden_size {spectrum.hidden_size}, input_size {spectrum.input_size}, "
        f"T = {spectrum.steps} steps ({spectrum.transient} transient, {spectrum.averaged_steps} averaged), {origin}"
    )
    body = Group(
        Text(settings, style="dim"),
        Text(""),
        Text("Lyapunov exponents by the QR (Benettin) method, natural log per step, descending", style="bold"),
        lyapunov_table(spectrum),
        Text(""),
        Text("drift: estimate over the second half of the averaged steps minus the first half", style="dim"),
    )
    title = Text.assemble(("gradscope lyapunov", "bold"), f": {spectrum.cell}")
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


def lyapunov_summary_line(spectrum: LyapunovSpectrum) -> Text:
    """The spectrum in one line (for ``--quiet``)."""
    return Text(
        f"{spectrum.cell}: lambda_1 = {spectrum.top:+.5f}/step (s.e. {spectrum.convergence:.2g}), "
        f"{spectrum.exponents.size} exponents over {spectrum.averaged_steps} steps"
    )


#: What :mod:`gradscope.terminal` re-exports from this module.
__all__ = [
    "lyapunov_report",
    "lyapunov_summary_line",
    "lyapunov_table",
    "sweep_failures",
    "sweep_report",
    "sweep_settings",
    "sweep_summary_line",
    "sweep_table",
]
