"""Commands about the cells themselves: ``derive`` and ``cells``."""

import sys
from typing import Annotated, Literal

import typer

from gradscope import terminal
from gradscope.cells.spec import ALL_CELL_NAMES, resolve_name
from gradscope.cli.app import EXIT_CHECK_FAILED, app, make_console
from gradscope.cli.options import CellName, Language
from gradscope.compile import compile_cell

DeriveFormat = Literal["pretty", "text", "latex", "markdown"]


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope derive --cell lstm\n"
        "  gradscope derive --cell gru --format latex > gru.tex\n"
        "  gradscope derive --cell rnn --format markdown\n"
        "  gradscope derive --cell gru --format text\n"
        '  gradscope derive --cell lstm --check "dc_t/dc_{t-1} = diag(f_t)"\n'
        '  gradscope derive --cell rnn --check "dh/dh = (1 - h_t**2) * W_hh"\n'
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
            help=(
                "pretty: SymPy's 2-D text, then each block on one line; text: one formula per line, in the "
                "language --check reads; latex: aligned environments; markdown: lists with $...$ LaTeX."
            ),
        ),
    ] = "pretty",
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            metavar="BLOCK = FORMULA",
            help=(
                "Instead of printing the derivation, check a hand-derived block against it, e.g. "
                "'dc_t/dc_{t-1} = diag(f_t)' (any line derive prints for a block is accepted as it is; see "
                "check_formula for the language). Repeat for several blocks. Exit status 0 when every formula "
                "is correct, 1 when one is wrong (with a counter-example), 2 when one cannot be read."
            ),
            show_default=False,
        ),
    ] = None,
    lang: Language = None,
) -> None:
    """The cell's equations and its SymPy-derived per-step Jacobian, block by block; or check a hand-derived block."""
    from gradscope.symbolic import display
    from gradscope.symbolic.derivation import derive as derive_cell

    name = resolve_name(cell)
    if check:
        from gradscope.testing.formula_check import check_equation

        results = [check_equation(name, equation) for equation in check]  # all read before any is printed
        console = make_console()
        for result in results:
            console.print(terminal.formula_check_text(result), soft_wrap=True)
        if not all(results):
            raise typer.Exit(EXIT_CHECK_FAILED)
        return
    derivation = derive_cell(name)
    if format == "text":
        sys.stdout.write(display.derivation_text(derivation))
    elif format == "latex":
        sys.stdout.write(display.derivation_latex(derivation))
    elif format == "markdown":
        sys.stdout.write(display.derivation_markdown(derivation))
    else:
        console = make_console()
        unicode = (console.encoding or "").lower().startswith("utf")
        console.print(terminal.derivation_pretty(derivation, unicode=unicode), crop=False)


@app.command(epilog="Examples:\n  gradscope cells\n  gradscope cells --lang zh")
def cells(lang: Language = None) -> None:
    """The available cells, one line each: name, state s, gates (PyTorch chunk order) and description."""
    make_console().print(terminal.cells_table([compile_cell(name).spec for name in ALL_CELL_NAMES]))
