"""What would change a vanishing or exploding gradient, measured: changed problems rerun with ``analyze``.

The changes are grouped by the *knob* they turn, and each knob is tried only where the diagnosis calls
for it:

* ``keep-gate bias`` (the LSTM's forget gate ``f``: ``forget_bias``; the GRU's update gate ``z``:
  ``update_bias``; the effective bias, as :mod:`gradscope.params.init` defines it). Vanishing: the
  bias 2 higher (2 where it was drawn) and chrono initialisation (Tallec & Ollivier 2018), gates nearer
  1 so the carousel or the leak keeps more per step. Exploding GRU: the same, since ``z -> 1`` takes the
  step Jacobian towards the identity and damps the paths through ``W_hn``. Not tried when
  ``init="chrono"`` set the bias already, or when the bias is chrono's.
* ``gain``. Vanishing: 1.5 and 2 times (the recurrent weights nearer the edge of chaos, where the
  products neither shrink nor grow). Exploding: 1/1.5 and 1/2.
* ``init``: orthogonal with gain 1 (every singular value of each recurrent block exactly 1); for a ReLU
  RNN that vanishes also ``identity`` (IRNN, Le et al. 2015).
* ``hidden size``: twice and half (the default init draws the input weights and biases at scale
  ``1/sqrt(H)``, so ``H`` moves the gates' values); not tried where the initial state was given.

Each change is remade with :meth:`~gradscope.analysis.problem.Problem.redraw` and analysed with the
original's thresholds. Of each knob's tries the one closest to a rate of 0 is kept if it is closer
than the original; the kept ones are sorted, closest first, at most :data:`MOST`. Each carries the
command-line arguments that reproduce it: ``gradscope analyze <the original arguments> <these
arguments>`` gives the same rate (a repeated option's last value wins).
"""

from __future__ import annotations

import math
from typing import Any

from gradscope.analysis.explanation_data import Explanation, Suggestion
from gradscope.analysis.profile import analyze
from gradscope.errors import GradscopeError

#: At most this many suggestions.
MOST = 3
#: The keep gate's bias option of each cell that has one.
KEEP_GATE_BIAS = {"lstm": "forget_bias", "gru": "update_bias"}
#: A keep-gate bias this much above the current one (or this value where it was drawn) is tried.
BIAS_STEP = 2.0


def _number(value: float) -> float:
    """``value`` rounded to what its argument prints (``:g``), so the rerun and the command agree exactly."""
    return float(f"{value:g}")


def _bias_tries(explanation: Explanation) -> list[dict[str, Any]]:
    analysis = explanation.analysis
    config, cell = analysis.config, analysis.cell
    option = KEEP_GATE_BIAS.get(cell)
    if option is None or config.get("init") == "chrono" or config.get(option) == "chrono":
        return []
    if analysis.verdict == "exploding" and cell != "gru":
        return []  # the LSTM's carousel does not explode: raising f does not damp the paths that do
    current = config.get(option)
    higher = BIAS_STEP if current is None else _number(float(current) + BIAS_STEP)
    return [{option: higher}, {option: "chrono"}]


def _gain_tries(explanation: Explanation) -> list[dict[str, Any]]:
    analysis = explanation.analysis
    gain = float(analysis.config.get("gain", 1.0))
    if analysis.verdict == "exploding":
        return [{"gain": _number(gain / 1.5)}, {"gain": _number(gain / 2.0)}]
    return [{"gain": _number(gain * 1.5)}, {"gain": _number(gain * 2.0)}]


def _init_tries(explanation: Explanation) -> list[dict[str, Any]]:
    analysis = explanation.analysis
    init, gain = str(analysis.config.get("init", "pytorch")), float(analysis.config.get("gain", 1.0))
    tries = []
    if init != "orthogonal" or gain != 1.0:
        tries.append({"init": "orthogonal", "gain": 1.0})
    if analysis.cell == "rnn-relu" and analysis.verdict == "vanishing" and init != "identity":
        tries.append({"init": "identity", "gain": 1.0})
    return tries


def _size_tries(explanation: Explanation) -> list[dict[str, Any]]:
    analysis = explanation.analysis
    if any(analysis.config.get(name) == "given" for name in ("h0", "c0", "y0")):
        return []  # an initial state of the old size
    hidden = analysis.hidden_size
    return [{"hidden_size": 2 * hidden}] + ([{"hidden_size": hidden // 2}] if hidden >= 2 else [])


#: The knobs, in the order they are tried (each a function from an explanation to its tries).
KNOBS = {
    "keep_gate_bias": _bias_tries,
    "gain": _gain_tries,
    "init": _init_tries,
    "hidden_size": _size_tries,
}


def candidates(explanation: Explanation) -> dict[str, list[dict[str, Any]]]:
    """The changes worth rerunning for this result, by knob (none for given weights or a stable result)."""
    analysis = explanation.analysis
    if analysis.config.get("params") != "random" or analysis.verdict == "stable":
        return {}
    found = {knob: tries(explanation) for knob, tries in KNOBS.items()}
    return {knob: tries for knob, tries in found.items() if tries}


def arguments(changes: dict[str, Any]) -> tuple[str, ...]:
    """The command-line arguments of ``changes``: ``{"gain": 1.5}`` is ``("--gain", "1.5")``."""
    words: list[str] = []
    for name, value in changes.items():
        words += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    return tuple(words)


def reruns(explanation: Explanation) -> dict[str, tuple[Suggestion, ...]]:
    """Every candidate rerun, by knob, in the order tried (a change the cell refuses is left out)."""
    analysis = explanation.analysis
    problem = analysis.problem
    if problem is None:
        return {}
    found: dict[str, tuple[Suggestion, ...]] = {}
    for knob, tries in candidates(explanation).items():
        measured = []
        for changes in tries:
            try:
                rerun = analyze(problem.redraw(**changes), thresholds=analysis.thresholds)
            except GradscopeError:
                continue  # e.g. an init this cell's parameters cannot be drawn with
            measured.append(
                Suggestion(changes, arguments(changes), rerun.rate_per_step, rerun.efolding_lag, rerun.verdict)
            )
        found[knob] = tuple(measured)
    return found


def suggestions(explanation: Explanation) -> tuple[Suggestion, ...]:
    """Up to :data:`MOST` reruns, one per knob, that bring the rate per step closer to 0, closest first."""
    rate = abs(explanation.analysis.rate_per_step)
    kept = []
    for measured in reruns(explanation).values():
        better = [s for s in measured if math.isfinite(s.rate_per_step) and abs(s.rate_per_step) < rate]
        if better:
            kept.append(min(better, key=lambda s: abs(s.rate_per_step)))
    kept.sort(key=lambda s: abs(s.rate_per_step))
    return tuple(kept[:MOST])
