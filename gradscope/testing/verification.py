"""gradscope checks itself: derived Jacobians and BPTT gradients against independent sources.

For every built-in cell, on a small random problem (H = 3, I = 2, T = 5 by default, random initial
state and random ``upstream = dL/dh_t``), :func:`verify` compares

* the per-step state Jacobians ``J_t = d s_t / d s_{t-1}`` (assembled from the derived partials)
  with central finite differences of the cell's update and, when PyTorch is installed, with
  autograd through the real ``torch.nn.RNN``/``LSTM``/``GRU`` in float64;
* the forward states with the torch module's;
* every gradient of :func:`gradscope.testing.bptt_reference` (``weight_ih_l0``, ``weight_hh_l0``,
  ``bias_ih_l0``, ``bias_hh_l0``, ``inputs``, ``h0``, ``c0``) with central finite differences of the
  loss ``L = sum_t <upstream_t, h_t>`` and with torch autograd.

The Jordan cell (state ``y``, its fed-back output; no torch module exists for it) is compared with
the same network written directly in torch, and its loss reads the outputs, ``L = sum_t
<upstream_t, y_t>``.

It returns data (one :class:`VerificationRow` per check) and prints nothing; the command line
renders the table. Errors are measured relative to the largest entry of the reference, so a
check is meaningful even where single entries are close to zero.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradscope._version import __version__
from gradscope.analysis.document import json_number
from gradscope.analysis.problem import make_problem
from gradscope.cells.spec import ALL_CELL_NAMES, resolve_name
from gradscope.compile.compiled import CompiledCell
from gradscope.engine.bptt import backward, state_key
from gradscope.engine.coefficients import dense_jacobians
from gradscope.engine.trajectory import Trajectory, run_forward, step
from gradscope.errors import ConfigError
from gradscope.params.layer import validate_layer

#: Schema of the document ``gradscope verify --json`` writes.
VERIFY_SCHEMA = "gradscope.verify/1"

FINITE_DIFFERENCES = "finite differences"
TORCH = "torch autograd"

#: Largest accepted ``max |actual - expected| / max |expected|``, by reference. Central differences
#: with step 1e-6 are accurate to about 1e-9 here; torch and gradscope agree to rounding.
TOLERANCES: Mapping[str, float] = {FINITE_DIFFERENCES: 1e-6, TORCH: 1e-10}

#: Step of the central differences.
EPSILON = 1e-6


@dataclass(frozen=True)
class VerificationRow:
    """One comparison.

    Attributes:
        cell: the cell's name.
        check: what was compared: ``"J_t (state Jacobians)"``, ``"states s_t"``, or a gradient key
            such as ``"weight_hh_l0"``.
        against: the independent source, ``"finite differences"`` or ``"torch autograd"``.
        max_abs_err: ``max |gradscope - reference|`` over all entries (and time steps).
        max_rel_err: ``max_abs_err / max |reference|``.
        tolerance: the largest ``max_rel_err`` accepted.
        passed: ``max_rel_err <= tolerance``.
    """

    cell: str
    check: str
    against: str
    max_abs_err: float
    max_rel_err: float
    tolerance: float
    passed: bool


@dataclass(frozen=True)
class Verification:
    """The result of :func:`verify`.

    Attributes:
        rows: every comparison, cell by cell.
        torch_version: the PyTorch used, or ``None`` when it is not installed (autograd rows absent).
        settings: ``hidden_size``, ``input_size``, ``steps``, ``seed``.
    """

    rows: tuple[VerificationRow, ...]
    torch_version: str | None
    settings: Mapping[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> tuple[VerificationRow, ...]:
        return tuple(row for row in self.rows if not row.passed)

    def to_dict(self) -> dict[str, Any]:
        """The ``gradscope.verify/1`` document: settings, PyTorch version, overall result and one entry per check.

        Errors that are not finite (a NaN or an infinite relative error) are ``null``; their check has failed.
        """
        return {
            "schema": VERIFY_SCHEMA,
            "gradscope_version": __version__,
            "passed": self.passed,
            "torch_version": self.torch_version,
            "settings": dict(self.settings),
            "checks": len(self.rows),
            "failures": len(self.failures),
            "rows": [
                {
                    "cell": row.cell,
                    "check": row.check,
                    "against": row.against,
                    "max_abs_err": json_number(row.max_abs_err),
                    "max_rel_err": json_number(row.max_rel_err),
                    "tolerance": row.tolerance,
                    "passed": bool(row.passed),
                }
                for row in self.rows
            ],
        }


def verify(
    cell: str | Sequence[str] = "all",
    *,
    hidden_size: int = 3,
    input_size: int = 2,
    steps: int = 5,
    seed: int = 0,
    use_torch: bool | None = None,
) -> Verification:
    """Check the derivation of ``cell`` (``"all"``, one name or several) against independent sources.

    Args:
        cell: ``"all"`` (every built-in cell), a cell name, or a sequence of names.
        hidden_size, input_size, steps: size of the random problem (small: the finite differences
            and dense Jacobians cost ``O(T (G H (H + I))^2)``).
        seed: seeds the parameters, inputs, initial state and upstream gradient.
        use_torch: ``None`` (default) uses PyTorch when installed; ``True`` requires it; ``False``
            skips it.

    Returns:
        A :class:`Verification`; ``.passed`` is false when any row exceeds its tolerance.

    Raises:
        UnknownCellError: an unknown cell name. ConfigError: ``use_torch=True`` without PyTorch,
            or sizes below 1.
    """
    if isinstance(cell, str) and cell.strip().lower() == "all":
        names = list(ALL_CELL_NAMES)
    else:
        names = [resolve_name(c) for c in ([cell] if isinstance(cell, str) else cell)]
    torch = _torch(use_torch)
    rows: list[VerificationRow] = []
    for name in names:
        rows += _verify_cell(name, hidden_size, input_size, steps, seed, torch)
    settings = {"hidden_size": hidden_size, "input_size": input_size, "steps": steps, "seed": seed}
    return Verification(tuple(rows), None if torch is None else str(torch.__version__), settings)


def _torch(use_torch: bool | None) -> Any:
    if use_torch is False:
        return None
    if importlib.util.find_spec("torch") is None:
        if use_torch:
            raise ConfigError("use_torch=True, but PyTorch is not installed (pip install torch==2.13.0)")
        return None
    import torch

    return torch


def _row(cell: str, check: str, against: str, actual: np.ndarray, expected: np.ndarray) -> VerificationRow:
    error = float(np.max(np.abs(np.asarray(actual) - np.asarray(expected)), initial=0.0))
    scale = float(np.max(np.abs(expected), initial=0.0))
    relative = error / scale if scale > 0 else (0.0 if error == 0 else float("inf"))
    if not np.isfinite(error):
        relative = float("inf")
    tolerance = TOLERANCES[against]
    return VerificationRow(cell, check, against, error, relative, tolerance, relative <= tolerance)


@dataclass(frozen=True)
class _Problem:
    compiled: CompiledCell
    arrays: dict[str, np.ndarray]  # parameters under PyTorch names, "inputs", "h0", ("c0"); "y0" for jordan
    upstream: np.ndarray  # (T, H); (T, O) for a feedback cell

    def loss_and_trajectory(self, arrays: Mapping[str, np.ndarray]) -> tuple[float, Trajectory]:
        """``L = sum_t <upstream_t, h_t>`` (``y_t`` for a feedback cell) and the forward pass, by gradscope's update."""
        spec = self.compiled.spec
        params = validate_layer(spec, {k: v for k, v in arrays.items() if k.startswith(("weight", "bias"))})
        initial = np.concatenate([arrays[state_key(c)] for c in spec.state])
        trajectory = run_forward(self.compiled, params, arrays["inputs"], initial)
        read = trajectory.states[1:] if spec.feedback else trajectory.components[1:, 0]
        return float(np.sum(self.upstream * read)), trajectory


