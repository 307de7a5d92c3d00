"""Hints that fire on evidence: what a failing hand-written BPTT most likely got wrong.

Each hint is a test, not a guess. The direct ones read the user's arrays: non-finite values,
gradients that are all zero (the loss gradient never reached the backward pass), gradients capped
at one constant where the exact value is larger (clipping left in the code). The others are
**mistakes replayed**: the reference is recomputed with one classic mistake swapped in (the carry
through ``W_hh`` instead of ``W_hh^T``, a dropped ``dh_next`` or ``dc_next``, gate gradients stacked in
another order, a missing or one-step-off ``tanh'``/``sigmoid'``, a neighbouring cell such as an LSTM
without ``tanh`` on the cell state, ``h_t`` for ``h_{t-1}`` in ``dW_hh``, the softmax gradient without its
``-1``, another loss scale, another gate or concatenation order of the weights), and the hint fires
only when that mistake reproduces every given gradient to rounding. Nothing fires on correct code:
the hints run only when the check has failed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np

from gradscope.engine.bptt import BackwardVariant
from gradscope.engine.losses import LOSSES, REDUCTIONS, Loss
from gradscope.testing.check_problem import CheckProblem, Reference
from gradscope.testing.layouts import MappedParams
from gradscope.testing.timeline import Timeline, from_terms
from gradscope.testing.tolerance import Tolerance


@dataclass(frozen=True)
class Finding:
    """One hint, and when the mistake it names makes the per-step terms go wrong (if it can say).

    ``conclusive``: it explains every mismatch by itself (no mistake needs replaying).
    """

    text: str
    timeline: Timeline | None = None
    conclusive: bool = False


def _close(actual: np.ndarray, candidate: np.ndarray, tolerance: Tolerance) -> bool:
    """``actual`` equals ``candidate`` up to the check's tolerance plus the rounding of a long sum."""
    scale = np.abs(candidate).max(initial=0.0)
    allowed = tolerance.atol + tolerance.rtol * (np.abs(candidate) + 1e-2 * scale)
    return bool(np.all(np.abs(actual - candidate) <= allowed))


@dataclass(frozen=True)
class Evidence:
    """What a failed check holds: the problem and its exact reference, the user's gradients by what they are the
    gradients of (``actual``: a parameter's name, ``inputs``, ``h0``, ``c0``), their tolerances, and the key the user
    gave each (``shown``, for the messages)."""

    problem: CheckProblem
    exact: Reference
    actual: Mapping[str, np.ndarray]
    tol: Mapping[str, Tolerance]
    shown: Mapping[str, str]

    def head_keys(self) -> list[str]:
        """The output layer's given gradients."""
        roles = self.problem.layout.roles
        return [n for n, r in roles.items() if r.kind in ("weight_out", "bias_out") and n in self.actual]

    def right(self, key: str) -> bool:
        return _close(self.actual[key], self.exact.user[key], self.tol[key])


def _explains(
    actual: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray], tol: Mapping[str, Tolerance]
) -> bool:
    return all(
        k in candidate and candidate[k].shape == a.shape and _close(a, candidate[k], tol[k]) for k, a in actual.items()
    )


def direct_findings(evidence: Evidence) -> list[Finding]:
    """Hints read off the user's arrays: non-finite values, all zeros, clipping."""
    actual, shown, expected = evidence.actual, evidence.shown, evidence.exact.user
    found = []
    bad = {k: int(np.size(a) - np.count_nonzero(np.isfinite(a))) for k, a in actual.items()}
    bad = {k: n for k, n in bad.items() if n}
    if bad:
        listed = ", ".join(f"{shown[k]} ({n})" for k, n in bad.items())
        found.append(
            Finding(
                f"NaN or infinite entries in {listed}: an overflow in the forward pass (a softmax without "
                "subtracting the maximum?) or an array that was never filled (np.empty)",
                conclusive=True,
            )
        )
        return found
    if all(not np.any(a) for a in actual.values()) and any(np.any(expected[k]) for k in actual):
        found.append(
            Finding(
                "every gradient you returned is exactly zero: the loss gradient never reached your backward pass "
                "(upstream dL/dh_t zero? dy or dh never seeded, or accumulated into a copy?)",
                conclusive=True,
            )
        )
        return found
    head = evidence.head_keys()
    cell = [k for k in actual if k not in head]
    head_right = head and cell and all(evidence.right(k) for k in head)
    if head_right and all(not np.any(actual[k]) for k in cell) and any(np.any(expected[k]) for k in cell):
        found.append(
            Finding(
                f"the output layer's gradients ({', '.join(shown[k] for k in head)}) match but the cell's are all "
                "zero: dL/dh_t (W_out^T dy_t) never reaches the recursion",
                conclusive=True,
            )
        )
    clipped = _clipping(evidence)
    if clipped:
        note = "no per-step term is wrong: the final gradients were capped after the loop"
        found.append(Finding(clipped, Timeline(evidence.problem.steps, "mistake", note=note), conclusive=True))
    return found


