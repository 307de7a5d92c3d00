"""GradientFlowMonitor's overhead on a training step, side by side in one run.

A small sequence model (defaults: ``nn.LSTM`` H=128, input 16, T=100, batch 32, a linear head, Adam) trains for
``--steps`` steps, alternately without a monitor and with one (``every=--every``, probe sequence of T steps,
the analysis in its worker process), over ``--repeats`` interleaved rounds so that load on the shared machine
hits both alike. Printed: the median time per training step of each, their ratio (the monitor's overhead;
the target is a few per cent), and how many snapshots the monitor analysed and skipped. The torch threads are
fixed (``--threads``, default 1) so that the worker's core is not also the training loop's.
Usage: ``python benchmarks/monitor_overhead.py [--hidden 128] [--steps 200] [--every 50] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gradscope.torch import GradientFlowMonitor


class Model(torch.nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(width, hidden)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[-1])


def run(args: argparse.Namespace, monitored: bool, folder: Path) -> tuple[float, int, int]:
    """``(seconds per step, snapshots analysed, skipped)`` of one training run."""
    torch.manual_seed(0)
    model = Model(args.width, args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = [(torch.randn(args.length, args.batch, args.width), torch.randn(args.batch, 1)) for _ in range(8)]
    monitor = None
    if monitored:
        probe = torch.randn(args.length, args.width)
        monitor = GradientFlowMonitor(model, probe, every=args.every, log=folder / "flow.jsonl")
    start = time.perf_counter()
    for step in range(args.steps):
        x, y = data[step % len(data)]
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if monitor is not None:
            monitor.step(step)
    elapsed = time.perf_counter() - start
    if monitor is None:
        return elapsed / args.steps, 0, 0
    monitor.close()  # waits for the worker: not part of the training time
    if monitor.failure is not None:
        raise RuntimeError(monitor.failure)
    return elapsed / args.steps, len(monitor.records), monitor.skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    plain, watched, analysed, skipped = [], [], 0, 0
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            plain.append(run(args, False, Path(folder))[0])
            per_step, done, missed = run(args, True, Path(folder))
            watched.append(per_step)
            analysed, skipped = analysed + done, skipped + missed
    base, with_monitor = statistics.median(plain), statistics.median(watched)
    sizes = f"LSTM H={args.hidden}, I={args.width}, T={args.length}, batch {args.batch}"
    print(f"{sizes}, {args.steps} steps, a snapshot every {args.every}")
    print(f"  without monitor: {base * 1e3:8.2f} ms/step (median of {args.repeats})")
    print(f"  with monitor:    {with_monitor * 1e3:8.2f} ms/step")
    print(f"  overhead ratio:  {with_monitor / base:8.3f}  (snapshots analysed {analysed}, skipped {skipped})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
