"""Research commands: ``sweep`` (local or Dask executors) and ``lyapunov`` (Lyapunov spectra)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from gradscope import terminal
from gradscope.cli.app import app
from gradscope.cli.options import (
    CELL_PANEL,
    DRAW_PANEL,
    OUTPUT_PANEL,
    CellConstants,
    CellName,
    JsonPath,
    Language,
    PlotPath,
    Quiet,
    optional,
)
from gradscope.cli.output import Output, progress_reporter
from gradscope.cli.plots import lyapunov_plot, sweep_plot
from gradscope.cli.problem_options import DRAW, GATE_BIASES, MODEL, PRECISION, SIZES, problem_options
from gradscope.cli.problems import ProblemArguments, cell_spec, file_options
from gradscope.errors import ConfigError
from gradscope.files import check_output_path

# sweep and lyapunov import their studies inside the commands: the executors reach for Dask when asked to.

_SWEEP_PANEL = "Sweep and executors"
# The sweep draws every network, so its sizes have plain defaults (no files to take them from).
SweepHiddenSize = Annotated[
    int | None,
    optional(
        "--hidden-size",
        "-H",
        help="Hidden size H (default 64).",
        panel=CELL_PANEL,
    ),
]
SweepInputSize = Annotated[
    int | None,
    optional(
        "--input-size",
        "-I",
        help="Input size (default 32).",
        panel=CELL_PANEL,
    ),
]
SweepSteps = Annotated[
    int | None,
    optional(
        "--steps",
        "-T",
        help="Sequence length T (default 200).",
        panel=CELL_PANEL,
    ),
]

SweepSeed = Annotated[
    int, typer.Option("--seed", help="Base seed the tasks' seeds are hashed from.", rich_help_panel=DRAW_PANEL)
]
LyapunovSteps = Annotated[
    int | None,
    optional(
        "--steps",
        "-T",
        help="Trajectory length T, transient included (default 1000; taken from --inputs when given).",
        panel=CELL_PANEL,
    ),
]


def parse_vary(texts: Sequence[str]) -> tuple[Any, ...]:
    """``--vary`` texts as sweep axes; a bad one fails with a message that quotes it."""
    from gradscope.studies.axes import parse_axes, parse_axis

    if not texts:
        raise ConfigError("give at least one --vary NAME=START:STOP:COUNT, e.g. --vary gain=0.5:2:7")
    for text in texts:
        try:
            parse_axis(text)
        except ConfigError as error:
            raise ConfigError(f"--vary {text!r}: {error}") from error
    try:
        return parse_axes(texts)
    except ConfigError as error:
        raise ConfigError(f"--vary: {error}") from error


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope sweep --cell rnn --init gaussian --vary gain=0.5:3:11 --samples 8 --plot phase.png\n"
        "  gradscope sweep --cell lstm --vary forget-bias=0,1,2,4,chrono --samples 16 --csv lstm.csv\n"
        "  gradscope sweep --cell gru --vary gain=0.5:2:4 --vary hidden-size=16,64 --json - | jq '.rows[0]'\n"
        "  gradscope sweep --cell rnn --vary gain=0.5:3:26 --samples 32 --scheduler tcp://10.0.0.5:8786\n"
        "  gradscope sweep --cell rnn --vary gain=0.5:3:26 --samples 32 --json phase.json --resume\n\n"
        "Exit status: 0 done, 2 bad input (or an unreachable scheduler), 3 some tasks failed (their rows hold "
        "the error), 130/143 interrupted by SIGINT/SIGTERM (finished tasks kept for --resume)."
    )
)
@problem_options(
    *SIZES,
    *DRAW,
    *MODEL,
    "input_scale",
    *PRECISION,
    hidden_size=SweepHiddenSize,
    input_size=SweepInputSize,
    steps=SweepSteps,
    seed=SweepSeed,
)
def sweep(
    *,
    cell: CellName,
    constants: CellConstants = None,
    vary: Annotated[
        list[str],
        optional(
            "--vary",
            metavar="NAME=START:STOP:COUNT",
            help="A swept option, repeatable: gain, forget-bias, hidden-size, steps, input-scale or init. "
            "START:STOP:COUNT (evenly spaced, both ends), START:STOP:COUNT:log (geometric) or V1,V2,... "
            "(a list: init=pytorch,gaussian or forget-bias=0,2,chrono). The grid is every combination.",
            panel=_SWEEP_PANEL,
        ),
    ],
    options: ProblemArguments,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            metavar="S",
            help="Independent random networks per grid point (each task's seed is a hash of its values and sample).",
            rich_help_panel=_SWEEP_PANEL,
        ),
    ] = 1,
    scheduler: Annotated[
        str | None,
        optional(
            "--scheduler",
            metavar="ADDRESS",
            help="Run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (needs gradscope\\[dask]); "
            "default: local processes.",
            panel=_SWEEP_PANEL,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        optional(
            "--workers",
            metavar="N",
            help="Local worker processes (default: all cores). The rows are identical for any N.",
            panel=_SWEEP_PANEL,
        ),
    ] = None,
    scheduler_timeout: Annotated[
        float,
        typer.Option(
            "--scheduler-timeout",
            metavar="SECONDS",
            help="With --scheduler: give up reaching the scheduler after SECONDS (exit 2, naming the address).",
            rich_help_panel=_SWEEP_PANEL,
        ),
    ] = 5.0,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted sweep from its checkpoint: only the unfinished tasks run, and the rows "
            "are those of an uninterrupted run. The checkpoint must be this sweep's (same options).",
            rich_help_panel=_SWEEP_PANEL,
        ),
    ] = False,
    checkpoint: Annotated[
        Path | None,
        optional(
            "--checkpoint",
            metavar="FILE",
            help="Keep the finished tasks in FILE as they finish (default: OUT.partial.jsonl beside the --json "
            "or --csv file; none without output files); removed once the outputs are written.",
            panel=_SWEEP_PANEL,
        ),
    ] = None,
    json_path: JsonPath = None,
    csv_path: Annotated[
        Path | None,
        optional(
            "--csv",
            metavar="PATH",
            help="Write the rows as CSV (the JSON's table) to PATH (atomically).",
            panel=OUTPUT_PANEL,
        ),
    ] = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
    lang: Language = None,
) -> None:
    """Rate per step and verdict over a grid of settings, several random networks per grid point.

    One row per (grid point, sample); the result is the same on any executor and worker count.
    For the tanh RNN the report and the figure also show the mean-field theory rate.

    A task that fails is a row with its error (column 'error'); the other tasks finish and the exit status is 3.
    Ctrl-C or SIGTERM stops the workers and keeps the finished tasks in the checkpoint (exit 130 or 143):
    rerun the same command with --resume to continue.
    """
    from gradscope.cli.sweep_run import checkpoint_path, finish_sweep, run_sweep_command
    from gradscope.studies.executors import make_executor
    from gradscope.studies.sweeps import SweepSpec

    base = cell_spec(cell)
    name = base.name
    options.check_fits([base], "this sweep")
    axes = parse_vary(vary)
    output = Output.create(json_path, quiet, plot)
    csv_file = check_output_path(csv_path) if csv_path is not None else None
    kept = checkpoint_path(checkpoint, resume, [output.json_path, csv_file], output.plot_path)
    spec = SweepSpec.create(
        name,
        axes,
        samples=samples,
        input_scale=options.input_scale,
        hidden_size=options.hidden_size,
        input_size=options.input_size,
        **options.settings(),
    )
    executor = make_executor(scheduler=scheduler, workers=workers, timeout=scheduler_timeout)
    with progress_reporter(output.shows_progress, f"{name}: sweep", unit="tasks") as progress:
        result, journal = run_sweep_command(spec, executor, kept, resume, progress)
    output.finish(
        result.to_dict(),
        full=lambda: terminal.sweep_report(result),
        brief=lambda: terminal.sweep_summary_line(result),
        figure=lambda: sweep_plot(result),
        extra=[("CSV", csv_file, result.to_csv())] if csv_file is not None else (),
    )
    finish_sweep(result, journal)


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope lyapunov --cell rnn --init gaussian --gain 2 --hidden-size 200 --exponents 20\n"
        "  gradscope lyapunov --cell lstm --exponents 16 --transient 200 --plot spectrum.png\n"
        "  gradscope lyapunov --cell gru --weights gru.npz --inputs x.npy --json -"
    )
)
@problem_options(*SIZES, *DRAW, *GATE_BIASES, "weights", "inputs", "h0", "c0", steps=LyapunovSteps)
def lyapunov(
    *,
    cell: CellName,
    constants: CellConstants = None,
    exponents: Annotated[
        int | None,
        optional(
            "--exponents",
            "-k",
            metavar="K",
            help="How many of the top exponents (default: all S, the state size: H, or 2H for the LSTM's \\[h; c]).",
            panel=CELL_PANEL,
        ),
    ] = None,
    transient: Annotated[
        int,
        typer.Option(
            "--transient",
            metavar="N",
            help="Steps run before the averages start (discarded); needs N < T.",
            rich_help_panel=CELL_PANEL,
        ),
    ] = 0,
    options: ProblemArguments,
    running: Annotated[
        bool,
        typer.Option(
            "--running/--no-running",
            help="With --plot: also draw the running estimates against the averaged steps.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = True,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
    lang: Language = None,
) -> None:
    """The top Lyapunov exponents of the driven cell (QR / Benettin method on the derived Jacobians).

    Natural log per step, descending, with batch-means standard errors and the drift between the two
    halves of the run. For the LSTM, the exponents of the full state \\[h; c].
    """
    from gradscope.analysis import lyapunov_spectrum

    spec = cell_spec(cell)
    options.check_fits([spec], "lyapunov")
    output = Output.create(json_path, quiet, plot)
    files = options.load_files(spec)
    with progress_reporter(output.shows_progress, f"{spec.name}: QR steps", unit="steps") as progress:
        result = lyapunov_spectrum.lyapunov(
            spec.name,
            **file_options(files),
            exponents=exponents,
            transient=transient,
            progress=progress,
            **options.settings(),
        )
    output.finish(
        result.to_dict(),
        full=lambda: terminal.lyapunov_report(result),
        brief=lambda: terminal.lyapunov_summary_line(result),
        figure=lambda: lyapunov_plot(result, running),
    )