def _clipping(evidence: Evidence) -> str:
    """The clipping hint, if every mismatch is an entry capped at one ``±c`` where the exact value is larger."""
    actual, expected, tol, shown = evidence.actual, evidence.exact.user, evidence.tol, evidence.shown
    cap = max(np.abs(a).max(initial=0.0) for a in actual.values())
    if cap == 0:
        return ""
    capped = 0
    keys = []
    for key, a in actual.items():
        e = expected[key]
        over = np.abs(e) > cap * (1 + 1e-9)
        if over.any():
            if not np.allclose(a[over], np.sign(e[over]) * cap, rtol=1e-12, atol=0.0):
                return ""
            capped += int(over.sum())
            keys.append(shown[key])
        if not _close(a[~over], e[~over], tol[key]):
            return ""
    if not capped:
        return ""
    return (
        f"{capped} entr{'ies' if capped > 1 else 'y'} of {', '.join(keys)} capped at ±{cap:.6g} where the exact value "
        f"is larger, every other entry exact: gradient clipping (np.clip(d, -{cap:.6g}, {cap:.6g})) is still in the "
        "code; check the gradients before clipping them"
    )


@dataclass(frozen=True)
class _Mistake:
    """A mistake to replay; mistakes of one ``group`` that all match are said once (their ``label`` listed)."""

    text: str
    reference: Callable[[], Reference | None]
    timeline: Callable[[Reference], Timeline] | None = None
    group: str = ""
    label: str = ""


def mistake_findings(evidence: Evidence) -> list[Finding]:
    """The replayed mistakes that reproduce every given gradient (usually none or one)."""
    problem, exact = evidence.problem, evidence.exact
    found: list[Finding] = []
    groups: dict[str, list[str]] = {}
    gates, head = problem.compiled.spec.gates, problem.head is not None
    for mistake in _mistakes(problem, exact):
        reference = mistake.reference()
        if reference is None or not _explains(evidence.actual, reference.user, evidence.tol):
            continue
        if mistake.group in groups:
            groups[mistake.group].append(mistake.label)
            continue
        if mistake.group:
            groups[mistake.group] = []
        timeline = mistake.timeline(reference) if mistake.timeline else from_terms(exact, reference, gates, head)
        found.append(Finding(mistake.text, timeline))
    for group, labels in groups.items():
        if labels:
            k = next(i for i, f in enumerate(found) if f.text.startswith(group))
            found[k] = replace(found[k], text=f"{found[k].text} (equally: {'; '.join(labels)})")
    if not found:
        found += _forward_or_loss(evidence)
    return found


def _mistakes(problem: CheckProblem, exact: Reference) -> Iterator[_Mistake]:
    spec, layout = problem.compiled.spec, problem.layout
    recurrent = _name_of(problem, "weight_hh") or _name_of(problem, "weight_cat") or "W_hh"
    if problem.params.read_size == problem.params.hidden_size:
        yield _Mistake(
            f"the gradient carried back to h_{{t-1}} multiplies by the recurrent weight ({recurrent}) untransposed: "
            "dh_{t-1} = W_hh^T da_t, you have W_hh da_t; with that mistake the reference matches your gradients "
            "exactly",
            lambda: problem.reference(variant=BackwardVariant(transposed=True)),
        )
    for component in spec.state:
        what = (
            "dh_next (the gradient carried back from step t+1 into h_t)"
            if component == "h"
            else (f"the carry of d{component} back from step t+1 (f_{{t+1}} * dc_{{t+1}} for the LSTM's cell state)")
        )
        yield _Mistake(
            f"{what} is dropped: without it the reference matches your gradients exactly",
            lambda c=component: problem.reference(variant=BackwardVariant(dropped=(c,))),
        )
    for order in itertools.permutations(range(spec.num_gates)):
        if list(order) == sorted(order):
            continue
        stacked = [spec.gates[order[spec.gates.index(g)]] for g in layout.gate_order]
        yield _Mistake(
            f"your backward stacks the gate gradients as ({', '.join(stacked)}) onto the row blocks "
            f"({', '.join(layout.gate_order)}) of your weights: with that order the reference matches your gradients",
            lambda o=order: problem.reference(variant=BackwardVariant(gate_order=tuple(o))),
        )
    yield from _cell_variants(problem)
    yield _Mistake(
        f"the dW_hh terms use h_t where h_{{t-1}} belongs (off by one in time, in {recurrent}'s gradient): with that "
        "mistake the reference matches your gradients exactly",
        lambda: _read_shifted(problem, exact),
        lambda r: Timeline(problem.steps, "mistake", problem.steps, tuple(range(1, problem.steps + 1)), (), ("cell",)),
    )
    yield from _loss_mistakes(problem)
    yield from _layout_mistakes(problem)


