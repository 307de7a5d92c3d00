"""The ``gradscope`` command line: thin typer commands over :mod:`gradscope`'s Python API.

Layout, for whoever adds the next command or option:

* **Options** shared between commands are module-level ``Annotated`` aliases (``HiddenSize``,
  ``Seed``, ``JsonPath``, ...); a new command reuses them, a new shared option is one new alias.
* **Errors** are handled in exactly one place, :func:`error_boundary`, which the application's
  group class (:class:`GradscopeGroup`) wraps around every command: a
  :class:`~gradscope.errors.GradscopeError` (bad input, bad files) becomes one line on stderr and
  exit code 2, anything unexpected one line and exit code 1 (``--debug`` or ``GRADSCOPE_DEBUG=1``
  re-raises it with its traceback). Usage errors are typer's, also exit code 2. Commands just raise.
* **Output** goes through :class:`Output`: ``--json PATH`` (atomic write), ``--json -`` (only
  JSON on stdout), ``--plot PATH`` (a figure, atomic write), ``--quiet``, and the rich report built
  by :mod:`gradscope.report`. Every output path is checked before any work.
* **Imports**: this module, ``gradscope --help`` and ``gradscope analyze`` never import SymPy,
  matplotlib or torch; ``derive`` imports SymPy when it runs, ``--plot`` and ``report`` matplotlib
  (through :mod:`gradscope.figures`), ``verify`` torch when it is installed. Keep heavy imports
  inside the command that needs them.
"""

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import typer
from rich.console import Console, RenderableType
from rich.text import Text
from typer.core import TyperGroup

import gradscope
from gradscope import io, report
from gradscope._version import __version__
from gradscope.cellspec import CELL_NAMES, CellSpec, resolve_name
from gradscope.compiled import compile_cell
from gradscope.errors import ConfigError, GradscopeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gradscope.analysis import Analysis
    from gradscope.ensemble import Ensemble

#: Set to 1 to let unexpected errors propagate with their traceback (same as ``--debug``).
DEBUG_ENV = "GRADSCOPE_DEBUG"
#: Set to 1 to make ``gradscope report`` build the tiny test gallery (``gallery.QUICK``), for tests.
REPORT_QUICK_ENV = "GRADSCOPE_REPORT_QUICK"
#: Exit statuses. ``verify`` exits with ``EXIT_CHECK_FAILED`` when a check exceeds its tolerance.
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
EXIT_CHECK_FAILED = 1

# typer's own control flow (usage errors, --help, exits) and interruptions pass through untouched.
_PASSTHROUGH = (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError)


# ---------------------------------------------------------------------------------------------
# Consoles and errors


def make_console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that honours ``NO_COLOR`` strictly: no ANSI escapes at all."""
    no_color = os.environ.get("NO_COLOR", "") != ""
    return Console(stderr=stderr, highlight=False, color_system=None if no_color else "auto")


def print_error(message: str, kind: str = "error") -> None:
    """``gradscope: <kind>: <message>`` on stderr, on one line whatever the terminal width."""
    make_console(stderr=True).print(Text.assemble((f"gradscope: {kind}: ", "bold red"), message), soft_wrap=True)


@contextlib.contextmanager
def error_boundary(debug: bool = False) -> Iterator[None]:
    """Turn exceptions into clean exits: bad input -> exit 2, anything unexpected -> exit 1.

    A :class:`~gradscope.errors.GradscopeError` is the user's mistake and its message names the
    offending thing, so it is printed as it is. Any other exception is a bug in gradscope: one line
    with its type and message, and a hint to rerun with ``--debug``; with ``debug`` it propagates.
    """
    try:
        yield
    except _PASSTHROUGH:
        raise
    except GradscopeError as error:
        print_error(str(error))
        raise typer.Exit(EXIT_BAD_INPUT) from error
    except Exception as error:
        if debug:
            raise
        print_error(f"{type(error).__name__}: {error} (rerun with --debug for the traceback)", kind="internal error")
        raise typer.Exit(EXIT_INTERNAL) from error


def _debug_requested(params: dict[str, Any]) -> bool:
    return bool(params.get("debug")) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


class GradscopeGroup(TyperGroup):
    """The application's command group: every command runs inside :func:`error_boundary`."""

    def invoke(self, ctx: Any) -> Any:
        with error_boundary(debug=_debug_requested(ctx.params)):
            return super().invoke(ctx)


