"""The one place where SymPy expressions become NumPy code: ``lambdify(..., cse=True)``.

:func:`lambdify_cell` compiles a cell in this process. :func:`render_module` writes the same
lambdified functions for the built-in cells as Python source, which ships as
:mod:`gradscope.compile.generated` so that the command line need not import SymPy; regenerate it with
``python -m gradscope.compile`` after changing a cell (a test fails until you do).
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import keyword
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import sympy

from gradscope.cells.activations import NUMPY_FUNCTIONS
from gradscope.cells.builtin import CELLS
from gradscope.cells.cell import Cell, readout_projection
from gradscope.cells.spec import CellSpec
from gradscope.compile.compiled import BlockFormula, CompiledCell, PartialKey
from gradscope.errors import ConfigError
from gradscope.symbolic.derivation import Derivation, derive

_MODULES = [NUMPY_FUNCTIONS, "numpy"]


def _argument_names(derivation: Derivation) -> list[str]:
    """Python identifiers for the arguments: ``u_<gate>``, ``m_<gate>``, ``<component>_prev``, ``vec_<vector>``."""
    cell = derivation.cell
    names = [f"u_{g}" for g in cell.gates] + [f"m_{g}" for g in cell.gates]
    if cell.readout is None:  # a readout cell's hidden stage is stateless: no previous components
        names += [f"{c}_prev" for c in cell.state]
    names += [f"vec_{symbol}" for symbol, _ in cell.vectors]
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"cell {cell.name!r}: gate or state name gives the invalid argument name {name!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"cell {cell.name!r}: its gates, state and vectors give clashing argument names {names}")
    return names


def _functions(derivation: Derivation) -> dict[str, tuple[list[sympy.Expr], tuple[PartialKey, ...]]]:
    """The three functions of a cell: their expressions and the keys of their results."""
    d = derivation
    state_keys = tuple([("m", *k) for k in d.recurrent_partials] + [("s", *k) for k in d.state_partials])
    state_exprs = list(d.recurrent_partials.values()) + list(d.state_partials.values())
    input_keys = tuple(("u", *k) for k in d.input_partials)
    functions = {
        "update": (list(d.new_state), ()),
        "state_partials": (state_exprs, state_keys),
        "input_partials": (list(d.input_partials.values()), input_keys),
    }
    # Only for cells that have them: the built-in cells' shipped code stays as it is.
    if d.cell.vectors:
        functions["vector_partials"] = (list(d.vector_partials.values()), tuple(("p", *k) for k in d.vector_partials))
    if d.inner_reads:
        functions["inner"] = (list(d.inner_reads.values()), ())
        functions["inner_partials"] = (list(d.inner_partials.values()), tuple(d.inner_partials))
    return functions


def lambdify_expressions(arguments: Sequence[sympy.Symbol], expressions: object) -> Callable[..., object]:
    """NumPy code computing ``expressions`` (one, or a list) of ``arguments``: the one ``lambdify`` site.

    Common subexpressions are shared (``cse=True``); the cell's activation heads map to
    :mod:`gradscope.cells.numpy_functions`, everything else to NumPy.
    """
    return sympy.lambdify(list(arguments), expressions, modules=_MODULES, cse=True, docstring_limit=0)


def _lambdify(derivation: Derivation, expressions: Sequence[sympy.Expr]) -> Callable[..., Sequence[object]]:
    names = _argument_names(derivation)
    symbols = [sympy.Symbol(n) for n in names]
    renamed = [sympy.sympify(e).xreplace(dict(zip(derivation.arguments, symbols, strict=True))) for e in expressions]
    return lambdify_expressions(symbols, renamed)  # type: ignore[return-value]


def _blocks(derivation: Derivation) -> tuple[BlockFormula, ...]:
    return tuple(BlockFormula(b.row, b.col, b.text(), b.latex()) for b in derivation.blocks)


def _readout_functions(derivation: Derivation) -> dict[str, Callable[..., object]]:
    """``readout`` (``y_t``) and ``readout_partial`` (``d y_t / d r``) as functions of ``r``; empty without one."""
    if derivation.readout_output is None or derivation.readout_partial is None:
        return {}
    r = [readout_projection()]
    return {
        "readout": lambdify_expressions(r, derivation.readout_output),
        "readout_partial": lambdify_expressions(r, derivation.readout_partial),
    }


def lambdify_cell(cell: Cell) -> CompiledCell:
    """Derive ``cell`` with SymPy and lambdify its update and Jacobian coefficients."""
    derivation = derive(cell)
    functions = {kind: (_lambdify(derivation, exprs), keys) for kind, (exprs, keys) in _functions(derivation).items()}
    readout = _readout_functions(derivation)
    extra = {}
    for kind in ("vector_partials", "inner_partials"):
        if kind in functions:
            extra[f"{kind}_function"], keys = functions[kind]
            extra[f"{kind.replace('partials', 'partial')}_keys"] = keys
    if "inner" in functions:
        extra["inner_function"] = functions["inner"][0]
    return CompiledCell(
        spec=cell.spec,
        update_function=functions["update"][0],
        state_partials_function=functions["state_partials"][0],
        state_partial_keys=functions["state_partials"][1],
        input_partials_function=functions["input_partials"][0],
        input_partial_keys=functions["input_partials"][1],
        blocks=_blocks(derivation),
        origin="live",
        readout_function=readout.get("readout"),
        readout_partial_function=readout.get("readout_partial"),
        **extra,
    )


#: The fields of :class:`~gradscope.cells.spec.CellSpec` the shipped code always writes; later ones
#: only where they differ from their defaults, so that the code needs no more imports than ``CellSpec``.
_SPEC_FIELDS = ("name", "title", "gates", "state", "reference", "feedback", "label", "reads")


def spec_source(spec: CellSpec) -> str:
    """``CellSpec(...)`` as source (the repr of its plain fields, the rest only where not default)."""
    values = []
    for item in dataclasses.fields(spec):
        value = getattr(spec, item.name)
        if item.name in _SPEC_FIELDS:
            values.append(f"{item.name}={value!r}")
            continue
        default = item.default if item.default is not dataclasses.MISSING else item.default_factory()  # type: ignore[misc]
        if value != default:
            if not isinstance(value, (str, bool, tuple)):
                raise ValueError(f"cell {spec.name!r}: {item.name} cannot be written into the shipped code")
            values.append(f"{item.name}={value!r}")
    return f"CellSpec({', '.join(values)})"


def _function_source(function: Callable[..., object], name: str) -> tuple[str, set[str]]:
    source = inspect.getsource(function).replace("def _lambdifygenerated(", f"def {name}(", 1)
    used = {n for n in function.__code__.co_names if not hasattr(builtins, n)}
    return source, used


def render_module(cells: Sequence[Cell] | None = None) -> str:
    """Python source of :mod:`gradscope.compile.generated` for ``cells`` (default: every built-in cell)."""
    cells = [factory() for factory in CELLS.values()] if cells is None else list(cells)
    bodies: list[str] = []
    entries: list[str] = []
    used: set[str] = set()
    for cell in cells:
        derivation = derive(cell)
        prefix = cell.name.replace("-", "_")
        names = {}
        for kind, (exprs, keys) in _functions(derivation).items():
            source, names_used = _function_source(_lambdify(derivation, exprs), f"{prefix}_{kind}")
            bodies.append(source)
            used |= names_used
            names[kind] = (f"{prefix}_{kind}", keys)
        readout_fields = ""
        for kind in ("vector_partials", "inner", "inner_partials"):
            if kind in names:
                readout_fields += f"        {kind}_function={names[kind][0]},\n"
                if kind != "inner":
                    readout_fields += f"        {kind.replace('partials', 'partial')}_keys={names[kind][1]!r},\n"
        for kind, function in _readout_functions(derivation).items():
            source, names_used = _function_source(function, f"{prefix}_{kind}")
            bodies.append(source)
            used |= names_used
            readout_fields += f"        {kind}_function={prefix}_{kind},\n"
        entries.append(
            f"    {cell.name!r}: CompiledCell(\n"
            f"        spec={spec_source(cell.spec)},\n"
            f"        update_function={names['update'][0]},\n"
            f"        state_partials_function={names['state_partials'][0]},\n"
            f"        state_partial_keys={names['state_partials'][1]!r},\n"
            f"        input_partials_function={names['input_partials'][0]},\n"
            f"        input_partial_keys={names['input_partials'][1]!r},\n"
            f"        blocks={_blocks(derivation)!r},\n"
            f"        origin='generated',\n"
            f"{readout_fields}"
            f"    ),"
        )
    from_activations = sorted(n for n in used if n in NUMPY_FUNCTIONS)
    from_numpy = sorted(n for n in used if n not in NUMPY_FUNCTIONS)
    header = [
        '"""Lambdified code of the built-in cells, generated by ``python -m gradscope.compile``. Do not edit.',
        "",
        f"Derived and lambdified (cse=True) with SymPy {sympy.__version__} from :mod:`gradscope.cells.builtin`;",
        "tests/compile/test_codegen.py checks that it is exactly what SymPy derives today.",
        '"""',
        "# ruff: noqa",
        "",
    ]
    if from_numpy:
        header.append(f"from numpy import {', '.join(from_numpy)}")
    if from_activations:
        header.append(f"from gradscope.cells.numpy_functions import {', '.join(from_activations)}")
    header += [
        "from gradscope.cells.spec import CellSpec",
        "from gradscope.compile.compiled import BlockFormula, CompiledCell",
        "",
        "",
    ]
    footer = ["GENERATED = {", *entries, "}", ""]
    return "\n".join(header) + "\n\n".join(bodies) + "\n\n" + "\n".join(footer)


def main() -> int:
    """Write :mod:`gradscope.compile.generated` next to this file."""
    path = Path(__file__).with_name("generated.py")
    path.write_text(render_module(), encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
