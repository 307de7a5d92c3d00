"""The application: consoles, the one error boundary, the typer app and its root options.

See :mod:`gradscope.cli` for the layout.
"""

import contextlib
import os
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from gradscope._version import __version__
from gradscope.cli.options import Language
from gradscope.errors import GradscopeError
from gradscope.i18n import set_language

#: Set to 1 to let unexpected errors propagate with their traceback (same as ``--debug``).
DEBUG_ENV = "GRADSCOPE_DEBUG"
#: Exit statuses. ``verify`` exits with ``EXIT_CHECK_FAILED`` when a check exceeds its tolerance.
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
EXIT_CHECK_FAILED = 1
#: ``sweep``: every output written, but some tasks failed (their rows hold the error).
EXIT_TASKS_FAILED = 3
#: ``sweep`` interrupted: ``128 + signal`` (see :mod:`gradscope.cli.interrupts`).
EXIT_SIGINT, EXIT_SIGTERM = 130, 143

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
        "  gradscope cells\n"
        "  gradscope analyze --cell lstm --lang zh"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    lang: Language = None,
) -> None:
    """See, with exact math, how gradients vanish or explode through time in RNN, LSTM and GRU cells.

    ``debug`` is read by :class:`GradscopeGroup` from the context; options given here apply to every command.
    Every run starts in ``--lang`` or the locale's language (a command's own ``--lang`` comes after this).
    """
    set_language(lang)