app = typer.Typer(
    name="gradscope",
    cls=GradscopeGroup,
    help=(
        "See, with exact math, how gradients vanish or explode through time in RNN, LSTM and GRU cells.\n\n"
        "SymPy derives each cell's per-step Jacobian J_t = d s_t / d s_{t-1}; NumPy multiplies the Jacobians "
        "through time and measures ||d s_T / d s_{T-k}|| at every lag k."
    ),
    epilog=(
        "Examples:\n"
        "  gradscope analyze --cell lstm\n"
        "  gradscope compare --cells rnn,lstm,gru --steps 500 --plot cells.png\n"
        "  gradscope derive --cell gru --format latex\n"
        "  gradscope verify\n"
        "  gradscope sweep --cell rnn --init gaussian --vary gain=0.5:3:11 --samples 8 --plot phase.png\n"
        "  gradscope lyapunov --cell lstm --exponents 16 --plot spectrum.png\n"
        "  gradscope report --out reports/\n"
        "  gradscope cells"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


# ---------------------------------------------------------------------------------------------
# Shared options (reuse these aliases in new commands)

_CELL_PANEL = "Cell and sizes"
_DRAW_PANEL = "Random parameters and inputs"
_FILE_PANEL = "Data files (loaded without ever running code from them)"
_OUTPUT_PANEL = "Output"

InitName = Literal["pytorch", "gaussian", "orthogonal"]
NormName = Literal["spectral", "frobenius"]
DtypeName = Literal["float64", "float32"]
DeriveFormat = Literal["pretty", "latex", "markdown"]


def _complete_cell(incomplete: str) -> list[str]:
    return [name for name in CELL_NAMES if name.startswith(incomplete)]


CellName = Annotated[
    str,
    typer.Option(
        "--cell",
        "-c",
        help=f"The recurrent cell: {', '.join(CELL_NAMES)} (see 'gradscope cells').",
        autocompletion=_complete_cell,
        rich_help_panel=_CELL_PANEL,
    ),
]
HiddenSize = Annotated[
    int | None,
    typer.Option(
        "--hidden-size",
        "-H",
        help="Hidden size H (default 64; taken from --weights, or from --h0, when given).",
        show_default=False,
        rich_help_panel=_CELL_PANEL,
    ),
]
InputSize = Annotated[
    int | None,
    typer.Option(
        "--input-size",
        "-I",
        help="Input size (default 32; taken from --weights, or from the width of --inputs, when given).",
        show_default=False,
        rich_help_panel=_CELL_PANEL,
    ),
]
Steps = Annotated[
    int | None,
    typer.Option(
        "--steps",
        "-T",
        help="Sequence length T, the largest lag (default 200; taken from --inputs when given).",
        show_default=False,
        rich_help_panel=_CELL_PANEL,
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        help=(
            "Seeds every random draw (parameters and inputs come from independent streams, so cells "
            "compared with one seed see the same inputs)."
        ),
        rich_help_panel=_DRAW_PANEL,
    ),
]
Init = Annotated[
    InitName,
    typer.Option(
        "--init",
        help=(
            "Random parameters: pytorch = U(-1/sqrt(H), 1/sqrt(H)) times the gain; gaussian = recurrent blocks "
            "N(0, gain^2/H); orthogonal = recurrent blocks gain times a random orthogonal matrix."
        ),
        rich_help_panel=_DRAW_PANEL,
    ),
]
Gain = Annotated[float, typer.Option("--gain", help="Scale of the random parameters.", rich_help_panel=_DRAW_PANEL)]
Norm = Annotated[
    NormName, typer.Option("--norm", help="Matrix norm of d s_T / d s_{T-k}.", rich_help_panel=_CELL_PANEL)
]
Dtype = Annotated[
    DtypeName,
    typer.Option(
        "--dtype", help="Precision of the products (float32: faster, about 1e-5 relative).", rich_help_panel=_CELL_PANEL
    ),
]
Weights = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        metavar="FILE",
        help=(
            "A checkpoint with PyTorch state_dict names (weight_ih_l0, weight_hh_l0, bias_ih_l0, ...): .npz as "
            "written by np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()}), .pt/.pth "
            "(torch.save(model.state_dict()); read with weights_only=True) or .safetensors. Sizes, num_layers and "
            "bidirectional come from the names and shapes."
        ),
        show_default=False,
        rich_help_panel=_FILE_PANEL,
    ),
]
Prefix = Annotated[
    str | None,
    typer.Option(
        "--prefix",
        metavar="PREFIX",
        help=(
            "Which recurrent module of a larger model's state_dict to analyse, e.g. 'encoder.rnn.'; by default the "
            "only module holding recurrent weights is used."
        ),
        show_default=False,
        rich_help_panel=_FILE_PANEL,
    ),
]
Inputs = Annotated[
    Path | None,
    typer.Option(
        "--inputs",
        metavar="FILE.npy",
        help="Input sequence, shape (T, input_size) (default: N(0, 1) draws).",
        show_default=False,
        rich_help_panel=_FILE_PANEL,
    ),
]
H0 = Annotated[
    Path | None,
    typer.Option(
        "--h0",
        metavar="FILE.npy",
        help="Initial hidden state, shape (H,) or PyTorch's (1, H) (default: zeros).",
        show_default=False,
        rich_help_panel=_FILE_PANEL,
    ),
]
C0 = Annotated[
    Path | None,
    typer.Option(
        "--c0",
        metavar="FILE.npy",
        help="Initial LSTM cell state, shape (H,) or (1, H) (default: zeros).",
        show_default=False,
        rich_help_panel=_FILE_PANEL,
    ),
]
JsonPath = Annotated[
    str | None,
    typer.Option(
        "--json",
        metavar="PATH",
        help="Write the result as JSON to PATH (atomically); '-' prints only the JSON on stdout.",
        show_default=False,
        rich_help_panel=_OUTPUT_PANEL,
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress bar, and one summary line instead of the report.",
        rich_help_panel=_OUTPUT_PANEL,
    ),
]
PlotPath = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        metavar="PATH",
        help="Also draw the figure and save it to PATH (atomically): .png, .svg or .pdf, chosen by the extension.",
        show_default=False,
        rich_help_panel=_OUTPUT_PANEL,
    ),
]
Samples = Annotated[
    int | None,
    typer.Option(
        "--samples",
        metavar="N",
        help=(
            "Analyse N independent random draws of weights and inputs (seeds SEED, SEED+1, ..., SEED+N-1) and report "
            "the pointwise median and 10-90 % band of the profile, the median rate and the verdict counts. "
            "Not with --weights, --inputs, --h0 or --c0."
        ),
        show_default=False,
        rich_help_panel=_DRAW_PANEL,
    ),
]


