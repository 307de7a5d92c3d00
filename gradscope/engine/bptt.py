"""Exact backpropagation through time from the derived per-unit partials, for any cell.

The loss ``L`` reads the states directly through ``upstream[t-1] = dL/dh_t`` (``t = 1..T``; for a
cell that feeds its output back, ``dL/dy_t``, its state); everything else reaches ``L`` through
the recursion. With ``delta_t = dL/ds_t`` (total) and the partials of step t evaluated on the
forward trajectory (:func:`~gradscope.engine.coefficients.step_coefficients`), per step from the back:

    g_t        = delta_t as the per-unit components (C, H); for a readout cell
                 dL/dr = rho' * delta_t and g_t = W_hy^T dL/dr, its hidden stage's gradient
    dL/dm_g    = sum_a (d a_t / d m_g) * g_t[a]                        (H,)  per gate g
    dL/du_g    = sum_a (d a_t / d u_g) * g_t[a]                        (H,)
    delta_{t-1} = sum_a (d a_t / d b_{t-1}) * g_t[a]                    direct, per unit
                 + [read] sum_g W_hg^T dL/dm_g + [h] upstream[t-2]

that is ``delta_{t-1} = J_t^T delta_t + upstream`` with ``J_t`` never formed. The projections
``u_g = W_ig x_t + b_ig`` and ``m_g = W_hg r_{t-1} + b_hg`` then give the parameter gradients as
sums of outer products over time: ``dL/dW_ih = sum_t dL/du_t x_t^T``, ``dL/dW_hh = sum_t dL/dm_t
r_{t-1}^T``, ``dL/db_ih = sum_t dL/du_t``, ``dL/db_hh = sum_t dL/dm_t`` (gates stacked in the
cell's chunk order), the readout's ``dL/dW_hy = sum_t dL/dr_t h_t^T``, and ``dL/dx_t = W_ih^T dL/du_t``.

A gate n that projects a quantity ``q_t`` of the step sends ``dL/dq = W_hn^T dL/dm_n`` on to what
``q_t`` depends on (the other projections, the read state, the inputs, the vectors), and its rows of
``dL/dW_hh`` are ``sum_t dL/dm_n q_t^T``. A structured recurrent weight's gradient is mapped back to
what is stored (:func:`~gradscope.params.recurrent.stored_gradient`); per-unit vectors get
``dL/dp = sum_t sum_a (d a_t / d p) g_t[a]``.

:func:`backward_terms` keeps the per-step pieces (``dL/du_t``, ``dL/dm_t`` and the total ``dL/ds_t``
at every step, the gradient through time); :func:`backward` sums them into the gradients. A
:class:`BackwardVariant` runs the recursion with one of the classic hand-written mistakes instead,
so that a checker can test whether a user's gradients are exactly those of that mistake.

Cost: ``O(T (G H R + G H I))`` time and ``O(T G H)`` memory, all float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradscope.engine.coefficients import compiled_arguments, input_coefficients, step_coefficients
from gradscope.engine.trajectory import Trajectory, read_index
from gradscope.params.recurrent import stored_gradient


def state_key(component: str) -> str:
    """The gradient key of an initial state component: ``"h0"``, ``"c0"``, ``"y0"``."""
    return f"{component}0"


@dataclass(frozen=True)
class BackwardVariant:
    """A deliberate departure from exact BPTT: one classic hand-written mistake in the recursion.

    Attributes:
        transposed: the carry uses ``W_hg`` where ``W_hg^T`` belongs (``dh_{t-1} = W_hh da_t``);
            needs square recurrent blocks (``R == H``).
        dropped: state components whose carry ``J_t^T delta_t`` is dropped (``("h",)``: no
            ``dh_next``; ``("c",)``: no ``f_{t+1} * dc_{t+1}``); what the loss gives directly stays, and
            the initial state's gradient is the carry out of step 1 (computed, but never added in).
        gate_order: the gate gradients stacked in this order of the cell's gates (``gate_order[k]``
            is the gate whose gradient lands in row block ``k``), for the weights and the carry alike.
    """

    transposed: bool = False
    dropped: tuple[str, ...] = ()
    gate_order: tuple[int, ...] | None = None


@dataclass(frozen=True)
class BackwardTerms:
    """The per-step pieces of BPTT through one trajectory (t = 1..T in rows 0..T-1).

    Attributes:
        trajectory: the forward pass.
        grad_u: ``(T, G*H)``, ``dL/du_t`` (gates in the cell's chunk order): step t's term of ``dL/db_ih``.
        grad_m: ``(T, G*H)``, ``dL/dm_t``: step t's term of ``dL/db_hh``.
        grad_r: ``(T, O)``, ``dL/dr_t`` of a readout cell; ``None`` otherwise.
        deltas: ``(T + 1, S)``, ``deltas[t] = dL/ds_t`` in total (through every later step), ``t = 0..T``;
            ``deltas[T]`` is what the loss gives ``s_T`` directly and ``deltas[0]`` the initial state's gradient.
            The components of ``s_t`` count as independent (what ``J_t`` carries): the LSTM's ``dL/dc_t`` holds
            ``h_t`` fixed, so a hand-written ``dc_t`` is ``dL/dc_t + dL/dh_t * o_t * tanh'(c_t)``.
        units: ``(T, C, H)``, ``g_t``: ``dL/d(component)`` of step t's update, per unit.
        grad_q: ``(T, L, H)``, ``dL/dq_n`` of the quantities that the cell's inner gates project (``L = 0``
            for a cell without them).
    """

    trajectory: Trajectory
    grad_u: np.ndarray
    grad_m: np.ndarray
    grad_r: np.ndarray | None
    deltas: np.ndarray
    units: np.ndarray
    grad_q: np.ndarray

    def gradients(self) -> dict[str, np.ndarray]:
        """The sums over time, under the parameters' own names (see :func:`backward`)."""
        trajectory = self.trajectory
        params, spec, steps = trajectory.params, trajectory.spec, trajectory.steps
        names, hidden = params.layout, params.hidden_size
        grads = {"weight_ih_l0": self.grad_u.T @ trajectory.inputs}
        if names.recurrent_weight is not None:
            used = self.grad_m.T @ trajectory.read(0, steps)  # (G*H, R): dL/dW_hg, gate by gate
            if spec.inner_gates:  # an inner gate projects q_t, not r_{t-1}
                q = trajectory.inner_reads(0, steps)  # (T, L, H)
                for position, gate in enumerate(spec.inner_gates):
                    n = spec.gates.index(gate)
                    rows = slice(n * hidden, (n + 1) * hidden)
                    used[rows] = self.grad_m[:, rows].T @ q[:, position]
            grads[f"{names.recurrent_weight}_l0"] = stored_gradient(spec, used, hidden)
        if self.grad_r is not None and trajectory.hidden is not None:
            grads[f"{names.readout_weight}_l0"] = self.grad_r.T @ trajectory.hidden
        if params.has_bias:
            grads["bias_ih_l0"] = self.grad_u.sum(axis=0)
            if names.recurrent_bias is not None:
                grads[f"{names.recurrent_bias}_l0"] = self.grad_m.sum(axis=0)
            if self.grad_r is not None:
                grads[f"{names.readout_bias}_l0"] = self.grad_r.sum(axis=0)
        grads |= _vector_gradients(trajectory, self.units, self.grad_q)
        grads["inputs"] = self.grad_u @ params.weight_ih
        initial = self.deltas[0]
        parts = [initial] if spec.feedback else list(initial.reshape(-1, params.hidden_size))
        for component, value in zip(spec.state, parts, strict=True):
            grads[state_key(component)] = value
        return grads


