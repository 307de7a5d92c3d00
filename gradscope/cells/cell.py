"""A recurrent cell as data: its equations in SymPy and its linear projections.

A cell is *elementwise functions of linear projections*. For every gate ``g`` (in PyTorch's chunk
order of ``weight_ih`` / ``weight_hh`` rows) it sees two projections of length H,

* ``u_g = W_ig x_t + b_ig``     (chunk ``g`` of ``weight_ih_l0 @ x_t + bias_ih_l0``), and
* ``m_g = W_hg h_{t-1} + b_hg`` (chunk ``g`` of ``weight_hh_l0 @ h_{t-1} + bias_hh_l0``),

and each unit's previous state components (``h_{t-1}``, and ``c_{t-1}`` for the LSTM). The cell
equations are scalar SymPy expressions in those symbols, for one unit; they hold for every unit
at once. So a new cell is a new :class:`Cell` value, not new engine code: the symbolic layer
differentiates the equations and the numeric layer assembles the Jacobian from them.

The first state component is the hidden state (``h``; coRNN's ``y``), the one a layer outputs. The
recurrent projections read it alone unless the cell names the components they read (``reads``, e.g.
``("y", "z")`` for coupled oscillators): then ``m_g = W_hg [s_reads] + b_hg`` with ``W_hg`` of shape
``(H, len(reads) * H)``. The blocks ``W_hg`` may be structured (:class:`~gradscope.cells.spec.RecurrentWeight`:
per-unit vectors as in IndRNN, ``W - W^T - gamma I`` as in AntisymmetricRNN), a gate's projection
may read a per-unit quantity of the step instead of the previous state (``inner_reads``: Cho's GRU
applies its reset before the product, ``m_n = W_hn (r_t * h_{t-1}) + b_hn``), and the equations may
use per-unit parameter vectors (``vectors``: peepholes) and scalar constants (``constants``).

Equations may be given as SymPy expressions or as strings in the formula language
(:mod:`gradscope.cells.formula`), which are parsed, never ``sympify``-ed.

A cell with a :class:`Readout` (the Jordan network) feeds its *output* back instead: a stateless
hidden stage ``h_t`` (equations in ``u_g`` and ``m_g``, where ``m_g = W_yg y_{t-1}`` reads the
previous output) is read out per output unit as ``y_t = rho(r)``, ``r = W_hy h_t + b_y``, and the
state is ``y`` (length O, the output size), not ``h``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy

from gradscope.cells.equations import NAME, PARAMETER, SYMBOL, Scope, check_count, check_name
from gradscope.cells.formula import Cost
from gradscope.cells.spec import CellSpec, RecurrentWeight
from gradscope.cells.symbols import m, now, prev, readout_projection, u
from gradscope.errors import ConfigError

__all__ = ["Cell", "Readout", "m", "now", "prev", "readout_projection", "u"]


@dataclass(frozen=True)
class Readout:
    """An output stage ``y_t = output(r)`` per output unit, ``r = W_hy h_t + b_y``, whose value is fed back.

    Attributes:
        output: ``y_t`` as a SymPy expression in :func:`readout_projection` only (or a formula string in ``r``).
    """

    output: Any


@dataclass(frozen=True)
class Cell:
    """A recurrent cell, defined by its per-unit equations.

    Attributes:
        name: registry name, e.g. ``"lstm"``.
        title: one-line human description.
        gates: gate names in PyTorch's chunk order; ``weight_ih_l0`` has shape
            ``(len(gates) * H, input_size)`` and ``weight_hh_l0`` ``(len(gates) * H, H)``.
        state: state components; ``s = [state[0]; state[1]; ...]``, ``state[0]`` the hidden state.
        definitions: named intermediate quantities ``(symbol, expression)`` in evaluation order;
            an expression may use :func:`u`, :func:`m`, :func:`prev` symbols, earlier names, the
            vectors' symbols and the constants. A symbol may be given by its name (``"f_t"``), an
            expression as a formula string.
        updates: the new value of each state component, in the order of ``state``; with a
            ``readout``, the one new hidden vector ``h_t`` that the readout projects.
        reference: where the equations come from (the variant, for cells that have several).
        readout: an output stage fed back as the state (Jordan network); then ``state == ("y",)``,
            the hidden stage may not use :func:`prev` symbols, and :func:`m` projections read
            ``y_{t-1}`` (``m_g = W_yg y_{t-1}``).
        label: the short display name (``"tanh RNN"``); the name when empty.
        reads: the state components the recurrent projections read, in the column order of
            ``weight_hh_l0``; empty means the first component alone.
        recurrent: how the stored ``weight_hh_l0`` gives the blocks ``W_hg``.
        vectors: per-unit parameter vectors ``(symbol, parameter base name)``, e.g.
            ``("p_i", "weight_peephole_i")``: ``weight_peephole_i_l0`` of shape ``(H,)``, written
            ``p_i`` in the equations.
        inner_reads: ``(gate, expression)``: that gate's recurrent projection reads the per-unit
            quantity ``expression`` of the step, ``m_g = W_hg q_t + b_hg``, instead of the state
            (one read component only; ``expression`` may not use ``m`` of such gates).
        constants: scalar constants ``(name, value)`` the formula strings may use by name.
    """

    name: str
    title: str
    gates: tuple[str, ...]
    state: tuple[str, ...]
    definitions: tuple[tuple[Any, Any], ...]
    updates: tuple[Any, ...]
    reference: str = ""
    readout: Readout | None = None
    label: str = ""
    reads: tuple[str, ...] = ()
    recurrent: RecurrentWeight = field(default_factory=RecurrentWeight)
    vectors: tuple[tuple[str, str], ...] = ()
    inner_reads: tuple[tuple[str, Any], ...] = ()
    constants: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        self._check_structure()
        scope = Scope(
            self.gates,
            self.state,
            recurrent=self.recurrent.kind != "none",
            vectors=[symbol for symbol, _ in self.vectors],
            constants=self.constants,
            readout=self.readout is not None,
        )
        depends: dict[sympy.Symbol, frozenset[sympy.Symbol]] = {}
        definitions = []
        for symbol, value in self.definitions:
            symbol = sympy.Symbol(symbol) if isinstance(symbol, str) else symbol
            if not isinstance(symbol, sympy.Symbol):
                raise ConfigError(f"cell {self.name!r}: a definition's name must be a symbol, got {symbol!r}")
            expression, cost = scope.read(f"cell {self.name!r}: definition of {symbol}", value)
            depends[symbol] = _depends(expression, depends)
            scope.define(symbol, cost or Cost(), where=f"cell {self.name!r}")
            definitions.append((symbol, expression))
        object.__setattr__(self, "definitions", tuple(definitions))
        what = ("hidden update h_t",) if self.readout is not None else tuple(f"update of {c}" for c in self.state)
        if len(self.updates) != len(what):
            raise ConfigError(
                f"cell {self.name!r}: {len(self.state)} state components {self.state} "
                f"but {len(self.updates)} update expressions"
                if self.readout is None
                else f"cell {self.name!r}: a cell with a readout needs one update (h_t), got {len(self.updates)}"
            )
        updates = tuple(scope.read(f"cell {self.name!r}: {w}", v)[0] for w, v in zip(what, self.updates, strict=True))
        object.__setattr__(self, "updates", updates)
        object.__setattr__(self, "inner_reads", self._read_inner(scope, depends))
        if self.readout is not None:
            output = Scope((), (), readout=True)
            output.define(readout_projection())
            object.__setattr__(
                self, "readout", Readout(output.read(f"cell {self.name!r}: readout", self.readout.output)[0])
            )

    def _check_structure(self) -> None:
        """Names, counts and the shape rules, before any formula is read."""
        if not self.gates:
            raise ConfigError(f"cell {self.name!r}: needs at least one gate")
        for kind, items in (("gates", self.gates), ("state", self.state), ("vectors", self.vectors)):
            check_count(kind, items)
        check_count("definitions", self.definitions)
        check_count("constants", self.constants)
        for gate in self.gates:  # gates appear only inside u_g and m_g: any name of the pattern will do
            if not isinstance(gate, str) or not NAME.match(gate):
                raise ConfigError(
                    f"cell {self.name!r}: gate {gate!r} is not a valid name (a letter, then letters and digits)"
                )
        for component in self.state:
            check_name("state component", component)
        if len(set(self.gates)) != len(self.gates) or len(set(self.state)) != len(self.state):
            raise ConfigError(f"cell {self.name!r}: gates {self.gates} and state {self.state} must be distinct")
        symbols = list(self.state)
        for symbol, parameter in self.vectors:
            symbols.append(check_name("vector", symbol, SYMBOL))
            if not isinstance(parameter, str) or not PARAMETER.match(parameter):
                raise ConfigError(f"cell {self.name!r}: vector {symbol!r}: {parameter!r} is not a parameter name")
        for name, value in self.constants:
            symbols.append(check_name("constant", name, SYMBOL))
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(float(value)) < 1e300:
                raise ConfigError(f"cell {self.name!r}: constant {name!r} must be a finite number, got {value!r}")
        parameters = [p for _, p in self.vectors]
        if len(set(symbols)) != len(symbols) or len(set(parameters)) != len(parameters):
            raise ConfigError(
                f"cell {self.name!r}: state components, vectors and constants need distinct names, got {symbols}"
            )
        unknown = [c for c in self.reads if c not in self.state]
        if unknown or len(set(self.reads)) != len(self.reads):
            raise ConfigError(
                f"cell {self.name!r}: reads {self.reads} must name distinct state components {self.state}"
            )
        if self.readout is not None:
            if self.state != ("y",) or self.reads not in ((), ("y",)):
                raise ConfigError(
                    f"cell {self.name!r}: a cell with a readout has state ('y',) and reads y, got {self.state}"
                )
            if not self.recurrent.plain or self.vectors or self.inner_reads:
                raise ConfigError(f"cell {self.name!r}: a cell with a readout has a plain recurrent matrix")
        if not self.state:
            raise ConfigError(f"cell {self.name!r}: needs at least one state component")
        if self.recurrent.square and len(self.spec.read_components) != 1:
            raise ConfigError(
                f"cell {self.name!r}: the recurrent weight {self.recurrent.text!r} needs square blocks, "
                f"so the projections must read one state component, not {self.spec.read_components}"
            )

    def _read_inner(
        self, scope: Scope, depends: dict[sympy.Symbol, frozenset[sympy.Symbol]]
    ) -> tuple[tuple[str, sympy.Expr], ...]:
        """The inner reads as SymPy, checked: one read component, no ``m`` of an inner gate, no other state."""
        if not self.inner_reads:
            return ()
        gates = [gate for gate, _ in self.inner_reads]
        if len(set(gates)) != len(gates) or not set(gates) <= set(self.gates):
            raise ConfigError(f"cell {self.name!r}: inner reads name distinct gates of {self.gates}, got {gates}")
        if self.recurrent.kind == "none" or len(self.spec.read_components) != 1 or self.readout is not None:
            raise ConfigError(
                f"cell {self.name!r}: a gate that reads a quantity of the step needs a recurrent weight and "
                "projections that read one state component"
            )
        read = self.spec.read_components[0]
        forbidden = {m(g) for g in gates} | {prev(c) for c in self.state if c != read}
        out = []
        for gate, value in self.inner_reads:
            expression, _ = scope.read(f"cell {self.name!r}: what m_{gate} reads", value)
            bad = sorted(str(s) for s in _depends(expression, depends) & forbidden)
            if bad:
                raise ConfigError(
                    f"cell {self.name!r}: what m_{gate} reads may not depend on {', '.join(bad)} "
                    f"(only on u_*, the projections that read {read}_prev, {read}_prev itself, vectors and constants)"
                )
            out.append((gate, expression))
        return tuple(out)

    @property
    def spec(self) -> CellSpec:
        """The cell's interface without its equations (what the numeric layers use)."""
        return CellSpec(
            self.name,
            self.title,
            self.gates,
            self.state,
            self.reference,
            self.readout is not None,
            self.label,
            self.reads,
            self.recurrent,
            tuple(parameter for _, parameter in self.vectors),
            tuple(gate for gate, _ in self.inner_reads),
            tuple((name, float(value)) for name, value in self.constants),
            tuple(symbol for symbol, _ in self.vectors),
        )

    @property
    def num_gates(self) -> int:
        return len(self.gates)

    @property
    def state_layout(self) -> str:
        """The state vector as text: ``"h"`` or ``"[h; c]"``."""
        return self.spec.state_layout

    @property
    def vector_symbols(self) -> tuple[sympy.Symbol, ...]:
        """The per-unit vectors' symbols, in the order the compiled code takes them."""
        return tuple(sympy.Symbol(symbol) for symbol, _ in self.vectors)


def _depends(expression: sympy.Expr, depends: dict[sympy.Symbol, frozenset[sympy.Symbol]]) -> frozenset[sympy.Symbol]:
    """The projections, previous states and vectors ``expression`` depends on, through the named quantities."""
    out: set[sympy.Symbol] = set()
    for symbol in expression.free_symbols:
        out |= depends.get(symbol, {symbol})
    return frozenset(out)
