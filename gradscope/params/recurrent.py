"""A cell's recurrent weight as stored and as used: PyTorch's matrix, per-unit vectors, structured matrices.

The engine multiplies by the blocks ``W_hg`` ``(H, R)`` the recurrent projections use,
``m_g = W_hg r + b_hg``; the cell's :class:`~gradscope.cells.spec.RecurrentWeight` says how they come
from what is stored under ``weight_hh_l0``:

* ``"matrix"``: stored ``(G*H, R)``, block g its rows (PyTorch); optionally combined with its
  transpose and the identity, ``scale * W_g + transpose * W_g^T + identity * I`` (AntisymmetricRNN's
  ``W - W^T - gamma I``, square blocks);
* ``"per-unit"``: stored ``(G*H,)``, ``W_hg = scale * diag(w_g) + identity * I`` (IndRNN);
* ``"none"``: nothing stored; the blocks are zero (the cell's equations have no ``m_g``).

:func:`used_weight` maps stored to used, :func:`stored_gradient` maps a gradient with respect to
the used blocks back to the stored parameter (the adjoint of that linear map).
"""

from __future__ import annotations

import numpy as np

from gradscope.cells.spec import CellSpec


def stored_shape(spec: CellSpec, hidden_size: int, read_size: int) -> tuple[int, ...] | None:
    """The shape of ``weight_hh_l0`` as stored (``None``: the cell has none)."""
    rows = spec.num_gates * hidden_size
    kind = spec.recurrent.kind
    if kind == "none":
        return None
    if kind == "per-unit":
        return (rows,)
    return (rows, read_size)


def used_weight(spec: CellSpec, stored: np.ndarray | None, hidden_size: int, read_size: int) -> np.ndarray:
    """The stacked blocks ``W_hg`` the projections use, ``(G*H, R)``, from the stored weight."""
    weight = spec.recurrent
    rows = spec.num_gates * hidden_size
    if weight.plain:
        assert stored is not None
        return stored
    if stored is None:
        return np.zeros((rows, read_size))
    if weight.kind == "per-unit":
        blocks = np.zeros((spec.num_gates, hidden_size, hidden_size))
        diagonal = np.arange(hidden_size)
        blocks[:, diagonal, diagonal] = weight.scale * stored.reshape(spec.num_gates, hidden_size) + weight.identity
        return blocks.reshape(rows, hidden_size)
    blocks = stored.reshape(spec.num_gates, hidden_size, read_size)
    used = weight.scale * blocks
    if weight.transpose:
        used = used + weight.transpose * blocks.transpose(0, 2, 1)
    if weight.identity:
        used = used + weight.identity * np.eye(hidden_size)
    return np.ascontiguousarray(used.reshape(rows, read_size))


def stored_gradient(spec: CellSpec, gradient: np.ndarray, hidden_size: int) -> np.ndarray | None:
    """``dL/d weight_hh_l0`` (stored shape) from ``dL/d W_hg`` stacked ``(G*H, R)``; ``None`` when nothing is stored."""
    weight = spec.recurrent
    if weight.plain:
        return gradient
    if weight.kind == "none":
        return None
    blocks = gradient.reshape(spec.num_gates, hidden_size, -1)
    if weight.kind == "per-unit":
        diagonal = np.arange(hidden_size)
        return (weight.scale * blocks[:, diagonal, diagonal]).reshape(-1)
    out = weight.scale * blocks
    if weight.transpose:
        out = out + weight.transpose * blocks.transpose(0, 2, 1)
    return out.reshape(gradient.shape)
