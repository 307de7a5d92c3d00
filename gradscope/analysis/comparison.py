"""``gradscope.compare``: several cells side by side, with the same sizes, seed and inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from gradscope._version import __version__
from gradscope.analysis.ensemble import DEFAULT_QUANTILES, Ensemble, analyze_ensemble
from gradscope.analysis.problem import make_problem
from gradscope.analysis.profile import Analysis, analyze
from gradscope.analysis.summary import Thresholds
from gradscope.cells.spec import resolve_name
from gradscope.compile.cache import compile_cell
from gradscope.errors import ConfigError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gradscope.analysis.problem import ProblemOptions
    from gradscope.cells.cell import Cell

#: Schema of the document ``gradscope compare --json`` writes.
COMPARISON_SCHEMA = "gradscope.comparison/1"
#: Schema of the document ``gradscope compare --samples N --json`` writes.
ENSEMBLE_COMPARISON_SCHEMA = "gradscope.ensemble-comparison/1"

#: The keep gates' bias options and the one cell each belongs to (given to the others, they are left out).
KEEP_GATE_BIASES = {"forget_bias": "lstm", "update_bias": "gru"}

#: ``progress(cell, done, total)``: how far the analysis of ``cell`` has come.
CellProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`: one :class:`~gradscope.analysis.profile.Analysis` per cell, in order."""

    analyses: tuple[Analysis, ...]

    @property
    def cells(self) -> tuple[str, ...]:
        return tuple(a.cell for a in self.analyses)

    def to_dict(self) -> dict[str, Any]:
        """The ``gradscope.comparison/1`` document: one ``gradscope.analysis/1`` document per cell."""
        return {
            "schema": COMPARISON_SCHEMA,
            "gradscope_version": __version__,
            "cells": list(self.cells),
            "analyses": [analysis.to_dict() for analysis in self.analyses],
        }


@dataclass(frozen=True)
class EnsembleComparison:
    """The result of :func:`compare` with ``samples``: one :class:`~gradscope.analysis.ensemble.Ensemble` per cell."""

    ensembles: tuple[Ensemble, ...]

    @property
    def cells(self) -> tuple[str, ...]:
        return tuple(e.cell for e in self.ensembles)

    def to_dict(self) -> dict[str, Any]:
        """The ``gradscope.ensemble-comparison/1`` document: one ``gradscope.ensemble/1`` document per cell."""
        return {
            "schema": ENSEMBLE_COMPARISON_SCHEMA,
            "gradscope_version": __version__,
            "cells": list(self.cells),
            "ensembles": [ensemble.to_dict() for ensemble in self.ensembles],
        }


@overload
def compare(
    cells: Sequence[str | Cell],
    *,
    samples: None = None,
    quantiles: tuple[float, float] = ...,
    thresholds: Thresholds | None = ...,
    progress: CellProgress | None = ...,
    **options: Unpack[ProblemOptions],
) -> Comparison: ...


@overload
def compare(
    cells: Sequence[str | Cell],
    *,
    samples: int,
    quantiles: tuple[float, float] = ...,
    thresholds: Thresholds | None = ...,
    progress: CellProgress | None = ...,
    **options: Unpack[ProblemOptions],
) -> EnsembleComparison: ...


def compare(
    cells: Sequence[str | Cell],
    *,
    samples: int | None = None,
    quantiles: tuple[float, float] = DEFAULT_QUANTILES,
    thresholds: Thresholds | None = None,
    progress: CellProgress | None = None,
    **options: Unpack[ProblemOptions],
) -> Comparison | EnsembleComparison:
    """Each cell analysed as :func:`gradscope.analyze` would, with the same options (sizes, seed, inputs).

    Args:
        cells: the cells, in order (names or :class:`~gradscope.cells.Cell` values; repeats are dropped).
        samples: with N, each cell's :class:`~gradscope.analysis.ensemble.Ensemble` over N random draws
            (the same seeds for every cell), labelled with the cell's display name.
        quantiles: the ensembles' band.
        thresholds: verdict thresholds.
        progress: called as ``progress(cell, done, total)`` while each cell runs (lags, or draws).
        options: the keyword options of :func:`~gradscope.analysis.problem.make_problem`, shared by
            every cell; ``c0`` goes only to the cells that have a ``c`` state, ``forget_bias`` only to the
            LSTM and ``update_bias`` only to the GRU (an error when no cell takes the one given).
    """
    unique = list({_key(cell): cell for cell in cells}.values())
    if not unique:
        raise ConfigError("compare: give at least one cell, e.g. ['rnn', 'lstm', 'gru']")
    specs = [compile_cell(cell).spec for cell in unique]
    for option, owner in KEEP_GATE_BIASES.items():
        if options.get(option) is not None and all(spec.name != owner for spec in specs):
            names = ", ".join(spec.name for spec in specs)
            raise ConfigError(f"{option} applies to the {owner.upper()} only, and none of {names} is one")
    problems = []
    for cell, spec in zip(unique, specs, strict=True):
        own = dict(options)
        if "c" not in spec.state:
            own.pop("c0", None)
        for option, owner in KEEP_GATE_BIASES.items():
            if spec.name != owner:
                own.pop(option, None)
        problems.append(make_problem(cell, **own))
    if samples is None:
        analyses = []
        for problem in problems:
            report = None if progress is None else _for(progress, problem.spec.name)
            analyses.append(analyze(problem, thresholds=thresholds, progress=report))
        return Comparison(tuple(analyses))
    ensembles = []
    for problem in problems:
        report = None if progress is None else _for(progress, problem.spec.name)
        ensembles.append(
            analyze_ensemble(
                problem,
                samples=samples,
                quantiles=quantiles,
                thresholds=thresholds,
                label=problem.spec.display_name,
                progress=report,
            )
        )
    return EnsembleComparison(tuple(ensembles))


def _key(cell: str | Cell) -> str:
    return resolve_name(cell) if isinstance(cell, str) else cell.name


def _for(progress: CellProgress, name: str) -> Callable[[int, int], None]:
    return lambda done, total: progress(name, done, total)
