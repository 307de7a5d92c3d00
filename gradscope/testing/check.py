"""Check your own BPTT in five lines: :func:`check_bptt`.

>>> from gradscope.testing import check_bptt
>>> check_bptt("rnn",
...            params={"Wxh": Wxh, "Whh": Whh, "bh": bh, "Why": Why, "by": by},
...            grads={"Wxh": dWxh, "Whh": dWhh, "bh": dbh, "Why": dWhy, "by": dby},
...            inputs=xs, targets=ys, loss="softmax_ce", h0=hprev)   # doctest: +SKIP

The parameters go through the adapter of :mod:`gradscope.testing.layouts` (tutorial or PyTorch
names, column or flat vectors, concatenated or per-gate weights, any gate order); the reference
runs the cell forward, the loss (:mod:`gradscope.engine.losses`) and exact BPTT, and compares every
given gradient, the output layer's included, in the user's own names and shapes. A mismatch raises
:class:`~gradscope.testing.GradientMismatch` whose message also says when the per-step terms first
go wrong (:mod:`gradscope.testing.timeline`) and what the evidence says the mistake is
(:mod:`gradscope.testing.hints`). Given the user's backward *function* instead of its gradients, the
check runs it, and reruns it on prefixes of the sequence to place the failure in time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from gradscope.cells.spec import CellSpec
from gradscope.errors import ConfigError, ParameterError
from gradscope.testing.adapter import map_arrays
from gradscope.testing.check_problem import CheckProblem, LossFunction, make_check_problem
from gradscope.testing.comparison import GradientMismatch
from gradscope.testing.diagnosis import BPTTDiagnosis
from gradscope.testing.entries import KeyComparison, compare_given
from gradscope.testing.hints import Evidence, direct_findings, mistake_findings
from gradscope.testing.layouts import MappedParams
from gradscope.testing.names import gradient_name, gradient_suggestion
from gradscope.testing.signatures import same_arguments
from gradscope.testing.timeline import Timeline, from_structure
from gradscope.testing.tolerance import Tolerance
from gradscope.testing.user_backward import BackwardFunction, call_backward


def diagnose_bptt(
    cell: str | CellSpec,
    params: Mapping[str, object] | MappedParams,
    grads: Mapping[str, object] | BackwardFunction,
    inputs: object,
    *,
    targets: object = None,
    loss: str | LossFunction | None = None,
    reduce: str = "sum",
    upstream: object = None,
    h0: object = None,
    c0: object = None,
    layout: str = "auto",
    gates: str | tuple[str, ...] | None = None,
    concat: str = "hx",
    names: Mapping[str, str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> BPTTDiagnosis:
    """Compare a hand-written BPTT with the exact reference; never raises on a mismatch.

    Args:
        cell: ``"rnn"``, ``"rnn-relu"``, ``"lstm"``, ``"gru"``.
        params: the parameters under tutorial or PyTorch names (``Wxh``, ``Whh``, ``bh``, ``Why``, ``by``;
            ``weight_ih_l0``, ...; see :mod:`gradscope.testing.names`), or what
            :func:`~gradscope.testing.from_arrays` returns.
        grads: the gradients under the same names (``dWxh`` or ``Wxh``; ``dh0``, ``dxs`` for the initial
            state and the inputs), in the parameters' shapes; or the backward function itself,
            ``backward(params, inputs, targets, h0[, c0]) -> grads``, which is then also rerun on prefixes.
        inputs: ``(T, I)`` rows, ``(T, I, 1)`` column vectors, a list of them, or ``T`` class indices (one-hot).
        targets, loss, reduce: the loss (see :mod:`gradscope.engine.losses`): ``"softmax_ce"`` with class
            indices, ``"mse"``/``"sse"``/``"half_sse"`` with values; ``reduce="sum"`` (every step),
            ``"mean"`` or ``"last"`` (a many-to-one loss, one target); or a function ``loss(outputs,
            targets) -> dL/doutputs``. With output weights the loss reads ``y_t = Why h_t + by``, else ``h_t``.
        upstream: instead of a loss, ``dL/dh_t`` ``(T, H)`` directly.
        h0, c0: the initial state (zeros by default), ``(H,)`` or ``(H, 1)``.
        layout, gates, concat, names: how to read the parameters (see :func:`~gradscope.testing.from_arrays`).
        rtol, atol: override the per-dtype tolerances of :data:`~gradscope.testing.DEFAULT_TOLERANCES`.

    Raises:
        GradscopeError: bad parameters, inputs, targets or options (errors in the test itself, not mismatches).
    """
    if isinstance(params, MappedParams):
        if (layout, gates, concat, names) != ("auto", None, "hx", None):
            raise ConfigError("params came from from_arrays: give layout, gates, concat and names there, not here")
        mapped = params
        wanted = cell.name if isinstance(cell, CellSpec) else cell
        if wanted != mapped.layout.spec.name:
            raise ConfigError(f"params were mapped for {mapped.layout.spec.name!r}, not {wanted!r}")
    else:
        mapped = map_arrays(cell, params, layout=layout, gates=gates, concat=concat, names=names)
    problem = make_check_problem(
        mapped, inputs, targets=targets, loss=loss, reduce=reduce, upstream=upstream, h0=h0, c0=c0
    )
    function = None
    if callable(grads) and not isinstance(grads, Mapping):
        function = grads
        grads = call_backward(function, problem)
    if not isinstance(grads, Mapping):
        raise ParameterError(
            f"grads must be a dict of gradients by name or your backward function, got {type(grads).__name__}"
        )
    keys, unknown, shapes, actual, tol = _compare(problem, grads, rtol, atol)
    wrong = sorted((k for k, c in keys.items() if not c.passed), key=lambda k: -keys[k].max_abs_err)
    common = _shared_hints([keys[k] for k in wrong])
    ranked = {k: replace(keys[k], hints=tuple(h for h in keys[k].hints if h not in common)) for k in wrong}
    ranked |= {k: c for k, c in keys.items() if c.passed}
    timeline, hints = None, tuple(f"all {len(wrong)} wrong gradients: {h}" for h in common)
    if wrong:
        shown = {target: key for key, target in _targets(problem, grads).items()}
        timeline, found = _explain(problem, actual, tol, shown)
        hints += found
        if function is not None:
            timeline = _with_prefixes(timeline, problem, function, rtol, atol)
    layout_ = problem.layout
    names_all = (*layout_.roles, "inputs", *(f"{c}0" for c in problem.state))
    return BPTTDiagnosis(
        cell=layout_.spec.name,
        steps=problem.steps,
        hidden_size=layout_.hidden_size,
        input_size=layout_.input_size,
        output_size=layout_.output_size,
        loss=problem.describe_loss(),
        keys=ranked,
        unknown=unknown,
        wrong_shapes=shapes,
        not_checked=tuple(n for n in names_all if n not in {c for c in _targets(problem, grads).values()}),
        timeline=timeline,
        hints=hints,
        gradient_names=names_all,
    )


@same_arguments(diagnose_bptt)
def check_bptt(*args: Any, **kwargs: Any) -> BPTTDiagnosis:
    """Pass silently when ``grads`` are the exact BPTT gradients; raise :class:`GradientMismatch` otherwise.

    Arguments exactly as for :func:`diagnose_bptt`. Returns the :class:`BPTTDiagnosis` when everything matches.
    """
    diagnosis = diagnose_bptt(*args, **kwargs)
    if not diagnosis.passed:
        raise GradientMismatch(diagnosis)
    return diagnosis


def _shared_hints(wrong: list[KeyComparison]) -> tuple[str, ...]:
    """The per-key hints every wrong gradient has (said once for all of them), when more than one is wrong."""
    if len(wrong) < 2:
        return ()
    return tuple(h for h in wrong[0].hints if all(h in c.hints for c in wrong[1:]))


def _targets(problem: CheckProblem, grads: Mapping[str, object]) -> dict[str, str]:
    """Given key -> the parameter (or inputs / initial state) it is the gradient of; unknown keys left out."""
    out = {}
    for key in grads:
        target = gradient_name(str(key), problem.layout.roles, problem.state)
        if target is not None:
            out[str(key)] = target
    return out


def _compare(
    problem: CheckProblem, grads: Mapping[str, object], rtol: float | None, atol: float | None
) -> tuple[
    dict[str, KeyComparison],
    dict[str, str],
    dict[str, tuple[tuple[int, ...], tuple[int, ...]]],
    dict[str, np.ndarray],
    dict[str, Tolerance],
]:
    exact, layout = problem.exact.user, problem.layout
    targets = _targets(problem, grads)
    unknown = {str(k): gradient_suggestion(str(k), layout.roles, problem.state) for k in grads if str(k) not in targets}
    seen: dict[str, str] = {}
    for key, target in targets.items():
        if target in seen:
            raise ParameterError(f"grads: {seen[target]!r} and {key!r} both name the gradient of {target}")
        seen[target] = key
    keys, shapes, actual, tol = {}, {}, {}, {}
    for key, target in targets.items():
        given = compare_given(
            key,
            exact[target],
            grads[key],
            rtol,
            atol,
            locate=_locator(problem, target),
            gate_of=_gates(problem, target),
        )
        if given.comparison is None:
            assert given.wrong_shape is not None
            shapes[key] = given.wrong_shape
            continue
        keys[key] = given.comparison
        actual[target], tol[target] = given.actual, given.tolerance
    return keys, unknown, shapes, actual, tol


def _locator(problem: CheckProblem, target: str) -> Any:
    if target in problem.layout.roles:
        return lambda index: problem.layout.locate(target, index)
    if target == "inputs":
        return lambda index: f"time step t={index[0] + 1} of {problem.steps}, input x_t[{index[1]}]"
    return lambda index: f"unit {index[0]}"


def _gates(problem: CheckProblem, target: str) -> Any:
    if target not in problem.layout.roles or problem.compiled.spec.num_gates < 2:
        return None
    return lambda index: problem.layout.gate_of(target, index)


def _explain(
    problem: CheckProblem, actual: Mapping[str, np.ndarray], tol: Mapping[str, Tolerance], shown: Mapping[str, str]
) -> tuple[Timeline | None, tuple[str, ...]]:
    """The time line and the hints of a failed check."""
    exact = problem.exact
    evidence = Evidence(problem, exact, actual, tol, shown)
    findings = direct_findings(evidence)
    if not any(f.conclusive for f in findings):
        findings += mistake_findings(evidence)
    errors, noise = _errors(problem, actual, tol)
    timeline = from_structure(exact.terms, exact.hidden, errors, noise, problem.compiled.spec.gates) if errors else None
    if timeline is None or timeline.source == "none":
        placed = next((f.timeline for f in findings if f.timeline is not None), None)
        timeline = placed or timeline
    hints = [f.text for f in findings]
    if timeline is not None and timeline.hint:
        hints.append(timeline.hint)
    return timeline, tuple(hints)


def _errors(
    problem: CheckProblem, actual: Mapping[str, np.ndarray], tol: Mapping[str, Tolerance]
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The errors of the given parameter gradients under PyTorch's names, and the rounding each may carry."""
    exact = problem.exact.user
    given = {k: actual[k] - exact[k] for k in actual if k in problem.layout.roles}
    if not all(np.all(np.isfinite(e)) for e in given.values()):
        return {}, {}
    errors = problem.layout.to_torch(given)
    allowed = max((tol[k].atol + tol[k].rtol * np.abs(exact[k]).max(initial=0.0) for k in given), default=0.0)
    return errors, dict.fromkeys(errors, allowed)


def _with_prefixes(
    timeline: Timeline | None, problem: CheckProblem, function: BackwardFunction, rtol: float | None, atol: float | None
) -> Timeline:
    """``timeline`` with the shortest failing prefix of the user's backward."""
    base = timeline or Timeline(problem.steps, "prefixes")
    for steps in range(1, problem.steps):
        prefix = problem.prefix(steps)
        try:
            prefix.exact  # noqa: B018 - the reference on the prefix
            given = call_backward(function, prefix)
        except ConfigError:  # e.g. a prefix on which the loss sends no gradient: not informative
            continue
        except Exception as error:  # the user's code failed on a shorter sequence: say so, do not hide it
            note = f"prefixes: your backward raised {type(error).__name__} on the first {steps} step(s): {error}"
            return replace(base, note=(base.note + "; " if base.note else "") + note)
        keys, _, shapes, _, _ = _compare(prefix, given, rtol, atol)
        if shapes or not all(c.passed for c in keys.values()):
            return replace(base, prefix_fail=steps)
    return replace(base, prefix_fail=problem.steps)
