"""Commands about one profile: the root options, ``analyze``, ``compare``, ``derive`` and ``cells``."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

import gradscope
from gradscope import terminal as report
from gradscope._version import __version__
from gradscope.cells.spec import ALL_CELL_NAMES, CELL_NAMES, resolve_name
from gradscope.compile.compiled import compile_cell
from gradscope.errors import ConfigError
from gradscope.files import io as io

if TYPE_CHECKING:
    from collections.abc import Mapping

    from matplotlib.figure import Figure
from gradscope.cli.base import (
    _CELL_PANEL,
    _FILE_PANEL,
    C0,
    DEBUG_ENV,
    EXIT_OK,
    H0,
    Y0,
    CellName,
    DeriveFormat,
    Dtype,
    Gain,
    HiddenSize,
    Init,
    Inputs,
    InputSize,
    JsonPath,
    Norm,
    Output,
    OutputSize,
    PlotPath,
    Prefix,
    Quiet,
    RunSettings,
    Samples,
    Seed,
    Steps,
    Weights,
    app,
    cell_spec,
    check_samples,
    compare_plot,
    ensemble_plot,
    file_kwargs,
    make_console,
    parse_cells,
    profile_plot,
    progress_reporter,
    run_ensemble,
)

# ---------------------------------------------------------------------------------------------
# Commands


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"gradscope {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit.", show_default=False
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar=DEBUG_ENV, help="Show the traceback of internal errors.", show_default=False),
    ] = False,
) -> None:
    """See, with exact math, how gradients vanish or explode through time in RNN, LSTM and GRU cells.

    ``debug`` is read by :class:`GradscopeGroup` from the context; options given here apply to every command.
    """


def analysis_plot(result: gradscope.Analysis, params: "Mapping[str, object] | None" = None) -> "Figure":
    """``analyze --plot``: the profile figure, and for stacked or bidirectional weights the profile of
    the top layer's recurrence above the layer-by-time heatmaps of the gradient of the last output."""
    if not result.depth_profiles:
        return profile_plot(result, params)
    from gradscope.figures import all as figures
    from gradscope.studies import experiments as experiments

    return figures.profile_depth_figure(experiments.profile_view(result, params=params))


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope analyze --cell lstm\n"
        "  gradscope analyze --cell rnn --init orthogonal --gain 1.2 --steps 1000\n"
        "  gradscope analyze --cell gru --weights gru.npz --inputs x.npy --json out.json\n"
        "  gradscope analyze --cell lstm --json - | jq .verdict\n"
        "  gradscope analyze --cell rnn --plot rnn.png\n"
        "  gradscope analyze --cell lstm --samples 32 --plot lstm-band.svg\n"
        "  gradscope analyze --cell jordan --hidden-size 32 --output-size 8"
    )
)
def analyze(
    cell: CellName,
    hidden_size: HiddenSize = None,
    input_size: InputSize = None,
    output_size: OutputSize = None,
    steps: Steps = None,
    seed: Seed = 0,
    init: Init = "pytorch",
    gain: Gain = 1.0,
    norm: Norm = "spectral",
    dtype: Dtype = "float64",
    weights: Weights = None,
    prefix: Prefix = None,
    inputs: Inputs = None,
    h0: H0 = None,
    c0: C0 = None,
    y0: Y0 = None,
    samples: Samples = None,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
) -> None:
    """How ||d s_T / d s_{T-k}|| changes with the lag k: table, chart and verdict for one cell.

    With --samples N: the median and 10-90 % band over N random draws of weights and inputs.
    """
    spec = cell_spec(cell)
    check_samples(samples, weights=weights, inputs=inputs, h0=h0, c0=c0, y0=y0)
    output = Output.create(json_path, quiet, plot)
    if prefix is not None and weights is None:
        raise ConfigError("--prefix selects a module inside --weights; give --weights too")
    settings = RunSettings(steps, seed, init, gain, norm, dtype)
    if output_size is not None and samples is not None:
        raise ConfigError("--output-size: not available with --samples (ensembles draw O = H)")
    if samples is not None:
        ensemble = run_ensemble(spec, samples, hidden_size, input_size, settings, output)
        output.finish(
            ensemble.to_dict(),
            full=lambda: report.ensemble_report([ensemble]),
            brief=lambda: report.ensemble_summary_line(ensemble),
            figure=lambda: ensemble_plot([ensemble]),
        )
        return
    files = io.load_problem_files(
        spec,
        weights=weights,
        inputs=inputs,
        h0=h0,
        c0=c0,
        hidden_size=hidden_size,
        input_size=input_size,
        prefix=prefix,
        y0=y0,
        output_size=output_size,
    )
    with progress_reporter(output.shows_progress, f"{spec.name}: Jacobian products") as progress:
        result = gradscope.analyze(
            spec.name,
            **file_kwargs(files, spec),
            **settings.engine_kwargs(),
            progress=progress,
        )
    output.finish(
        result.to_dict(),
        full=lambda: report.analysis_report(result, compile_cell(spec.name), files.sources),
        brief=lambda: report.summary_line(result),
        figure=lambda: analysis_plot(result, files.params),
    )


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope compare\n"
        "  gradscope compare --cells rnn,lstm,gru --steps 500 --seed 3\n"
        "  gradscope compare --cells rnn,gru --init orthogonal --json cmp.json\n"
        "  gradscope compare --cells rnn,lstm,gru --plot cells.png\n"
        "  gradscope compare --cells rnn,lstm,gru --samples 32 --plot bands.pdf"
    )
)
def compare(
    cells: Annotated[
        str,
        typer.Option(
            "--cells",
            help="Comma-separated cells to compare (each analysed as 'gradscope analyze' would, same seed and sizes).",
            rich_help_panel=_CELL_PANEL,
        ),
    ] = ",".join(CELL_NAMES),
    hidden_size: HiddenSize = None,
    input_size: InputSize = None,
    steps: Steps = None,
    seed: Seed = 0,
    init: Init = "pytorch",
    gain: Gain = 1.0,
    norm: Norm = "spectral",
    dtype: Dtype = "float64",
    inputs: Inputs = None,
    h0: H0 = None,
    c0: Annotated[
        Path | None,
        typer.Option(
            "--c0",
            metavar="FILE.npy",
            help="Initial cell state (H,) for the cells that have one (LSTM); default zeros.",
            show_default=False,
            rich_help_panel=_FILE_PANEL,
        ),
    ] = None,
    samples: Samples = None,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
) -> None:
    """The cells side by side at the same lags, sizes and seed, with a verdict for each.

    With --samples N: each cell's median and 10-90 % band over N random draws (the same seeds for every cell).
    """
    specs = parse_cells(cells)
    check_samples(samples, inputs=inputs, h0=h0, c0=c0)
    output = Output.create(json_path, quiet, plot)
    settings = RunSettings(steps, seed, init, gain, norm, dtype)
    if samples is not None:
        ensembles = [run_ensemble(spec, samples, hidden_size, input_size, settings, output) for spec in specs]
        output.finish(
            io.ensemble_comparison_document(ensembles),
            full=lambda: report.ensemble_report(ensembles, command="compare"),
            brief=lambda: Text("\n").join(report.ensemble_summary_line(e) for e in ensembles),
            figure=lambda: ensemble_plot(ensembles),
        )
        return
    anchor = next((spec for spec in specs if "c" in spec.state), specs[0])  # --c0 needs a cell with a c state
    files = io.load_problem_files(anchor, inputs=inputs, h0=h0, c0=c0, hidden_size=hidden_size, input_size=input_size)
    results = []
    for spec in specs:
        with progress_reporter(output.shows_progress, f"{spec.name}: Jacobian products") as progress:
            kwargs = file_kwargs(files, spec, strict_c0=False)
            results.append(gradscope.analyze(spec.name, **kwargs, **settings.engine_kwargs(), progress=progress))
    output.finish(
        io.comparison_document(results),
        full=lambda: report.comparison_report(results),
        brief=lambda: Text("\n").join(report.summary_line(r) for r in results),
        figure=lambda: compare_plot(results),
    )


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
    derivation = gradscope.derive(resolve_name(cell))
    if format == "latex":
        sys.stdout.write(report.derivation_latex(derivation))
    elif format == "markdown":
        sys.stdout.write(report.derivation_markdown(derivation))
    else:
        console = make_console()
        unicode = (console.encoding or "").lower().startswith("utf")
        console.print(report.derivation_pretty(derivation, unicode=unicode), crop=False)


@app.command(epilog="Example:\n  gradscope cells")
def cells() -> None:
    """The available cells, one line each: name, state s, gates (PyTorch chunk order) and description."""
    make_console().print(report.cells_table([compile_cell(name).spec for name in ALL_CELL_NAMES]))
