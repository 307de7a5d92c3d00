"""The adapter of the BPTT check: :func:`from_arrays` maps tutorial-style parameters to PyTorch's, once.

It reads the names (:mod:`gradscope.testing.names`), checks that every role is there exactly once
(input and recurrent weights, or one weight on the concatenation; no bias, one, or two; an optional
output layer), infers H, I and O from the shapes and checks every shape against them, with a
message that names the array, the expected shape and, for a transposed one, the ``layout="row"``
switch. The result is a :class:`~gradscope.testing.layouts.MappedParams`.
"""

from __future__ import annotations

from collections.abc import Mapping

from gradscope.cells.spec import CellSpec
from gradscope.errors import ConfigError, ParameterError, ShapeError
from gradscope.params.arrays import as_float_array, check_choice
from gradscope.testing.layouts import CONCATS, LAYOUTS, ArrayLayout, MappedParams, vector_matches
from gradscope.testing.names import GATE_ALIASES, Role, assign_roles


def _sizes(
    spec: CellSpec, roles: Mapping[str, Role], shapes: Mapping[str, tuple[int, ...]], row: bool
) -> tuple[int, int]:
    """H and I from the weights' shapes (PyTorch orientation: ``shape[::-1]`` under the row convention)."""
    G = spec.num_gates

    def oriented(name: str) -> tuple[int, ...]:
        return shapes[name][::-1] if row else shapes[name]

    def rows_per(name: str) -> int:
        return 1 if roles[name].gate is not None else G

    for name, role in roles.items():
        if not role.kind.startswith("weight"):
            continue
        shape = oriented(name)
        if len(shape) != 2:
            raise ShapeError(f"{name}: a weight must be a matrix, got shape {shapes[name]}")
        if role.kind == "weight_hh":
            return shape[0] // rows_per(name), _input_size(spec, roles, shapes, row, shape[0] // rows_per(name))
    for name, role in roles.items():
        if role.kind == "weight_cat":
            hidden = oriented(name)[0] // rows_per(name)
            return hidden, oriented(name)[1] - hidden
    raise ParameterError(
        f"{spec.name} parameters: no recurrent weight among {', '.join(roles)} (Whh, weight_hh_l0, a per-gate "
        "Wh<g>/U<g>, or W on the concatenation [h; x])"
    )


def _input_size(
    spec: CellSpec, roles: Mapping[str, Role], shapes: Mapping[str, tuple[int, ...]], row: bool, H: int
) -> int:
    for name, role in roles.items():
        if role.kind == "weight_ih":
            shape = shapes[name][::-1] if row else shapes[name]
            rows = H if role.gate is not None else spec.num_gates * H
            if shape[0] != rows:
                flipped = shape[1] == rows
                note = (
                    "; its transpose fits: pass layout='row' for the x @ W convention" if not row else "; transposed?"
                )
                raise ShapeError(
                    f"{name}: expected shape ({rows}, I) (weight_ih, H = {H} from the recurrent weight), got "
                    f"{shapes[name]}{note if flipped else ''}"
                )
            return shape[1]
    raise ParameterError(f"{spec.name} parameters: a recurrent weight but no input weight among {', '.join(roles)}")


def _check_complete(spec: CellSpec, roles: Mapping[str, Role]) -> None:
    kinds: dict[str, list[Role]] = {}
    for role in roles.values():
        kinds.setdefault(role.kind, []).append(role)
    names = ", ".join(roles)
    for kind, found in kinds.items():
        gates = [r.gate for r in found]
        if len(found) > 1 and (None in gates or len(set(gates)) != len(gates)):
            raise ParameterError(f"{spec.name} parameters: more than one array for {kind} ({names})")
        if None not in gates and set(gates) != set(spec.gates):
            missing = ", ".join(g for g in spec.gates if g not in gates)
            raise ParameterError(f"{spec.name} parameters: {kind} given per gate but missing gate(s) {missing}")
    if "weight_cat" in kinds and ({"weight_ih", "weight_hh"} & set(kinds)):
        raise ParameterError(f"{spec.name} parameters: a weight on the concatenation and separate weights ({names})")
    if "weight_cat" not in kinds and not {"weight_ih", "weight_hh"} <= set(kinds):
        missing = "input weight (Wxh)" if "weight_ih" not in kinds else "recurrent weight (Whh)"
        raise ParameterError(f"{spec.name} parameters: no {missing} among {names}")
    if "bias" in kinds and ({"bias_ih", "bias_hh"} & set(kinds)):
        raise ParameterError(f"{spec.name} parameters: one bias and two biases at once ({names})")
    if ("bias_ih" in kinds) != ("bias_hh" in kinds):
        raise ParameterError(
            f"{spec.name} parameters: bias_ih without bias_hh or the reverse ({names}); a single bias is named bh or b"
        )
    if "bias_out" in kinds and "weight_out" not in kinds:
        raise ParameterError(f"{spec.name} parameters: an output bias without output weights ({names})")


