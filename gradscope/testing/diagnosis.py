"""The result of :func:`~gradscope.testing.check_bptt`: every gradient against the reference, when, and why.

:class:`BPTTDiagnosis` is frozen data; :meth:`BPTTDiagnosis.report` is the text of the
:class:`~gradscope.testing.GradientMismatch` it raises: the sizes and the loss, then each wrong
gradient (ranked by its largest absolute error) with its worst entry in the user's own names and
indices (gate, unit, what the column multiplies), a per-gate summary for gated cells, the time line
(where the per-step terms first depart), the hints that the evidence supports, and what matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gradscope.analysis.document import json_number
from gradscope.testing.entries import GradientChecks, KeyComparison
from gradscope.testing.timeline import Timeline


@dataclass(frozen=True)
class BPTTDiagnosis(GradientChecks):
    """One check of a hand-written BPTT.

    Attributes:
        cell: the cell's name; steps, hidden_size, input_size: T, H, I; output_size: O of the output
            layer (``None`` without one); loss: the loss in words.
        keys: the compared gradients under the user's keys, wrong ones first (largest absolute error
            first), then the matching ones in the order given.
        unknown: given keys that name no parameter, with a suggestion each.
        wrong_shapes: ``key -> (given shape, expected shape)``.
        not_checked: gradients of this problem that were not given.
        timeline: when the per-step terms go wrong (``None`` when everything matches or nothing can be said).
        hints: what the evidence says the mistake is.
        gradient_names: every gradient the user can give, in the user's names.
    """

    cell: str
    steps: int
    hidden_size: int
    input_size: int
    output_size: int | None
    loss: str
    keys: Mapping[str, KeyComparison]
    unknown: Mapping[str, str] = field(default_factory=dict)
    wrong_shapes: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    not_checked: tuple[str, ...] = ()
    timeline: Timeline | None = None
    hints: tuple[str, ...] = ()
    gradient_names: tuple[str, ...] = ()

    @property
    def first_wrong_step(self) -> int | None:
        """The time step where the per-step terms first depart (backward order), if known."""
        return None if self.timeline is None else self.timeline.first_wrong

    def sizes(self) -> str:
        out = f"{self.cell}, T={self.steps}, H={self.hidden_size}, I={self.input_size}"
        return out + (f", O={self.output_size}" if self.output_size is not None else "") + f"; {self.loss}"

    def report(self) -> str:
        """The failure message (or one line saying everything matches)."""
        if self.passed:
            return f"BPTT gradients match the exact reference ({self.sizes()}): {', '.join(self.keys)}"
        if not self.keys and not self.unknown and not self.wrong_shapes:
            return f"no gradients given to check ({self.sizes()}); expected keys: {', '.join(self.gradient_names)}"
        wrong = [c for c in self.keys.values() if not c.passed]
        total = len(self.keys) + len(self.wrong_shapes)
        problems = len(wrong) + len(self.wrong_shapes)
        head = f"{problems} of {total} gradients wrong" if problems else "unknown gradient names"
        lines = [f"BPTT gradients differ from the exact reference ({self.sizes()}): {head}"]
        lines += ["  " + c.describe().replace("\n", "\n  ") for c in wrong]
        lines += self.shape_lines()
        for key, suggestion in self.unknown.items():
            lines.append(f"  {key}: unknown gradient name{suggestion}")
        if self.unknown:
            lines.append(f"  valid gradient names: {', '.join(self.gradient_names)} (or with a d prefix)")
        if self.timeline is not None:
            lines += [f"  {line}" for line in self.timeline.lines()]
        lines += [f"  hint: {hint}" for hint in self.hints]
        return "\n".join(lines + self.closing_lines())

    def __str__(self) -> str:
        return self.report()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (used by ``gradscope verify --target``)."""
        timeline = self.timeline
        return {
            "passed": self.passed,
            "cell": self.cell,
            "steps": self.steps,
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "loss": self.loss,
            "keys": [
                {
                    "key": c.key,
                    "passed": c.passed,
                    "mismatched": c.mismatched,
                    "size": c.size,
                    "max_abs_err": json_number(c.max_abs_err),
                    "worst_index": list(c.worst_index),
                    "location": c.location,
                }
                for c in self.keys.values()
            ],
            "unknown": dict(self.unknown),
            "wrong_shapes": {k: [list(a), list(b)] for k, (a, b) in self.wrong_shapes.items()},
            "first_wrong_step": None if timeline is None else timeline.first_wrong,
            "wrong_steps": [] if timeline is None else list(timeline.wrong_steps),
            "gates_at_first_wrong_step": [] if timeline is None else list(timeline.gates),
            "prefix_fail": None if timeline is None else timeline.prefix_fail,
            "time": [] if timeline is None else timeline.lines(),
            "hints": list(self.hints),
        }