def _name_of(problem: CheckProblem, kind: str) -> str:
    return next((n for n, r in problem.layout.roles.items() if r.kind == kind), "")


def _cell_variants(problem: CheckProblem) -> Iterator[_Mistake]:
    name = problem.compiled.spec.name
    from gradscope.cells import variants  # SymPy: only once a check has failed
    from gradscope.compile.cache import compile_cell

    for variant in variants.variants_of(name):
        yield _Mistake(
            variant.hint, lambda v=variant: problem.reference(compiled=compile_cell(v.cell(name), checked=False))
        )


def _read_shifted(problem: CheckProblem, exact: Reference) -> Reference:
    trajectory = exact.terms.trajectory
    torch = dict(exact.torch)
    torch["weight_hh_l0"] = exact.terms.grad_m.T @ trajectory.read(1, trajectory.steps + 1)
    head = None if problem.head is None else problem.head.gradients(exact.hidden, exact.output_gradient)
    user = problem.layout.to_user(torch, head) | {k: v for k, v in exact.user.items() if k in ("inputs", "h0", "c0")}
    return replace(exact, torch=torch, user=user)


def _loss_mistakes(problem: CheckProblem) -> Iterator[_Mistake]:
    loss = problem.loss
    if not isinstance(loss, Loss):
        return
    if loss.kind == "softmax_ce":
        yield _Mistake(
            "dL/dy misses the -1 at the target: softmax with cross-entropy gives dL/dy = p - onehot(target), "
            "your gradients are exactly those of dL/dy = p",
            lambda: problem.reference(output_gradient=_without_minus_one(loss)),
        )
    family = ("softmax_ce",) if loss.kind == "softmax_ce" else tuple(k for k in LOSSES if k != "softmax_ce")
    for kind, reduce in itertools.product(family, REDUCTIONS):
        if (kind, reduce) == (loss.kind, loss.reduce) or (reduce == "last") != (loss.reduce == "last"):
            continue
        other = Loss(kind, reduce, loss.targets)
        group = "your gradients are exactly those of another loss"
        yield _Mistake(
            f"{group}, loss={kind!r}, reduce={reduce!r} (the check used loss={loss.kind!r}, reduce={loss.reduce!r}): "
            "pass that if it is your loss, or fix the factor",
            lambda o=other: replace(problem, loss=o).reference(),
            group=group,
            label=f"loss={kind!r}, reduce={reduce!r}",
        )


def _without_minus_one(loss: Loss) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def gradient(outputs: np.ndarray, exact: np.ndarray) -> np.ndarray:
        targets = loss.targets if loss.targets.ndim == 2 else np.eye(outputs.shape[1])[loss.targets]
        out = exact.copy()
        if loss.reduce == "last":
            out[-1] += targets[0]
        else:
            out += targets / (outputs.shape[0] if loss.reduce == "mean" else 1.0)
        return out

    return gradient


def _layout_mistakes(problem: CheckProblem) -> Iterator[_Mistake]:
    layout = problem.layout
    if any(r.kind == "weight_cat" for r in layout.roles.values()):
        other = "xh" if layout.concat == "hx" else "hx"
        yield _Mistake(
            f"with concat={other!r} (W multiplies [{other[0]}; {other[1]}]) the reference matches your gradients "
            f"exactly: pass concat={other!r}",
            lambda: problem.remapped(MappedParams(replace(layout, concat=other), problem.mapped.arrays)).reference(),
        )
    for order in itertools.permutations(layout.gate_order):
        if order == layout.gate_order:
            continue
        text = "".join(order)
        yield _Mistake(
            f"with gates={text!r} (the order of your weights' row blocks) the reference matches your gradients "
            f"exactly: pass gates={text!r}",
            lambda o=order: problem.remapped(
                MappedParams(replace(layout, gate_order=o), problem.mapped.arrays)
            ).reference(),
        )


def _forward_or_loss(evidence: Evidence) -> list[Finding]:
    problem, head = evidence.problem, evidence.head_keys()
    if not head or not isinstance(problem.loss, Loss) or all(evidence.right(k) for k in head):
        return []
    from gradscope.cells import variants

    tried = [v.key for v in variants.variants_of(problem.compiled.spec.name)]
    known = f" (none of the variants gradscope tries matched: {', '.join(tried)})" if tried else ""
    return [
        Finding(
            f"the output layer's gradients ({', '.join(evidence.shown[k] for k in head)}) are wrong too, and they "
            "depend only on the forward pass and the loss: your forward states h_t or your dL/dy differ from the "
            f"reference's{known}"
        )
    ]
