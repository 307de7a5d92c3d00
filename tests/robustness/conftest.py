"""The fault-injection suite: after the run, the clean cases tried per kind (every one of them passed the
contract of :mod:`fault_helpers`; a case that breaks it fails its test and is not counted)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from fault_helpers import CASES

    if not CASES:
        return
    failed = [report for report in terminalreporter.stats.get("failed", []) if "robustness" in report.nodeid]
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(CASES.items()))
    verdict = "all clean" if not failed else f"{len(failed)} tests FAILED"
    terminalreporter.write_line(f"robustness cases tried per kind: {counts}; total {sum(CASES.values())}, {verdict}")
