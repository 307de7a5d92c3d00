"""The report of ``gradscope cells --file PATH``: what a cell file defines; with ``--check``, how it was checked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradscope.i18n import _

if TYPE_CHECKING:
    from gradscope.cells.file import CellFile
    from gradscope.compile.check import PartialsReport


def cell_file_report(cell: CellFile) -> RenderableType:
    """The file's cell as read: name, title, reference, parameters, constants and equations in evaluation order."""
    lines = [
        Text.assemble((cell.name, "bold"), "  ", _(cell.title)),
        Text(f"{_('source')}: {cell.source}"),
    ]
    if cell.reference:
        lines.append(Text(f"{_('reference')}: {cell.reference}"))
    lines.append(Text(f"{_('state s')}: {cell.spec.state_layout}    {_('gates')}: {', '.join(cell.gates)}"))
    recurrent = cell.recurrent.text or cell.recurrent.kind
    lines.append(Text(f"{_('recurrent weight')}: {recurrent}"))
    if cell.constants:
        lines.append(Text(f"{_('constants')}: " + ", ".join(f"{k} = {v:g}" for k, v in cell.constants)))
    if cell.vectors:
        lines.append(Text(f"{_('per-unit vectors')}: " + ", ".join(f"{s} = {p}_l0" for s, p in cell.vectors)))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(_("quantity"), no_wrap=True, style="bold")
    table.add_column(_("equation"))
    for gate, formula in cell.projections:
        table.add_row(f"m_{gate}", Text(f"W_h{gate} ({formula}) + b_h{gate}"))
    for name, formula in cell.equations:
        table.add_row(f"{name}_t", Text(formula))
    return Group(*lines, Text(""), table)


def partials_table(report: PartialsReport) -> RenderableType:
    """Each derived partial against central differences of the cell's own update: points, kinks skipped, worst error."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(_("partial"), no_wrap=True, style="bold")
    table.add_column(_("points"), justify="right")
    table.add_column(_("kinks skipped"), justify="right")
    table.add_column(_("worst relative error"), justify="right")
    for check in report.checks:
        table.add_row(check.name, str(check.points), str(check.skipped), f"{check.worst_error:.1e}")
    verdict = _("every derivative matches central differences of the update (tolerance {tolerance:.0e})")
    return Group(table, Text(""), Text(verdict.format(tolerance=report.tolerance), style="green"))


#: What :mod:`gradscope.terminal` re-exports from this module.
__all__ = ["cell_file_report", "partials_table"]