def _problem(cell: str, hidden: int, width: int, steps: int, seed: int) -> _Problem:
    prepared = make_problem(cell, hidden_size=hidden, input_size=width, steps=steps, seed=seed)
    rng = np.random.default_rng([seed, 1])
    spec = prepared.spec
    arrays = dict(prepared.params.as_dict()) | {"inputs": prepared.inputs}
    low, high = (0.0, 1.0) if spec.feedback else (-0.5, 0.5)  # a feedback cell's y0 is a sigmoid output
    size = prepared.output_size or prepared.hidden_size
    for component in spec.state:
        arrays[state_key(component)] = rng.uniform(low, high, size=size)
    return _Problem(prepared.compiled, arrays, rng.standard_normal((steps, size)))


def _verify_cell(cell: str, hidden: int, width: int, steps: int, seed: int, torch: Any) -> list[VerificationRow]:
    problem = _problem(cell, hidden, width, steps, seed)
    _, trajectory = problem.loss_and_trajectory(problem.arrays)
    jacobians = dense_jacobians(trajectory)  # (T, S, S)
    grads = backward(trajectory, problem.upstream)
    jacobian_check = "J_t (state Jacobians)"

    rows = [_row(cell, jacobian_check, FINITE_DIFFERENCES, jacobians, _numeric_jacobians(problem, trajectory))]
    numeric = _numeric_gradients(problem)
    rows += [_row(cell, key, FINITE_DIFFERENCES, grads[key], numeric[key]) for key in grads]
    feedback = trajectory.spec.feedback
    if torch is not None and (feedback or cell in _TORCH_MODULES):  # other cells: central differences only
        reference = _torch_feedback_reference(torch, problem) if feedback else _torch_reference(torch, cell, problem)
        rows.append(_row(cell, "states s_t", TORCH, trajectory.state_vectors(), reference["states"]))
        rows.append(_row(cell, jacobian_check, TORCH, jacobians, reference["jacobians"]))
        rows += [_row(cell, key, TORCH, grads[key], reference[key]) for key in grads]
    return rows