def backward_terms(
    trajectory: Trajectory, upstream: np.ndarray, variant: BackwardVariant | None = None
) -> BackwardTerms:
    """The per-step pieces of exact BPTT (or of ``variant``) for ``upstream[t-1] = dL/dh_t`` ``(T, H)``
    (``dL/dy_t`` ``(T, O)`` for a cell that feeds its output back)."""
    params, spec = trajectory.params, trajectory.spec
    steps, hidden, gates = trajectory.steps, params.hidden_size, spec.num_gates
    readout = spec.feedback
    coefficients = step_coefficients(trajectory, 0, steps)  # (T, C, G, H), (T, C, C, H)
    inputs = input_coefficients(trajectory, 0, steps)  # (T, C, G, H)
    weight_blocks = params.recurrent_blocks()  # (G, H, R)
    reads = read_index(spec, hidden, params.output_size)
    size = trajectory.states.shape[1]
    # What the loss reads directly: h (the first component) of a one-stage cell, y of a readout cell.
    loss_rows = slice(0, size) if readout else slice(0, hidden)
    variant = variant or BackwardVariant()
    order = np.arange(gates) if variant.gate_order is None else np.asarray(variant.gate_order)
    carry = np.einsum("gri->gir", weight_blocks) if variant.transposed else weight_blocks
    kept = np.ones(size, dtype=bool)
    for component in variant.dropped:
        start = spec.state.index(component) * hidden
        kept[start : start + hidden] = False

    inner = coefficients.inner
    early = [g for g in range(gates) if inner is None or g not in inner.gates]
    grad_q = np.zeros((steps, 0 if inner is None else len(inner.gates), hidden))  # dL/dq_n at step t
    units = np.empty((steps, coefficients.recurrent.shape[1], hidden))  # g_t, (T, C, H)
    grad_m = np.empty((steps, gates, hidden))  # grad_m[t-1] = dL/dm_g at step t (stacked as `order` says)
    grad_r = np.empty((steps, size)) if readout else None  # dL/dr_t of a readout cell
    deltas = np.zeros((steps + 1, size))
    delta = np.zeros(size)  # dL/ds_t, total
    delta[loss_rows] = upstream[steps - 1]
    for k in range(steps - 1, -1, -1):  # k = t - 1
        deltas[k + 1] = delta
        if grad_r is not None:
            assert coefficients.readout is not None and params.weight_out is not None
            grad_r[k] = coefficients.readout[k] * delta
            units[k] = params.weight_out.T @ grad_r[k]
        else:
            units[k] = delta.reshape(-1, hidden)
        grad_m[k] = np.einsum("agi,ai->gi", coefficients.recurrent[k], units[k])
        previous = np.zeros(size)
        if not readout:
            previous += np.einsum("abi,ai->bi", coefficients.direct[k], units[k]).reshape(-1)
        if inner is not None:  # dL/dq = W_hn^T dL/dm_n, sent on to what q depends on
            grad_q[k] = np.einsum("lir,li->lr", weight_blocks[list(inner.gates)], grad_m[k][list(inner.gates)])
            grad_m[k] += np.einsum("lgi,li->gi", inner.recurrent[k], grad_q[k])
            state = previous.reshape(-1, hidden)  # a view: per component
            state += np.einsum("lci,li->ci", inner.direct[k], grad_q[k])
        grad_m[k] = grad_m[k][order]
        previous[reads] += np.einsum("gir,gi->r", carry[early], grad_m[k][early])  # sum_g W_hg^T dL/dm_g
        if k:
            previous[~kept] = 0.0  # a dropped carry is not added in; the initial state's gradient still shows it
            previous[loss_rows] += upstream[k - 1]
        delta = previous  # dL/ds_{t-1}; after the loop, dL/ds_0
    deltas[0] = delta
    grad_u = np.einsum("tagi,tai->tgi", inputs, units)
    if inner is not None:
        grad_u += np.einsum("tlgi,tli->tgi", inner.inputs, grad_q)
    grad_u = grad_u[:, order].reshape(steps, gates * hidden)
    grad_m_flat = grad_m.reshape(steps, gates * hidden)
    return BackwardTerms(trajectory, grad_u, grad_m_flat, grad_r, deltas, units, grad_q)


