"""Every compiled cell checked before it is trusted: its derived partials against central differences of its own update.

At random per-unit points (``u``, ``m``, previous state and vectors drawn ``N(0, 1)``, seeded), each
lambdified partial derivative (``d row / d m_g``, ``d row / d u_g``, ``d row / d b_{t-1}``,
``d row / d p``, those of what inner gates read, and a readout's ``d y / d r``) is compared with the
central difference of the compiled update itself. A point where two step sizes disagree with each
other is a kink (ReLU at 0) and is skipped; values that are not finite, or a derivative that differs
from its difference quotient, are a :class:`~gradscope.errors.CellCheckError` naming the partial,
the point and both numbers. About a millisecond per cell: :func:`gradscope.compile.compile_cell`
runs it on every cell it derives (the shipped built-in code is checked by the test suite).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradscope.compile.compiled import CompiledCell
from gradscope.errors import CellCheckError

#: Random points per check, and the tolerance (relative to ``1 + |derivative|``).
POINTS = 24
TOLERANCE = 1e-6
#: Central-difference steps: the check's, and a smaller one to recognise kinks.
STEP = 1e-5


@dataclass(frozen=True)
class PartialCheck:
    """One partial derivative checked: its name (``"dc/dm_f"``), the points used, the worst error."""

    name: str
    points: int
    skipped: int
    worst_error: float


@dataclass(frozen=True)
class PartialsReport:
    """Every partial of a cell checked at :data:`POINTS` random points (``skipped``: kinks)."""

    cell: str
    checks: tuple[PartialCheck, ...]
    tolerance: float = TOLERANCE

    @property
    def worst_error(self) -> float:
        return max((c.worst_error for c in self.checks), default=0.0)


def _arguments(compiled: CompiledCell, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random arguments, one point per "unit": ``u``, ``m`` ``(G, N)``, ``s`` ``(C, N)``, ``p`` ``(P, N)``."""
    spec = compiled.spec
    components = 0 if spec.feedback else len(spec.state)
    return {
        "u": rng.standard_normal((spec.num_gates, POINTS)),
        "m": rng.standard_normal((spec.num_gates, POINTS)),
        "s": rng.standard_normal((components, POINTS)),
        "p": rng.standard_normal((len(spec.vectors), POINTS)),
    }


def check_partials(compiled: CompiledCell, seed: int = 0) -> PartialsReport:
    """Check every partial of ``compiled`` against central differences of its own functions.

    Raises:
        CellCheckError: a value that is not finite where evaluated, or a derivative that differs
            from its difference quotient (the message names both, the partial and the point).
    """
    spec = compiled.spec
    values: dict = _arguments(compiled, np.random.default_rng(seed))
    names = {"u": spec.gates, "m": spec.gates, "s": spec.state if values["s"].size else (), "p": spec.vector_symbols}
    values["names"] = {kind: [_argument(kind, n) for n in items] for kind, items in names.items()}

    def call(function: Callable[..., object], changed: dict[str, np.ndarray] | None = None) -> object:
        a = values | (changed or {})
        with np.errstate(all="ignore"):
            return function(a["u"], a["m"], a["s"], a["p"] if spec.vectors else None)

    base = np.asarray(call(compiled.update))
    if not np.all(np.isfinite(base)):
        raise CellCheckError(f"cell {spec.name!r}: its update is not finite at {_point(values, _bad(base))}")
    tables = [(compiled.state_partials, compiled.update), (compiled.input_partials, compiled.update)]
    tables.append((compiled.vector_partials, compiled.update))
    if spec.inner_gates:
        tables.append((compiled.inner_partials, compiled.inner_reads))
    checks = []
    for partials, function in tables:
        rows = spec.inner_gates if function == compiled.inner_reads else (("h",) if spec.feedback else spec.state)
        for key, derived in call(partials).items():  # type: ignore[union-attr]
            kind, row, other = key  # d row / d other, other an argument of this kind
            column = names[kind].index(other)

            def along(step: float, kind: str = kind, column: int = column, function=function) -> np.ndarray:
                plus, minus = values[kind].copy(), values[kind].copy()
                plus[column] += step
                minus[column] -= step
                return (np.asarray(call(function, {kind: plus})) - np.asarray(call(function, {kind: minus}))) / (
                    2 * step
                )

            name = f"d{row}/d{_argument(kind, other)}"
            checks.append(_compare(spec.name, name, values, np.asarray(derived), along, rows.index(row)))
    if compiled.readout_function is not None:
        checks.append(_check_readout(compiled, np.random.default_rng(seed)))
    return PartialsReport(spec.name, tuple(checks))


def _compare(
    cell: str,
    name: str,
    values: dict[str, np.ndarray],
    derived: np.ndarray,
    along: Callable[[float], np.ndarray],
    row: int,
) -> PartialCheck:
    """A derivative at every point against central differences (two steps, so that kinks are recognised)."""
    if not np.all(np.isfinite(derived)):
        raise CellCheckError(f"cell {cell!r}: {name} is not finite at {_point(values, _bad(derived))}")
    coarse, fine = along(STEP)[row], along(STEP / 8)[row]
    scale = 1.0 + np.abs(derived)
    smooth = np.isfinite(coarse) & (np.abs(coarse - fine) <= 10 * TOLERANCE * scale)  # else a kink is within a step
    if smooth.sum() < POINTS // 2:
        raise CellCheckError(
            f"cell {cell!r}: {name}: the update is not differentiable at {POINTS - int(smooth.sum())} of {POINTS} "
            "random points (central differences with two step sizes disagree)"
        )
    error = np.where(smooth, np.abs(coarse - derived) / scale, 0.0)
    worst = int(np.argmax(error))
    if error[worst] > TOLERANCE:
        raise CellCheckError(
            f"cell {cell!r}: {name} is {derived[worst]:.9g} derived but {coarse[worst]:.9g} by central differences "
            f"at {_point(values, worst)}"
        )
    return PartialCheck(name, POINTS, POINTS - int(smooth.sum()), float(error.max()))


def _check_readout(compiled: CompiledCell, rng: np.random.Generator) -> PartialCheck:
    r = rng.standard_normal(POINTS)
    derived = compiled.readout_partial(r)
    numeric = (compiled.readout(r + STEP) - compiled.readout(r - STEP)) / (2 * STEP)
    error = float(np.max(np.abs(numeric - derived) / (1 + np.abs(derived))))
    if not np.isfinite(error) or error > TOLERANCE:
        raise CellCheckError(f"cell {compiled.spec.name!r}: dy/dr differs from central differences ({error:.2e})")
    return PartialCheck("dy/dr", POINTS, 0, error)


def _argument(kind: str, name: str) -> str:
    return {"u": f"u_{name}", "m": f"m_{name}", "s": f"{name}_prev", "p": name}[kind]


def _bad(result: np.ndarray) -> int:
    """The first point (column) where ``result`` is not finite."""
    finite = np.isfinite(result).reshape(-1, POINTS).all(axis=0)
    return int(np.argmin(finite))


def _point(values: dict[str, np.ndarray], index: int) -> str:
    """A random point as text: the arguments' values there (``values["names"]`` labels them)."""
    labels = values["names"]
    parts = [f"{labels[kind][k]}={values[kind][k, index]:.4g}" for kind in "umsp" for k in range(len(labels[kind]))]
    return "a random point (" + ", ".join(parts[:8]) + (", ..." if len(parts) > 8 else "") + ")"
