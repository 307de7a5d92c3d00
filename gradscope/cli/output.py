"""Where a command's result goes: the rich report, ``--json PATH`` or ``--json -``, ``--plot PATH``, a progress bar.

Every output path is checked before any work, and everything is rendered before anything is written.
"""

import contextlib
import glob
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console, RenderableType
from rich.text import Text

from gradscope import files
from gradscope.cells.file_names import registered, registered_names
from gradscope.cli.app import make_console, print_error
from gradscope.i18n import N_, _

#: What ``Output.finish`` names the files it wrote after (translated where it is printed).
_WRITTEN = {
    "JSON": N_("JSON written to {path}"),
    "Figure": N_("Figure written to {path}"),
    "CSV": N_("CSV written to {path}"),
}

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def check_plot_path(path: Path) -> tuple[Path, str]:
    """``(path, format)`` for ``--plot PATH``, checked before any work: the extension names the format
    (``.png``, ``.svg``, ``.pdf``) and the file must be creatable; else a one-line error naming the path."""
    from gradscope.figures.render import format_for_path

    fmt = format_for_path(path)
    return files.check_output_path(path), fmt


#: The parameters of the commands that name files to write (``--json -`` is stdout, not a file).
OUTPUT_PARAMETERS = ("json_path", "plot", "csv_path")
_GLOB_CHARACTERS = frozenset("*?[")


def check_run_paths() -> None:
    """Refuse, before any work, an output of this command line that is also one of its inputs (the same file
    by any spelling, link or hard link), or two outputs on one file; a one-line error names both options.

    The inputs are every file the command line names: each path-valued option and argument (``--weights``,
    ``--inputs``, ``--h0``, ..., a checkpoint, a glob's matches, a cell file in ``--cells``) and the cell
    files in use, read from the current typer context; outside a command (the library) there is none.
    """
    from typer.main import get_current_context  # typer's own (vendored) click keeps the context

    context = get_current_context(silent=True)
    if context is None:
        return
    options = {parameter.name: (parameter.opts or [parameter.name or "?"])[0] for parameter in context.command.params}
    outputs: dict[str, Path] = {}
    inputs: dict[str, Path] = {}
    for name, value in context.params.items():
        option = options.get(name, name)
        if name in OUTPUT_PARAMETERS:
            if value is not None and str(value) != "-":
                outputs[option] = Path(value)
            continue
        for index, path in enumerate(_named_files(value)):
            inputs[option if index == 0 else f"{option} (#{index + 1})"] = path
    for cell_name in registered_names():
        entry = registered(cell_name)
        if entry is not None:
            inputs[f"the cell file of {cell_name!r}"] = Path(entry[0])
    files.check_distinct_outputs(outputs, inputs)


def _named_files(value: object) -> list[Path]:
    """The existing files a parameter's value names: a path, a list of them, comma-separated names, globs, a
    folder's checkpoints and logs (what ``training`` reads from a folder), the file of ``FILE.py:FUNCTION``."""
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in _named_files(item)]
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return []
    found: list[Path] = []
    pieces = [value] if os.path.exists(value) else [part.strip() for part in value.split(",")]
    for piece in pieces:
        if os.path.isdir(piece):
            found += [path for path in sorted(Path(piece).iterdir()) if path.is_file() and _is_run_file(path)]
        elif _GLOB_CHARACTERS & set(piece):
            found += [Path(match) for match in sorted(glob.glob(piece)) if os.path.isfile(match)]
        elif piece and os.path.isfile(piece):
            found.append(Path(piece))
        elif ":" in piece and os.path.isfile(piece.rsplit(":", 1)[0]):  # verify --target FILE.py:FUNCTION
            found.append(Path(piece.rsplit(":", 1)[0]))
    return found


def _is_run_file(path: Path) -> bool:
    from gradscope.files.checkpoints import FORMATS
    from gradscope.files.training_run import LOG_SUFFIX

    return path.suffix.lower() in (*FORMATS, LOG_SUFFIX)


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
            check_run_paths()
            return cls(json_stdout=True, quiet=True, plot_path=plot_path, plot_format=plot_format)
        path = files.check_output_path(json_target) if json_target is not None else None
        check_run_paths()
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

            with figure_warnings():
                image = figures.render(figure(), self.plot_format)
        text = files.to_json(document) if self.json_stdout or self.json_path is not None else None
        if self.json_path is not None and text is not None:
            files.write_text_atomic(self.json_path, text)
        if self.plot_path is not None and image is not None:
            files.write_bytes_atomic(self.plot_path, image)
        for _kind, path, content in extra:  # e.g. ("CSV", path, text): further files, checked before any work
            files.write_text_atomic(path, content)
        if self.json_stdout and text is not None:
            sys.stdout.write(text)
            return
        console = make_console()
        if self.quiet:
            console.print(brief(), soft_wrap=True)
            return
        console.print(full())
        notes = make_console(stderr=True)
        written = [("JSON", self.json_path), ("Figure", self.plot_path), *((k, p) for k, p, _content in extra)]
        for kind, path in written:
            if path is not None:
                note = _(_WRITTEN[kind]).format(path=path) if kind in _WRITTEN else f"{kind} written to {path}"
                notes.print(Text(note, style="dim"), soft_wrap=True)


@contextlib.contextmanager
def figure_warnings() -> Iterator[None]:
    """Figures' warnings for people (a missing font for Chinese labels) as ``gradscope: warning: ...`` lines on
    stderr, each once; any other warning goes on as Python shows it."""
    from gradscope.figures import MissingFontWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingFontWarning)
        yield
    shown = set()
    for warning in caught:
        if issubclass(warning.category, MissingFontWarning):
            if str(warning.message) not in shown:
                print_error(str(warning.message), kind="warning")
                shown.add(str(warning.message))
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


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