def _numeric_jacobians(problem: _Problem, trajectory: Trajectory) -> np.ndarray:
    """Central differences of the cell's step with respect to the previous state, ``(T, S, S)``."""

    def step_from(state: np.ndarray, t: int) -> np.ndarray:
        return step(problem.compiled, trajectory.params, trajectory.input_projection[t], state)[0]

    states = trajectory.state_vectors()
    size = states.shape[1]
    columns = [
        [
            (step_from(states[t] + EPSILON * e, t) - step_from(states[t] - EPSILON * e, t)) / (2 * EPSILON)
            for e in np.eye(size)
        ]
        for t in range(trajectory.steps)
    ]
    return np.stack([np.stack(c, axis=1) for c in columns])


def _numeric_gradients(problem: _Problem) -> dict[str, np.ndarray]:
    """Central differences of the loss with respect to every entry of every array."""
    out = {}
    for key, value in problem.arrays.items():
        gradient = np.empty_like(value)
        for index in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in problem.arrays.items()}
            shifted[key][index] = value[index] + EPSILON
            plus, _ = problem.loss_and_trajectory(shifted)
            shifted[key][index] = value[index] - EPSILON
            minus, _ = problem.loss_and_trajectory(shifted)
            gradient[index] = (plus - minus) / (2 * EPSILON)
        out[key] = gradient
    return out


#: The cells that torch.nn has as modules (the zoo's are checked against PyTorch twins in the test suite).
_TORCH_MODULES = ("rnn", "rnn-relu", "lstm", "gru")