@dataclass(frozen=True)
class RunSettings:
    """The engine options every analysing command shares (everything but the cell and the files)."""

    steps: int | None = None
    seed: int = 0
    init: str = "pytorch"
    gain: float = 1.0
    norm: str = "spectral"
    dtype: str = "float64"

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`gradscope.analyze`."""
        return {
            "steps": self.steps,
            "seed": self.seed,
            "init": self.init,
            "gain": self.gain,
            "norm": self.norm,
            "dtype": self.dtype,
        }


def file_kwargs(files: io.ProblemFiles, spec: CellSpec, strict_c0: bool = True) -> dict[str, Any]:
    """The loaded files as keyword arguments of :func:`gradscope.analyze` for ``spec``'s cell.

    With ``strict_c0`` false (``compare``), ``c0`` is given only to cells that have a ``c`` state.
    """
    c0 = files.c0 if strict_c0 or "c" in spec.state else None
    return {
        "params": files.params,
        "inputs": files.inputs,
        "h0": files.h0,
        "c0": c0,
        "hidden_size": files.hidden_size,
        "input_size": files.input_size,
    }


# ---------------------------------------------------------------------------------------------
# Output


def check_plot_path(path: Path) -> tuple[Path, str]:
    """``(path, format)`` for ``--plot PATH``, checked before any work: the extension names the format
    (``.png``, ``.svg``, ``.pdf``) and the file must be creatable; else a one-line error naming the path."""
    from gradscope import figures

    fmt = figures.format_for_path(path)
    return io.check_output_path(path), fmt


@dataclass(frozen=True)
class Output:
    """Where a command's result goes: the terminal report, a JSON file, or JSON alone on stdout, and a figure.

    Build it with :meth:`create` before any work, so that a bad ``--json`` or ``--plot`` path fails at once.
    """

    json_path: Path | None = None
    json_stdout: bool = False
    quiet: bool = False
    plot_path: Path | None = None
    plot_format: str = "png"

    @classmethod
    def create(cls, json_target: str | None, quiet: bool, plot: Path | None = None) -> "Output":
        plot_path, plot_format = check_plot_path(plot) if plot is not None else (None, "png")
        if json_target == "-":
            return cls(json_stdout=True, quiet=True, plot_path=plot_path, plot_format=plot_format)
        path = io.check_output_path(json_target) if json_target is not None else None
        return cls(json_path=path, quiet=quiet, plot_path=plot_path, plot_format=plot_format)

    @property
    def shows_progress(self) -> bool:
        """A progress bar on stderr: not with ``--quiet`` or ``--json -``, and only on a terminal."""
        return not self.quiet and make_console(stderr=True).is_terminal

    def finish(
        self,
        document: dict[str, Any],
        full: Callable[[], RenderableType],
        brief: Callable[[], Any],
        figure: Callable[[], "Figure"] | None = None,
        extra: Sequence[tuple[str, Path, str]] = (),
    ) -> None:
        """Write ``document`` where ``--json`` asks and the figure where ``--plot`` asks, then print the
        report (``full``) or its summary (``brief``).

        Everything is rendered before anything is written, so a failure leaves no file behind.
        """
        image = None
        if self.plot_path is not None:
            if figure is None:
                raise RuntimeError("--plot was accepted by a command that draws no figure")
            from gradscope import figures

            image = figures.render(figure(), self.plot_format)
        text = io.to_json(document) if self.json_stdout or self.json_path is not None else None
        if self.json_path is not None and text is not None:
            io.write_text_atomic(self.json_path, text)
        if self.plot_path is not None and image is not None:
            io.write_bytes_atomic(self.plot_path, image)
        for _, path, content in extra:  # e.g. ("CSV", path, text): further files, checked before any work
            io.write_text_atomic(path, content)
        if self.json_stdout and text is not None:
            sys.stdout.write(text)
            return
        console = make_console()
        if self.quiet:
            console.print(brief(), soft_wrap=True)
            return
        console.print(full())
        notes = make_console(stderr=True)
        written = [("JSON", self.json_path), ("Figure", self.plot_path), *((k, p) for k, p, _ in extra)]
        for kind, path in written:
            if path is not None:
                notes.print(Text(f"{kind} written to {path}", style="dim"), soft_wrap=True)


class ProgressCallback(Protocol):
    """What :func:`progress_reporter` yields: ``progress(done, total)``, optionally with a new description."""

    def __call__(self, done: int, total: int, description: str | None = None) -> None: ...


@contextlib.contextmanager
def progress_reporter(
    enabled: bool, description: str, console: Console | None = None, unit: str = "lags"
) -> Iterator[ProgressCallback | None]:
    """A ``progress(done, total)`` callback drawing a transient rich progress bar, or None when disabled.

    ``unit`` names what is counted (``"lags"``, ``"draws"``, ``"figures"``); the callback's optional
    third argument replaces the description (what runs now).
    """
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit))
    with Progress(*columns, TimeElapsedColumn(), console=console or make_console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int, description: str | None = None) -> None:
            if description is None:
                bar.update(task, completed=done, total=total)
            else:
                bar.update(task, completed=done, total=total, description=description)

        yield update


def cell_spec(name: str) -> CellSpec:
    """The spec of a built-in cell, or :class:`~gradscope.errors.UnknownCellError` suggesting the closest name."""
    return compile_cell(resolve_name(name)).spec


def parse_cells(text: str, option: str = "--cells") -> list[CellSpec]:
    """``"rnn,lstm,gru"`` as cell specs, in order, without repeats."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"{option}: give at least one cell name, e.g. {option} rnn,lstm,gru")
    specs = [cell_spec(name) for name in names]
    return list({spec.name: spec for spec in specs}.values())


