"""Dense-regime benchmark: RNN at the edge of chaos (orthogonal W_hh, gain 1), spectral norm at every lag.

There no direction of the product can be dropped (its singular values stay within a few decades of
each other for hundreds of lags), so every lag costs a full ``(H, H)`` product, and the certified
spectral norm has to resolve a flat top of the spectrum. Methods, each in its own subprocess,
interleaved over ``--repeats`` rounds, best time each:

* ``dense-limit``: the dense chain's GEMM limit, ``T`` products ``P @ A`` of ``(H, H)`` matrices
  (rescaled every 64 steps, as nothing may overflow);
* ``products``: ``norm_profile`` (products + certified spectral norms, float64) on a precomputed
  forward pass;
* ``products-frobenius``: the same products with the Frobenius norm, which costs one pass over each
  product: what the products alone cost (the Jacobian's assembly included), so the ceiling of any
  spectral-norm method on this route, and the remainder of ``products`` is what certifying cost.

The certified spectral norm of these wide products goes by the Lanczos route of
``gradscope/engine/spectral.py`` (Lanczos with one vector a step: about 15 steps of two matrix-vector
passes a lag at H=512 and 26 at H=1024, where the top singular vector moves by 0.05 to 0.2 a lag and
sigma_2 / sigma_1 stays within 0.8 .. 0.98).

Target: products >= 0.85 of the dense limit, peak memory ``O(H^2 + T H)``. ``--tree PATH``
(repeatable) times other checkouts in the same rounds.

Usage: ``python benchmarks/dense_regime.py [--sizes 512x400,1024x1000] [--repeats N] [--tree PATH ...]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import _common

RESCALE_EVERY = 64


def dense_limit(hidden: int, steps: int) -> float:
    import numpy as np

    rng = np.random.default_rng(0)
    a = np.linalg.qr(rng.standard_normal((hidden, hidden)))[0]
    p = rng.standard_normal((hidden, hidden)) / hidden
    out = np.empty_like(p)
    start = time.perf_counter()
    for step in range(steps):
        np.matmul(p, a, out=out)
        p, out = out, p
        if step % RESCALE_EVERY == 0:
            p *= 1.0 / np.abs(p).max()
    return time.perf_counter() - start


def products(hidden: int, steps: int, norm: str = "spectral") -> tuple[float, int]:
    import numpy as np

    from gradscope.analysis.problem import make_problem, trajectory
    from gradscope.engine.products import norm_profile

    forward = trajectory(make_problem("rnn", hidden_size=hidden, steps=steps, init="orthogonal", gain=1.0))
    start = time.perf_counter()
    profile = norm_profile(forward, norm)
    elapsed = time.perf_counter() - start
    assert np.all(np.isfinite(profile.log10_norm))
    return elapsed, profile.directions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512x400,1024x1000", help="HxT pairs, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="another checkout to time alongside")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--hidden", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        directions = 0
        if args.child == "dense-limit":
            seconds = dense_limit(args.hidden, args.steps)
        elif args.child == "products-frobenius":
            seconds, directions = products(args.hidden, args.steps, "frobenius")
        else:
            seconds, directions = products(args.hidden, args.steps)
        print(json.dumps({"seconds": seconds, "peak_bytes": _common.peak_bytes(), "directions": directions}))
        return 0

    print(_common.machine())
    sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",")]
    for hidden, steps in sizes:
        runs = [("dense-limit", None), ("products-frobenius", None), ("products", None)]
        runs += [("products", tree) for tree in args.tree]
        best: dict[str, dict[str, float]] = {}
        for round_ in range(args.repeats):
            for method, tree in runs:
                name = method + _common.label(tree)
                shape = ["--hidden", str(hidden), "--steps", str(steps)]
                result = _common.run_child(__file__, ["--child", method, *shape], tree)
                if name not in best or result["seconds"] < best[name]["seconds"]:
                    best[name] = result
                print(
                    f"H={hidden} T={steps} round {round_ + 1}: {name:28s} {result['seconds']:8.3f} s", file=sys.stderr
                )
        print(f"\nRNN H={hidden} T={steps}, orthogonal W_hh, gain 1; best of {args.repeats} rounds")
        for name, result in best.items():
            gigabytes = result["peak_bytes"] / 1e9
            print(f"  {name:28s} {result['seconds']:8.3f} s   peak memory {gigabytes:6.3f} GB")
        limit = best["dense-limit"]["seconds"]
        alone = best["products-frobenius"]["seconds"]
        text = "fraction of the limit, products alone (Frobenius)"
        print(f"  {text:52s} {limit / alone:6.2f}  (the ceiling of any certified spectral norm here)")
        for tree in [None, *args.tree]:
            result = best["products" + _common.label(tree)]
            text = f"fraction of the dense GEMM limit{_common.label(tree)}"
            print(f"  {text:52s} {limit / result['seconds']:6.2f}  (target >= 0.85)")
            text = f"certifying the spectral norm, in GEMM-limit units{_common.label(tree)}"
            print(f"  {text:52s} {(result['seconds'] - alone) / limit:6.2f}")
            text = f"directions kept at the last lag{_common.label(tree)}"
            print(f"  {text:52s} {int(result['directions']):6d}  (of {hidden})")
        footprint = 8 * (hidden * hidden + steps * hidden) / 1e9
        print(f"  {'8 (H^2 + T H) bytes, for scale':52s} {footprint:6.3f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
