"""The why in words: two to five sentences made from an explanation's numbers by templates.

Each :class:`Reason` is one message of the catalogs (English, marked with ``N_``) and its named
placeholders, the numbers formatted here, outside the catalog; :meth:`Reason.text` translates it into
the current language. Results hold the templates, renderers and documents ask for the text.
"""

from __future__ import annotations

import math

from gradscope.analysis.explanation_data import Explanation, PathResult, Reason
from gradscope.i18n import N_

VERDICT = N_("The gradient is {verdict}: its norm changes at {rate} per step, by a factor e every {lag} steps.")
SINGLE = N_("The cell has a single path, {path}: it carries the whole gradient.")
CARRIER = N_(
    "At the longest lag ({lag} steps) the path {path} carries the gradient: "
    "without it the norm falls from 10^{full} to 10^{ablated}."
)
CARRIER_ALL = N_("At the longest lag ({lag} steps) the path {path} carries the gradient: without it nothing is left.")
CAROUSEL_GATE = N_(
    "The {gate} gates average {mean}, so the path {path} alone keeps about {factor} of the gradient per step: "
    "rate {rate} per step, e-folding lag {lag} steps, against {full_lag} for the whole product."
)
CAROUSEL = N_(
    "The path {path} keeps {mean} of the gradient per step on average; alone it changes at {rate} per step "
    "(e-folding lag {lag} steps, against {full_lag} for the whole product)."
)
SATURATION = N_(
    "The strongest path through the recurrent weights, {path}, changes at {rate} per step: "
    "the activations' derivatives account for {derivatives} per step and sigma_max({block}) = {sigma} for "
    "{weights} ({saturated} of the activation values are saturated), so the derivatives, more than the weights, "
    "make it shrink."
)
WEIGHTS = N_(
    "The strongest path through the recurrent weights, {path}, changes at {rate} per step: "
    "sigma_max({block}) = {sigma} accounts for {weights} per step and the activations' derivatives for "
    "{derivatives} ({saturated} of the activation values are saturated), so the small weights, more than "
    "saturation, make it shrink."
)
#: The same two, for a cell without gates to count saturated values in (JANET, coRNN).
SATURATION_UNCOUNTED = N_(
    "The strongest path through the recurrent weights, {path}, changes at {rate} per step: "
    "the activations' derivatives account for {derivatives} per step and sigma_max({block}) = {sigma} for "
    "{weights}, so the derivatives, more than the weights, make it shrink."
)
WEIGHTS_UNCOUNTED = N_(
    "The strongest path through the recurrent weights, {path}, changes at {rate} per step: "
    "sigma_max({block}) = {sigma} accounts for {weights} per step and the activations' derivatives for "
    "{derivatives}, so the small weights, more than the derivatives, make it shrink."
)
GROWING = N_(
    "The strongest path through the recurrent weights, {path}, changes at {rate} per step: "
    "sigma_max({block}) = {sigma} allows {weights} per step, "
    "of which the activations' derivatives take back {derivatives}."
)
PASCANU_VANISHING = N_(
    "Pascanu's bound gamma sigma_max(W_hh) = {factor} < 1 guarantees vanishing at {bound} per step or faster; "
    "the measured {rate} per step agrees."
)
PASCANU_OPEN = N_(
    "Pascanu's bound gamma sigma_max(W_hh) = {factor} >= 1 allows growth up to {bound} per step, "
    "so it cannot predict the measured {rate} per step: the activations' derivatives decide."
)


def rate(value: float) -> str:
    """A rate per step, signed, three significant digits."""
    return f"{value:+.3g}" if math.isfinite(value) else ("-inf" if value < 0 else "+inf")


def steps(value: float) -> str:
    """An e-folding lag in steps."""
    return f"{value:.3g}" if math.isfinite(value) else "inf"


def percent(fraction: float) -> str:
    return f"{100.0 * fraction:.0f} %" if math.isfinite(fraction) else "n/a"


def _carousel(explanation: Explanation, path: PathResult) -> Reason:
    full_lag = steps(explanation.analysis.efolding_lag)
    values = {"path": path.name, "mean": f"{path.mean_coefficient:.2f}", "rate": rate(path.rate_per_step)}
    values |= {"lag": steps(path.efolding_lag), "full_lag": full_lag}
    if path.gate:
        factor = math.exp(path.rate_per_step) if math.isfinite(path.rate_per_step) else 0.0
        return Reason(CAROUSEL_GATE, values | {"gate": path.gate, "factor": f"{factor:.2f}"})
    return Reason(CAROUSEL, values)


def _cause(explanation: Explanation) -> Reason | None:
    recurrent = [p for p in explanation.paths if p.kind == "recurrent" and math.isfinite(p.rate_per_step)]
    if not recurrent:
        return None
    path = max(recurrent, key=lambda p: p.rate_per_step)
    if not path.sigma_max > 0.0:
        return None
    weights = math.log(path.sigma_max)
    derivatives = path.rate_per_step - weights
    values = {
        "path": path.name,
        "rate": rate(path.rate_per_step),
        "block": path.name,
        "sigma": f"{path.sigma_max:.3g}",
        "weights": rate(weights),
        "derivatives": rate(derivatives),
        "saturated": percent(explanation.saturated_fraction),
    }
    if path.rate_per_step >= 0.0:
        return Reason(GROWING, values)
    if math.isfinite(explanation.saturated_fraction):
        return Reason(SATURATION if derivatives < weights else WEIGHTS, values)
    return Reason(SATURATION_UNCOUNTED if derivatives < weights else WEIGHTS_UNCOUNTED, values)


def _pascanu(explanation: Explanation) -> Reason | None:
    factor = explanation.pascanu_factor
    if not math.isfinite(factor) or factor <= 0.0:
        return None
    measured = rate(explanation.analysis.rate_per_step)
    values = {"factor": f"{factor:.3g}", "bound": rate(math.log(factor)), "rate": measured}
    return Reason(PASCANU_VANISHING if factor < 1.0 else PASCANU_OPEN, values)


def reasons(explanation: Explanation) -> tuple[Reason, ...]:
    """Two to five sentences, each citing a measured number (see the module)."""
    analysis = explanation.analysis
    found = [
        Reason(
            VERDICT,
            {"verdict": analysis.verdict, "rate": rate(analysis.rate_per_step), "lag": steps(analysis.efolding_lag)},
            verdicts=("verdict",),
        )
    ]
    carrier = explanation.carrier
    if len(explanation.paths) == 1:
        found.append(Reason(SINGLE, {"path": explanation.paths[0].name}))
    elif carrier is not None:
        full, ablated = float(analysis.log10_norm[-1]), float(carrier.ablated_log10_norm[-1])
        values = {"lag": str(analysis.steps), "path": carrier.name}
        if math.isfinite(ablated):
            found.append(Reason(CARRIER, values | {"full": f"{full:.1f}", "ablated": f"{ablated:.1f}"}))
        else:
            found.append(Reason(CARRIER_ALL, values))
    carousel = explanation.carousel
    if carousel is not None:
        found.append(_carousel(explanation, carousel))
    for reason in (_cause(explanation), _pascanu(explanation)):
        if reason is not None:
            found.append(reason)
    return tuple(found[:5])