def check_samples(samples: int | None, **files: Path | None) -> None:
    """Reject ``--samples`` below 1, or together with data files: an ensemble redraws weights and inputs."""
    if samples is None:
        return
    if samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {samples}")
    given = [f"--{name.replace('_', '-')}" for name, path in files.items() if path is not None]
    if given:
        raise ConfigError(
            f"--samples draws new random weights and inputs for every sample, so it cannot be combined with "
            f"{', '.join(given)}; drop {'it' if len(given) == 1 else 'them'} or drop --samples"
        )


def run_ensemble(
    spec: CellSpec, samples: int, hidden_size: int | None, input_size: int | None, settings: RunSettings, output: Output
) -> "Ensemble":
    """:func:`gradscope.ensemble.analyze_ensemble` of one cell with a progress bar over the draws.

    Labelled with the cell's display name (``"tanh RNN"``, ``"LSTM"``), as the gallery's ensembles are.
    """
    from gradscope.ensemble import analyze_ensemble
    from gradscope.experiments import cell_title

    with progress_reporter(output.shows_progress, f"{spec.name}: random draws", unit="draws") as progress:
        return analyze_ensemble(
            spec.name,
            samples=samples,
            hidden_size=hidden_size,
            input_size=input_size,
            label=cell_title(spec.name),
            progress=progress,
            **settings.engine_kwargs(),
        )


# ---------------------------------------------------------------------------------------------
# Figures (matplotlib is imported here, only when a figure is asked for)


