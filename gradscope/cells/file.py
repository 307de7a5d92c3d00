"""Cell files: a recurrent cell as a short TOML file that anyone can write and nobody can abuse.

A cell file (read with the standard library's ``tomllib``; the format is ``docs/cell-files.md``)::

    name = "leaky-tanh"
    title = "Leaky-integrator tanh RNN"
    gates = ["a"]                 # one projection pair per gate: u_a = W_ia x + b_ia, m_a = W_ha h + b_ha
    state = ["h"]
    reference = "any citation"

    [constants]                   # scalar hyper-parameters, overridable with --set alpha=0.5
    alpha = 0.3

    [equations]                   # names of state components give the new state
    h = "(1 - alpha) * h_prev + alpha * tanh(u_a + m_a)"

Optional: ``label``, ``reads`` (the state components the recurrence reads), ``[vectors]`` (per-unit
parameters, ``p_i = "weight_peephole_i"``), ``[recurrent]`` (``weight = "matrix" | "per-unit" |
"none"``, ``matrix = "W - transpose(W) - gamma * I"``) and ``[projections]`` (a gate whose
projection reads a quantity of the step: ``n = "r * h_prev"``). Equations may come in any order;
they are sorted by what they use, and a cycle is an error.

Reading a file executes nothing: the TOML is data, every formula goes through the formula
language (:mod:`gradscope.cells.formula`), and this module does not import SymPy:
:func:`read_cell_file` checks the whole file and gives its :class:`~gradscope.cells.spec.CellSpec`;
:meth:`CellFile.cell` builds the SymPy :class:`~gradscope.cells.cell.Cell`. Every problem is one
line naming the file, the key and the offending token (:class:`~gradscope.errors.CellFileError`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gradscope.cells.equations import Scope, check_count
from gradscope.cells.file_checks import (
    check_formulas,
    check_names,
    check_string,
    check_text,
    formula_error,
    order_equations,
    read_constants,
    read_number,
    read_recurrent,
    read_table,
    table_items,
)
from gradscope.cells.spec import CellSpec, RecurrentWeight
from gradscope.errors import CellFileError, ConfigError, FormulaError

try:  # the standard library's TOML reader (Python 3.11+); its backport on 3.10
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    tomllib = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from gradscope.cells.cell import Cell

#: Largest cell file read, in bytes.
MAX_FILE_BYTES = 64 * 1024
#: The keys a cell file may have: top-level values and tables.
KEYS = ("name", "title", "label", "reference", "gates", "state", "reads")
TABLES = ("constants", "vectors", "recurrent", "projections", "equations")


@dataclass(frozen=True)
class CellFile:
    """A checked cell file: its data, as read, and the constants' values.

    Attributes:
        source: the file's path (or ``"<string>"``), for messages.
        equations: ``(name, formula)`` in an order where every name is defined before it is used.
        projections: ``(gate, formula)`` of gates that project a quantity of the step.
        constants: ``(name, value)``, after overrides.
    """

    source: str
    name: str
    title: str
    label: str
    reference: str
    gates: tuple[str, ...]
    state: tuple[str, ...]
    reads: tuple[str, ...]
    constants: tuple[tuple[str, float], ...]
    vectors: tuple[tuple[str, str], ...]
    recurrent: RecurrentWeight
    projections: tuple[tuple[str, str], ...]
    equations: tuple[tuple[str, str], ...]

    @property
    def spec(self) -> CellSpec:
        """The cell's light interface, without SymPy (equal to ``self.cell().spec``)."""
        return CellSpec(
            self.name,
            self.title,
            self.gates,
            self.state,
            self.reference,
            False,
            self.label,
            self.reads,
            self.recurrent,
            tuple(parameter for _, parameter in self.vectors),
            tuple(gate for gate, _ in self.projections),
            self.constants,
            tuple(symbol for symbol, _ in self.vectors),
        )

    def with_constants(self, overrides: Mapping[str, object]) -> CellFile:
        """The same file with some constants set (``{"alpha": 0.5}`` or ``{"alpha": "0.5"}``), checked again."""
        if not overrides:
            return self
        return _checked(self.source, _raw(self) | {"constants": dict(self.constants) | _overrides(self, overrides)})

    def cell(self) -> Cell:
        """The cell as SymPy equations (imports SymPy)."""
        from gradscope.cells.cell import Cell

        try:
            return Cell(
                name=self.name,
                title=self.title,
                gates=self.gates,
                state=self.state,
                definitions=tuple((f"{key}_t", text) for key, text in self.equations),
                updates=tuple(f"{component}_t" for component in self.state),
                reference=self.reference,
                label=self.label,
                reads=self.reads,
                recurrent=self.recurrent,
                vectors=self.vectors,
                inner_reads=self.projections,
                constants=self.constants,
            )
        except FormulaError as error:
            raise formula_error(self.source, _key_of(error.where), error) from None
        except ConfigError as error:
            raise CellFileError(f"{self.source}: {error}") from None


