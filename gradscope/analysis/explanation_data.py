"""The values ``gradscope.explain`` returns: the paths, the gates, the reasons and the suggestions.

See :mod:`gradscope.analysis.explanation` for what is measured and how a path's share is defined.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradscope.analysis.describe import verdict_word
from gradscope.analysis.document import json_number, json_numbers, sized_header
from gradscope.analysis.profile import Analysis
from gradscope.i18n import _

SCHEMA = "gradscope.explanation/1"
#: The quantiles reported for every gate.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: An activation is saturated where its derivative is below this (``tanh'`` or ``sigmoid'``).
SATURATED_BELOW = 0.05


@dataclass(frozen=True)
class PathResult:
    """One path's measurements. Arrays ``(T,)`` are read-only.

    Attributes:
        name: ``"W_hf"`` (through gate f's recurrent block) or ``"c->c"`` (direct).
        kind: ``"recurrent"`` or ``"direct"``.
        formula: the term of ``J_t`` in text, e.g. ``"diag(f_t)"``.
        role: ``"carousel"``, ``"leak"``, or ``""``.
        log10_norm: ``log10`` norm of the path's product alone at every lag.
        ablated_log10_norm: ``log10`` norm of the full product without this path at every lag.
        rate_per_step, efolding_lag: of the path alone (least squares over the finite lags).
        share: ``1 - ||P_T without it|| / ||P_T||`` (see the module); NaN if the full product is zero.
        sigma_max: ``sigma_max(W_hg)`` of a recurrent path's block, NaN for a direct one.
        mean_coefficient: a direct path's mean coefficient over steps and units, NaN for a recurrent one.
        gate: the gate whose values equal a direct path's coefficient (``"f"`` for the carousel), else ``""``.
    """

    name: str
    kind: str
    formula: str
    role: str
    log10_norm: np.ndarray
    ablated_log10_norm: np.ndarray
    rate_per_step: float
    efolding_lag: float
    share: float
    sigma_max: float = math.nan
    mean_coefficient: float = math.nan
    gate: str = ""


@dataclass(frozen=True)
class GateStats:
    """A gate's values over the trajectory (every step and unit).

    Attributes:
        name: the gate (``"f"``), activation: ``"sigmoid"``, ``"tanh"`` or ``"relu"``.
        quantiles: ``{q: value}`` for :data:`QUANTILES`; mean: the mean value.
        saturated_fraction: the fraction of values whose activation's derivative is below
            :data:`SATURATED_BELOW` (NaN for ReLU, which does not saturate that way).
        values: ``(T, H)`` the values themselves (for the figure; not in the document).
    """

    name: str
    activation: str
    quantiles: Mapping[float, float]
    mean: float
    saturated_fraction: float
    values: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class Explanation:
    """The result of :func:`explain`: the full profile, its paths, the gates and the reasons.

    Attributes:
        analysis: the full product's :class:`~gradscope.analysis.profile.Analysis` (what ``analyze`` gives).
        paths: one :class:`PathResult` per path of the step Jacobian.
        gates: one :class:`GateStats` per gate of the cell.
        saturated_fraction: over every sigmoid and tanh gate value together (NaN without such gates).
        sigma_max_hh: ``sigma_max`` of the whole recurrent weight ``weight_hh`` (top layer).
        pascanu_factor: ``gamma sigma_max(W_hh)`` where Pascanu's bound applies, else NaN.
        reasons: the sentences, as templates and formatted numbers (:mod:`~gradscope.analysis.explanation_words`).
        suggestions: changes that were rerun, with their measured rates.
    """

    analysis: Analysis
    paths: tuple[PathResult, ...]
    gates: tuple[GateStats, ...]
    saturated_fraction: float
    sigma_max_hh: float
    pascanu_factor: float
    reasons: tuple[Reason, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()

    @property
    def carrier(self) -> PathResult | None:
        """The path with the largest share at the longest lag (``None`` if no share is finite)."""
        finite = [p for p in self.paths if math.isfinite(p.share)]
        return max(finite, key=lambda p: p.share) if finite else None

    @property
    def carousel(self) -> PathResult | None:
        """The direct self-path that decays slowest alone (the carousel, the leak), if the cell has one."""
        diagonal = [p for p in self.paths if p.kind == "direct" and p.name.split("->")[0] == p.name.split("->")[1]]
        return max(diagonal, key=lambda p: p.rate_per_step) if diagonal else None

    @property
    def pascanu_verdict(self) -> str:
        """``"vanishing guaranteed"`` (``gamma sigma_max < 1``), ``"inconclusive"``, or ``"not applicable"``."""
        if not math.isfinite(self.pascanu_factor):
            return "not applicable"
        return "vanishing guaranteed" if self.pascanu_factor < 1.0 else "inconclusive"

    def why(self) -> list[str]:
        """The reasons as sentences in the current language."""
        return [reason.text() for reason in self.reasons]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema ``"gradscope.explanation/1"``); the sentences in the current language,
        every number and key the same in every language."""
        a = self.analysis
        carousel = self.carousel
        return {
            **sized_header(SCHEMA, a),
            "norm": a.norm,
            "config": dict(a.config),
            "share_definition": "1 - ||P_T without the path|| / ||P_T||",
            "full": {
                "log10_norm": json_numbers(a.log10_norm),
                "rate_per_step": json_number(a.rate_per_step),
                "efolding_lag": json_number(a.efolding_lag),
                "verdict": a.verdict,
            },
            "lags": [int(k) for k in a.lags],
            "paths": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "formula": p.formula,
                    "role": p.role,
                    "gate": p.gate,
                    "log10_norm": json_numbers(p.log10_norm),
                    "ablated_log10_norm": json_numbers(p.ablated_log10_norm),
                    "rate_per_step": json_number(p.rate_per_step),
                    "efolding_lag": json_number(p.efolding_lag),
                    "share": json_number(p.share),
                    "sigma_max": json_number(p.sigma_max),
                    "mean_coefficient": json_number(p.mean_coefficient),
                }
                for p in self.paths
            ],
            "gates": [
                {
                    "name": g.name,
                    "activation": g.activation,
                    "quantiles": {f"{q:g}": json_number(v) for q, v in g.quantiles.items()},
                    "mean": json_number(g.mean),
                    "saturated_fraction": json_number(g.saturated_fraction),
                }
                for g in self.gates
            ],
            "saturated_fraction": json_number(self.saturated_fraction),
            "sigma_max_hh": json_number(self.sigma_max_hh),
            "pascanu": {"factor": json_number(self.pascanu_factor), "verdict": self.pascanu_verdict},
            "carousel": None
            if carousel is None
            else {"path": carousel.name, "efolding_lag": json_number(carousel.efolding_lag)},
            "why": self.why(),
            "suggestions": [s.to_dict() for s in self.suggestions],
        }


@dataclass(frozen=True)
class Reason:
    """One sentence: its template (an English message id) and its placeholders, numbers already formatted.

    ``verdicts`` names the placeholders that hold a verdict, translated with the text.
    """

    template: str
    values: dict[str, str] = field(default_factory=dict)
    verdicts: tuple[str, ...] = ()

    def text(self) -> str:
        """The sentence in the current language."""
        values = dict(self.values)
        for key in self.verdicts:
            values[key] = verdict_word(values[key])
        return _(self.template).format(**values)


@dataclass(frozen=True)
class Suggestion:
    """A change that was rerun.

    Attributes:
        changes: the :func:`~gradscope.make_problem` options changed, e.g. ``{"gain": 1.5}``.
        arguments: the same as command-line arguments, e.g. ``("--gain", "1.5")``.
        rate_per_step, efolding_lag, verdict: what ``analyze`` measured with the change.
    """

    changes: dict[str, Any]
    arguments: tuple[str, ...]
    rate_per_step: float
    efolding_lag: float
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": dict(self.changes),
            "arguments": list(self.arguments),
            "rate_per_step": json_number(self.rate_per_step),
            "efolding_lag": json_number(self.efolding_lag),
            "verdict": self.verdict,
        }
