"""``gradscope.explain``: why the gradient vanishes or survives, path by path, as data.

The step Jacobian is a sum of *paths* (:mod:`gradscope.engine.paths`): one per gate through its
recurrent block ``W_hg``, and the direct diagonal terms (the LSTM's carousel ``diag(f_t)``, the GRU's
leak ``diag(z_t)``). For each path the explanation holds the product through time of that path alone
and its **share**, defined by ablation: at the longest lag ``T``,

    share = 1 - ||P_T without the path|| / ||P_T||,

the fraction of the full product's norm that is lost when the path is removed from every step's
Jacobian (1: nothing is left without it; 0: it does not matter; negative: the product is larger
without it, the path cancels others). Beside the paths: the gates' values over the trajectory
(quantiles, saturation), ``sigma_max(W_hh)``, Pascanu's bound where it applies, and the sentences
(:mod:`gradscope.analysis.explanation_words`) that say it in words.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope.analysis.explanation_data import (
    QUANTILES,
    SATURATED_BELOW,
    SCHEMA,
    Explanation,
    GateStats,
    PathResult,
)
from gradscope.analysis.explanation_suggestions import suggestions
from gradscope.analysis.explanation_words import reasons
from gradscope.analysis.problem import Problem, as_problem
from gradscope.analysis.profile import analyze
from gradscope.analysis.summary import Thresholds, summarize
from gradscope.analysis.theory import pascanu_bound, sigma_max
from gradscope.engine.paths import Path, path_profiles

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gradscope.analysis.problem import ProblemOptions
    from gradscope.cells.cell import Cell

#: Readable formulas of the built-in cells' paths (any other cell's are built from its names).
FORMULAS = {
    ("lstm", "c->c"): "diag(f_t)",
    ("lstm", "c->h"): "diag(o_t tanh'(c_t) f_t)",
    ("gru", "h->h"): "diag(z_t)",
    ("rnn", "W_hh"): "diag(tanh'(a_t)) W_hh",
    ("rnn-relu", "W_hh"): "diag(relu'(a_t)) W_hh",
}
#: The role of a built-in cell's direct self-path.
ROLES = {("lstm", "c->c"): "carousel", ("gru", "h->h"): "leak"}


def gate_stats(problem: Problem) -> tuple[GateStats, ...]:
    """Every gate's values over the top layer's forward pass, with quantiles and saturation."""
    from gradscope.cells.builtin import get_cell
    from gradscope.compile.gates import gate_functions
    from gradscope.engine.coefficients import compiled_arguments

    functions = gate_functions(get_cell(problem.options["cell"]))
    trajectory = problem.trajectory()
    pre = functions.arguments(*compiled_arguments(trajectory, 0, trajectory.steps))  # (T, K, H)
    stats = []
    for k, (name, activation) in enumerate(zip(functions.names, functions.activations, strict=True)):
        a = pre[:, k]
        if activation == "sigmoid":
            values = 0.5 * (1.0 + np.tanh(0.5 * a))  # sigmoid without overflow
            slope = values * (1.0 - values)
        elif activation == "tanh":
            values = np.tanh(a)
            slope = 1.0 - values**2
        else:
            values, slope = np.maximum(a, 0.0), None
        values.setflags(write=False)
        quantiles = dict(zip(QUANTILES, (float(v) for v in np.quantile(values, QUANTILES)), strict=True))
        saturated = math.nan if slope is None else float(np.mean(slope < SATURATED_BELOW))
        stats.append(GateStats(name, activation, quantiles, _mean(values), saturated, values))
    return tuple(stats)


def _mean(values: np.ndarray) -> float:
    """The mean, scaled by the largest magnitude first: a ReLU's values near float64's limit (a forward pass
    just short of overflowing) have a finite mean although their plain sum overflows."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if not 0.0 < largest < math.inf:
        return float(values.mean())
    return float(np.mean(values / largest)) * largest


def _saturated_fraction(gates: tuple[GateStats, ...]) -> float:
    counted = [g for g in gates if math.isfinite(g.saturated_fraction)]
    if not counted:
        return math.nan
    total = sum(g.values.size for g in counted)
    return sum(g.saturated_fraction * g.values.size for g in counted) / total