def _torch_module(torch: Any, cell: str, arrays: Mapping[str, np.ndarray]) -> Any:
    """A real float64 ``torch.nn.RNN``/``LSTM``/``GRU`` holding the parameters."""
    hidden, width = arrays["weight_hh_l0"].shape[1], arrays["weight_ih_l0"].shape[1]
    factories: dict[str, Callable[[], Any]] = {
        "rnn": lambda: torch.nn.RNN(width, hidden, nonlinearity="tanh"),
        "rnn-relu": lambda: torch.nn.RNN(width, hidden, nonlinearity="relu"),
        "lstm": lambda: torch.nn.LSTM(width, hidden),
        "gru": lambda: torch.nn.GRU(width, hidden),
    }
    module = factories[cell]().double()
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(module, name).copy_(torch.tensor(arrays[name]))
    return module


def _torch_reference(torch: Any, cell: str, problem: _Problem) -> dict[str, np.ndarray]:
    """States, per-step Jacobians and BPTT gradients by autograd through the real torch module."""
    module = _torch_module(torch, cell, problem.arrays)
    lstm = cell == "lstm"
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in problem.arrays.items() if not k.startswith(("w", "b"))}
    initial = (leaves["h0"][None], leaves["c0"][None]) if lstm else leaves["h0"][None]
    output, _ = module(leaves["inputs"], initial)  # (T, H): h_1 .. h_T
    (output * torch.tensor(problem.upstream)).sum().backward()
    out = {name: parameter.grad.numpy().copy() for name, parameter in module.named_parameters()}
    out |= {k: v.grad.numpy().copy() for k, v in leaves.items()}

    hidden = problem.arrays["h0"].shape[0]

    def step(state: Any, x: Any) -> Any:
        if lstm:
            _, (h, c) = module(x[None], (state[None, :hidden], state[None, hidden:]))
            return torch.cat([h.reshape(-1), c.reshape(-1)])
        _, h = module(x[None], state[None])
        return h.reshape(-1)

    state = torch.cat([torch.tensor(problem.arrays[k]) for k in (("h0", "c0") if lstm else ("h0",))])
    states, jacobians = [state], []
    for x in torch.tensor(problem.arrays["inputs"]):
        jacobians.append(torch.autograd.functional.jacobian(lambda s, x=x: step(s, x), state))
        with torch.no_grad():
            state = step(state, x)
        states.append(state)
    out["states"] = torch.stack(states).numpy()
    out["jacobians"] = torch.stack(jacobians).numpy()
    return out


def _torch_feedback_reference(torch: Any, problem: _Problem) -> dict[str, np.ndarray]:
    """States, Jacobians and BPTT gradients by autograd through the Jordan network written in torch."""
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in problem.arrays.items()}
    hidden, output = leaves["weight_hy_l0"].shape[1], leaves["weight_hy_l0"].shape[0]
    zero_h, zero_y = torch.zeros(hidden, dtype=torch.float64), torch.zeros(output, dtype=torch.float64)

    def step(y: Any, x: Any) -> Any:
        h = torch.tanh(leaves["weight_ih_l0"] @ x + leaves.get("bias_ih_l0", zero_h) + leaves["weight_yh_l0"] @ y)
        return torch.sigmoid(leaves["weight_hy_l0"] @ h + leaves.get("bias_hy_l0", zero_y))

    states, state = [leaves["y0"]], leaves["y0"]
    for x in leaves["inputs"]:
        state = step(state, x)
        states.append(state)
    outputs = torch.stack(states)
    (outputs[1:] * torch.tensor(problem.upstream)).sum().backward()
    out = {k: v.grad.numpy().copy() for k, v in leaves.items()}
    detached = outputs.detach()
    out["states"] = detached.numpy().copy()
    jacobians = [
        torch.autograd.functional.jacobian(lambda s, x=x: step(s, x), detached[t])
        for t, x in enumerate(leaves["inputs"].detach())
    ]
    out["jacobians"] = torch.stack(jacobians).detach().numpy()
    return out
