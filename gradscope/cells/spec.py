"""What the numeric layers need to know about a cell, without SymPy: names, gates, state, what the recurrence reads.

:mod:`gradscope.cells.cell` holds the SymPy equations; this module is the light half that the
parameters, the engine, the reports and the command line use, so that they start without
importing SymPy.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from gradscope.cells.file_names import registered
from gradscope.errors import UnknownCellError

#: The built-in one-stage cells (state ``[h; ...]``), in display order: the ones every analysis handles.
CELL_NAMES = ("rnn", "rnn-relu", "lstm", "gru")
#: Built-in cells that feed their output back (state ``y``, see :attr:`CellSpec.feedback`).
FEEDBACK_CELL_NAMES = ("jordan",)
#: Every built-in cell, in display order.
ALL_CELL_NAMES = CELL_NAMES + FEEDBACK_CELL_NAMES
#: Classic names accepted for built-in cells: the Elman network is PyTorch's tanh (or ReLU) RNN.
ALIASES = {"elman": "rnn", "elman-tanh": "rnn", "elman-relu": "rnn-relu", "rnn-tanh": "rnn"}
#: The folder of the zoo's cell files, shipped in the package.
ZOO_FOLDER = Path(__file__).with_name("zoo")
#: The zoo: research cells defined by cell files (``gradscope/cells/zoo/NAME.toml``), in display order.
ZOO_CELL_NAMES = tuple(sorted(path.stem for path in ZOO_FOLDER.glob("*.toml")))
#: Kinds of stored recurrent weight (see :class:`RecurrentWeight`).
RECURRENT_KINDS = ("matrix", "per-unit", "none")


@dataclass(frozen=True)
class RecurrentWeight:
    """How the stored ``weight_hh_l0`` gives the blocks ``W_hg`` that the recurrent projections use.

    Attributes:
        kind: ``"matrix"``: ``weight_hh_l0`` is ``(G*H, R)``, block g its rows ``g*H .. (g+1)*H``
            (PyTorch's); ``"per-unit"``: ``weight_hh_l0`` is ``(G*H,)`` and ``W_hg = diag(w_g)`` (IndRNN);
            ``"none"``: no recurrent weight and no ``bias_hh_l0``: the cell has no projections ``m_g``.
        scale, transpose, identity: the block used is ``scale * W_g + transpose * W_g^T + identity * I``
            of the stored block ``W_g`` (square blocks only, unless ``transpose == identity == 0``);
            AntisymmetricRNN's ``W - W^T - gamma I`` is ``(1, -1, -gamma)``.
        text: the formula as written, e.g. ``"W - transpose(W) - gamma * I"``.
    """

    kind: str = "matrix"
    scale: float = 1.0
    transpose: float = 0.0
    identity: float = 0.0
    text: str = "W"

    @property
    def plain(self) -> bool:
        """The stored matrix is used as it is (PyTorch's cells)."""
        return self.kind == "matrix" and (self.scale, self.transpose, self.identity) == (1.0, 0.0, 0.0)

    @property
    def square(self) -> bool:
        """The formula needs square blocks (it transposes the block or adds the identity)."""
        return self.transpose != 0.0 or self.identity != 0.0

    def describe(self) -> str:
        """One phrase for reports: ``"matrix"``, ``"per-unit vector"``, ``"W - transpose(W) - 0.01 I"``."""
        if self.kind == "none":
            return "none"
        stored = "per-unit vector" if self.kind == "per-unit" else "matrix"
        return stored if self.text.replace(" ", "") == "W" else f"{stored}, used as {self.text}"


@dataclass(frozen=True)
class CellSpec:
    """A cell's interface.

    Attributes:
        name: registry name, e.g. ``"lstm"``.
        title: one-line description.
        gates: gate names in PyTorch's chunk order of ``weight_ih_l0`` / ``weight_hh_l0`` rows.
        state: state components; the state vector is ``s = [state[0]; state[1]; ...]`` and
            ``state[0]`` is the hidden state a layer outputs (``h``; coRNN's ``y``); ``("y",)`` for a
            feedback cell.
        reference: where the equations come from.
        feedback: the state is the output ``y`` (size O) of a readout of the hidden stage, fed
            back (Jordan network); then ``state == ("y",)`` and the per-step Jacobian is ``O x O``.
        label: the short display name (``"tanh RNN"``); :attr:`display_name` falls back to ``name``.
        reads: the state components the recurrent projections read, in the order of the columns of
            ``weight_hh_l0`` (``m_g = W_hg [s_reads] + b_hg``); empty means the first component alone.
        recurrent: how the stored ``weight_hh_l0`` gives the blocks ``W_hg`` (:class:`RecurrentWeight`).
        vectors: the per-unit parameter vectors' base names (``weight_peephole_i``: stored as
            ``weight_peephole_i_l0``, shape ``(H,)``), in the order the compiled code takes them.
        inner_gates: the gates whose recurrent projection reads a per-unit quantity of the step
            instead of the previous state (Cho's GRU: ``m_n = W_hn (r_t * h_{t-1}) + b_hn``).
        constants: the cell's scalar constants and their values, for reports.
        vector_symbols: the per-unit vectors' symbols in the equations (``p_i``), in ``vectors`` order.
    """

    name: str
    title: str
    gates: tuple[str, ...]
    state: tuple[str, ...]
    reference: str = ""
    feedback: bool = False
    label: str = ""
    reads: tuple[str, ...] = ()
    recurrent: RecurrentWeight = field(default_factory=RecurrentWeight)
    vectors: tuple[str, ...] = ()
    inner_gates: tuple[str, ...] = ()
    constants: tuple[tuple[str, float], ...] = ()
    vector_symbols: tuple[str, ...] = ()

    @property
    def num_gates(self) -> int:
        return len(self.gates)

    @property
    def display_name(self) -> str:
        """The short name for titles and legends: ``"LSTM"``, ``"tanh RNN"`` (``name`` when there is none)."""
        return self.label or self.name

    @property
    def read_components(self) -> tuple[str, ...]:
        """The state components ``m_g`` reads: ``reads``, or the first component alone."""
        return self.reads or self.state[:1]

    @property
    def state_layout(self) -> str:
        """The state vector as text: ``"h"`` or ``"[h; c]"``."""
        return self.state[0] if len(self.state) == 1 else "[" + "; ".join(self.state) + "]"

    def state_size(self, hidden_size: int, output_size: int | None = None) -> int:
        """Length of ``s`` for hidden size H (and output size O, default H, for a feedback cell)."""
        if self.feedback:
            return hidden_size if output_size is None else output_size
        return len(self.state) * hidden_size

    def read_size(self, hidden_size: int, output_size: int | None = None) -> int:
        """R, the length of what the recurrent projections read (the columns of ``weight_hh_l0``)."""
        if self.feedback:
            return self.state_size(hidden_size, output_size)
        return len(self.read_components) * hidden_size


def resolve_name(name: object) -> str:
    """The registry name for ``name`` (case and ``_``/``-`` forgiving; classic aliases such as ``"elman"``
    accepted; the zoo's cells by their names; the names of cell files in use, see
    :func:`~gradscope.cells.file_registry.resolve` for paths), or :class:`UnknownCellError`.

    The error lists the valid names and suggests the closest one.
    """
    if not isinstance(name, str):
        raise UnknownCellError(f"cell must be a name or a Cell, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key in ALL_CELL_NAMES or key in ZOO_CELL_NAMES:
        return key
    if key in ALIASES:
        return ALIASES[key]
    if registered(name.strip()) is not None:
        return name.strip()
    close = difflib.get_close_matches(key, [*ALL_CELL_NAMES, *ZOO_CELL_NAMES, *ALIASES], n=1)
    # An alias is suggested with the listed cell it names, and only names that resolve are suggested.
    close = [name for name in close if name in ALIASES or name in ALL_CELL_NAMES or name in ZOO_CELL_NAMES]
    named = f" (the {ALIASES[close[0]]} cell)" if close and close[0] in ALIASES else ""
    hint = f"; did you mean {close[0]!r}{named}?" if close else ""
    files = "; or a cell file: --cell PATH.toml, load_cell(PATH)"
    raise UnknownCellError(
        f"unknown cell {name!r}{hint} (built-in cells: {', '.join(ALL_CELL_NAMES)}; "
        f"zoo: {', '.join(ZOO_CELL_NAMES) or 'none'}{files})"
    )
