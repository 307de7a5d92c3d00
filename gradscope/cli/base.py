"""Shared pieces of the command line: consoles, the error boundary, the typer app, option aliases, output.

See :mod:`gradscope.cli` for the layout.
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

from gradscope.cells.spec import ALL_CELL_NAMES, CellSpec, resolve_name
from gradscope.compile.compiled import compile_cell
from gradscope.errors import ConfigError, GradscopeError
from gradscope.files import io as io

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gradscope.analysis.analyze import Analysis
    from gradscope.analysis.ensemble import Ensemble

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
    return [name for name in ALL_CELL_NAMES if name.startswith(incomplete)]


CellName = Annotated[
    str,
    typer.Option(
        "--cell",
        "-c",
        help=f"The recurrent cell: {', '.join(ALL_CELL_NAMES)} (see 'gradscope cells').",
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
OutputSize = Annotated[
    int | None,
    typer.Option(
        "--output-size",
        help="Output size O of the jordan cell, whose state is its fed-back output y (default H; "
        "taken from --weights when given).",
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
        "--dtype",
        help="Precision of the products (float32: faster, 1e-5 .. 1e-3 relative).",
        rich_help_panel=_CELL_PANEL,
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
Y0 = Annotated[
    Path | None,
    typer.Option(
        "--y0",
        metavar="FILE.npy",
        help="Initial output of the jordan cell (its state y), shape (O,) or (1, O) (default: zeros).",
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
    kwargs = {
        "params": files.params,
        "inputs": files.inputs,
        "h0": files.h0,
        "c0": c0,
        "hidden_size": files.hidden_size,
        "input_size": files.input_size,
    }
    # Only the Jordan cell's analysis takes these; given for another cell, analyze's error names them.
    kwargs |= {
        name: value for name, value in (("y0", files.y0), ("output_size", files.output_size)) if value is not None
    }
    return kwargs


# ---------------------------------------------------------------------------------------------
# Output


def check_plot_path(path: Path) -> tuple[Path, str]:
    """``(path, format)`` for ``--plot PATH``, checked before any work: the extension names the format
    (``.png``, ``.svg``, ``.pdf``) and the file must be creatable; else a one-line error naming the path."""
    from gradscope.figures import all as figures

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
            from gradscope.figures import all as figures

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
    """:func:`gradscope.analysis.ensemble.analyze_ensemble` of one cell with a progress bar over the draws.

    Labelled with the cell's display name (``"tanh RNN"``, ``"LSTM"``), as the gallery's ensembles are.
    """
    from gradscope.analysis.ensemble import analyze_ensemble
    from gradscope.studies.experiments import cell_title

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
    from gradscope.figures import all as figures
    from gradscope.studies import experiments as experiments

    return figures.profile_figure(experiments.profile_view(result, params=params))


def compare_plot(results: Sequence["Analysis"]) -> "Figure":
    """The cells' profiles on one axes."""
    from gradscope.figures import all as figures

    return figures.compare_figure(results)


def ensemble_plot(ensembles: Sequence["Ensemble"]) -> "Figure":
    """Median and 10-90 % band of each ensemble on one axes."""
    from gradscope.figures import all as figures

    return figures.ensemble_figure(list(ensembles))
