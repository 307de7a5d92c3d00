"""From command-line options to the library's values: cells, the data files, and the problem they make."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradscope.analysis.problem import Problem, make_problem
from gradscope.cells.file_names import looks_like_file
from gradscope.cells.spec import CellSpec
from gradscope.compile import compile_cell
from gradscope.errors import ConfigError
from gradscope.files import ProblemFiles, load_problem_files
from gradscope.params.init import CHRONO_CELLS


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
    update_bias: str | None = None
    t_max: int | None = None
    num_layers: int | None = None
    bidirectional: bool = False
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
        """The keyword options every analysing command passes on (neither sizes nor files): the draw, the
        model options (one meaning in every command that names them) and the precision."""
        return {
            "steps": self.steps,
            "seed": self.seed,
            "init": self.init,
            "gain": self.gain,
            "forget_bias": self.parsed_bias("forget_bias"),
            "update_bias": self.parsed_bias("update_bias"),
            "t_max": self.t_max,
            "num_layers": self.num_layers,
            # absent, not False: a bidirectional --weights file must not read as a contradiction
            "bidirectional": True if self.bidirectional else None,
            "norm": self.norm,
            "dtype": self.dtype,
        }

    def check_fits(self, specs: Sequence[CellSpec], command: str) -> None:
        """Refuse a model option none of ``specs`` takes (``--update-bias`` on an LSTM, ...), or one that some
        cell cannot take (``--init chrono`` on an RNN, ``--num-layers`` on the jordan cell), naming the option."""
        names = [spec.name for spec in specs]
        cells = ", ".join(names)
        for option, cell, gate in (("forget_bias", "lstm", "forget gate f"), ("update_bias", "gru", "update gate z")):
            if getattr(self, option) is not None and cell not in names:
                flag = "--" + option.replace("_", "-")
                raise ConfigError(f"{flag} applies to the {cell.upper()} only (its {gate}); {command} runs {cells}")
        if self.init == "chrono" and self.weights is None:
            both = [
                flag
                for flag, text in (("--forget-bias", self.forget_bias), ("--update-bias", self.update_bias))
                if text
            ]
            if both:
                raise ConfigError(
                    f"--init chrono sets the keep gate's bias itself; drop {both[0]} or choose another --init"
                )
            for spec in specs:
                if spec.name not in CHRONO_CELLS:
                    raise ConfigError(
                        f"--init chrono: sets the keep gate of the lstm (f) or gru (z); {spec.name} has none"
                    )
        if self.init == "xavier" and self.weights is None:
            for spec in specs:
                if spec.recurrent.kind == "per-unit":
                    raise ConfigError(f"--init xavier: needs a recurrent weight matrix; {spec.name}'s is per-unit")
        structured = [
            flag
            for flag, on in (("--num-layers", self.num_layers is not None), ("--bidirectional", self.bidirectional))
            if on
        ]
        for spec in specs:
            if structured and spec.feedback:
                raise ConfigError(f"{', '.join(structured)}: the {spec.name} cell is one layer, one direction")

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

    def parsed_bias(self, option: str) -> float | str | None:
        """``--forget-bias`` or ``--update-bias`` (``option``): a number (the effective bias), ``chrono``, or
        ``None`` when not given."""
        text = getattr(self, option)
        if text is None:
            return None
        if text.strip().lower() == "chrono":
            return "chrono"
        flag = "--" + option.replace("_", "-")
        try:
            value = float(text)
        except ValueError as error:
            raise ConfigError(f"{flag}: expected a number or 'chrono', got {text!r}") from error
        if not math.isfinite(value):
            raise ConfigError(f"{flag}: expected a finite number or 'chrono', got {text!r}")
        return value


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