def _expected(layout: ArrayLayout, name: str) -> tuple[int, ...]:
    role, H, I, G = layout.roles[name], layout.hidden_size, layout.input_size, layout.spec.num_gates
    rows = H if role.gate is not None else G * H
    columns = {"weight_ih": I, "weight_hh": H, "weight_cat": H + I}
    if role.kind in columns:
        shape: tuple[int, ...] = (rows, columns[role.kind])
    elif role.kind == "weight_out":
        shape = (layout.output_size or 0, H)
    elif role.kind == "bias_out":
        shape = (layout.output_size or 0,)
    else:
        shape = (rows,)
    return shape[::-1] if layout.row and len(shape) == 2 else shape


def from_arrays(
    cell: str | CellSpec = "rnn",
    *,
    layout: str = "auto",
    gates: str | tuple[str, ...] | None = None,
    concat: str = "hx",
    names: Mapping[str, str] | None = None,
    **arrays: object,
) -> MappedParams:
    """Map tutorial-style parameters to PyTorch's, explicitly: ``from_arrays("rnn", Wxh=..., Whh=..., bh=...)``.

    Args:
        cell: the cell the arrays belong to (``"rnn"``, ``"lstm"``, ``"gru"``, ...).
        layout: ``"column"``, ``"flat"`` or ``"auto"`` (weights act as ``W @ x``; vectors may be
            ``(n,)``, ``(n, 1)`` or ``(1, n)``), or ``"row"`` (``x @ W``: every weight is the transpose).
        gates: the order of the gates in the user's row blocks, e.g. ``"ifog"`` (default: the
            cell's PyTorch order, LSTM ``"ifgo"``, GRU ``"rzn"``); ``c`` names the LSTM's ``g``.
        concat: for a weight ``W`` on the concatenation: ``"hx"`` (``W @ [h; x]``, default) or ``"xh"``.
        names: explicit roles for names outside the table, e.g. ``{"U": "weight_ih", "V": "weight_out"}``.
        arrays: the parameters by name (see :mod:`gradscope.testing.names`).

    Raises:
        GradscopeError: unknown names (with a suggestion), missing or duplicated roles, or shapes that
            do not fit; each message names the array and the expected shape.
    """
    return map_arrays(cell, arrays, layout=layout, gates=gates, concat=concat, names=names)


def map_arrays(
    cell: str | CellSpec,
    arrays: Mapping[str, object],
    *,
    layout: str = "auto",
    gates: str | tuple[str, ...] | None = None,
    concat: str = "hx",
    names: Mapping[str, str] | None = None,
) -> MappedParams:
    """:func:`from_arrays` with the arrays as one mapping (for names that clash with its keywords)."""
    from gradscope.compile.cache import compile_cell

    spec = cell if isinstance(cell, CellSpec) else compile_cell(cell).spec
    if not isinstance(arrays, Mapping):
        raise ParameterError(f"params must be a mapping of names to arrays, got {type(arrays).__name__}")
    if spec.feedback:
        raise ConfigError(f"from_arrays: the {spec.name} cell feeds its output back; pass its PyTorch-named parameters")
    check_choice("layout", layout, LAYOUTS)
    check_choice("concat", concat, CONCATS)
    if not arrays:
        raise ParameterError(f"{spec.name} parameters: none given")
    values = {name: as_float_array(name, value) for name, value in arrays.items()}
    roles = assign_roles(spec, values, names)
    _check_complete(spec, roles)
    order = _gate_order(spec, gates)
    row = layout == "row"
    shapes = {name: tuple(int(n) for n in value.shape) for name, value in values.items()}
    hidden, width = _sizes(spec, roles, shapes, row)
    output = None
    for name, role in roles.items():
        if role.kind == "weight_out":
            output = (shapes[name][::-1] if row else shapes[name])[0]
    result = ArrayLayout(spec, roles, shapes, order, concat, row, hidden, width, output)
    for name, shape in shapes.items():
        expected = _expected(result, name)
        if len(expected) == 1 and vector_matches(shape, expected[0]):
            continue
        if shape != expected:
            note = ""
            if shape == expected[::-1]:
                note = (
                    "; its transpose fits: pass layout='row' for the x @ W convention" if not row else "; transposed?"
                )
            raise ShapeError(f"{name}: expected shape {expected} ({_what(result, name)}), got {shape}{note}")
    return MappedParams(result, values)


def _what(layout: ArrayLayout, name: str) -> str:
    role = layout.roles[name]
    prefix = "" if role.gate is None else f"gate {role.gate!r}: "
    G = "" if role.gate is not None or layout.spec.num_gates == 1 else f"{layout.spec.num_gates}*"
    sizes = {
        "weight_ih": f"{G}H, I",
        "weight_hh": f"{G}H, H",
        "weight_cat": f"{G}H, H+I",
        "weight_out": "O, H",
        "bias_out": "O",
    }.get(role.kind, f"{G}H")
    return f"{prefix}{role.kind}, ({sizes})" + (" transposed" if layout.row and role.kind.startswith("weight") else "")


def _gate_order(spec: CellSpec, gates: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if gates is None:
        return spec.gates
    letters = tuple(gates)
    aliases = GATE_ALIASES.get(spec.name, {})
    order = tuple(aliases.get(g, g) for g in letters)
    if sorted(order) != sorted(spec.gates):
        raise ConfigError(
            f"gates: {''.join(letters)!r} is not an order of the {spec.name} gates {', '.join(spec.gates)}"
        )
    return order
