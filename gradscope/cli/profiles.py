"""Commands about one profile or a few: ``analyze`` and ``compare``."""

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from gradscope import terminal
from gradscope.analysis import comparison, profile
from gradscope.analysis.comparison import CellProgress
from gradscope.analysis.ensemble import analyze_ensemble
from gradscope.analysis.problem import make_problem
from gradscope.cells.spec import CELL_NAMES
from gradscope.cli.app import app
from gradscope.cli.options import (
    CELL_PANEL,
    FILE_PANEL,
    CellConstants,
    CellName,
    JsonPath,
    Language,
    PlotPath,
    Quiet,
    optional,
    parse_constants,
)
from gradscope.cli.output import Output, ProgressCallback, progress_reporter
from gradscope.cli.plots import analysis_plot, compare_plot, ensemble_plot
from gradscope.cli.problem_options import DRAW, FILES, MODEL, PRECISION, SIZES, problem_options
from gradscope.cli.problems import (
    ProblemArguments,
    cell_spec,
    file_options,
    file_problem,
    parse_cells,
)
from gradscope.errors import ConfigError
from gradscope.i18n import _

# compare's --c0 serves whichever of the compared cells has a c state.
CompareC0 = Annotated[
    Path | None,
    optional(
        "--c0",
        metavar="FILE.npy",
        help="Initial cell state (H,) for the cells that have one (LSTM); default zeros.",
        panel=FILE_PANEL,
    ),
]


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope analyze --cell lstm\n"
        "  gradscope analyze --cell rnn --init orthogonal --gain 1.2 --steps 1000\n"
        "  gradscope analyze --cell lstm --forget-bias 2\n"
        "  gradscope analyze --cell gru --update-bias chrono --t-max 400 --steps 400\n"
        "  gradscope analyze --cell rnn-relu --init identity\n"
        "  gradscope analyze --cell lstm --num-layers 2 --bidirectional\n"
        "  gradscope analyze --cell gru --weights gru.npz --inputs x.npy --json out.json\n"
        "  gradscope analyze --cell lstm --json - | jq .verdict\n"
        "  gradscope analyze --cell rnn --plot rnn.png\n"
        "  gradscope analyze --cell lstm --samples 32 --plot lstm-band.svg\n"
        "  gradscope analyze --cell jordan --hidden-size 32 --output-size 8\n"
        "  gradscope analyze --cell indrnn --steps 1000\n"
        "  gradscope analyze --cell my_cell.toml --set alpha=0.5"
    )
)
@problem_options("hidden_size", "input_size", "output_size", "steps", *DRAW, *MODEL, *PRECISION, *FILES, "samples")
def analyze(
    *,
    cell: CellName,
    constants: CellConstants = None,
    options: ProblemArguments,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
    lang: Language = None,
) -> None:
    """How ||d s_T / d s_{T-k}|| changes with the lag k: table, chart and verdict for one cell.

    With --samples N: the median and 10-90 % band over N random draws of weights and inputs.
    """
    spec = cell_spec(cell)
    options.check_samples()
    options.check_fits([spec], "analyze")
    output = Output.create(json_path, quiet, plot)
    if options.prefix is not None and options.weights is None:
        raise ConfigError("--prefix selects a module inside --weights; give --weights too")
    if options.output_size is not None and options.samples is not None:
        raise ConfigError("--output-size: not available with --samples (ensembles draw O = H)")
    if options.samples is not None:
        problem = make_problem(
            spec.name, hidden_size=options.hidden_size, input_size=options.input_size, **options.settings()
        )
        with progress_reporter(output.shows_progress, f"{spec.name}: {_('random draws')}", unit=_("draws")) as progress:
            ensemble = analyze_ensemble(problem, samples=options.samples, label=spec.display_name, progress=progress)
        output.finish(
            ensemble.to_dict(),
            full=lambda: terminal.ensemble_report([ensemble]),
            brief=lambda: terminal.ensemble_summary_line(ensemble),
            figure=lambda: ensemble_plot(ensemble),
        )
        return
    files = options.load_files(spec)
    problem = file_problem(spec, files, options)
    with progress_reporter(output.shows_progress, f"{spec.name}: {_('Jacobian products')}", unit=_("lags")) as progress:
        result = profile.analyze(problem, progress=progress)
    output.finish(
        result.to_dict(),
        full=lambda: terminal.analysis_report(result, files.sources),
        brief=lambda: terminal.summary_line(result),
        figure=lambda: analysis_plot(result),
    )


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope compare\n"
        "  gradscope compare --cells rnn,lstm,gru --steps 500 --seed 3\n"
        "  gradscope compare --cells rnn,gru --init orthogonal --json cmp.json\n"
        "  gradscope compare --cells rnn,lstm,gru --plot cells.png\n"
        "  gradscope compare --cells rnn,lstm,gru --samples 32 --plot bands.pdf\n"
        "  gradscope compare --cells lstm,indrnn,cornn,my_cell.toml"
    )
)
@problem_options(*SIZES, *DRAW, *MODEL, *PRECISION, "inputs", "h0", "c0", "samples", c0=CompareC0)
def compare(
    *,
    cells: Annotated[
        str,
        typer.Option(
            "--cells",
            help="Comma-separated cells to compare, names or cell files PATH.toml (each analysed as "
            "'gradscope analyze' would, same seed and sizes).",
            rich_help_panel=CELL_PANEL,
        ),
    ] = ",".join(CELL_NAMES),
    constants: CellConstants = None,
    options: ProblemArguments,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
    lang: Language = None,
) -> None:
    """The cells side by side at the same lags, sizes and seed, with a verdict for each.

    With --samples N: each cell's median and 10-90 % band over N random draws (the same seeds for every cell).
    """
    specs = parse_cells(cells, constants=parse_constants(constants))
    options.check_samples()
    options.check_fits(specs, "compare")
    output = Output.create(json_path, quiet, plot)
    if options.samples is not None:
        with progress_reporter(output.shows_progress, _("random draws"), unit=_("draws")) as progress:
            ensembles = comparison.compare(
                [spec.name for spec in specs],
                samples=options.samples,
                hidden_size=options.hidden_size,
                input_size=options.input_size,
                progress=_described(progress, _("random draws")),
                **options.settings(),
            )
        output.finish(
            ensembles.to_dict(),
            full=lambda: terminal.ensemble_report(list(ensembles.ensembles), command="compare"),
            brief=lambda: Text("\n").join(terminal.ensemble_summary_line(e) for e in ensembles.ensembles),
            figure=lambda: ensemble_plot(ensembles),
        )
        return
    anchor = next((spec for spec in specs if "c" in spec.state), specs[0])  # --c0 needs a cell with a c state
    files = options.load_files(anchor)
    with progress_reporter(output.shows_progress, _("Jacobian products"), unit=_("lags")) as progress:
        results = comparison.compare(
            [spec.name for spec in specs],
            progress=_described(progress, _("Jacobian products")),
            **file_options(files),
            **options.settings(),
        )
    output.finish(
        results.to_dict(),
        full=lambda: terminal.comparison_report(list(results.analyses)),
        brief=lambda: Text("\n").join(terminal.summary_line(r) for r in results.analyses),
        figure=lambda: compare_plot(results),
    )


def _described(progress: ProgressCallback | None, what: str) -> CellProgress | None:
    """``compare``'s ``progress(cell, done, total)`` drawn on the bar as ``"<cell>: <what>"``."""
    if progress is None:
        return None
    return lambda cell, done, total: progress(done, total, f"{cell}: {what}")
