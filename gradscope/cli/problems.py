"""From command-line options to the library's values: cells, the data files, and the problem they make."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradscope.analysis.problem import Problem, make_problem
from gradscope.cells.spec import CellSpec, resolve_name
from gradscope.compile import compile_cell
from gradscope.errors import ConfigError
from gradscope.files import ProblemFiles


@dataclass(frozen=True)
class RunSettings:
    """The options every analysing command shares (everything but the cell and the files)."""

    steps: int | None = None
    seed: int = 0
    init: str = "pytorch"
    gain: float = 1.0
    norm: str = "spectral"
    dtype: str = "float64"

    def options(self) -> dict[str, Any]:
        """Keyword options of :func:`~gradscope.analysis.problem.make_problem`."""
        return {
            "steps": self.steps,
            "seed": self.seed,
            "init": self.init,
            "gain": self.gain,
            "norm": self.norm,
            "dtype": self.dtype,
        }


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


def check_samples(samples: int | None, **paths: Path | None) -> None:
    """Reject ``--samples`` below 1, or together with data files: an ensemble redraws weights and inputs."""
    if samples is None:
        return
    if samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {samples}")
    given = [f"--{name.replace('_', '-')}" for name, path in paths.items() if path is not None]
    if given:
        raise ConfigError(
            f"--samples draws new random weights and inputs for every sample, so it cannot be combined with "
            f"{', '.join(given)}; drop {'it' if len(given) == 1 else 'them'} or drop --samples"
        )


def file_options(files: ProblemFiles) -> dict[str, Any]:
    """The loaded files as keyword options of :func:`~gradscope.analysis.problem.make_problem`."""
    options = {
        "params": files.params,
        "inputs": files.inputs,
        "h0": files.h0,
        "c0": files.c0,
        "hidden_size": files.hidden_size,
        "input_size": files.input_size,
    }
    # Only the Jordan cell takes these; given for another cell, make_problem's error names them.
    options |= {
        name: value for name, value in (("y0", files.y0), ("output_size", files.output_size)) if value is not None
    }
    return options


def file_problem(spec: CellSpec, files: ProblemFiles, settings: RunSettings) -> Problem:
    """The problem of one cell, its data files and the shared settings."""
    return make_problem(spec.name, **file_options(files), **settings.options())
