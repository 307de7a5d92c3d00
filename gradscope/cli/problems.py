"""From command-line options to the library's values: cells, the data files, and the problem they make."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradscope.analysis.problem import Problem, make_problem
from gradscope.cells.file_names import looks_like_file
from gradscope.cells.spec import CellSpec
from gradscope.compile import compile_cell
from gradscope.errors import ConfigError
from gradscope.files import ProblemFiles, load_problem_files


@dataclass(frozen=True)
class ProblemArguments:
    """The problem options of one command line, as typed (a command's unused ones keep their defaults)."""

    hidden_size: int | None = None
    input_size: int | None = None
    output_size: int | None = None
    steps: int | None = None
    seed: int = 0
    init: str = "pytorch"
    gain: float = 1.0
    input_scale: float = 1.0
    forget_bias: str | None = None
    t_max: int | None = None
    norm: str = "spectral"
    dtype: str = "float64"
    weights: Path | None = None
    prefix: str | None = None
    inputs: Path | None = None
    h0: Path | None = None
    c0: Path | None = None
    y0: Path | None = None
    samples: int | None = None

    def settings(self) -> dict[str, Any]:
        """The keyword options every analysing command passes on (neither sizes nor files)."""
        return {
            "steps": self.steps,
            "seed": self.seed,
            "init": self.init,
            "gain": self.gain,
            "norm": self.norm,
            "dtype": self.dtype,
        }

    def data_files(self) -> dict[str, Path | None]:
        """The data-file options by name, for the checks that refuse them (``--samples``)."""
        return {"weights": self.weights, "inputs": self.inputs, "h0": self.h0, "c0": self.c0, "y0": self.y0}

    def check_samples(self) -> None:
        """Reject ``--samples`` below 1, or together with data files: an ensemble redraws weights and inputs."""
        if self.samples is None:
            return
        if self.samples < 1:
            raise ConfigError(f"--samples must be >= 1, got {self.samples}")
        given = [f"--{name.replace('_', '-')}" for name, path in self.data_files().items() if path is not None]
        if given:
            raise ConfigError(
                f"--samples draws new random weights and inputs for every sample, so it cannot be combined with "
                f"{', '.join(given)}; drop {'it' if len(given) == 1 else 'them'} or drop --samples"
            )

    def load_files(self, spec: CellSpec) -> ProblemFiles:
        """Load and cross-check the data files given for ``spec`` (:func:`~gradscope.files.load_problem_files`)."""
        return load_problem_files(
            spec,
            **self.data_files(),
            prefix=self.prefix,
            hidden_size=self.hidden_size,
            input_size=self.input_size,
            output_size=self.output_size,
        )

    def parsed_forget_bias(self) -> float | str | None:
        """``--forget-bias``: a number (the effective b_f), ``chrono``, or ``None`` when not given."""
        if self.forget_bias is None:
            return None
        if self.forget_bias.strip().lower() == "chrono":
            return "chrono"
        try:
            return float(self.forget_bias)
        except ValueError as error:
            raise ConfigError(f"--forget-bias: expected a number or 'chrono', got {self.forget_bias!r}") from error


def cell_spec(name: str, constants: dict[str, str] | None = None) -> CellSpec:
    """The spec of a cell by name or cell file (``constants``: ``--set``), or
    :class:`~gradscope.errors.UnknownCellError` suggesting the closest name."""
    from gradscope.cli.options import cell_key

    return compile_cell(cell_key(name, constants)).spec


def parse_cells(text: str, option: str = "--cells", constants: dict[str, str] | None = None) -> list[CellSpec]:
    """``"rnn,lstm,gru"`` (names or cell files) as cell specs, in order, without repeats."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"{option}: give at least one cell name, e.g. {option} rnn,lstm,gru")
    specs = [cell_spec(name, constants) for name in names]
    given: dict[str, str] = {}
    for name, spec in zip(names, specs, strict=True):
        first = given.setdefault(spec.name, name)
        if first != name and (looks_like_file(first) or looks_like_file(name)):
            raise ConfigError(f"{option}: {first!r} and {name!r} both define a cell named {spec.name!r}")
    return list({spec.name: spec for spec in specs}.values())


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


def file_problem(spec: CellSpec, files: ProblemFiles, options: ProblemArguments) -> Problem:
    """The problem of one cell, its data files and the shared settings."""
    return make_problem(spec.name, **file_options(files), **options.settings())