def profile_plot(result: "Analysis", params: Any = None) -> "Figure":
    """The profile figure: the measured profile, ``||.|| = 1``, the fitted rate and, for the tanh RNN,
    Pascanu's bound from ``params``' ``W_hh`` (re-drawn from the seed when the parameters were random)."""
    from gradscope import experiments, figures

    return figures.profile_figure(experiments.profile_view(result, params=params))


def compare_plot(results: Sequence["Analysis"]) -> "Figure":
    """The cells' profiles on one axes."""
    from gradscope import figures

    return figures.compare_figure(results)


def ensemble_plot(ensembles: Sequence["Ensemble"]) -> "Figure":
    """Median and 10-90 % band of each ensemble on one axes."""
    from gradscope import figures

    return figures.ensemble_figure(list(ensembles))


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


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope analyze --cell lstm\n"
        "  gradscope analyze --cell rnn --init orthogonal --gain 1.2 --steps 1000\n"
        "  gradscope analyze --cell gru --weights gru.npz --inputs x.npy --json out.json\n"
        "  gradscope analyze --cell lstm --json - | jq .verdict\n"
        "  gradscope analyze --cell rnn --plot rnn.png\n"
        "  gradscope analyze --cell lstm --samples 32 --plot lstm-band.svg"
    )
)
def analyze(
    cell: CellName,
    hidden_size: HiddenSize = None,
    input_size: InputSize = None,
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
    samples: Samples = None,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
) -> None:
    """How ||d s_T / d s_{T-k}|| changes with the lag k: table, chart and verdict for one cell.

    With --samples N: the median and 10-90 % band over N random draws of weights and inputs.
    """
    spec = cell_spec(cell)
    check_samples(samples, weights=weights, inputs=inputs, h0=h0, c0=c0)
    output = Output.create(json_path, quiet, plot)
    if prefix is not None and weights is None:
        raise ConfigError("--prefix selects a module inside --weights; give --weights too")
    settings = RunSettings(steps, seed, init, gain, norm, dtype)
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
    )
    with progress_reporter(output.shows_progress, f"{spec.name}: Jacobian products") as progress:
        result = gradscope.analyze(spec.name, **file_kwargs(files, spec), **settings.engine_kwargs(), progress=progress)
    output.finish(
        result.to_dict(),
        full=lambda: report.analysis_report(result, compile_cell(spec.name), files.sources),
        brief=lambda: report.summary_line(result),
        figure=lambda: profile_plot(result, files.params),
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
        "  gradscope derive --cell rnn --format markdown"
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
    make_console().print(report.cells_table([compile_cell(name).spec for name in CELL_NAMES]))


@app.command(
    name="report",
    epilog="Examples:\n  gradscope report\n  gradscope report --out /tmp/gallery --quiet",
)
def report_gallery(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="The folder to write into (created if needed); files already there that the gallery does not "
            "write are left alone.",
            rich_help_panel=_OUTPUT_PANEL,
        ),
    ] = Path("reports"),
    quiet: Quiet = False,
    quick: Annotated[
        bool,
        typer.Option("--quick", envvar=REPORT_QUICK_ENV, hidden=True, help="Tiny sizes (gallery.QUICK), for tests."),
    ] = False,
) -> None:
    """Regenerate the figure gallery: every figure as PNG and SVG, with a README.md of captions and commands.

    The README also tabulates the key numbers (rates, verdicts). Deterministic: running it twice gives
    identical files. Takes a minute or two.
    """
    from gradscope import gallery

    out_dir = io.check_output_dir(out)
    output = Output.create(None, quiet)
    sizes = gallery.QUICK if quick else gallery.GallerySizes()
    if quick and not quiet:
        make_console(stderr=True).print(Text("using the tiny test sizes (gallery.QUICK)", style="dim"), soft_wrap=True)
    with progress_reporter(output.shows_progress, "gallery", unit="figures") as progress:

        def step(done: int, total: int, description: str) -> None:
            if progress is not None:
                progress(done, total, f"gallery: {description}" if description else "gallery")

        artifacts = gallery.build_gallery(sizes, progress=step)
    try:
        paths = gallery.write_artifacts(artifacts, out_dir)
    except OSError as error:
        raise io.FileError(f"{out_dir}: cannot write ({error.strerror or error})") from error
    console = make_console()
    if quiet:
        console.print(report.gallery_summary_line(paths, out_dir), soft_wrap=True)
    else:
        console.print(report.gallery_summary(paths, out_dir), soft_wrap=True)  # paths stay whole


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope verify\n"
        "  gradscope verify --cell lstm --hidden-size 4 --steps 8\n"
        "  gradscope verify --no-torch --json - | jq .passed"
    )
)
def verify(
    cell: Annotated[
        str,
        typer.Option(
            "--cell",
            "-c",
            help=f"'all' (every built-in cell), or one or more of {', '.join(CELL_NAMES)}, separated by commas.",
            autocompletion=_complete_cell,
            rich_help_panel=_CELL_PANEL,
        ),
    ] = "all",
    hidden_size: Annotated[
        int,
        typer.Option(
            "--hidden-size",
            "-H",
            help="Hidden size H of the random test problem (keep it small: finite differences cost O(T (GH(H+I))^2)).",
            rich_help_panel=_CELL_PANEL,
        ),
    ] = 3,
    input_size: Annotated[
        int,
        typer.Option("--input-size", "-I", help="Input size of the random test problem.", rich_help_panel=_CELL_PANEL),
    ] = 2,
    steps: Annotated[
        int,
        typer.Option(
            "--steps", "-T", help="Sequence length T of the random test problem.", rich_help_panel=_CELL_PANEL
        ),
    ] = 5,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Seeds the random parameters, inputs, initial state and upstream gradient dL/dh_t.",
            rich_help_panel=_DRAW_PANEL,
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
    json_path: JsonPath = None,
    quiet: Quiet = False,
) -> None:
    """gradscope checks itself: derived Jacobians and BPTT gradients against finite differences and autograd.

    Every cell's state Jacobians and parameter, input and initial-state gradients on a small random problem,
    against central finite differences and, when it is installed, PyTorch autograd (float64). Exit status 0
    when every check is within its tolerance, 1 on any mismatch.
    """
    from gradscope import verification

    output = Output.create(json_path, quiet)
    which = "all" if cell.strip().lower() == "all" else [spec.name for spec in parse_cells(cell, "--cell")]
    result = verification.verify(
        which,
        hidden_size=hidden_size,
        input_size=input_size,
        steps=steps,
        seed=seed,
        use_torch=False if no_torch else None,
    )
    output.finish(
        io.verification_document(result),
        full=lambda: report.verification_report(result, torch_skipped=no_torch),
        brief=lambda: report.verification_summary(result),
    )
    if not result.passed:
        print_error(f"{len(result.failures)} of {len(result.rows)} checks exceed their tolerance", kind="verify failed")
        raise typer.Exit(EXIT_CHECK_FAILED)


