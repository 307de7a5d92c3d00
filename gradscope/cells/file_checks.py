"""The checks of a cell file's parts, each raising a one-line :class:`~gradscope.errors.CellFileError`.

Used by :mod:`gradscope.cells.file`; ``fail(key, problem)`` makes the error for the file at hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from gradscope.cells.equations import Scope, recurrent_weight
from gradscope.cells.formula import Names, check_constants, names_in
from gradscope.cells.formula import parse as parse_formula
from gradscope.cells.spec import RecurrentWeight
from gradscope.errors import CellFileError, ConfigError, FormulaError

#: The keys of the ``[recurrent]`` table.
RECURRENT_KEYS = ("weight", "matrix")
Fail = Callable[[str, str], CellFileError]


def check_text(fail: Fail, data: Mapping[str, Any], key: str, longest: int, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise fail(key, f"expected a string, got {shown(value)}")
    if len(value) > longest or any(ord(c) < 32 and c not in "\t" for c in value):
        raise fail(key, f"expected one line of at most {longest} characters")
    return value.strip()


def check_names(fail: Fail, data: Mapping[str, Any], key: str, required: bool = True) -> tuple[str, ...]:
    value = data.get(key, [] if not required else None)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (required and not value):
        raise fail(key, f'expected a list of names, e.g. {key} = ["h"], got {shown(value)}')
    return tuple(value)


def read_table(fail: Fail, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise fail(key, f"expected a table [{key}], got {shown(value)}")
    return value


def table_items(fail: Fail, data: Mapping[str, Any], key: str) -> list[tuple[str, Any]]:
    return list(read_table(fail, data, key).items())


def check_string(fail: Fail, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise fail(key, f"expected a formula string, got {shown(value)}")
    return value


def read_constants(fail: Fail, table: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    out = []
    for key, value in table.items():
        number = read_number(fail, f"constants.{key}", value)
        out.append((key, number))
    return tuple(out)


def read_number(fail: Fail, key: str, value: object) -> float:
    """A constant's value: a TOML number, or a string holding a constant formula (``"1/3"``)."""
    if isinstance(value, str):
        try:
            node = parse_formula(value, Names({}, {}, ("exp", "log", "sqrt")))
            value = check_constants(value, node)
        except FormulaError as error:
            raise fail(key, f"{error.reason}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise fail(key, f"expected a finite number, got {shown(value)}")
    if float(value) and not 1e-300 <= abs(float(value)) <= 1e300:
        raise fail(key, f"{value!r} is out of range (1e-300 .. 1e300 in magnitude)")
    return float(value)


def read_recurrent(
    source: str, fail: Fail, table: Mapping[str, Any], constants: Mapping[str, float]
) -> RecurrentWeight:
    unknown = sorted(set(table) - set(RECURRENT_KEYS))
    if unknown:
        raise fail(f"recurrent.{unknown[0]}", f"unknown key (the [recurrent] table has {', '.join(RECURRENT_KEYS)})")
    kind = table.get("weight", "matrix")
    if not isinstance(kind, str):
        raise fail("recurrent.weight", f'expected "matrix", "per-unit" or "none", got {shown(kind)}')
    text = table.get("matrix", "W")
    if not isinstance(text, str):
        raise fail("recurrent.matrix", f'expected a formula string such as "W - transpose(W)", got {shown(text)}')
    try:
        return recurrent_weight(kind, text, constants)
    except FormulaError as error:
        raise formula_error(source, "recurrent.matrix", error) from None
    except ConfigError as error:
        raise fail("recurrent.weight", str(error)) from None


def order_equations(source: str, fail: Fail, scope: Scope, equations: Mapping[str, str]) -> list[str]:
    """The equations' names in an order where each is defined before use; a cycle is an error."""
    names = scope.names()
    everything = dict(names.symbols)
    for key in equations:
        for spelling in (key, f"{key}_t", f"{key}_{{t}}"):
            everything.setdefault(spelling, f"{key}_t")
    uses: dict[str, set[str]] = {}
    for key, text in equations.items():
        try:
            node = parse_formula(text, Names(everything, {}, names.functions))
        except FormulaError as error:
            raise formula_error(source, f"equations.{key}", error) from None
        uses[key] = {name[:-2] for name in names_in(node) if name.endswith("_t") and name[:-2] in equations}
    order: list[str] = []
    state: dict[str, str] = {}  # "active" or "done"

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "active":
            cycle = [*path[path.index(key) :], key]
            raise fail(
                f"equations.{key}", f"a cycle: {' -> '.join(cycle)} (each name must be computable from the others)"
            )
        state[key] = "active"
        for used in sorted(uses[key]):
            visit(used, [*path, key])
        state[key] = "done"
        order.append(key)

    for key in equations:
        visit(key, [])
    return order


def check_formulas(
    source: str, scope: Scope, order: list[str], equations: Mapping[str, str], projections: tuple[tuple[str, str], ...]
) -> None:
    """Every formula parsed with the names defined before it, its cost with named quantities written out."""
    for key in order:
        try:
            _, cost = scope.parse(f"equations.{key}", equations[key])
            scope.define(f"{key}_t", cost, where=f"{source}: equations.{key}")
        except FormulaError as error:
            raise formula_error(source, f"equations.{key}", error) from None
        except ConfigError as error:
            raise CellFileError(str(error)) from None
    for gate, text in projections:
        try:
            scope.parse(f"projections.{gate}", text)
        except FormulaError as error:
            raise formula_error(source, f"projections.{gate}", error) from None


def formula_error(source: str, key: str, error: FormulaError) -> CellFileError:
    """One line: ``FILE: KEY: reason (column N of 'formula')``."""
    where = ""
    if error.expression is not None and error.position >= 0:
        shown = error.expression if len(error.expression) <= 80 else error.expression[:77] + "..."
        where = f" (column {error.position + 1} of {shown!r})"
    return CellFileError(f"{source}: {key}: {error.reason}{where}")


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
