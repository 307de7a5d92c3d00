"""Commands about the cells themselves: ``derive`` and ``cells``."""

import sys
from typing import Annotated, Literal

import typer

from gradscope import terminal
from gradscope.cells.spec import ALL_CELL_NAMES, resolve_name
from gradscope.cli.app import app, make_console
from gradscope.cli.options import CellName
from gradscope.compile import compile_cell

DeriveFormat = Literal["pretty", "latex", "markdown"]


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope derive --cell lstm\n"
        "  gradscope derive --cell gru --format latex > gru.tex\n"
        "  gradscope derive --cell rnn --format markdown\n"
        "  gradscope derive --cell jordan"
    )
)
def derive(
    cell: CellName,
    format: Annotated[
        DeriveFormat,
        typer.Option(
            "--format",
            "-f",
            help="pretty: SymPy's 2-D text; latex: aligned environments; markdown: lists with $...$ LaTeX.",
        ),
    ] = "pretty",
) -> None:
    """The cell's equations and its SymPy-derived per-step Jacobian, block by block."""
    from gradscope.symbolic import display
    from gradscope.symbolic.derivation import derive as derive_cell

    derivation = derive_cell(resolve_name(cell))
    if format == "latex":
        sys.stdout.write(display.derivation_latex(derivation))
    elif format == "markdown":
        sys.stdout.write(display.derivation_markdown(derivation))
    else:
        console = make_console()
        unicode = (console.encoding or "").lower().startswith("utf")
        console.print(terminal.derivation_pretty(derivation, unicode=unicode), crop=False)


@app.command(epilog="Example:\n  gradscope cells")
def cells() -> None:
    """The available cells, one line each: name, state s, gates (PyTorch chunk order) and description."""
    make_console().print(terminal.cells_table([compile_cell(name).spec for name in ALL_CELL_NAMES]))