# ---------------------------------------------------------------------------------------------
# Sweeps and Lyapunov spectra (issue 7). sweep, executors, lyapunov and theory are imported inside
# the commands: the executors module reaches for Dask when asked to.

_SWEEP_PANEL = "Sweep and executors"
# The sweep draws every network, so its sizes have plain defaults (no files to take them from).
SweepHiddenSize = Annotated[
    int | None,
    typer.Option(
        "--hidden-size", "-H", help="Hidden size H (default 64).", show_default=False, rich_help_panel=_CELL_PANEL
    ),
]
SweepInputSize = Annotated[
    int | None,
    typer.Option(
        "--input-size", "-I", help="Input size (default 32).", show_default=False, rich_help_panel=_CELL_PANEL
    ),
]
SweepSteps = Annotated[
    int | None,
    typer.Option(
        "--steps", "-T", help="Sequence length T (default 200).", show_default=False, rich_help_panel=_CELL_PANEL
    ),
]


def parse_vary(texts: Sequence[str]) -> tuple[Any, ...]:
    """``--vary`` texts as sweep axes; a bad one fails with a message that quotes it."""
    from gradscope.sweep import parse_axes, parse_axis

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


def parse_forget_bias(text: str | None) -> float | str | None:
    """``--forget-bias``: a number (the effective b_f) or ``chrono``."""
    if text is None:
        return None
    if text.strip().lower() == "chrono":
        return "chrono"
    try:
        return float(text)
    except ValueError as error:
        raise ConfigError(f"--forget-bias: expected a number or 'chrono', got {text!r}") from error