def read_cell_file(path: str | os.PathLike[str], overrides: Mapping[str, object] | None = None) -> CellFile:
    """Read and check a cell file; ``overrides`` set constants (``--set alpha=0.5``).

    Raises:
        CellFileError: not a regular readable UTF-8 file of at most :data:`MAX_FILE_BYTES`, not TOML,
            or not a cell; the message is one line naming the file, the key and the offending token.
    """
    source = str(path)
    return parse_cell_text(_read_text(source), source, overrides)


def parse_cell_text(text: str, source: str = "<string>", overrides: Mapping[str, object] | None = None) -> CellFile:
    """A cell file's text read and checked (see :func:`read_cell_file`)."""
    reader = tomllib
    if reader is None:  # pragma: no cover - Python 3.10
        try:
            import tomli as reader  # type: ignore[no-redef]
        except ImportError:
            raise CellFileError(f"{source}: reading cell files needs Python 3.11+ (or the tomli package)") from None
    try:
        data = reader.loads(text)
    except reader.TOMLDecodeError as error:
        raise CellFileError(f"{source}: not valid TOML: {error}") from None
    checked = _checked(source, data)
    return checked.with_constants(overrides or {})


def load_cell(path: str | os.PathLike[str], overrides: Mapping[str, object] | None = None) -> Cell:
    """The :class:`~gradscope.cells.cell.Cell` a cell file defines, checked (``overrides`` set constants).

    >>> load_cell("leaky.toml", {"alpha": 0.5})  # doctest: +SKIP
    """
    return read_cell_file(path, overrides).cell()


# ----------------------------------------------------------------------------------------- reading


