"""Sweep throughput: tasks per second on 1 and 2 local worker processes, side by side in one run.

A gain sweep (defaults: LSTM, H=64, T=200, 8 gains x 4 samples = 32 tasks, spectral norm at every
lag) runs through :func:`gradscope.studies.sweeps.run_sweep` with

* ``serial``: :class:`~gradscope.studies.executors.SerialExecutor`, this process (no pool, no pickling);
* ``1 worker`` and ``2 workers``: :class:`~gradscope.studies.executors.LocalExecutor` (process start-up
  included, as a user pays it),

and, in this process, the batched sweep (one chunk: tasks of one shape advanced together, as
:func:`~gradscope.studies.sweeps.run_chunk` runs a chunk) against the one-at-a-time sweep of the same grid
(:func:`~gradscope.studies.sweeps.task_row` per task, the path before batching), with their ratio per round
and its median, and the largest relative difference of their rows (target: <= 1e-12);
interleaved over ``--repeats`` rounds so that load on the shared machine hits all alike; the best
round of each executor is reported, with the speed-up of 2 workers over 1, a check that 1 and 2 workers gave
the identical document, and the largest relative difference of the serial run (this process's BLAS
thread count can move the last bit). Usage: ``python benchmarks/sweep_throughput.py [--cell lstm] [--hidden 64]
[--steps 200] [--gains 8] [--samples 4] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from gradscope.studies.axes import parse_axes
from gradscope.studies.executors import LocalExecutor, SerialExecutor
from gradscope.studies.sweeps import SweepSpec, run_sweep, task_row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--gains", type=int, default=8, help="grid points (gain 0.5..3)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    spec = SweepSpec.create(
        args.cell,
        parse_axes([f"gain=0.5:3:{args.gains}"]),
        samples=args.samples,
        hidden_size=args.hidden,
        steps=args.steps,
    )
    total = len(spec.tasks())
    executors = {
        "serial": SerialExecutor(),
        "1 worker": LocalExecutor(workers=1),
        "2 workers": LocalExecutor(workers=2),
    }
    best = {name: float("inf") for name in executors}
    documents = {}
    ratios, batched_rows, single_rows = [], [], []
    for _ in range(args.repeats):
        for name, executor in executors.items():
            start = time.perf_counter()
            result = run_sweep(spec, executor=executor)
            best[name] = min(best[name], time.perf_counter() - start)
            documents[name] = result.to_dict()
        start = time.perf_counter()
        batched_rows = list(run_sweep(spec, executor=SerialExecutor(chunk_size=total)).rows)
        batched = time.perf_counter() - start
        start = time.perf_counter()
        single_rows = [task_row(spec, task) for task in spec.tasks()]
        ratios.append((time.perf_counter() - start) / batched)

    print(
        f"{args.cell}, H={args.hidden}, T={args.steps}: {total} tasks, {os.cpu_count()} cores, best of {args.repeats}"
    )
    print(f"{'executor':12s} {'seconds':>8s} {'tasks/s':>8s}")
    for name, seconds in best.items():
        print(f"{name:12s} {seconds:8.2f} {total / seconds:8.2f}")
    print(
        f"batched sweep (one chunk) over one task at a time, this process: median {statistics.median(ratios):.1f}x "
        f"(rounds: {', '.join(f'{r:.1f}' for r in ratios)}), largest relative difference of the rows "
        f"{largest_difference({'serial': {'rows': batched_rows}, '1 worker': {'rows': single_rows}}):.1e}"
    )
    print(f"speed-up, 2 workers over 1: {best['1 worker'] / best['2 workers']:.2f}x")
    identical = documents["1 worker"] == documents["2 workers"]
    print(f"identical rows on 1 and 2 workers: {identical}")
    # This process's BLAS may run on several threads, which can move the last bit (see LocalExecutor).
    print(f"largest relative difference, serial vs workers: {largest_difference(documents):.1e}")
    return 0 if identical else 1


def largest_difference(documents: dict[str, dict]) -> float:
    """The largest relative difference between any number of the serial rows and the 1-worker rows."""
    worst = 0.0
    for a, b in zip(documents["serial"]["rows"], documents["1 worker"]["rows"], strict=True):
        for name, value in a.items():
            other = b[name]
            if isinstance(value, float) and isinstance(other, float) and value != other:
                worst = max(worst, abs(value - other) / max(abs(value), abs(other)))
            elif not isinstance(value, float) and value != other:
                return float("inf")
    return worst


if __name__ == "__main__":  # worker processes (spawn) import this module; only the parent runs main
    raise SystemExit(main())