def _path_result(
    problem: Problem, path: Path, alone: np.ndarray, ablated: np.ndarray, full: np.ndarray, extra: dict[str, Any]
) -> PathResult:
    lags = np.arange(1, alone.size + 1)
    summary = summarize(lags, alone)
    with np.errstate(invalid="ignore", over="ignore"):
        share = 1.0 - 10.0 ** (ablated[-1] - full[-1]) if np.isfinite(full[-1]) else math.nan
    key = (problem.spec.name, path.name)
    formula = FORMULAS.get(key)
    if formula is None:
        formula = (
            f"diag(d s_t/d a_{path.gate}) W_h{path.gate}"
            if path.kind == "recurrent"
            else f"diag(d {path.target}_t/d {path.source}_(t-1))"
        )
    for array in (alone, ablated):
        array.setflags(write=False)
    return PathResult(
        name=path.name,
        kind=path.kind,
        formula=formula,
        role=ROLES.get(key, ""),
        log10_norm=alone,
        ablated_log10_norm=ablated,
        rate_per_step=summary.rate_per_step,
        efolding_lag=summary.efolding_lag,
        share=float(share),
        **extra,
    )


def explain(
    cell: Problem | str | Cell,
    *,
    suggest: bool = True,
    thresholds: Thresholds | None = None,
    **options: Unpack[ProblemOptions],
) -> Explanation:
    """Why ``||d s_T / d s_{T-k}||`` behaves as it does: the paths of the step Jacobian, measured.

    For a stacked or bidirectional network everything is measured on the recurrence the profile of
    :func:`~gradscope.analyze` follows: the top layer's forward direction (its paths, gates and
    ``W_hh``).

    Args:
        cell: a :class:`~gradscope.analysis.problem.Problem`, or a cell and the keyword options of
            :func:`~gradscope.analysis.problem.make_problem`, the same as :func:`~gradscope.analyze`'s
            (``hidden_size``, ``steps``, ``seed``, ``init``, ``gain``, ``forget_bias``, ``update_bias``,
            ``t_max``, ``num_layers``, ``bidirectional``, ``params``, ``inputs``, ...).
        suggest: for a vanishing or exploding result, rerun changed problems and keep up to three
            (:mod:`~gradscope.analysis.explanation_suggestions`).
        thresholds: the verdict's thresholds (default :class:`~gradscope.analysis.summary.Thresholds()`),
            for the result and its reruns.

    Returns:
        An :class:`Explanation`; ``to_dict()`` gives the ``gradscope.explanation/1`` JSON document.
    """
    problem = as_problem(cell, options)
    analysis = analyze(problem, thresholds=thresholds)
    trajectory = problem.trajectory()
    profiles = path_profiles(trajectory)
    gates = gate_stats(problem)
    top = problem.network.top
    blocks = top.recurrent_blocks()
    rows = ("h",) if problem.spec.feedback else problem.spec.state
    results = []
    for path, alone, ablated in zip(profiles.paths, profiles.alone, profiles.ablated, strict=True):
        extra: dict[str, Any] = {}
        if path.kind == "recurrent":
            extra["sigma_max"] = sigma_max(blocks[problem.spec.gates.index(path.gate)])
        else:
            a, b = rows.index(path.target), rows.index(path.source)
            coefficient = profiles.coefficients.direct[:, a, b]
            extra["mean_coefficient"] = float(coefficient.mean())
            same = [g.name for g in gates if g.values.shape == coefficient.shape and np.allclose(g.values, coefficient)]
            extra["gate"] = same[0] if same else ""
        results.append(_path_result(problem, path, alone, ablated, np.asarray(analysis.log10_norm), extra))
    bound = pascanu_bound(problem.spec.name, top.weight_hh, analysis.lags, problem.norm)
    explanation = Explanation(
        analysis=analysis,
        paths=tuple(results),
        gates=gates,
        saturated_fraction=_saturated_fraction(gates),
        sigma_max_hh=sigma_max(top.weight_hh),
        pascanu_factor=math.nan if bound is None else bound.factor,
    )
    found = suggestions(explanation) if suggest else ()
    return dataclasses.replace(explanation, reasons=reasons(explanation), suggestions=found)


__all__ = ["QUANTILES", "SATURATED_BELOW", "SCHEMA", "Explanation", "GateStats", "PathResult", "explain"]