def _read_text(source: str) -> str:
    """The text of a regular file, opened without blocking (a FIFO is refused, not waited on)."""
    try:
        descriptor = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise CellFileError(f"{source}: cannot open the cell file ({error.strerror or error})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise CellFileError(f"{source}: not a regular file (a cell file is a TOML text file)")
        if info.st_size > MAX_FILE_BYTES:
            raise CellFileError(f"{source}: {info.st_size} bytes, more than the {MAX_FILE_BYTES} a cell file may have")
        data = os.read(descriptor, MAX_FILE_BYTES + 1)
    except OSError as error:
        raise CellFileError(f"{source}: cannot read the cell file ({error.strerror or error})") from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_FILE_BYTES:
        raise CellFileError(f"{source}: more than the {MAX_FILE_BYTES} bytes a cell file may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CellFileError(f"{source}: not UTF-8 text (byte {error.start})") from None


# ---------------------------------------------------------------------------------------- checking


def _checked(source: str, data: Mapping[str, Any]) -> CellFile:
    """Everything a cell file says, checked without SymPy."""

    def fail(key: str, problem: str) -> CellFileError:
        return CellFileError(f"{source}: {key}: {problem}")

    unknown = sorted(set(data) - set(KEYS) - set(TABLES))
    if unknown:
        raise fail(unknown[0], f"unknown key (a cell file has {', '.join(KEYS + TABLES)})")
    for key in ("name", "title", "gates", "state", "equations"):
        if key not in data:
            raise fail(key, "missing (a cell file needs name, title, gates, state and [equations])")
    name, title = check_text(fail, data, "name", 40), check_text(fail, data, "title", 200)
    label, reference = check_text(fail, data, "label", 40, ""), check_text(fail, data, "reference", 1000, "")
    if not name.replace("-", "").isalnum() or not name[0].isalpha():
        raise fail("name", f"{name!r} is not a cell name (letters, digits and '-', starting with a letter)")
    gates, state = check_names(fail, data, "gates"), check_names(fail, data, "state")
    reads = check_names(fail, data, "reads", required=False)
    constants = read_constants(fail, read_table(fail, data, "constants"))
    vectors = tuple((s, check_string(fail, f"vectors.{s}", p)) for s, p in table_items(fail, data, "vectors"))
    recurrent = read_recurrent(source, fail, read_table(fail, data, "recurrent"), dict(constants))
    projections = tuple(
        (g, check_string(fail, f"projections.{g}", q)) for g, q in table_items(fail, data, "projections")
    )
    equations = {
        key: check_string(fail, f"equations.{key}", value) for key, value in table_items(fail, data, "equations")
    }
    for symbol, parameter in vectors:
        if not parameter.isidentifier() or not parameter.isascii() or parameter.startswith("_"):
            raise fail(f"vectors.{symbol}", f"{parameter!r} is not a parameter name (e.g. weight_peephole_i)")
    for gate, _ in projections:
        if gate not in gates:
            raise fail(f"projections.{gate}", f"{gate!r} is not one of the gates {list(gates)}")
    for component in state:
        if component not in equations:
            raise fail("equations", f"the state component {component!r} has no equation (each one needs its new value)")
    try:
        for kind, items in (("gates", gates), ("state", state), ("vectors", vectors), ("constants", constants)):
            check_count(kind, items)
        check_count("definitions", list(equations))
        scope = Scope(
            gates, state, recurrent=recurrent.kind != "none", vectors=[s for s, _ in vectors], constants=constants
        )
    except ConfigError as error:
        raise CellFileError(f"{source}: {error}") from None
    order = order_equations(source, fail, scope, equations)
    check_formulas(source, scope, order, equations, projections)
    return CellFile(
        source, name, title, label, reference, gates, state, reads, constants, vectors, recurrent, projections,
        tuple((key, equations[key]) for key in order),
    )  # fmt: skip


def _overrides(cell: CellFile, overrides: Mapping[str, object]) -> dict[str, float]:
    known = dict(cell.constants)
    out = {}
    for name, value in overrides.items():
        if name not in known:
            listed = ", ".join(known) or "none"
            raise CellFileError(f"{cell.source}: --set {name}: the cell has no constant {name!r} (constants: {listed})")
        out[name] = read_number(
            lambda key, problem: CellFileError(f"{cell.source}: --set {key}: {problem}"), name, value
        )
    return out


def _raw(cell: CellFile) -> dict[str, Any]:
    """A checked file's data as TOML would give it (to check it again with other constants)."""
    return {
        "name": cell.name,
        "title": cell.title,
        "label": cell.label,
        "reference": cell.reference,
        "gates": list(cell.gates),
        "state": list(cell.state),
        "reads": list(cell.reads),
        "vectors": dict(cell.vectors),
        "recurrent": {"weight": cell.recurrent.kind, "matrix": cell.recurrent.text or "W"},
        "projections": dict(cell.projections),
        "equations": dict(cell.equations),
    }


# ------------------------------------------------------------------------------------------ errors


def _key_of(where: str) -> str:
    """The file's key for a :class:`Cell` error's ``where`` (``"cell 'x': definition of c_t"`` -> ``equations.c``)."""
    if "definition of " in where:
        return "equations." + where.rsplit("definition of ", 1)[1].removesuffix("_t")
    if "what m_" in where:
        return "projections." + where.rsplit("what m_", 1)[1].split()[0]
    return "equations"
