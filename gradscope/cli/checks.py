"""Commands that produce artefacts or checks: ``report`` (the figure gallery) and ``verify`` (gradscope itself,
or with ``--target`` the user's own backward function)."""

from typing import Annotated

import typer
from rich.text import Text

from gradscope import terminal
from gradscope.cells.spec import ALL_CELL_NAMES
from gradscope.cli.app import EXIT_CHECK_FAILED, app, make_console, print_error
from gradscope.cli.options import (
    CELL_PANEL,
    DRAW_PANEL,
    OUTPUT_PANEL,
    REPORT_QUICK_ENV,
    CellConstants,
    JsonPath,
    Language,
    Quiet,
    complete_cell,
    parse_constants,
)
from gradscope.cli.output import Output, figure_warnings, progress_reporter
from gradscope.cli.problems import parse_cells
from gradscope.errors import ConfigError
from gradscope.files import check_output_dir
from gradscope.i18n import chosen_language, set_language
from gradscope.testing.targets import DEFAULT_NAMES


@app.command(
    name="report",
    epilog="Examples:\n  gradscope report\n  gradscope report --out /tmp/gallery --quiet",
)
def report_gallery(
    out: Annotated[
        str,  # a string, not a Path: typer turns "" into Path("."), the current folder; "" is refused
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="The folder to write into (created if needed); files already there that the gallery does not "
            "write are left alone.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = "reports",
    quiet: Quiet = False,
    lang: Language = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", envvar=REPORT_QUICK_ENV, hidden=True, help="Tiny sizes (gallery.QUICK), for tests."),
    ] = False,
) -> None:
    """Regenerate the figure gallery: every figure as PNG and SVG, with a README.md of captions and commands.

    The gallery is drawn in English whatever the locale (it is the project's documentation, identical on every
    machine); --lang zh draws its figures in Chinese.

    The README also tabulates the key numbers (rates, verdicts). Deterministic: running it twice gives
    identical files. Takes a minute or two.
    """
    from gradscope import gallery

    out_dir = check_output_dir(out)
    if chosen_language() is None:  # the gallery is the project's documentation: English, whatever the locale
        set_language("en")
    output = Output.create(None, quiet)
    sizes = gallery.QUICK if quick else gallery.GallerySizes()
    if quick and not quiet:
        make_console(stderr=True).print(Text("using the tiny test sizes (gallery.QUICK)", style="dim"), soft_wrap=True)
    with progress_reporter(output.shows_progress, "gallery", unit="figures") as progress:

        def step(done: int, total: int, description: str) -> None:
            if progress is not None:
                progress(done, total, f"gallery: {description}" if description else "gallery")

        with figure_warnings():
            artifacts = gallery.build_gallery(sizes, progress=step)
    paths = gallery.write_artifacts(artifacts, out_dir)
    console = make_console()
    if quiet:
        console.print(terminal.gallery_summary_line(paths, out_dir), soft_wrap=True)
    else:
        console.print(terminal.gallery_summary(paths, out_dir), soft_wrap=True)  # paths stay whole


