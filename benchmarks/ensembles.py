"""Batched ensembles against separate analyses, measured side by side in one run.

For 64 RNNs (H=32, T=200) and 64 GRUs (H=64, T=300) at PyTorch's default initialisation, float64, spectral
norm: the time of ``analyze_many`` (the batch, as ``analyze_ensemble`` and ``analyze --samples`` run it)
against 64 separate ``gradscope.analyze`` calls on the same problems, alternating over ``--repeats`` rounds
(the machine is shared: the median of the per-round ratios is reported, with every round's), and the
largest difference of the profiles in log10. Target: ratio >= 5, difference <= 1e-12 relative.

    PYTHONPATH=. python benchmarks/ensembles.py [--repeats 3] [--samples 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine

CASES = (("rnn", 32, 200), ("gru", 64, 300))


def main() -> None:
    import numpy as np

    import gradscope
    from gradscope.analysis.ensemble import analyze_many
    from gradscope.analysis.problem import make_problem

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64)
    arguments = parser.parse_args()
    print(machine())
    for cell, hidden, steps in CASES:
        problems = [make_problem(cell, hidden_size=hidden, steps=steps, seed=s) for s in range(arguments.samples)]
        analyze_many(problems[:2])  # warm up: compiled code, BLAS threads
        ratios, batched_times, separate_times = [], [], []
        difference = 0.0
        for _ in range(arguments.repeats):
            start = time.perf_counter()
            batched = analyze_many(problems)
            batched_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            separate = [gradscope.analyze(problem) for problem in problems]
            separate_times.append(time.perf_counter() - start)
            ratios.append(separate_times[-1] / batched_times[-1])
            for a, b in zip(batched, separate, strict=True):
                finite = np.isfinite(b.log10_norm)
                relative = np.abs(a.log10_norm - b.log10_norm)[finite] / np.maximum(np.abs(b.log10_norm[finite]), 1.0)
                difference = max(difference, float(relative.max(initial=0.0)))
        print(
            f"{arguments.samples} x {cell} H={hidden} T={steps}: separate {statistics.median(separate_times):.2f} s, "
            f"batched {statistics.median(batched_times):.2f} s, ratio median {statistics.median(ratios):.1f} "
            f"(rounds: {', '.join(f'{r:.1f}' for r in ratios)}), max relative log10 difference {difference:.1e}"
        )


if __name__ == "__main__":
    main()