def sweep_plot(result: Any) -> "Figure":
    """Median rate per step against the first swept parameter, with the band and the theory curve."""
    from gradscope import figures

    return figures.sweep_rate_figure(result)


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope sweep --cell rnn --init gaussian --vary gain=0.5:3:11 --samples 8 --plot phase.png\n"
        "  gradscope sweep --cell lstm --vary forget-bias=0,1,2,4,chrono --samples 16 --csv lstm.csv\n"
        "  gradscope sweep --cell gru --vary gain=0.5:2:4 --vary hidden-size=16,64 --json - | jq '.rows[0]'\n"
        "  gradscope sweep --cell rnn --vary gain=0.5:3:26 --samples 32 --scheduler tcp://10.0.0.5:8786"
    )
)
def sweep(
    cell: CellName,
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            metavar="NAME=START:STOP:COUNT",
            help=(
                "A swept option, repeatable: gain, forget-bias, hidden-size, steps, input-scale or init. "
                "START:STOP:COUNT (evenly spaced, both ends), START:STOP:COUNT:log (geometric) or V1,V2,... "
                "(a list: init=pytorch,gaussian or forget-bias=0,2,chrono). The grid is every combination."
            ),
            show_default=False,
            rich_help_panel=_SWEEP_PANEL,
        ),
    ],
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            metavar="S",
            help="Independent random networks per grid point (each task's seed is a hash of its values and sample).",
            rich_help_panel=_SWEEP_PANEL,
        ),
    ] = 1,
    hidden_size: SweepHiddenSize = None,
    input_size: SweepInputSize = None,
    steps: SweepSteps = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Base seed the tasks' seeds are hashed from.", rich_help_panel=_DRAW_PANEL)
    ] = 0,
    init: Init = "pytorch",
    gain: Gain = 1.0,
    input_scale: Annotated[
        float,
        typer.Option("--input-scale", help="Inputs are input_scale * N(0, 1).", rich_help_panel=_DRAW_PANEL),
    ] = 1.0,
    forget_bias: Annotated[
        str | None,
        typer.Option(
            "--forget-bias",
            metavar="B|chrono",
            help="LSTM only: the effective forget-gate bias b_f (bias_ih + bias_hh), or 'chrono' (Tallec & Ollivier "
            "2018, b_f = log U(1, T_max - 1), b_i = -b_f); default PyTorch's random biases.",
            show_default=False,
            rich_help_panel=_DRAW_PANEL,
        ),
    ] = None,
    t_max: Annotated[
        int | None,
        typer.Option(
            "--t-max",
            metavar="T",
            help="Chrono initialisation's T_max (default: each task's steps).",
            show_default=False,
            rich_help_panel=_DRAW_PANEL,
        ),
    ] = None,
    norm: Norm = "spectral",
    dtype: Dtype = "float64",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="Run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (needs gradscope[dask]); "
            "default: local processes.",
            show_default=False,
            rich_help_panel=_SWEEP_PANEL,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            help="Local worker processes (default: all cores). The rows are identical for any N.",
            show_default=False,
            rich_help_panel=_SWEEP_PANEL,
        ),
    ] = None,
    json_path: JsonPath = None,
    csv_path: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            metavar="PATH",
            help="Write the rows as CSV (the JSON's table) to PATH (atomically).",
            show_default=False,
            rich_help_panel=_OUTPUT_PANEL,
        ),
    ] = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
) -> None:
    """Rate per step and verdict over a grid of settings, several random networks per grid point.

    One row per (grid point, sample); the result is the same on any executor and worker count.
    For the tanh RNN the report and the figure also show the mean-field theory rate.
    """
    from gradscope.executors import make_executor
    from gradscope.sweep import SweepSpec, run_sweep

    name = cell_spec(cell).name
    axes = parse_vary(vary)
    output = Output.create(json_path, quiet, plot)
    csv_file = io.check_output_path(csv_path) if csv_path is not None else None
    sizes = {"hidden_size": hidden_size, "input_size": input_size, "steps": steps, "t_max": t_max}
    spec = SweepSpec(
        name,
        axes,
        samples=samples,
        seed=seed,
        init=init,
        gain=gain,
        input_scale=input_scale,
        forget_bias=parse_forget_bias(forget_bias),
        norm=norm,
        dtype=dtype,
        **{key: value for key, value in sizes.items() if value is not None},
    )
    executor = make_executor(scheduler=scheduler, workers=workers)
    with progress_reporter(output.shows_progress, f"{name}: sweep", unit="tasks") as progress:
        result = run_sweep(spec, executor=executor, progress=progress)
    output.finish(
        result.to_dict(),
        full=lambda: report.sweep_report(result),
        brief=lambda: report.sweep_summary_line(result),
        figure=lambda: sweep_plot(result),
        extra=[("CSV", csv_file, result.to_csv())] if csv_file is not None else (),
    )


def lyapunov_plot(spectrum: Any, theory: Any, top_theory: float | None, running: bool) -> "Figure":
    """The spectrum (with ``theory`` and ``top_theory`` overlaid when given) and, with ``running``, the
    running estimates."""
    from gradscope import figures

    return figures.lyapunov_figure(spectrum, theory=theory, top_theory=top_theory, show_running=running)


