"""Commands about the cells themselves: ``derive`` and ``cells``."""

import sys
from typing import Annotated, Literal

import typer
from rich.text import Text

from gradscope import terminal
from gradscope.cells.spec import ALL_CELL_NAMES, ZOO_CELL_NAMES, ZOO_FOLDER, resolve_name
from gradscope.cli.app import EXIT_CHECK_FAILED, app, make_console
from gradscope.cli.options import CellConstants, CellName, Language, cell_key, parse_constants
from gradscope.compile import compile_cell
from gradscope.errors import ConfigError

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
        '  gradscope derive --cell lstm --block dh/dc --check "diag(o_t*(1 - tanh(c_t)**2)*f_t)"\n'
        "  gradscope derive --cell jordan"
    )
)
def derive(
    cell: CellName,
    constants: CellConstants = None,
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
    block: Annotated[
        str | None,
        typer.Option(
            "--block",
            metavar="dROW/dCOL",
            help="With --check: the block every --check FORMULA is for, e.g. --block dh/dc (then a formula needs no "
            "'BLOCK =' in front).",
            show_default=False,
        ),
    ] = None,
    lang: Language = None,
) -> None:
    """The cell's equations and its SymPy-derived per-step Jacobian, block by block; or check a hand-derived block."""
    from gradscope.symbolic import display
    from gradscope.symbolic.derivation import derive as derive_cell

    name = resolve_name(cell)
    if block is not None and not check:
        raise ConfigError("--block names the block of a --check FORMULA; give --check too")
    if check:
        from gradscope.testing.formula_check import check_equation, check_formula

        if block is not None:  # all read before any is printed
            results = [check_formula(name, block, formula) for formula in check]
        else:
            results = [check_equation(name, equation) for equation in check]
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


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope cells\n"
        "  gradscope cells --file leaky.toml\n"
        "  gradscope cells --file leaky.toml --set alpha=0.5 --check\n"
        "  gradscope cells --file cornn --check\n"
        "  gradscope cells --lang zh"
    )
)
def cells(
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            metavar="PATH",
            help="Show what a cell file (PATH.toml, or a zoo cell's name) defines, as read and checked.",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="With --file: the full report of the check every loaded cell passes (each derived partial "
            "against central differences of the cell's own update at random points).",
        ),
    ] = False,
    constants: CellConstants = None,
    lang: Language = None,
) -> None:
    """The available cells (built-in and zoo), one line each: name, state s, gates (PyTorch order), description.

    With --file: what a cell file defines, as read and checked (and with --check, the check's full report).
    """
    console = make_console()
    if file is None:
        if check or constants:
            raise ConfigError("--check and --set need --file PATH (the cell file to read)")
        from gradscope.cells.file import read_cell_file  # the zoo's specs without deriving them (no SymPy)

        shipped = [compile_cell(name).spec for name in ALL_CELL_NAMES]
        zoo = [read_cell_file(ZOO_FOLDER / f"{name}.toml").spec for name in ZOO_CELL_NAMES]
        console.print(terminal.cells_table(shipped + zoo))
        return
    from gradscope.cells.file import read_cell_file
    from gradscope.cells.file_names import looks_like_file
    from gradscope.compile.check import check_partials

    given = parse_constants(constants)
    name = cell_key(file, given)
    path = file if looks_like_file(file) else str(ZOO_FOLDER / f"{name}.toml")
    read = read_cell_file(path, given)
    compiled = compile_cell(name)  # derived and checked: a cell that fails is an error here
    console.print(terminal.cell_file_report(read), soft_wrap=True)
    if check:
        console.print(Text(""))
        console.print(terminal.partials_table(check_partials(compiled)))
