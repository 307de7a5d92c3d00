"""What would change a vanishing or exploding gradient, measured: changed problems rerun with ``analyze``.

Each candidate is one change of how the random parameters are drawn (the gain, the init), remade with
:meth:`~gradscope.analysis.problem.Problem.redraw` and analysed; the ones that bring the rate closer to 0
are kept, best first, at most :data:`MOST`. Each carries the command-line arguments that reproduce it:
``gradscope analyze <the original arguments> <these arguments>`` gives the same rate.
"""

from __future__ import annotations

import math
from typing import Any

from gradscope.analysis.explanation_data import Explanation, Suggestion
from gradscope.analysis.profile import analyze

#: At most this many suggestions.
MOST = 3


def _number(value: float) -> float:
    """``value`` rounded to what its argument prints (``:g``), so the rerun and the command agree exactly."""
    return float(f"{value:g}")


def candidates(explanation: Explanation) -> list[dict[str, Any]]:
    """The changes worth rerunning for this result (none for given weights or a stable result)."""
    analysis = explanation.analysis
    config = analysis.config
    if config.get("params") != "random" or analysis.verdict == "stable":
        return []
    gain, init = float(config.get("gain", 1.0)), str(config.get("init", "pytorch"))
    if analysis.verdict == "exploding":
        return [{"gain": _number(gain / 1.5)}, {"gain": _number(gain / 2.0)}, {"init": "orthogonal", "gain": 1.0}]
    found = [{"gain": _number(gain * 1.5)}, {"gain": _number(gain * 2.0)}]
    if init != "orthogonal":
        found.append({"init": "orthogonal", "gain": 1.0})
    return found


def arguments(changes: dict[str, Any]) -> tuple[str, ...]:
    """The command-line arguments of ``changes``: ``{"gain": 1.5}`` is ``("--gain", "1.5")``."""
    words: list[str] = []
    for name, value in changes.items():
        words += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    return tuple(words)


def suggestions(explanation: Explanation) -> tuple[Suggestion, ...]:
    """Up to :data:`MOST` reruns that bring the rate per step closer to 0, closest first."""
    analysis = explanation.analysis
    problem = analysis.problem
    if problem is None:
        return ()
    kept = []
    for changes in candidates(explanation):
        rerun = analyze(problem.redraw(**changes))
        if abs(rerun.rate_per_step) < abs(analysis.rate_per_step) and math.isfinite(rerun.rate_per_step):
            kept.append(Suggestion(changes, arguments(changes), rerun.rate_per_step, rerun.efolding_lag, rerun.verdict))
    kept.sort(key=lambda s: abs(s.rate_per_step))
    return tuple(kept[:MOST])