#: The help panel of the options that describe the user's backward function.
TARGET_PANEL = "Your backward function (--target runs your own code, as pytest does)"


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope verify\n"
        "  gradscope verify --cell lstm --hidden-size 4 --steps 8\n"
        "  gradscope verify --no-torch --json - | jq .passed\n"
        "  gradscope verify --target my_rnn:backward --cell rnn --params Wxh,Whh,bh,Why,by --layout column "
        "--input-kind indices\n"
        "  gradscope verify --target lstm.py:backward --cell lstm --params W,b,Wy,by --gates ifog --loss mse "
        "--reduce mean"
    )
)
def verify(
    cell: Annotated[
        str,
        typer.Option(
            "--cell",
            "-c",
            help=f"'all' (every built-in cell), or one or more of {', '.join(ALL_CELL_NAMES)}, the zoo's cells or "
            "cell files PATH.toml, separated by commas.",
            autocompletion=complete_cell,
            rich_help_panel=CELL_PANEL,
        ),
    ] = "all",
    constants: CellConstants = None,
    hidden_size: Annotated[
        int,
        typer.Option(
            "--hidden-size",
            "-H",
            help="Hidden size H of the random test problem (keep it small: finite differences cost O(T (GH(H+I))^2)).",
            rich_help_panel=CELL_PANEL,
        ),
    ] = 3,
    input_size: Annotated[
        int,
        typer.Option("--input-size", "-I", help="Input size of the random test problem.", rich_help_panel=CELL_PANEL),
    ] = 2,
    steps: Annotated[
        int,
        typer.Option("--steps", "-T", help="Sequence length T of the random test problem.", rich_help_panel=CELL_PANEL),
    ] = 5,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Seeds the random parameters, inputs, initial state and upstream gradient dL/dh_t.",
            rich_help_panel=DRAW_PANEL,
        ),
    ] = 0,
    no_torch: Annotated[
        bool,
        typer.Option(
            "--no-torch",
            help="Skip the PyTorch autograd checks (finite differences only); by default they run when torch is "
            "installed.",
            show_default=False,
        ),
    ] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="MODULE:FUNCTION",
            help="Check your own backward instead of gradscope: MODULE:FUNCTION or path/to/file.py:FUNCTION, called "
            "as FUNCTION(params, inputs, targets, h0[, c0]) and returning the gradients by name. This imports and "
            "runs your code, as pytest does; nothing is ever run from a data file.",
            rich_help_panel=TARGET_PANEL,
        ),
    ] = None,
    params: Annotated[
        str,
        typer.Option(
            "--params",
            metavar="NAMES",
            help="Your parameters' names, comma-separated: tutorial names (Wxh,Whh,bh,Why,by), PyTorch's, or "
            "per-gate ones (Wxf,Whf,bf,...); Why/by (or weight_out/bias_out) add an output layer.",
            rich_help_panel=TARGET_PANEL,
        ),
    ] = ",".join(DEFAULT_NAMES),
    layout: Annotated[
        str,
        typer.Option(
            help="column (W @ x, vectors (n, 1)), flat or auto (W @ x, vectors (n,)), or row (x @ W).",
            rich_help_panel=TARGET_PANEL,
        ),
    ] = "auto",
    gates: Annotated[
        str | None,
        typer.Option(help="Your gates' row order, e.g. ifog (default: PyTorch's).", rich_help_panel=TARGET_PANEL),
    ] = None,
    concat: Annotated[
        str,
        typer.Option(
            help="What a weight W on the concatenation multiplies: hx ([h; x]) or xh.", rich_help_panel=TARGET_PANEL
        ),
    ] = "hx",
    loss: Annotated[
        str,
        typer.Option(
            help="The loss your backward differentiates: softmax_ce, mse, sse or half_sse.",
            rich_help_panel=TARGET_PANEL,
        ),
    ] = "softmax_ce",
    reduce: Annotated[
        str, typer.Option(help="sum (every step), mean, or last (many-to-one).", rich_help_panel=TARGET_PANEL)
    ] = "sum",
    output_size: Annotated[
        int | None,
        typer.Option(
            "--output-size",
            "-O",
            help="Outputs O of the output layer (default: the input size).",
            rich_help_panel=TARGET_PANEL,
        ),
    ] = None,
    input_kind: Annotated[
        str,
        typer.Option(
            help="vectors (rows of floats) or indices (class indices, one-hot inside: character models).",
            rich_help_panel=TARGET_PANEL,
        ),
    ] = "vectors",
    json_path: JsonPath = None,
    quiet: Quiet = False,
    lang: Language = None,
) -> None:
    """gradscope checks itself, or with --target your backward: BPTT gradients against exact references.

    Without --target: every cell's state Jacobians and parameter, input and initial-state gradients on a small
    random problem, against central finite differences and, when it is installed, PyTorch autograd (float64).
    With --target: your function's gradients on a small random problem against gradscope's exact BPTT, with
    the time step where they first go wrong and the hints the evidence supports. Exit status 0 when everything
    matches, 1 on any mismatch.
    """
    if target is not None:
        _verify_target(target, cell, params, layout, gates, concat, loss, reduce, hidden_size, input_size,
                       output_size, steps, input_kind, seed, json_path, quiet)  # fmt: skip
        return
    from gradscope.testing import verification

    output = Output.create(json_path, quiet)
    which = (
        "all"
        if cell.strip().lower() == "all"
        else [spec.name for spec in parse_cells(cell, "--cell", parse_constants(constants))]
    )
    result = verification.verify(
        which,
        hidden_size=hidden_size,
        input_size=input_size,
        steps=steps,
        seed=seed,
        use_torch=False if no_torch else None,
    )
    output.finish(
        result.to_dict(),
        full=lambda: terminal.verification_report(result, torch_skipped=no_torch),
        brief=lambda: terminal.verification_summary(result),
    )
    if not result.passed:
        print_error(f"{len(result.failures)} of {len(result.rows)} checks exceed their tolerance", kind="verify failed")
        raise typer.Exit(EXIT_CHECK_FAILED)


def _verify_target(
    target: str,
    cell: str,
    params: str,
    layout: str,
    gates: str | None,
    concat: str,
    loss: str,
    reduce: str,
    hidden_size: int,
    input_size: int,
    output_size: int | None,
    steps: int,
    input_kind: str,
    seed: int,
    json_path: str | None,
    quiet: bool,
) -> None:
    """``verify --target``: import the user's function, check it on a random problem, report."""
    from gradscope.testing import targets

    if cell.strip().lower() == "all" or "," in cell:
        raise ConfigError("--target checks one cell: name your backward's with --cell (rnn, lstm, gru, ...)")
    spec = parse_cells(cell, "--cell")[0]
    names = [n.strip() for n in params.split(",") if n.strip()]
    output = Output.create(json_path, quiet)
    function = targets.load_backward(target)
    result = targets.check_target(
        function,
        spec.name,
        target=target,
        names=names,
        layout=layout,
        gates=gates,
        concat=concat,
        loss=loss,
        reduce=reduce,
        hidden_size=hidden_size,
        input_size=input_size,
        output_size=output_size,
        steps=steps,
        inputs=input_kind,
        seed=seed,
    )
    output.finish(
        result.to_dict(), full=lambda: terminal.target_report(result), brief=lambda: terminal.target_summary(result)
    )
    if not result.diagnosis.passed:
        print_error(f"{target}: {len(result.diagnosis.failed_keys)} gradient(s) differ", kind="verify failed")
        raise typer.Exit(EXIT_CHECK_FAILED)