def backward(trajectory: Trajectory, upstream: np.ndarray) -> dict[str, np.ndarray]:
    """Exact BPTT through a forward pass, for ``upstream[t-1] = dL/dh_t`` of shape ``(T, H)`` (``dL/dy_t``
    ``(T, O)`` for a cell that feeds its output back).

    Returns:
        Gradients under the parameters' own names (``weight_ih_l0`` ``(G*H, I)``, ``weight_hh_l0``
        ``(G*H, R)`` or ``weight_yh_l0``, the readout's ``weight_hy_l0``; biases only when the
        parameters have them), ``inputs`` ``(T, I)``, and one array per initial state component
        (``h0``, and ``c0`` for the LSTM; ``y0`` ``(O,)`` for a readout cell).
    """
    return backward_terms(trajectory, upstream).gradients()


def _vector_gradients(trajectory: Trajectory, units: np.ndarray, grad_q: np.ndarray) -> dict[str, np.ndarray]:
    """``dL/dp`` ``(H,)`` of every per-unit vector: through the updates and through what inner gates read."""
    spec = trajectory.spec
    if not spec.vectors:
        return {}
    compiled, arguments = trajectory.compiled, compiled_arguments(trajectory, 0, trajectory.steps)
    symbols = dict(zip(spec.vector_symbols, spec.vectors, strict=True))
    rows = {c: k for k, c in enumerate(spec.state)}
    inner = {g: k for k, g in enumerate(spec.inner_gates)}
    out = {f"{name}_l0": np.zeros(trajectory.params.hidden_size) for name in spec.vectors}
    for (_, row, symbol), value in compiled.vector_partials(*arguments).items():
        out[f"{symbols[symbol]}_l0"] += np.einsum("ti,ti->i", value, units[:, rows[row]])
    for (kind, gate, other), value in compiled.inner_partials(*arguments).items():
        if kind == "p":
            out[f"{symbols[other]}_l0"] += np.einsum("ti,ti->i", value, grad_q[:, inner[gate]])
    return out
