"""Parameters as people write them, mapped to PyTorch's and back: the layout of the BPTT check.

:func:`~gradscope.testing.adapter.from_arrays` reads tutorial-style arrays (names as in
:mod:`gradscope.testing.names`; column vectors ``(H, 1)`` or flat ``(H,)``; weights acting as ``W @ x``
(``layout="column"``/``"flat"``/``"auto"``) or as ``x @ W`` (``layout="row"``, then every weight is the
transpose); gates in any named order; a weight on ``[h; x]`` or ``[x; h]``; one bias or two; separate
per-gate arrays; an output layer) and maps them, once, to ``weight_ih_l0``/``weight_hh_l0``/
``bias_ih_l0``/``bias_hh_l0`` and an :class:`~gradscope.engine.losses.OutputHead`. The same
:class:`ArrayLayout` maps reference gradients back to the user's names and shapes, and names an entry
of a user's array in words.

One bias ``b`` is added where PyTorch adds ``b_ih`` (``b_hh`` is zero): its gradient is reported once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.engine.losses import OutputHead
from gradscope.testing.names import Role

#: Accepted ``layout`` values: ``"row"`` is the ``x @ W`` convention; the others all mean ``W @ x``.
LAYOUTS = ("auto", "column", "flat", "row")
#: Accepted ``concat`` values: what a weight on the concatenation multiplies, top to bottom.
CONCATS = ("hx", "xh")


@dataclass(frozen=True)
class ArrayLayout:
    """How a user's arrays map to PyTorch's; built by :func:`from_arrays`.

    Attributes:
        spec: the cell.
        roles: user name -> :class:`~gradscope.testing.names.Role`, in the user's order.
        shapes: user name -> the shape of the user's array.
        gate_order: the cell's gates in the order of the user's row blocks.
        concat: ``"hx"`` or ``"xh"``, for a weight on the concatenation.
        row: the ``x @ W`` convention (weights transposed against PyTorch).
        hidden_size, input_size: H and I; output_size: O of the output layer, ``None`` without one.
    """

    spec: CellSpec
    roles: Mapping[str, Role]
    shapes: Mapping[str, tuple[int, ...]]
    gate_order: tuple[str, ...]
    concat: str
    row: bool
    hidden_size: int
    input_size: int
    output_size: int | None

    @property
    def single_bias(self) -> bool:
        return any(r.kind == "bias" for r in self.roles.values())

    @property
    def has_bias(self) -> bool:
        return any(r.kind.startswith("bias") and r.kind != "bias_out" for r in self.roles.values())

    def _rows(self) -> np.ndarray:
        """``torch_rows = user_rows[order]``: the permutation from the user's gate blocks to PyTorch's."""
        H = self.hidden_size
        blocks = [self.gate_order.index(g) for g in self.spec.gates]
        return np.concatenate([np.arange(k * H, (k + 1) * H) for k in blocks])

    def _matrix(self, name: str, array: np.ndarray) -> np.ndarray:
        """The user's array as PyTorch orients it: ``(rows, columns)`` for a weight, flat for a bias."""
        if self.roles[name].kind.startswith("bias"):
            return array.reshape(-1)
        return array.T if self.row else array

    def _user(self, name: str, matrix: np.ndarray) -> np.ndarray:
        if self.roles[name].kind.startswith("bias"):
            return matrix.reshape(self.shapes[name])
        return matrix.T if self.row else matrix

    def torch_params(self, arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], OutputHead | None]:
        """PyTorch-named layer-0 parameters and the output layer from the user's arrays."""
        out = self._named(self._stack({n: self._matrix(n, a) for n, a in arrays.items()}))
        if self.single_bias:
            out["bias_hh_l0"] = np.zeros_like(out["bias_ih_l0"])
        weight, bias = out.pop("weight_out", None), out.pop("bias_out", None)
        return out, (None if weight is None else OutputHead(weight, bias))

    def _named(self, stacked: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Stacked arrays by role kind under PyTorch's names, rows in PyTorch's gate order; the single bias is
        ``bias_ih_l0``, the output layer ``weight_out``/``bias_out``; a weight on the concatenation is split."""
        order, H, I = self._rows(), self.hidden_size, self.input_size
        out = {}
        if "weight_cat" in stacked:
            cat = stacked["weight_cat"][order]
            hh, ih = (cat[:, :H], cat[:, H:]) if self.concat == "hx" else (cat[:, I:], cat[:, :I])
            out["weight_ih_l0"], out["weight_hh_l0"] = ih, hh
        names = {"weight_ih": "weight_ih_l0", "weight_hh": "weight_hh_l0", "bias": "bias_ih_l0"}
        names |= {"bias_ih": "bias_ih_l0", "bias_hh": "bias_hh_l0"}
        for kind, key in names.items():
            if kind in stacked:
                out[key] = stacked[kind][order]
        for kind in ("weight_out", "bias_out"):
            if kind in stacked:
                out[kind] = stacked[kind]
        return out

    def _stack(self, matrices: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-gate arrays stacked in the user's gate order, by role kind."""
        out: dict[str, np.ndarray] = {}
        pieces: dict[str, dict[str, np.ndarray]] = {}
        for name, matrix in matrices.items():
            role = self.roles[name]
            if role.gate is None:
                out[role.kind] = matrix
            else:
                pieces.setdefault(role.kind, {})[role.gate] = matrix
        for kind, gates in pieces.items():
            out[kind] = np.concatenate([gates[g] for g in self.gate_order], axis=0)
        return out

    def to_user(
        self, torch_grads: Mapping[str, np.ndarray], head_grads: tuple[np.ndarray, np.ndarray | None] | None
    ) -> dict[str, np.ndarray]:
        """Gradients under the user's names and in the user's shapes, from PyTorch-named ones and the output layer's."""
        inverse = np.argsort(self._rows())  # user_rows = torch_rows[inverse]
        H = self.hidden_size
        by_kind: dict[str, np.ndarray] = {
            "weight_ih": torch_grads["weight_ih_l0"][inverse],
            "weight_hh": torch_grads["weight_hh_l0"][inverse],
        }
        pair = (by_kind["weight_hh"], by_kind["weight_ih"])
        by_kind["weight_cat"] = np.concatenate(pair if self.concat == "hx" else pair[::-1], axis=1)
        if "bias_ih_l0" in torch_grads:
            by_kind["bias"] = by_kind["bias_ih"] = torch_grads["bias_ih_l0"][inverse]
            by_kind["bias_hh"] = torch_grads["bias_hh_l0"][inverse]
        if head_grads is not None:
            by_kind["weight_out"] = head_grads[0]
            if head_grads[1] is not None:
                by_kind["bias_out"] = head_grads[1]
        out = {}
        for name, role in self.roles.items():
            matrix = by_kind[role.kind]
            if role.gate is not None:
                k = self.gate_order.index(role.gate)
                matrix = matrix[k * H : (k + 1) * H]
            out[name] = self._user(name, matrix)
        return out

    def to_torch(self, grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The given user gradients (a subset of the parameters' names) under PyTorch's names, where complete.

        A stacked key appears only when every piece it is made of was given; the single bias is
        ``bias_ih_l0``; the output layer's are ``weight_out`` and ``bias_out``.
        """
        complete = {}
        for kind in {r.kind for r in self.roles.values()}:
            names = [n for n, r in self.roles.items() if r.kind == kind]
            if all(n in grads for n in names):
                complete |= {n: self._matrix(n, np.asarray(grads[n], dtype=np.float64)) for n in names}
        return self._named(self._stack(complete))

    def gate_of(self, name: str, index: tuple[int, ...]) -> tuple[str, int] | None:
        """``(gate, unit)`` of an entry of a cell weight or bias (``None`` for the output layer)."""
        role = self.roles[name]
        if role.kind in ("weight_out", "bias_out"):
            return None
        if role.kind.startswith("bias"):
            flat = int(np.ravel_multi_index(index, self.shapes[name])) if index else 0
            row = flat
        else:
            row = index[1] if self.row else index[0]
        if role.gate is not None:
            return role.gate, row
        return self.gate_order[row // self.hidden_size], row % self.hidden_size

    def locate(self, name: str, index: tuple[int, ...]) -> str:
        """An entry of a user's array in words: gate, unit and what the column multiplies."""
        role = self.roles[name]
        if role.kind == "weight_out":
            out, col = (index[1], index[0]) if self.row else index
            return f"output {out}, column h_t[{col}]"
        if role.kind == "bias_out":
            return f"output {int(np.ravel_multi_index(index, self.shapes[name]))}"
        gate, unit = self.gate_of(name, index) or ("", 0)
        where = f"gate {gate!r}, unit {unit}" if self.spec.num_gates > 1 else f"unit {unit}"
        if role.kind.startswith("bias"):
            return where
        col = index[0] if self.row else index[1]
        H = self.hidden_size
        if role.kind == "weight_ih":
            return f"{where}, input x_t[{col}]"
        if role.kind == "weight_hh":
            return f"{where}, column h_{{t-1}}[{col}]"
        h_first = self.concat == "hx"
        if (col < H) == h_first:
            return f"{where}, column h_{{t-1}}[{col if h_first else col - self.input_size}]"
        return f"{where}, input x_t[{col - H if h_first else col}]"


def vector_matches(shape: tuple[int, ...], length: int) -> bool:
    """A vector of ``length`` as ``(n,)``, ``(n, 1)`` or ``(1, n)`` (a column or row vector)."""
    return tuple(n for n in shape if n != 1) == ((length,) if length != 1 else ()) and len(shape) <= 2


@dataclass(frozen=True)
class MappedParams:
    """A user's parameters with their :class:`ArrayLayout`: the result of :func:`from_arrays`.

    Attributes:
        layout: the mapping.
        arrays: the user's arrays as float64, under the user's names and shapes.
    """

    layout: ArrayLayout
    arrays: Mapping[str, np.ndarray]

    def torch(self) -> tuple[dict[str, np.ndarray], OutputHead | None]:
        """PyTorch-named parameters and the output layer (``None`` without one)."""
        return self.layout.torch_params(self.arrays)
