"""What :func:`~gradscope.testing.check_bptt` runs on: the user's arrays read once, and the exact reference.

A :class:`CheckProblem` holds the mapped parameters, the inputs as ``(T, I)`` floats (class indices
become one-hot rows), the initial state, and the loss: a built-in one
(:class:`~gradscope.engine.losses.Loss`, optionally through an output layer), a callable
``loss(outputs, targets) -> dL/doutputs``, or a fixed ``upstream = dL/dh_t``. :meth:`CheckProblem.reference`
runs the cell forward, the loss and exact BPTT, and returns every gradient under the user's names;
its keywords swap in a different compiled cell, a :class:`~gradscope.engine.bptt.BackwardVariant` or a
different ``dL/dy`` so that the hints can test what a mistake would have produced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from gradscope.compile.compiled import CompiledCell
from gradscope.engine.bptt import BackwardTerms, BackwardVariant, backward_terms
from gradscope.engine.losses import Loss, OutputHead, make_loss
from gradscope.engine.trajectory import Trajectory, run_forward
from gradscope.errors import ConfigError, ShapeError
from gradscope.params.arrays import as_float_array
from gradscope.params.layer import LayerParams, validate_layer
from gradscope.testing.layouts import ArrayLayout, MappedParams, vector_matches
from gradscope.testing.reference import reference_problem

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: A user's loss: ``(outputs (T, O), targets) -> dL/doutputs (T, O)``.
LossFunction = Callable[[np.ndarray, Any], Any]


@dataclass(frozen=True)
class Reference:
    """The exact (or, with a mistake swapped in, the mistaken) gradients of one problem.

    Attributes:
        terms: the per-step BPTT pieces (:class:`~gradscope.engine.bptt.BackwardTerms`).
        hidden: ``(T, H)`` hidden states ``h_t``; outputs: ``(T, O)`` what the loss reads.
        output_gradient: ``(T, O)`` ``dL/dy_t``; upstream: ``(T, H)`` ``dL/dh_t`` from the loss directly.
        torch: the cell's gradients under PyTorch's names (with ``inputs``, ``h0``, ``c0``).
        user: every gradient under the user's names and shapes, plus ``inputs``, ``h0`` (``c0``).
    """

    terms: BackwardTerms
    hidden: np.ndarray
    outputs: np.ndarray
    output_gradient: np.ndarray
    upstream: np.ndarray
    torch: Mapping[str, np.ndarray]
    user: Mapping[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class CheckProblem:
    """A validated check: parameters, inputs, initial state and loss (see the module docstring).

    Attributes:
        mapped: the user's parameters and their layout.
        compiled, params: the cell and its PyTorch-named layer parameters.
        head: the output layer, or ``None`` (the loss reads ``h_t``).
        inputs: ``(T, I)``; initial: ``(S,)`` the initial state ``[h0; c0]``.
        loss: a :class:`~gradscope.engine.losses.Loss`, a :data:`LossFunction`, or ``None`` with ``upstream``.
        fixed_upstream: ``(T, H)`` given ``dL/dh_t``, or ``None``.
        raw: the user's own ``inputs``, ``targets``, ``h0``, ``c0`` objects (for rerunning their backward).
    """

    mapped: MappedParams
    compiled: CompiledCell
    params: LayerParams
    head: OutputHead | None
    inputs: np.ndarray
    initial: np.ndarray
    loss: Loss | LossFunction | None
    fixed_upstream: np.ndarray | None
    raw: Mapping[str, Any]

    @property
    def layout(self) -> ArrayLayout:
        return self.mapped.layout

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def state(self) -> tuple[str, ...]:
        return self.compiled.spec.state

    def describe_loss(self) -> str:
        """``"loss softmax_ce, reduce sum"``, ``"a loss function"`` or ``"upstream dL/dh_t given"``."""
        if isinstance(self.loss, Loss):
            return f"loss {self.loss.kind}, reduce {self.loss.reduce}"
        return "upstream dL/dh_t given" if self.loss is None else "a loss function"

    def trajectory(self, compiled: CompiledCell | None = None) -> Trajectory:
        return run_forward(compiled or self.compiled, self.params, self.inputs, self.initial)

    def reference(
        self,
        *,
        compiled: CompiledCell | None = None,
        variant: BackwardVariant | None = None,
        output_gradient: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> Reference:
        """Forward, loss and BPTT; ``compiled``/``variant``/``output_gradient`` swap in a mistake to test."""
        trajectory = self.trajectory(compiled)
        hidden = trajectory.components[1:, 0]
        outputs = hidden if self.head is None else self.head.outputs(hidden)
        if self.fixed_upstream is not None:
            dy = self.fixed_upstream
        elif output_gradient is not None:
            dy = output_gradient(outputs, self._exact_dy(outputs))
        else:
            dy = self._exact_dy(outputs)
        upstream = dy if self.head is None else self.head.hidden_gradient(dy)
        terms = backward_terms(trajectory, upstream, variant)
        torch = terms.gradients()
        head_grads = None if self.head is None else self.head.gradients(hidden, dy)
        user = self.layout.to_user(torch, head_grads)
        user["inputs"] = torch["inputs"]
        for component in self.state:
            user[f"{component}0"] = torch[f"{component}0"]
        return Reference(terms, hidden, outputs, dy, upstream, torch, user)

    def _exact_dy(self, outputs: np.ndarray) -> np.ndarray:
        if isinstance(self.loss, Loss):
            return self.loss.gradient(outputs)
        assert self.loss is not None
        try:
            value = self.loss(outputs.copy(), self.raw["targets"])
        except Exception as error:  # the user's loss: report what it raised, as the user's problem
            raise ConfigError(f"loss: your loss function raised {type(error).__name__}: {error}") from error
        gradient = as_float_array("loss(outputs, targets)", value)
        if gradient.size != outputs.size:
            raise ShapeError(
                f"loss(outputs, targets): expected dL/doutputs of shape {outputs.shape}, got {gradient.shape}"
            )
        return gradient.reshape(outputs.shape)

    @functools.cached_property
    def exact(self) -> Reference:
        """The exact reference (computed once)."""
        return self.reference()

    def remapped(self, mapped: MappedParams) -> CheckProblem:
        """The same check with the user's arrays read through another layout (another gate or concatenation order)."""
        torch_params, head = mapped.torch()
        return replace(self, mapped=mapped, params=validate_layer(self.compiled.spec, torch_params), head=head)

    def prefix(self, steps: int) -> CheckProblem:
        """The same check on the first ``steps`` steps (a many-to-one loss reads ``h_steps``)."""
        raw = dict(self.raw)
        raw["inputs"] = _slice(self.raw["inputs"], steps)
        loss = self.loss
        if isinstance(loss, Loss):
            if loss.reduce != "last":
                raw["targets"] = _slice(self.raw["targets"], steps)
            loss = loss.prefix(steps)
        elif loss is not None:
            raw["targets"] = _slice(self.raw["targets"], steps)
        upstream = None if self.fixed_upstream is None else self.fixed_upstream[:steps]
        return replace(self, inputs=self.inputs[:steps], loss=loss, fixed_upstream=upstream, raw=raw)


