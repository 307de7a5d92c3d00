"""What the numeric layers need to know about a cell, without SymPy: names, gates, state, what the recurrence reads.

:mod:`gradscope.cells.cell` holds the SymPy equations; this module is the light half that the
parameters, the engine, the reports and the command line use, so that they start without
importing SymPy.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from gradscope.errors import UnknownCellError

#: The built-in one-stage cells (state ``[h; ...]``), in display order: the ones every analysis handles.
CELL_NAMES = ("rnn", "rnn-relu", "lstm", "gru")
#: Built-in cells that feed their output back (state ``y``, see :attr:`CellSpec.feedback`).
FEEDBACK_CELL_NAMES = ("jordan",)
#: Every built-in cell, in display order.
ALL_CELL_NAMES = CELL_NAMES + FEEDBACK_CELL_NAMES
#: Classic names accepted for built-in cells: the Elman network is PyTorch's tanh (or ReLU) RNN.
ALIASES = {"elman": "rnn", "elman-tanh": "rnn", "elman-relu": "rnn-relu", "rnn-tanh": "rnn"}


@dataclass(frozen=True)
class CellSpec:
    """A cell's interface.

    Attributes:
        name: registry name, e.g. ``"lstm"``.
        title: one-line description.
        gates: gate names in PyTorch's chunk order of ``weight_ih_l0`` / ``weight_hh_l0`` rows.
        state: state components, ``state[0] == "h"``; the state vector is ``s = [h; c; ...]``
            (``("y",)`` for a feedback cell).
        reference: where the equations come from.
        feedback: the state is the output ``y`` (size O) of a readout of the hidden stage, fed
            back (Jordan network); then ``state == ("y",)`` and the per-step Jacobian is ``O x O``.
        label: the short display name (``"tanh RNN"``); :attr:`display_name` falls back to ``name``.
        reads: the state components the recurrent projections read, in the order of the columns of
            ``weight_hh_l0`` (``m_g = W_hg [s_reads] + b_hg``); empty means the first component alone.
    """

    name: str
    title: str
    gates: tuple[str, ...]
    state: tuple[str, ...]
    reference: str = ""
    feedback: bool = False
    label: str = ""
    reads: tuple[str, ...] = ()

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
    accepted), or :class:`UnknownCellError`.

    The error lists the valid names and suggests the closest one.
    """
    if not isinstance(name, str):
        raise UnknownCellError(f"cell must be a name or a Cell, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key in ALL_CELL_NAMES:
        return key
    if key in ALIASES:
        return ALIASES[key]
    close = difflib.get_close_matches(key, [*ALL_CELL_NAMES, *ALIASES], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownCellError(f"unknown cell {name!r}{hint} (valid cells: {', '.join(ALL_CELL_NAMES)})")
