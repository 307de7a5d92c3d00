"""Mid-size benchmark: LSTM H=128, T=600, spectral norm at every lag, against its GEMM limit and PyTorch.

At this size the products are small enough that per-lag work (a norm, a call) weighs as much as the
arithmetic. Methods, each in its own subprocess, interleaved over ``--repeats`` rounds, best time each:

* ``gemm-limit``: the T structured products alone (one ``(H, S) x (S, S)`` GEMM plus the diagonal
  c-rows per step, as in ``benchmarks/engine.py``);
* ``products``: ``norm_profile`` (products + certified spectral norms, float64) on a precomputed
  forward pass; ``analyze``: the whole ``gradscope.analyze`` call (forward pass included);
* ``float32``: ``norm_profile`` in float32; ``torch-float32``: the ``torch.func`` way
  (``vmap(jacrev(step))``, chained products, ``matrix_norm(ord=2)``) in float32.

Targets: products and the whole analyze call >= 0.7 of the GEMM limit; the float32 products >= 15x
faster than the PyTorch way in float32. ``--tree PATH`` (repeatable) times the gradscope methods of
other checkouts in the same rounds (e.g. the base commit: before/after from one run).

Usage: ``python benchmarks/mid_size.py [--repeats N] [--tree PATH ...] [--no-torch]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import _common


def measure(method: str, hidden: int, steps: int) -> float:
    if method == "gemm-limit":
        from engine import run_gemm_limit

        return run_gemm_limit(hidden, steps)
    if method == "torch-float32":
        from engine import run_torch

        return run_torch(hidden, steps, 32, "float32")
    import numpy as np

    import gradscope
    from gradscope.analysis.problem import make_problem, trajectory
    from gradscope.engine.products import norm_profile

    if method == "analyze":
        gradscope.analyze("lstm", hidden_size=hidden, steps=steps)  # warm: compile and first-call costs
        start = time.perf_counter()
        gradscope.analyze("lstm", hidden_size=hidden, steps=steps)
        return time.perf_counter() - start
    dtype = {"products": "float64", "float32": "float32"}[method]
    forward = trajectory(make_problem("lstm", hidden_size=hidden, steps=steps))
    norm_profile(forward, dtype=dtype)  # warm
    start = time.perf_counter()
    profile = norm_profile(forward, dtype=dtype)
    elapsed = time.perf_counter() - start
    assert np.all(np.isfinite(profile.log10_norm))
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tree", action="append", default=[], help="another checkout to time alongside")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch way")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        seconds = measure(args.child, args.hidden, args.steps)
        print(json.dumps({"seconds": seconds, "peak_bytes": _common.peak_bytes()}))
        return 0

    print(_common.machine())
    ours = ["products", "analyze", "float32"]
    runs = [("gemm-limit", None)] + [(m, None) for m in ours] + [(m, t) for t in args.tree for m in ours]
    if not args.no_torch:
        runs.append(("torch-float32", None))
    sizes = ["--hidden", str(args.hidden), "--steps", str(args.steps)]
    best: dict[str, float] = {}
    for round_ in range(args.repeats):
        for method, tree in runs:
            name = method + _common.label(tree)
            seconds = _common.run_child(__file__, ["--child", method, *sizes], tree)["seconds"]
            best[name] = min(best.get(name, float("inf")), seconds)
            print(f"round {round_ + 1}: {name:32s} {seconds:8.4f} s", file=sys.stderr)

    print(f"\nLSTM H={args.hidden} T={args.steps}, spectral norm at every lag; best of {args.repeats} rounds")
    for name, seconds in best.items():
        print(f"  {name:32s} {seconds:8.4f} s")
    limit = best["gemm-limit"]
    print()
    for tree in [None, *args.tree]:
        suffix = _common.label(tree)
        rows = (
            ("fraction of the GEMM limit, products + norms", limit / best["products" + suffix], "(target >= 0.7)"),
            ("fraction of the GEMM limit, whole analyze call", limit / best["analyze" + suffix], "(target >= 0.7)"),
            (
                "float32 speed-up over float64, products + norms",
                best["products" + suffix] / best["float32" + suffix],
                "",
            ),
        )
        for text, value, target in rows:
            print(f"  {text + suffix:60s} {value:6.2f}  {target}")
        if "torch-float32" in best:
            for ours_name, words in (("products", "gradscope float64"), ("float32", "gradscope float32")):
                speedup = best["torch-float32"] / best[ours_name + suffix]
                text = f"speed-up over torch.func float32, {words}{suffix}"
                print(f"  {text:60s} {speedup:6.2f}  (target >= 15)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