def _slice(value: Any, steps: int) -> Any:
    return value[:steps] if value is not None else None


def read_inputs(inputs: object, input_size: int) -> np.ndarray:
    """``inputs`` as ``(T, I)`` floats: rows of floats, column vectors ``(T, I, 1)``, a batch of one
    ``(T, 1, I)``, a list of ``(I, 1)`` arrays, or integer indices ``(T,)`` (one-hot rows)."""
    raw = inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else inputs
    try:
        array = np.asarray(raw)
    except ValueError as error:
        raise ShapeError(f"inputs: cannot be read as an array of input vectors ({error})") from error
    if array.dtype.kind in "iu" and array.ndim == 1:
        bad = array[(array < 0) | (array >= input_size)]
        if bad.size:
            raise ConfigError(
                f"inputs: index {int(bad[0])} out of range for the input size {input_size} (Wxh's columns)"
            )
        return np.eye(input_size)[array]
    values = as_float_array("inputs", array)
    if values.ndim == 1 and input_size == 1:
        values = values[:, None]
    if values.ndim == 3 and 1 in values.shape[1:]:
        values = values.reshape(values.shape[0], -1)
    if values.ndim != 2 or values.shape[1] != input_size or values.shape[0] < 1:
        raise ShapeError(
            f"inputs: expected (T, {input_size}) rows x_t (or (T, {input_size}, 1) columns, or T indices), "
            f"got {values.shape}"
        )
    return values