def mean_field_overlay(spectrum: Any, files: io.ProblemFiles, init: str, gain: float) -> float | None:
    """The mean-field ``lambda_1`` of the random tanh RNN (:func:`gradscope.theory.tanh_rnn_mean_field_rate`)
    when the run is what the theory describes: random parameters, random N(0, 1) inputs; else ``None``."""
    from gradscope import theory

    if spectrum.cell != "rnn" or files.params is not None or files.inputs is not None:
        return None
    return theory.tanh_rnn_mean_field_rate(init, gain, spectrum.hidden_size, spectrum.input_size)


def newman_overlay(spectrum: Any, files: io.ProblemFiles, init: str, gain: float) -> "Any | None":
    """Newman's spectrum for the top exponents when it applies: the tanh RNN with random Gaussian
    ``W_hh`` (``--init gaussian``, no --weights) in the linear regime: all-zero ``--inputs`` and a gain
    below the edge of chaos (``gain < 1``), so the state settles near its fixed point. (Newman's law is
    for matrices re-drawn every step; for one fixed matrix it is the reference scale, not an exact
    prediction.) ``None`` otherwise: driven by random inputs, tanh saturates and the law does not apply."""
    import numpy as np

    from gradscope import theory

    if spectrum.cell != "rnn" or init != "gaussian" or files.params is not None or not gain < 1:
        return None
    if files.inputs is None or np.any(np.asarray(files.inputs) != 0):
        return None
    return theory.newman_spectrum(spectrum.hidden_size, gain, count=spectrum.exponents.size)


@app.command(
    epilog=(
        "Examples:\n"
        "  gradscope lyapunov --cell rnn --init gaussian --gain 2 --hidden-size 200 --exponents 20\n"
        "  gradscope lyapunov --cell lstm --exponents 16 --transient 200 --plot spectrum.png\n"
        "  gradscope lyapunov --cell gru --weights gru.npz --inputs x.npy --json -"
    )
)
def lyapunov(
    cell: CellName,
    exponents: Annotated[
        int | None,
        typer.Option(
            "--exponents",
            "-k",
            metavar="K",
            help="How many of the top exponents (default: all S, the state size: H, or 2H for the LSTM's [h; c]).",
            show_default=False,
            rich_help_panel=_CELL_PANEL,
        ),
    ] = None,
    transient: Annotated[
        int,
        typer.Option(
            "--transient",
            metavar="N",
            help="Steps run before the averages start (discarded); needs N < T.",
            rich_help_panel=_CELL_PANEL,
        ),
    ] = 0,
    hidden_size: HiddenSize = None,
    input_size: InputSize = None,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps",
            "-T",
            help="Trajectory length T, transient included (default 1000; taken from --inputs when given).",
            show_default=False,
            rich_help_panel=_CELL_PANEL,
        ),
    ] = None,
    seed: Seed = 0,
    init: Init = "pytorch",
    gain: Gain = 1.0,
    weights: Weights = None,
    inputs: Inputs = None,
    h0: H0 = None,
    c0: C0 = None,
    running: Annotated[
        bool,
        typer.Option(
            "--running/--no-running",
            help="With --plot: also draw the running estimates against the averaged steps.",
            rich_help_panel=_OUTPUT_PANEL,
        ),
    ] = True,
    json_path: JsonPath = None,
    plot: PlotPath = None,
    quiet: Quiet = False,
) -> None:
    """The top Lyapunov exponents of the driven cell (QR / Benettin method on the derived Jacobians).

    Natural log per step, descending, with batch-means standard errors and the drift between the two
    halves of the run. For the LSTM, the exponents of the full state [h; c].
    """
    from gradscope import lyapunov as lyapunov_module

    spec = cell_spec(cell)
    output = Output.create(json_path, quiet, plot)
    files = io.load_problem_files(
        spec, weights=weights, inputs=inputs, h0=h0, c0=c0, hidden_size=hidden_size, input_size=input_size
    )
    with progress_reporter(output.shows_progress, f"{spec.name}: QR steps", unit="steps") as progress:
        result = lyapunov_module.lyapunov(
            spec.name,
            **file_kwargs(files, spec),
            exponents=exponents,
            transient=transient,
            steps=steps,
            seed=seed,
            init=init,
            gain=gain,
            progress=progress,
        )
    overlay = newman_overlay(result, files, init, gain)
    top = mean_field_overlay(result, files, init, gain)
    output.finish(
        result.to_dict(),
        full=lambda: report.lyapunov_report(result),
        brief=lambda: report.lyapunov_summary_line(result),
        figure=lambda: lyapunov_plot(result, overlay, top, running),
    )


# ---------------------------------------------------------------------------------------------
# Entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    0 success, 2 bad usage or bad input, 1 internal error.
    """
    try:
        app(args=list(argv) if argv is not None else None, prog_name="gradscope")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (EXIT_OK if stop.code is None else EXIT_INTERNAL)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
