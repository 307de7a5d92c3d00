"""The ``derive`` report: a cell's equations and Jacobian blocks as SymPy's 2-D pictures, set in rich text.

The pictures come from :mod:`gradscope.symbolic.display`, imported inside :func:`derivation_pretty`
so that the other reports (and the ``analyze`` command) start without SymPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text

from gradscope.i18n import _
from gradscope.terminal.format import block_legend

if TYPE_CHECKING:
    from gradscope.symbolic.derivation import Derivation
    from gradscope.testing.formula_check import FormulaCheck


def derivation_pretty(derivation: Derivation, unicode: bool = True) -> RenderableType:
    """The cell's equations and Jacobian blocks as SymPy pretty-printed text.

    The 2-D pictures are ``no_wrap`` Text: print with ``crop=False`` so that a narrow terminal
    wraps them rather than rich cutting them. ``unicode=False`` gives ASCII only.
    """
    from gradscope.symbolic.display import block_pictures, block_texts, equation_pictures

    cell = derivation.cell

    def lines(pictures: list[str]) -> list[Text]:
        return [Text(picture, no_wrap=True, overflow="ignore") for picture in pictures]

    return Group(
        Text.assemble((f"{cell.name}", "bold"), f": {_(cell.title)}"),
        Text(cell.reference, style="dim"),
        Text(_("state s = {state}, gates {gates}").format(state=cell.state_layout, gates=", ".join(cell.gates))),
        Text(""),
        Text(_("Equations (one unit):"), style="bold"),
        *lines(equation_pictures(derivation, unicode)),
        Text(block_legend(cell.spec), style="dim"),
        Text(""),
        Text(_("Per-step Jacobian blocks:"), style="bold"),
        *lines(block_pictures(derivation, unicode)),
        Text(""),
        Text(_("On one line each, as 'gradscope derive --check' and check_formula read them:"), style="bold"),
        *lines(["  " + text for text in block_texts(derivation)]),
    )


def formula_check_text(check: FormulaCheck) -> Text:
    """``derive --check``: the verdict as a word (CORRECT in green, WRONG in red), then the check's message."""
    verdict, style = ("CORRECT", "bold green") if check.correct else ("WRONG", "bold red")
    message = check.message.removeprefix("correct: " if check.correct else "wrong: ")
    return Text.assemble((verdict, style), f"  {check.cell}: {message}")


#: What :mod:`gradscope.terminal` re-exports from this module.
__all__ = [
    "derivation_pretty",
    "formula_check_text",
]
