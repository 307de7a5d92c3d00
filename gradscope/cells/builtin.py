"""The built-in cells, as PyTorch defines them, and the registry of cell names.

Each factory returns a :class:`~gradscope.cells.cell.Cell` value: a new cell is a new value like
these, not new engine code.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import sympy

from gradscope.cells.activations import relu, sigmoid
from gradscope.cells.cell import Cell, Readout, m, now, prev, readout_projection, u
from gradscope.cells.file_names import registered
from gradscope.cells.spec import ZOO_FOLDER
from gradscope.i18n import N_


def _elman(activation: Callable[[sympy.Expr], sympy.Expr], name: str, title: str, label: str) -> Cell:
    h_t = now("h")
    return Cell(
        name=name,
        title=title,
        label=label,
        gates=("h",),
        state=("h",),
        definitions=((h_t, activation(u("h") + m("h"))),),
        updates=(h_t,),
        reference="torch.nn.RNN (Elman network): h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)",
    )


def rnn() -> Cell:
    """Elman RNN with tanh, as ``torch.nn.RNN(nonlinearity="tanh")``."""
    return _elman(sympy.tanh, "rnn", N_("Elman RNN, tanh"), "tanh RNN")


def rnn_relu() -> Cell:
    """Elman RNN with ReLU, as ``torch.nn.RNN(nonlinearity="relu")``."""
    return _elman(relu, "rnn-relu", N_("Elman RNN, ReLU"), "ReLU RNN")


def lstm() -> Cell:
    """LSTM as ``torch.nn.LSTM``: gates ``i, f, g, o``; state ``[h; c]``."""
    i_t, f_t, g_t, o_t, c_t, h_t = (now(n) for n in "ifgoch")
    return Cell(
        name="lstm",
        title=N_("LSTM (PyTorch), gates i, f, g, o"),
        label="LSTM",
        gates=("i", "f", "g", "o"),
        state=("h", "c"),
        definitions=(
            (i_t, sigmoid(u("i") + m("i"))),
            (f_t, sigmoid(u("f") + m("f"))),
            (g_t, sympy.tanh(u("g") + m("g"))),
            (o_t, sigmoid(u("o") + m("o"))),
            (c_t, f_t * prev("c") + i_t * g_t),
            (h_t, o_t * sympy.tanh(c_t)),
        ),
        updates=(h_t, c_t),
        reference="torch.nn.LSTM (Hochreiter & Schmidhuber 1997 with forget gate, Gers et al. 2000)",
    )


def gru() -> Cell:
    """GRU as ``torch.nn.GRU``: gates ``r, z, n``; the reset gate acts *after* the matrix product."""
    r_t, z_t, n_t, h_t = (now(n) for n in "rznh")
    return Cell(
        name="gru",
        title=N_("GRU (PyTorch variant: reset after the matrix product), gates r, z, n"),
        label="GRU",
        gates=("r", "z", "n"),
        state=("h",),
        definitions=(
            (r_t, sigmoid(u("r") + m("r"))),
            (z_t, sigmoid(u("z") + m("z"))),
            (n_t, sympy.tanh(u("n") + r_t * m("n"))),
            (h_t, (1 - z_t) * n_t + z_t * prev("h")),
        ),
        updates=(h_t,),
        reference=(
            "torch.nn.GRU: n_t = tanh(W_in x + b_in + r_t * (W_hn h + b_hn)); "
            "not Cho et al. 2014, which resets before the product"
        ),
    )


def jordan() -> Cell:
    """Jordan network (1986): the sigmoid output is fed back; state ``y``.

    ``h_t = tanh(W_xh x_t + b_h + W_yh y_{t-1})``, ``y_t = sigmoid(W_hy h_t + b_y)``.
    """
    h_t = now("h")
    return Cell(
        name="jordan",
        title=N_("Jordan network, tanh hidden, sigmoid output fed back"),
        label=N_("Jordan network"),
        gates=("h",),
        state=("y",),
        definitions=((h_t, sympy.tanh(u("h") + m("h"))),),
        updates=(h_t,),
        reference=(
            "Jordan 1986: h_t = tanh(W_xh x_t + b_h + W_yh y_{t-1}), y_t = sigmoid(W_hy h_t + b_y); "
            "the output y is the state"
        ),
        readout=Readout(sigmoid(readout_projection())),
    )


#: Registered cells, by name, as factories (each call builds a fresh, equal value).
CELLS: dict[str, Callable[[], Cell]] = {
    "rnn": rnn,
    "rnn-relu": rnn_relu,
    "lstm": lstm,
    "gru": gru,
    "jordan": jordan,
}


def get_cell(cell: str | Cell) -> Cell:
    """The :class:`Cell` for a registry name (or the cell itself).

    Raises:
        UnknownCellError: the name is not registered; the message lists the valid names and
            suggests the closest one.
    """
    if isinstance(cell, Cell):
        return cell
    from gradscope.cells.file_registry import resolve  # a path is a cell file, read and put in use

    name = resolve(cell)
    if name in CELLS:
        return CELLS[name]()
    if registered(name) is not None:  # a cell file in use, or a zoo cell with constants set (--set)
        return file_cell(name)
    return zoo_cell(name)


@functools.cache
def zoo_cell(name: str) -> Cell:
    """The zoo's cell ``name``, from its file ``gradscope/cells/zoo/NAME.toml`` (read once per process)."""
    from gradscope.cells.file import load_cell

    return load_cell(ZOO_FOLDER / f"{name}.toml")


def file_cell(name: str) -> Cell:
    """The cell of the file in use under ``name`` (:mod:`gradscope.cells.file_registry`), read once per process."""
    entry = registered(name)
    if entry is None:  # pragma: no cover - resolve_name has checked
        raise KeyError(name)
    path, constants = entry
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        changed = 0  # load_cell names the problem
    return _file_cell(path, constants, changed)


@functools.cache
def _file_cell(path: str, constants: tuple[tuple[str, float], ...], changed: int) -> Cell:
    """Read once per file, constants and modification time (a file edited in place is read again)."""
    from gradscope.cells.file import load_cell

    return load_cell(path, dict(constants))
