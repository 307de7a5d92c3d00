"""The compiled cell, once per cell and process: the shipped code for built-in cells, else a live derivation.

The built-in cells' lambdified code ships in :mod:`gradscope.compile.generated` (a test checks it
is exactly what SymPy derives today), so the command line starts without importing SymPy; cells
defined by users are derived and lambdified (:mod:`gradscope.compile.codegen`) on first use.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from gradscope.cells.file_registry import resolve
from gradscope.cells.spec import ALL_CELL_NAMES
from gradscope.compile.compiled import CompiledCell

if TYPE_CHECKING:
    from gradscope.cells.cell import Cell

#: The cells whose code ships in :mod:`gradscope.compile.generated` (the zoo's and files' are derived live).
GENERATED_NAMES = frozenset(ALL_CELL_NAMES)
#: Set to 1 to derive and lambdify the built-in cells at run time instead of using the shipped code.
LIVE_ENV = "GRADSCOPE_LIVE_DERIVATION"


def compile_cell(cell: str | Cell, checked: bool = True) -> CompiledCell:
    """The compiled form of a built-in cell (by name) or of a user-defined :class:`~gradscope.cells.Cell`.

    Built-in cells use the code shipped in :mod:`gradscope.compile.generated` unless the environment
    variable ``GRADSCOPE_LIVE_DERIVATION=1`` asks for a fresh derivation; other cells (the zoo's, files,
    your own) are derived and lambdified on first use, checked against central differences of their
    own update (:func:`gradscope.compile.check.check_partials`), and cached for the process.
    ``checked=False`` skips that check, for cells whose derivatives are wrong on purpose (the classic
    BPTT mistakes of :mod:`gradscope.cells.variants`, which keep ``tanh`` but drop its derivative).

    Raises:
        CellCheckError: the derived partials disagree with central differences, or are not finite,
            at random points.
    """
    if isinstance(cell, str):
        name = resolve(cell)  # a name, or a cell file's path (read, checked and put in use)
        if name not in GENERATED_NAMES or os.environ.get(LIVE_ENV, "") not in ("", "0"):
            from gradscope.cells.builtin import get_cell

            return _compile_live(get_cell(name))
        return _compile_generated(name)
    return _compile_live(cell, checked)


@functools.cache
def _compile_generated(name: str) -> CompiledCell:
    from gradscope.compile.generated import GENERATED

    return GENERATED[name]


@functools.cache
def _compile_live(cell: Cell, checked: bool = True) -> CompiledCell:
    from gradscope.compile.check import check_partials
    from gradscope.compile.codegen import lambdify_cell

    compiled = lambdify_cell(cell)
    if checked:
        check_partials(compiled)  # trusted only once its derivatives match its own update's differences
    return compiled