def read_state(name: str, value: object, hidden: int) -> np.ndarray:
    """An initial state as ``(H,)``, from ``(H,)``, ``(H, 1)``, ``(1, H)`` or ``(1, 1, H)``."""
    array = as_float_array(name, value)
    if not vector_matches(tuple(n for n in array.shape if n != 1) or (1,), hidden) or array.size != hidden:
        raise ShapeError(f"{name}: expected shape ({hidden},) or ({hidden}, 1), got {array.shape}")
    return array.reshape(hidden)


class CheckData(TypedDict, total=False):
    """What a check is given besides the parameters and inputs (see :func:`~gradscope.testing.diagnose_bptt`)."""

    targets: object
    loss: str | LossFunction | None
    reduce: str
    upstream: object
    h0: object
    c0: object


def make_check_problem(mapped: MappedParams, inputs: object, **data: Unpack[CheckData]) -> CheckProblem:
    """Read and validate everything a check needs, once (see :class:`CheckProblem`)."""
    targets, loss, reduce = data.get("targets"), data.get("loss"), data.get("reduce", "sum")
    upstream, h0, c0 = data.get("upstream"), data.get("h0"), data.get("c0")
    layout = mapped.layout
    torch_params, head = mapped.torch()
    xs = read_inputs(inputs, layout.input_size)
    hidden, steps = layout.hidden_size, xs.shape[0]
    states = {"h0": None if h0 is None else read_state("h0", h0, hidden)}
    if "c" in layout.spec.state:
        states["c0"] = None if c0 is None else read_state("c0", c0, hidden)
    elif c0 is not None:
        raise ConfigError(
            f"c0 given, but the {layout.spec.name} cell has no cell state (state: {layout.spec.state_layout})"
        )
    problem = reference_problem(layout.spec.name, torch_params, xs, **states)
    initial = problem.initial_state[0]
    fixed = None
    if upstream is not None:
        if loss is not None or head is not None:
            what = "a loss" if loss is not None else "output weights"
            raise ConfigError(f"give either upstream (dL/dh_t) or {what} for the reference to derive it, not both")
        fixed = as_float_array("upstream", upstream)
        if fixed.size != steps * hidden:
            raise ShapeError(f"upstream: expected ({steps}, {hidden}), one row dL/dh_t per step, got {fixed.shape}")
        fixed = fixed.reshape(steps, hidden)
        chosen: Loss | LossFunction | None = None
    elif loss is None:
        raise ConfigError(
            "give a loss ('softmax_ce', 'mse', 'sse', 'half_sse' or a function) and its targets, or upstream"
        )
    elif callable(loss):
        chosen = loss
    else:
        size = hidden if head is None else head.output_size
        if targets is None:
            raise ConfigError(f"loss {loss!r}: give its targets")
        chosen = make_loss(loss, reduce, targets, steps, size)
    raw = {"inputs": inputs, "targets": targets, "h0": h0, "c0": c0}
    made = CheckProblem(mapped, problem.compiled, problem.params, head, xs, initial, chosen, fixed, raw)
    if not np.any(made.exact.upstream):
        raise ConfigError(
            "the loss sends no gradient to the hidden states (dL/dh_t is zero at every step): every gradient is "
            "zero and the check would prove nothing"
        )
    return made
