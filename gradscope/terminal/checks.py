"""The reports of ``verify`` (gradients against independent references) and ``report`` (the gallery written)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.constrain import Constrain
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradscope.terminal.format import REPORT_WIDTH

if TYPE_CHECKING:
    from gradscope.testing.targets import TargetCheck
    from gradscope.testing.verification import Verification

# ---------------------------------------------------------------------------------------------
# verify


def format_error(value: float) -> str:
    """An error in scientific notation with three significant digits; ``nan``/``inf`` spelled out."""
    return f"{value:.2e}" if math.isfinite(value) else str(value)


#: Short names of the references, so that the ``verify`` table fits 80 columns.
_REFERENCE_NAMES = {"finite differences": "finite diff."}


def verification_table(verification: Verification) -> Table:
    """One row per check: cell, what, against what, max abs and rel error, tolerance, ok/FAIL.

    The error columns are the maxima over all entries (and time steps); the relative error is the
    absolute one divided by the largest entry of the reference. Fits 80 columns.
    """
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 1, 0, 0))
    table.add_column("cell", no_wrap=True, style="bold")
    table.add_column("check")
    table.add_column("against", no_wrap=True)
    table.add_column("abs err", justify="right", no_wrap=True)
    table.add_column("rel err", justify="right", no_wrap=True)
    table.add_column("tol.", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    previous = None
    for row in verification.rows:
        if previous is not None and row.cell != previous:
            table.add_section()
        result = Text("ok", style="green") if row.passed else Text("FAIL", style="bold red")
        table.add_row(
            row.cell if row.cell != previous else "",
            row.check,
            _REFERENCE_NAMES.get(row.against, row.against),
            format_error(row.max_abs_err),
            format_error(row.max_rel_err),
            f"{row.tolerance:.0e}",
            result,
        )
        previous = row.cell
    return table


def verification_summary(verification: Verification) -> Text:
    """The outcome in one line: all checks passed, or how many failed and which."""
    total, failures = len(verification.rows), verification.failures
    if not failures:
        return Text.assemble(("PASSED", "bold green"), f"  all {total} checks within their tolerance")
    failed = "; ".join(f"{row.cell} {row.check} vs {row.against}" for row in failures)
    return Text.assemble(
        ("FAILED", "bold red"), f"  {len(failures)} of {total} checks exceed their tolerance: {failed}"
    )


def verification_report(verification: Verification, torch_skipped: bool = False) -> RenderableType:
    """The ``verify`` report: the problem's sizes, the table of checks, the outcome and a note on PyTorch.

    Args:
        verification: the result of :func:`gradscope.testing.verification.verify`.
        torch_skipped: the autograd checks were turned off (``--no-torch``) rather than unavailable.
    """
    settings = verification.settings
    sizes = ", ".join(f"{key} {value}" for key, value in settings.items())
    if verification.torch_version is not None:
        note = Text(f"Autograd reference: PyTorch {verification.torch_version}, float64.", style="dim")
    elif torch_skipped:
        note = Text("PyTorch autograd checks skipped (--no-torch): finite differences only.", style="dim")
    else:
        note = Text(
            "note: PyTorch is not installed, so only finite differences were checked "
            "(pip install torch==2.13.0 adds the autograd checks).",
            style="yellow",
        )
    body = Group(
        Text(
            f"Random problem: {sizes}. Errors: the largest |gradscope - reference| over all entries (abs err), "
            "divided by the largest |reference| entry (rel err); a check passes when rel err <= tol.",
            style="dim",
        ),
        Text(""),
        verification_table(verification),
        Text(""),
        verification_summary(verification),
        note,
    )
    title = Text.assemble(
        ("gradscope verify", "bold"), f": {', '.join(dict.fromkeys(r.cell for r in verification.rows))}"
    )
    return Constrain(Panel(body, title=title, title_align="left"), width=REPORT_WIDTH)


# ---------------------------------------------------------------------------------------------
# verify --target (the user's own backward)


def target_summary(check: TargetCheck) -> Text:
    """The outcome of ``verify --target`` in one line: passed, or which gradients are wrong and from when."""
    diagnosis = check.diagnosis
    if diagnosis.passed:
        return Text.assemble(("PASSED", "bold green"), f"  {check.target}: {', '.join(diagnosis.keys)} match")
    when = "" if diagnosis.first_wrong_step is None else f", first wrong at t = {diagnosis.first_wrong_step}"
    wrong = ", ".join(diagnosis.failed_keys)
    return Text.assemble(("FAILED", "bold red"), f"  {check.target}: {wrong} differ from the exact reference{when}")


def target_report(check: TargetCheck) -> RenderableType:
    """The ``verify --target`` report: the random problem, the check's message as plain text (its lines are
    long and indented by meaning, so no panel), and the outcome."""
    settings = check.settings
    sizes = ", ".join(f"{k} {settings[k]}" for k in ("hidden_size", "input_size", "output_size", "steps", "seed"))
    keys = ("layout", "gates", "concat", "loss", "reduce", "inputs") if len(settings["gates"]) > 1 else (
        "layout", "loss", "reduce", "inputs"
    )  # fmt: skip
    how = ", ".join(f"{k} {settings[k]}" for k in keys)
    return Group(
        Text.assemble(("gradscope verify --target", "bold"), f" {check.target} ({settings['cell']})"),
        Text(f"Random problem: {sizes}; parameters {', '.join(settings['params'])} ({how}).", style="dim"),
        Text(""),
        Text(check.diagnosis.report()),
        Text(""),
        target_summary(check),
    )


# ---------------------------------------------------------------------------------------------
# report (the gallery)


def gallery_summary(paths: Sequence[Path], out_dir: Path) -> RenderableType:
    """What ``gradscope report`` wrote: the folder, the README and each figure with its formats."""
    figures: dict[str, list[str]] = {}
    others: list[str] = []
    for path in paths:
        relative = path.relative_to(out_dir) if path.is_relative_to(out_dir) else path
        if relative.suffix.lower() in (".png", ".svg", ".pdf"):
            figures.setdefault(str(relative.with_suffix("")), []).append(relative.suffix.lower())
        else:
            others.append(str(relative))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True, style="dim")
    for stem, suffixes in figures.items():
        grid.add_row(stem, " ".join(suffixes))
    readme = out_dir / "README.md"
    lead = Text(f"Gallery written to {out_dir}: {len(paths)} files, {len(figures)} figures")
    if "README.md" in others:
        lead.append(f"; open {readme}")
    return Group(lead, grid)


def gallery_summary_line(paths: Sequence[Path], out_dir: Path) -> Text:
    """What ``gradscope report`` wrote, in one line (for ``--quiet``)."""
    return Text(f"{len(paths)} files written to {out_dir}")


#: What :mod:`gradscope.terminal` re-exports from this module.
__all__ = [
    "format_error",
    "gallery_summary",
    "gallery_summary_line",
    "target_report",
    "target_summary",
    "verification_report",
    "verification_summary",
    "verification_table",
]
